package kafka

import (
	"context"
	"errors"
	"net"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/sasl"
)

// ClientConfig configures the client mechanisms (franz-go, sarama). The
// credential decides where the tickets come from: a keytab
// (Store{"client_keytab": ...}), a ccache (Store{"ccache": ...}), or, with
// a gss-proxy interposer registered in Registry, a gss-proxy daemon, so
// that no key is in the process at all. A nil Credential is the default
// initiator credential (KRB5CCNAME, then KRB5_CLIENT_KTNAME).
type ClientConfig struct {
	Registry   *gss.Registry
	Credential *gss.Credential
	Mech       gss.OID
	// ServiceName is the broker's Kerberos service, sasl.kerberos.service.name;
	// empty means "kafka".
	ServiceName string
	// Host returns the host part of the broker's service principal for
	// the address dialled; nil takes the address's host, as the Java
	// client and librdkafka do.
	Host func(addr string) string
	// Authzid is sent as the authorization identity; brokers ignore it.
	Authzid string
	// NoMutual skips mutual authentication.
	NoMutual bool
}

func (cfg *ClientConfig) newClient(addr string) (*sasl.Client, error) {
	if cfg == nil {
		return nil, errors.New("kafka: nil ClientConfig")
	}
	service := cfg.ServiceName
	if service == "" {
		service = "kafka"
	}
	host := addr
	if cfg.Host != nil {
		host = cfg.Host(addr)
	} else if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	return sasl.NewClient(&sasl.ClientConfig{
		Registry:   cfg.Registry,
		Credential: cfg.Credential,
		Mech:       cfg.Mech,
		Service:    service,
		Host:       host,
		Authzid:    cfg.Authzid,
		NoMutual:   cfg.NoMutual,
		// Kafka never negotiates a layer; the JDK broker offers none.
		Layers: sasl.LayerNone,
	})
}

// session is one client exchange in the shape Kafka clients drive it.
type session struct {
	ctx context.Context
	cli *sasl.Client
}

func (cfg *ClientConfig) start(ctx context.Context, addr string) (*session, []byte, error) {
	cli, err := cfg.newClient(addr)
	if err != nil {
		return nil, nil, err
	}
	tok, err := cli.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &session{ctx: ctx, cli: cli}, tok, nil
}

func (s *session) step(challenge []byte) (done bool, response []byte, err error) {
	out, done, err := s.cli.Step(s.ctx, challenge)
	return done, out, err
}
