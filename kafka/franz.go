package kafka

import (
	"context"

	franzsasl "github.com/twmb/franz-go/pkg/sasl"
)

// FranzMechanism returns GSSAPI as a franz-go SASL mechanism:
//
//	kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(kafka.FranzMechanism(&kafka.ClientConfig{})))
//
// franz-go drives it through SaslHandshake v1 and SaslAuthenticate (or the
// v0 raw framing for old brokers) and re-authenticates on its own before
// the session lifetime the broker announces runs out (KIP-368): each
// re-authentication is a fresh GSSAPI exchange.
func FranzMechanism(cfg *ClientConfig) franzsasl.Mechanism { return &franzMechanism{cfg: cfg} }

type franzMechanism struct{ cfg *ClientConfig }

func (m *franzMechanism) Name() string { return Mechanism }

func (m *franzMechanism) Authenticate(ctx context.Context, host string) (franzsasl.Session, []byte, error) {
	s, tok, err := m.cfg.start(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return franzSession{s}, tok, nil
}

type franzSession struct{ s *session }

// Challenge answers the broker. After the AP-REP the answer is empty, and
// franz-go sends it as it is; the layer choice comes with done, and
// franz-go reads (and ignores) the broker's empty final response.
func (f franzSession) Challenge(resp []byte) (bool, []byte, error) { return f.s.step(resp) }
