package zmtp

import (
	"context"
	"errors"
)

// ErrPeerGone is returned by a REQ's Recv when the connection its request
// went out on closed before the reply came.
var ErrPeerGone = errors.New("zmtp: the peer closed the connection before replying")

// reqPattern is REQ (RFC 28): a request goes to the next peer in turn with
// an empty delimiter frame in front, and only that peer's reply, delimiter
// stripped, is accepted.
type reqPattern struct {
	pending *sconn // the connection a reply is due from
}

func (p *reqPattern) attach(*Socket, *sconn) error { return nil }
func (p *reqPattern) detach(*Socket, *sconn)       {}

func (p *reqPattern) deliver(_ *Socket, _ *sconn, m *Msg) *Msg {
	if len(m.Frames) < 2 || len(m.Frames[0]) != 0 {
		return nil // a reply without its delimiter is dropped, as libzmq does
	}
	m.Frames = m.Frames[1:]
	return m
}

func (p *reqPattern) send(ctx context.Context, s *Socket, frames [][]byte) error {
	if p.pending != nil {
		return ErrState
	}
	c, err := s.pick(ctx)
	if err != nil {
		return err
	}
	msg := make([][]byte, 0, len(frames)+1)
	msg = append(append(msg, nil), frames...)
	if err := c.sendContext(ctx, msg); err != nil {
		return err
	}
	p.pending = c
	return nil
}

func (p *reqPattern) recv(ctx context.Context, s *Socket) (*Msg, error) {
	if p.pending == nil {
		return nil, ErrState
	}
	for {
		in, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		if in.c != p.pending {
			continue // a late reply to an abandoned request, or another peer
		}
		if in.m == nil {
			p.pending = nil
			return nil, ErrPeerGone
		}
		p.pending = nil
		return in.m, nil
	}
}
