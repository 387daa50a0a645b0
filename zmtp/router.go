package zmtp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
)

// ErrUnroutable is returned by a ROUTER's Send when no connected peer has
// the routing id in the first frame. libzmq drops such messages silently
// unless ZMQ_ROUTER_MANDATORY is set; saying so is more useful in Go.
var ErrUnroutable = errors.New("zmtp: no peer with that routing id")

// routerPattern is ROUTER (RFC 28): each received message gets the
// sender's routing id as a first frame, and the first frame of a sent
// message picks the peer. A peer's routing id is the Identity of its READY
// when it sent one that is not taken, otherwise five bytes made up here,
// a zero byte and a counter, as libzmq makes them.
type routerPattern struct {
	byID   map[string]*sconn
	nextID uint32
}

func newRouterPattern() *routerPattern {
	var b [4]byte
	rand.Read(b[:])
	return &routerPattern{byID: map[string]*sconn{}, nextID: binary.BigEndian.Uint32(b[:])}
}

func (p *routerPattern) attach(_ *Socket, c *sconn) error {
	id := string(c.peer.Identity)
	// Ids starting with a zero byte are reserved for the ones made up
	// here, so a peer cannot claim one.
	if _, taken := p.byID[id]; id == "" || id[0] == 0 || taken {
		for {
			p.nextID++
			var b [5]byte
			binary.BigEndian.PutUint32(b[1:], p.nextID)
			id = string(b[:])
			if _, taken := p.byID[id]; !taken {
				break
			}
		}
	}
	c.routingID = id
	p.byID[id] = c
	return nil
}

func (p *routerPattern) detach(_ *Socket, c *sconn) {
	if p.byID[c.routingID] == c {
		delete(p.byID, c.routingID)
	}
}

func (p *routerPattern) deliver(_ *Socket, c *sconn, m *Msg) *Msg {
	frames := make([][]byte, 0, len(m.Frames)+1)
	m.Frames = append(append(frames, []byte(c.routingID)), m.Frames...)
	return m
}

func (p *routerPattern) send(ctx context.Context, s *Socket, frames [][]byte) error {
	if len(frames) < 2 {
		return errors.New("zmtp: a ROUTER message needs a routing id frame and a body")
	}
	s.mu.Lock()
	c := p.byID[string(frames[0])]
	s.mu.Unlock()
	if c == nil {
		return ErrUnroutable
	}
	return c.sendContext(ctx, frames[1:])
}

func (p *routerPattern) recv(ctx context.Context, s *Socket) (*Msg, error) {
	for {
		in, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		if in.m != nil {
			return in.m, nil
		}
	}
}
