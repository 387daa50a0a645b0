package zmtp

import (
	"bytes"
	"context"
	"sync"
)

// pubDepth is how many messages wait for one subscriber before further
// ones are dropped for it (libzmq's default send high-water mark).
const pubDepth = 1000

// Subscriptions travel as ZMTP 3.0 messages, "\x01topic" to subscribe and
// "\x00topic" to cancel. Every libzmq 4.x PUB accepts that form, and it is
// the only one that survives libzmq 4.3.4's GSSAPI encryption: its
// encoder moves SUBSCRIBE into the frame header, which the wrapped frame
// does not carry, so an encrypting libzmq 4.3.4 SUB sends a bare topic with
// no marker at all. A PUB here therefore takes any other message from a
// SUB on an encrypted connection as a subscription to its whole content
// (a topic that itself starts with a 0 or 1 byte is read the ZMTP 3.0 way).

// pubState is what a PUB keeps per subscriber.
type pubState struct {
	mu     sync.Mutex
	topics map[string]int
	out    chan [][]byte
}

func (ps *pubState) matches(frame []byte) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for t := range ps.topics {
		if bytes.HasPrefix(frame, []byte(t)) {
			return true
		}
	}
	return false
}

// pubPattern is PUB (RFC 29): a message goes to every subscriber whose
// subscriptions match its first frame; a subscriber that falls behind by
// pubDepth messages misses messages rather than holding up the rest.
type pubPattern struct{}

func (pubPattern) attach(s *Socket, c *sconn) error {
	c.pub = &pubState{topics: map[string]int{}, out: make(chan [][]byte, pubDepth)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case m := <-c.pub.out:
				if err := c.Send(m...); err != nil {
					c.Close() // the read loop reports and detaches
					return
				}
			case <-c.gone:
				return
			case <-s.done:
				return
			}
		}
	}()
	return nil
}

func (pubPattern) detach(*Socket, *sconn) {}

func (pubPattern) deliver(_ *Socket, c *sconn, m *Msg) *Msg {
	if len(m.Frames) != 1 {
		return nil
	}
	f := m.Frames[0]
	ps := c.pub
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch {
	case len(f) > 0 && f[0] == 1:
		ps.topics[string(f[1:])]++
	case len(f) > 0 && f[0] == 0:
		t := string(f[1:])
		if ps.topics[t] > 1 {
			ps.topics[t]--
		} else {
			delete(ps.topics, t)
		}
	case c.encrypt:
		ps.topics[string(f)]++ // libzmq 4.3.4's encrypted SUBSCRIBE, see above
	}
	return nil
}

func (pubPattern) send(_ context.Context, s *Socket, frames [][]byte) error {
	s.mu.Lock()
	conns := append([]*sconn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		if !c.pub.matches(frames[0]) {
			continue
		}
		select {
		case c.pub.out <- frames:
		default: // this subscriber is pubDepth behind: drop, as libzmq does
		}
	}
	return nil
}

func (pubPattern) recv(context.Context, *Socket) (*Msg, error) { return nil, ErrNotSupported }

// subPattern is SUB (RFC 29): it tells every publisher its subscriptions
// and passes on only the messages whose first frame matches one.
type subPattern struct {
	mu     sync.Mutex
	topics map[string]int
}

func (p *subPattern) attach(s *Socket, c *sconn) error {
	p.mu.Lock()
	topics := make([]string, 0, len(p.topics))
	for t := range p.topics {
		topics = append(topics, t)
	}
	p.mu.Unlock()
	for _, t := range topics {
		if err := c.Send(append([]byte{1}, t...)); err != nil {
			return err
		}
	}
	return nil
}

func (p *subPattern) detach(*Socket, *sconn) {}

func (p *subPattern) deliver(_ *Socket, _ *sconn, m *Msg) *Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.topics {
		if bytes.HasPrefix(m.Frames[0], []byte(t)) {
			return m
		}
	}
	return nil
}

func (p *subPattern) send(context.Context, *Socket, [][]byte) error { return ErrNotSupported }

func (p *subPattern) recv(ctx context.Context, s *Socket) (*Msg, error) {
	for {
		in, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		if in.m != nil && p.matches(in.m.Frames[0]) {
			return in.m, nil
		}
	}
}

func (p *subPattern) matches(frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.topics {
		if bytes.HasPrefix(frame, []byte(t)) {
			return true
		}
	}
	return false
}

// Subscribe asks every publisher, present and future, for messages whose
// first frame starts with topic; an empty topic means all. SUB only.
func (s *Socket) Subscribe(topic []byte) error { return s.subscription(topic, true) }

// Unsubscribe cancels one earlier Subscribe of the same topic. SUB only.
func (s *Socket) Unsubscribe(topic []byte) error { return s.subscription(topic, false) }

func (s *Socket) subscription(topic []byte, add bool) error {
	p, ok := s.p.(*subPattern)
	if !ok {
		return ErrNotSupported
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	p.mu.Lock()
	if p.topics == nil {
		p.topics = map[string]int{}
	}
	t := string(topic)
	if add {
		p.topics[t]++
	} else {
		if p.topics[t] == 0 {
			p.mu.Unlock()
			return nil
		}
		if p.topics[t]--; p.topics[t] == 0 {
			delete(p.topics, t)
		}
	}
	p.mu.Unlock()
	marker := byte(0)
	if add {
		marker = 1
	}
	msg := append([]byte{marker}, topic...)
	for _, c := range s.conns {
		if err := c.Send(msg); err != nil {
			c.Close()
		}
	}
	return nil
}
