package zmtp

import "context"

// repPattern is REP (RFC 28): requests are taken from all peers in
// arrival order; the routing envelope up to and including the empty
// delimiter is kept and put back in front of the reply, which goes to the
// peer the request came from.
type repPattern struct {
	pending  *sconn
	envelope [][]byte
}

func (p *repPattern) attach(*Socket, *sconn) error { return nil }
func (p *repPattern) detach(*Socket, *sconn)       {}

func (p *repPattern) deliver(_ *Socket, _ *sconn, m *Msg) *Msg {
	for _, f := range m.Frames {
		if len(f) == 0 {
			return m
		}
	}
	return nil // no delimiter: not a request, dropped as libzmq does
}

func (p *repPattern) recv(ctx context.Context, s *Socket) (*Msg, error) {
	if p.pending != nil {
		return nil, ErrState
	}
	for {
		in, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		if in.m == nil {
			continue
		}
		i := 0
		for len(in.m.Frames[i]) != 0 {
			i++
		}
		p.pending, p.envelope = in.c, in.m.Frames[:i+1]
		in.m.Frames = in.m.Frames[i+1:]
		return in.m, nil
	}
}

func (p *repPattern) send(ctx context.Context, s *Socket, frames [][]byte) error {
	if p.pending == nil {
		return ErrState
	}
	c := p.pending
	msg := make([][]byte, 0, len(p.envelope)+len(frames))
	msg = append(append(msg, p.envelope...), frames...)
	p.pending, p.envelope = nil, nil
	select {
	case <-c.gone:
		return nil // the requester left; its reply is dropped, as in libzmq
	default:
	}
	return c.sendContext(ctx, msg)
}
