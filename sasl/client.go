package sasl

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/gsskit/gsskit/gss"
)

// ClientConfig configures a client.
type ClientConfig struct {
	// Registry is where mechanisms are looked up; nil means the default.
	// A gss-proxy interposer registered there makes the client use the
	// proxy's credentials with no keytab or ccache in this process.
	Registry *gss.Registry
	// Service and Host name the server as the host-based service
	// "service@host" (service/host in Kerberos). Target, when set, is used
	// instead.
	Service, Host string
	Target        *gss.Name
	// Credential is the initiator credential; nil means the default one.
	Credential *gss.Credential
	// Mech is the GSS-API mechanism; zero means Kerberos V5.
	Mech gss.OID
	// Authzid is the authorization identity to request; empty asks for
	// the authenticated identity.
	Authzid string
	// Layers are the layers the client accepts; it picks the strongest the
	// server offers. Zero means LayerNone.
	Layers Layer
	// MaxBuffer is the largest wrapped token the client is prepared to
	// receive once a layer is on; zero means DefaultMaxBuffer.
	MaxBuffer int
	// NoMutual does not ask for mutual authentication, as sarama does: the
	// server then sends no AP-REP and its first challenge is the layer
	// offer.
	NoMutual bool
	// Delegate asks to delegate the client's credential.
	Delegate bool
	// ChannelBindings are passed to the context.
	ChannelBindings *gss.ChannelBindings
}

type clientState uint8

const (
	clientStart clientState = iota
	clientContext
	clientOffer
	clientDone
	clientFailed
)

// Client is one RFC 4752 client exchange. It is not safe for concurrent
// use.
type Client struct {
	cfg     ClientConfig
	layers  Layer
	maxBuf  int
	sc      *gss.SecContext
	state   clientState
	session *Session
	offered Layer
}

// NewClient checks cfg and starts an initiator context.
func NewClient(cfg *ClientConfig) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("sasl: NewClient needs a config")
	}
	c := &Client{cfg: *cfg, layers: cfg.Layers}
	if c.layers == 0 {
		c.layers = LayerNone
	}
	if c.layers&^LayerAll != 0 {
		return nil, errors.New("sasl: client layers " + c.layers.String() + " include bits RFC 4752 does not define")
	}
	if !utf8.ValidString(cfg.Authzid) || containsNUL(cfg.Authzid) {
		return nil, errors.New("sasl: the authorization identity must be UTF-8 without NUL")
	}
	var err error
	if c.maxBuf, err = checkMaxBuffer(cfg.MaxBuffer, "client MaxBuffer"); err != nil {
		return nil, err
	}
	reg := registry(cfg.Registry)
	target := cfg.Target
	if target == nil {
		if cfg.Service == "" || cfg.Host == "" {
			return nil, errors.New("sasl: a client needs Target or both Service and Host")
		}
		target, err = reg.ImportName(cfg.Service+"@"+cfg.Host, gss.NTHostbasedService)
		if err != nil {
			return nil, &Error{"client", "importing the server name " + cfg.Service + "@" + cfg.Host, err}
		}
	}
	// Integrity and confidentiality are asked for whatever the layers,
	// as the JDK's client does: the offer is wrapped, and the flags cost
	// nothing when the layer is none. Sequencing keeps the layer's packets
	// in order, as Cyrus asks.
	flags := gss.FlagSequence | gss.FlagInteg | gss.FlagConf
	if !cfg.NoMutual {
		flags |= gss.FlagMutual
	}
	if cfg.Delegate {
		flags |= gss.FlagDeleg
	}
	c.sc, err = reg.NewInitiator(&gss.InitiatorConfig{
		Credential:      cfg.Credential,
		Target:          target,
		Mech:            cfg.Mech,
		Flags:           flags,
		ChannelBindings: cfg.ChannelBindings,
	})
	if err != nil {
		return nil, &Error{"client", "starting the initiator for " + target.String(), err}
	}
	return c, nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// Start returns the initial response: the mechanism's first context token.
// RFC 4752's GSSAPI is client-first; a protocol without initial responses
// sends it as the answer to the server's first, empty challenge.
func (c *Client) Start(ctx context.Context) ([]byte, error) {
	if c.state != clientStart {
		return nil, c.fail("starting", protoErr("Start called twice"))
	}
	out, err := c.sc.Step(ctx, nil)
	if err != nil {
		return nil, c.fail("producing the first context token", err)
	}
	if len(out) == 0 {
		return nil, c.fail("producing the first context token", protoErr("the mechanism produced an empty first token"))
	}
	c.state = clientContext
	if c.sc.Done() {
		// No mutual authentication: nothing comes back for the context;
		// the server's next challenge is its offer.
		c.state = clientOffer
	}
	return out, nil
}

