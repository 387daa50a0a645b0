package sasl

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/gsskit/gsskit/gss"
)

// ServerConfig configures a server.
type ServerConfig struct {
	// Registry is where mechanisms are looked up; nil means the default.
	Registry *gss.Registry
	// Credential is the acceptor credential; nil means the default keytab.
	Credential      *gss.Credential
	ChannelBindings *gss.ChannelBindings
	// Layers are offered to the client; zero means LayerNone. Without
	// LayerNone a client must pick integrity or confidentiality.
	Layers Layer
	// MaxBuffer is the largest wrapped token the server is prepared to
	// receive once a layer is on; zero means DefaultMaxBuffer. As RFC 4752
	// asks, 0 is announced when only LayerNone is offered.
	MaxBuffer int
	// Authorize decides whether the authenticated principal may act as
	// authzid (empty when the client asked for none). Nil allows only an
	// empty authzid or one equal to the principal's display name.
	Authorize func(principal *gss.Name, authzid string) error
}

type serverState uint8

const (
	serverContext serverState = iota
	serverAwaitEmpty
	serverChoice
	serverDone
	serverFailed
)

// Server is one RFC 4752 server exchange. It is not safe for concurrent
// use.
type Server struct {
	cfg     ServerConfig
	layers  Layer
	maxBuf  int
	sc      *gss.SecContext
	state   serverState
	offer   Layer
	session *Session
	peer    *gss.Name
}

// NewServer checks cfg and starts an acceptor context.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	s := &Server{cfg: *cfg, layers: cfg.Layers}
	if s.layers == 0 {
		s.layers = LayerNone
	}
	if s.layers&^LayerAll != 0 {
		return nil, errors.New("sasl: server layers " + s.layers.String() + " include bits RFC 4752 does not define")
	}
	var err error
	if s.maxBuf, err = checkMaxBuffer(cfg.MaxBuffer, "server MaxBuffer"); err != nil {
		return nil, err
	}
	s.sc, err = registry(cfg.Registry).NewAcceptor(&gss.AcceptorConfig{
		Credential: cfg.Credential, ChannelBindings: cfg.ChannelBindings,
	})
	if err != nil {
		return nil, &Error{"server", "starting the acceptor", err}
	}
	return s, nil
}

// Step takes the client's response and returns the challenge to send. When
// done is true the client is authenticated and authorized, challenge is
// nil, and whatever the carrying protocol sends on success (Kafka: an empty
// SaslAuthenticate response; its legacy framing: nothing) is the caller's.
//
// On failure err is an *Error. For a failed context token, challenge may
// hold the mechanism's error token (a KRB-ERROR); SASL has no place for it,
// but a caller that can deliver it may.
func (s *Server) Step(ctx context.Context, response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case serverContext:
		if len(response) == 0 {
			return nil, false, s.fail("accepting the context", protoErr("client sent an empty response where its first context token belongs"))
		}
		out, err := s.sc.Step(ctx, response)
		if err != nil {
			s.state = serverFailed
			return out, false, &Error{"server", "accepting the client's context token", err}
		}
		if !s.sc.Done() {
			if len(out) == 0 {
				return nil, false, s.fail("accepting the context", protoErr("the mechanism wants more tokens but produced none to send"))
			}
			return out, false, nil
		}
		if len(out) != 0 {
			// The AP-REP; the client answers it with an empty response.
			s.state = serverAwaitEmpty
			return out, false, nil
		}
		// No mutual authentication: there is nothing to send for the
		// context, so the offer goes now (Cyrus and the JDK do the same).
		return s.makeOffer()
	case serverAwaitEmpty:
		if len(response) != 0 {
			return nil, false, s.fail("awaiting the empty response", protoErr("client sent "+itoa(len(response))+
				" bytes after the context was established; RFC 4752 wants an empty response here"))
		}
		return s.makeOffer()
	case serverChoice:
		if err := s.takeChoice(response); err != nil {
			return nil, false, s.fail("checking the client's security-layer choice", err)
		}
		s.state = serverDone
		return nil, true, nil
	case serverDone:
		return nil, true, s.fail("after the exchange", protoErr("client sent a response after authentication completed"))
	}
	return nil, false, &Error{"server", "stepping", protoErr("the exchange already failed")}
}

