package zmtp

import "context"

// dealerPattern is DEALER (RFC 28): messages go out to peers in turn and
// come in from all of them in arrival order, unchanged.
type dealerPattern struct{}

func (dealerPattern) attach(*Socket, *sconn) error             { return nil }
func (dealerPattern) detach(*Socket, *sconn)                   {}
func (dealerPattern) deliver(_ *Socket, _ *sconn, m *Msg) *Msg { return m }

func (dealerPattern) send(ctx context.Context, s *Socket, frames [][]byte) error {
	c, err := s.pick(ctx)
	if err != nil {
		return err
	}
	return c.sendContext(ctx, frames)
}

func (dealerPattern) recv(ctx context.Context, s *Socket) (*Msg, error) {
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