// Step takes the server's challenge and returns the response to send, which
// may be empty and must still be sent. done reports that the client has
// nothing more to say: its last response (the layer choice) is in hand. A
// challenge arriving after that must be empty — Kafka's final
// SaslAuthenticate response — and Step then returns (nil, true, nil).
func (c *Client) Step(ctx context.Context, challenge []byte) (response []byte, done bool, err error) {
	switch c.state {
	case clientStart:
		return nil, false, c.fail("stepping", protoErr("Step called before Start"))
	case clientContext:
		out, err := c.sc.Step(ctx, challenge)
		if err != nil {
			return nil, false, c.fail("processing the server's context token", err)
		}
		if c.sc.Done() {
			c.state = clientOffer
		}
		// An empty out is RFC 4752's empty response after the AP-REP.
		if out == nil {
			out = []byte{}
		}
		return out, false, nil
	case clientOffer:
		out, err := c.choose(challenge)
		if err != nil {
			return nil, false, c.fail("answering the security-layer offer", err)
		}
		c.state = clientDone
		return out, true, nil
	case clientDone:
		if len(challenge) != 0 {
			return nil, true, c.fail("after the exchange", protoErr("server sent "+itoa(len(challenge))+
				" bytes after the client's final response; only an empty final challenge is allowed"))
		}
		return nil, true, nil
	}
	return nil, false, &Error{"client", "stepping", protoErr("the exchange already failed")}
}

func (c *Client) choose(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, protoErr("server sent an empty challenge where its wrapped security-layer offer belongs")
	}
	plain, _, err := c.sc.Unwrap(nil, challenge)
	if err != nil {
		return nil, err
	}
	if len(plain) != 4 {
		return nil, protoErr("the unwrapped security-layer offer is " + itoa(len(plain)) + " bytes, not 4")
	}
	offered := Layer(plain[0])
	serverMax := parseMaxBuf(plain)
	c.offered = offered
	flags := c.sc.Flags()
	usable := offered & c.layers
	if flags&gss.FlagInteg == 0 {
		usable &^= LayerIntegrity | LayerConfidentiality
	}
	if flags&gss.FlagConf == 0 {
		usable &^= LayerConfidentiality
	}
	choice := usable.strongest()
	if choice == 0 {
		return nil, protoErr("server offers " + offered.String() + ", client accepts " + c.layers.String() +
			" (context flags " + flagText(flags) + "): no layer in common")
	}
	// A server that offers only "none" may still name a buffer (the JDK
	// sends 65536); RFC 4752 says it should be 0, but nothing depends on
	// it, so it is ignored rather than refused.
	if choice != LayerNone && serverMax == 0 {
		return nil, protoErr("server offers " + choice.String() + " with a maximum buffer of 0")
	}
	ownMax := 0
	if choice != LayerNone {
		ownMax = c.maxBuf
	}
	msg := appendHeader(make([]byte, 0, 4+len(c.cfg.Authzid)), choice, ownMax)
	msg = append(msg, c.cfg.Authzid...)
	out, _, err := c.sc.Wrap(nil, msg, false, 0)
	if err != nil {
		return nil, err
	}
	s, err := newSession(c.sc, choice, serverMax, ownMax)
	if err != nil {
		return nil, err
	}
	s.Authzid = c.cfg.Authzid
	if info, ierr := c.sc.Inquire(); ierr == nil {
		s.Peer, s.Self = info.Target, info.Source
	}
	c.session = s
	return out, nil
}

func flagText(f gss.Flags) string {
	s := ""
	add := func(b gss.Flags, n string) {
		if f&b != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	add(gss.FlagMutual, "mutual")
	add(gss.FlagInteg, "integ")
	add(gss.FlagConf, "conf")
	add(gss.FlagSequence, "sequence")
	add(gss.FlagReplay, "replay")
	if s == "" {
		return "none"
	}
	return s
}

func (c *Client) fail(op string, err error) error {
	c.state = clientFailed
	return &Error{"client", op, err}
}

// Done reports whether the client has produced its final response.
func (c *Client) Done() bool { return c.state == clientDone }

// Offered is the set of layers the server offered (zero before the offer).
func (c *Client) Offered() Layer { return c.offered }

// Session returns the negotiated session once Done, else nil.
func (c *Client) Session() *Session { return c.session }

// Context is the underlying security context.
func (c *Client) Context() *gss.SecContext { return c.sc }