func (s *Server) makeOffer() ([]byte, bool, error) {
	info, err := s.sc.Inquire()
	if err != nil {
		return nil, false, s.fail("inquiring the established context", err)
	}
	s.peer = info.Source
	offer := s.layers
	if info.Flags&gss.FlagInteg == 0 {
		offer &^= LayerIntegrity | LayerConfidentiality
	}
	if info.Flags&gss.FlagConf == 0 {
		offer &^= LayerConfidentiality
	}
	if offer == 0 {
		return nil, false, s.fail("building the offer", protoErr("the server requires "+s.layers.String()+
			" but the context only has flags "+flagText(info.Flags)))
	}
	maxBuf := s.maxBuf
	if offer&^LayerNone == 0 {
		maxBuf = 0 // RFC 4752: 0 when no layer is offered
	}
	s.offer = offer
	out, _, err := s.sc.Wrap(nil, appendHeader(nil, offer, maxBuf), false, 0)
	if err != nil {
		return nil, false, s.fail("wrapping the offer", err)
	}
	s.state = serverChoice
	return out, false, nil
}

func (s *Server) takeChoice(response []byte) error {
	if len(response) == 0 {
		return protoErr("client sent an empty response where its wrapped layer choice belongs")
	}
	plain, _, err := s.sc.Unwrap(nil, response)
	if err != nil {
		return err
	}
	if len(plain) < 4 {
		return protoErr("the unwrapped layer choice is " + itoa(len(plain)) + " bytes, shorter than 4")
	}
	bits := Layer(plain[0])
	if bits&^LayerAll != 0 {
		return protoErr("client chose " + bits.String())
	}
	var choice Layer
	switch {
	case bits == LayerNone:
		choice = LayerNone
	case bits == LayerIntegrity:
		choice = LayerIntegrity
	case bits == LayerConfidentiality, bits == LayerConfidentiality|LayerIntegrity:
		// Both bits is what Cyrus clients send with ad_compat (Active
		// Directory); Cyrus's server reads it as confidentiality.
		choice = LayerConfidentiality
	default:
		return protoErr("client chose " + bits.String() + "; it must choose exactly one layer")
	}
	if s.offer&choice == 0 {
		return protoErr("client chose " + choice.String() + ", which the server did not offer (" + s.offer.String() + ")")
	}
	clientMax := parseMaxBuf(plain)
	if choice != LayerNone && clientMax == 0 {
		return protoErr("client chose " + choice.String() + " with a maximum buffer of 0")
	}
	authz := plain[4:]
	if !utf8.Valid(authz) {
		return protoErr("the authorization identity is not UTF-8")
	}
	authzid := string(authz)
	if err := s.authorize(authzid); err != nil {
		return err
	}
	ownMax := 0
	if choice != LayerNone {
		ownMax = s.maxBuf
	}
	sess, err := newSession(s.sc, choice, clientMax, ownMax)
	if err != nil {
		return err
	}
	sess.Authzid, sess.Peer = authzid, s.peer
	if info, ierr := s.sc.Inquire(); ierr == nil {
		sess.Self = info.Target
	}
	s.session = sess
	return nil
}

// ErrUnauthorized is matched by the error of a Step that rejected the
// requested authorization identity.
var ErrUnauthorized = errors.New("sasl: authorization identity refused")

func (s *Server) authorize(authzid string) error {
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(s.peer, authzid); err != nil {
			return errors.Join(ErrUnauthorized, err)
		}
		return nil
	}
	if authzid == "" || (s.peer != nil && authzid == s.peer.String()) {
		return nil
	}
	who := "(unknown)"
	if s.peer != nil {
		who = s.peer.String()
	}
	return errors.Join(ErrUnauthorized, errors.New(who+" may not act as "+authzid))
}

func (s *Server) fail(op string, err error) error {
	s.state = serverFailed
	return &Error{"server", op, err}
}

// Done reports whether the client is authenticated.
func (s *Server) Done() bool { return s.state == serverDone }

// Principal is the authenticated client's name, known once the context is
// established (before the layer round), else nil.
func (s *Server) Principal() *gss.Name { return s.peer }

// Session returns the negotiated session once Done, else nil.
func (s *Server) Session() *Session { return s.session }

// Context is the underlying security context.
func (s *Server) Context() *gss.SecContext { return s.sc }
