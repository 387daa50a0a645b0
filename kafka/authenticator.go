// Package kafka binds GSSAPI SASL (package sasl) to the Kafka protocol: a
// server-side authenticator that a Go Kafka-protocol server or proxy embeds,
// client mechanisms for franz-go and sarama, Kafka's principal-to-local
// rules, and a gateway that puts Kerberos in front of a plaintext broker.
//
// The authenticator follows the broker's SaslServerAuthenticator: KIP-43's
// legacy flow (a raw GSSAPI token as the first packet) and SaslHandshake
// v0 with raw size-delimited tokens, KIP-152's SaslHandshake v1 with
// SaslAuthenticate v0-v2, KIP-368's session lifetime and re-authentication,
// and the broker's answers to bad input: an error code and message where
// the protocol has a place for them, then the connection closed.
package kafka

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/sasl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Mechanism is the only SASL mechanism served: GSSAPI.
const Mechanism = sasl.Mechanism

// ServerConfig configures an Authenticator.
type ServerConfig struct {
	// Registry is where mechanisms are looked up; nil means the default.
	Registry *gss.Registry
	// Credential is the acceptor credential (the broker's keytab entry);
	// nil means the default keytab.
	Credential *gss.Credential
	// Rules map authenticated principals to short names; nil means
	// DEFAULT in the realm of the Credential's principal (or, without
	// one, the krb5.conf default realm).
	Rules *ShortNamer
	// SessionLifetime is the broker's connections.max.reauth.ms: how long
	// an authentication holds. Zero means forever. Clients that speak
	// SaslAuthenticate v1+ learn it and re-authenticate; others are
	// disconnected at their first request after it runs out.
	SessionLifetime time.Duration
	// MaxReceiveSize is the largest frame accepted before authentication
	// completes; zero means DefaultMaxReceiveSize.
	MaxReceiveSize int
	// APIKeys returns the API versions the embedding server serves, for
	// ApiVersions requests before authentication. SaslHandshake and
	// SaslAuthenticate are added (or replaced); nil serves only those and
	// ApiVersions.
	APIKeys func(ctx context.Context) ([]kmsg.ApiVersionsResponseApiKey, error)
	// DisableLegacy refuses KIP-43's raw first packet, as Kafka 4.0 does
	// (KIP-896). The default accepts it, as Kafka 0.10 to 3.x do.
	DisableLegacy bool
	// HandshakeV0 advertises SaslHandshake v0 alone and no
	// SaslAuthenticate, as Kafka 0.10 and 0.11 brokers did: clients that
	// read ApiVersions then use the v0 handshake and raw tokens. Requests
	// of the newer flow are still served.
	HandshakeV0 bool
	// Logger receives one line per authentication outcome; nil is quiet.
	Logger *slog.Logger
}

// Authenticator is the server side of Kafka's SASL/GSSAPI. It is safe for
// concurrent use; each connection gets its own ServerConn.
type Authenticator struct {
	cfg     ServerConfig
	rules   *ShortNamer
	maxRecv int
	log     *slog.Logger

	authentications, reauthentications, failures, expirations atomic.Int64
	flows                                                     [4]atomic.Int64

	now func() time.Time // the clock sessions expire by; tests replace it
}

// NewAuthenticator checks cfg.
func NewAuthenticator(cfg *ServerConfig) (*Authenticator, error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	a := &Authenticator{cfg: *cfg, rules: cfg.Rules, maxRecv: cfg.MaxReceiveSize, log: cfg.Logger, now: time.Now}
	if a.maxRecv == 0 {
		a.maxRecv = DefaultMaxReceiveSize
	}
	if a.maxRecv < 0 {
		return nil, errors.New("kafka: negative MaxReceiveSize")
	}
	if cfg.SessionLifetime < 0 {
		return nil, errors.New("kafka: negative SessionLifetime")
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.rules == nil {
		realm, err := defaultRealm(cfg.Registry, cfg.Credential)
		if err != nil {
			return nil, err
		}
		if a.rules, err = NewShortNamer(realm, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// defaultRealm is the acceptor principal's realm, or the mechanism's
// default realm, which a bare user name acquires when canonicalized.
func defaultRealm(reg *gss.Registry, cred *gss.Credential) (string, error) {
	if cred != nil {
		if info, err := cred.Inquire(); err == nil && info.Name != nil {
			if _, realm, ok := strings.Cut(info.Name.String(), "@"); ok && realm != "" {
				return realm, nil
			}
		}
	}
	if reg == nil {
		reg = gss.DefaultRegistry()
	}
	n, err := reg.ImportName("gsskit-realm-probe", gss.NTUserName)
	if err == nil {
		if mn, cerr := n.Canonicalize(gss.MechKrb5); cerr == nil {
			if _, realm, ok := strings.Cut(mn.String(), "@"); ok && realm != "" {
				return realm, nil
			}
		}
	}
	return "", errors.New("kafka: no default realm for the DEFAULT rule: give ServerConfig.Rules, or a Credential with a principal, or a krb5.conf default_realm")
}

// Flow is how a client authenticated.
type Flow int

const (
	// FlowLegacy is KIP-43's raw GSSAPI first packet with no handshake
	// (Kafka 0.9 clients; librdkafka with broker.version.fallback=0.9.0).
	FlowLegacy Flow = iota + 1
	// FlowHandshakeV0 is SaslHandshake v0, then raw size-delimited tokens.
	FlowHandshakeV0
	// FlowAuthenticate is SaslHandshake v1, then SaslAuthenticate.
	FlowAuthenticate
)

func (f Flow) String() string {
	switch f {
	case FlowLegacy:
		return "legacy raw GSSAPI"
	case FlowHandshakeV0:
		return "SaslHandshake v0"
	case FlowAuthenticate:
		return "SaslHandshake v1 + SaslAuthenticate"
	}
	return "none"
}

// Stats counts outcomes since the Authenticator was made.
type Stats struct {
	Authentications, Reauthentications, Failures int64
	// Expirations counts connections closed because the session ran out.
	Expirations int64
	// ByFlow counts first authentications by flow.
	ByFlow map[Flow]int64
}

// Stats returns the counters.
func (a *Authenticator) Stats() Stats {
	s := Stats{
		Authentications:   a.authentications.Load(),
		Reauthentications: a.reauthentications.Load(),
		Failures:          a.failures.Load(),
		Expirations:       a.expirations.Load(),
		ByFlow:            map[Flow]int64{},
	}
	for f := FlowLegacy; f <= FlowAuthenticate; f++ {
		s.ByFlow[f] = a.flows[f].Load()
	}
	return s
}

// Verdict tells the embedder what to do with a frame's outcome.
type Verdict int

const (
	// Continue: send the response, if any, and keep reading.
	Continue Verdict = iota
	// Authenticated: send the response, if any; the client has just
	// authenticated or re-authenticated.
	Authenticated
	// Forward: the client is authenticated and the frame is an ordinary
	// request for the embedder to serve.
	Forward
	// Close: send the response, if any, then close the connection; the
	// error says why.
	Close
)

type connState uint8

const (
	stInitial connState = iota
	stHandshakeOrVersions
	stHandshake
	stAuthenticate
	stComplete
	stFailed
)

// ServerConn is one connection's authentication state. Feed it every frame
// the client sends, in order, with Handle. It is not safe for concurrent
// use.
type ServerConn struct {
	a     *Authenticator
	state connState
	flow  Flow
	srv   *sasl.Server

	reauth          bool
	supportsReauth  bool
	authVersion     int16
	principal       string
	short           string
	expiry          time.Time
	authenticatedAt time.Time
	reauths         int
	software        string
}

// NewConn starts the state for a new connection.
func (a *Authenticator) NewConn() *ServerConn { return &ServerConn{a: a} }

// MaxReceiveSize is the largest frame to read for this connection now: the
// SASL limit until authenticated, then maxRequest.
func (c *ServerConn) MaxReceiveSize(maxRequest int) int {
	if c.state == stComplete {
		return maxRequest
	}
	return c.a.maxRecv
}

// Authenticated reports whether the client is authenticated (it stays so
// during a re-authentication).
func (c *ServerConn) Authenticated() bool { return c.principal != "" && c.state != stFailed }

// Principal is the authenticated Kerberos principal, e.g. alice@REALM.
func (c *ServerConn) Principal() string { return c.principal }

// ShortName is the principal mapped by the rules.
func (c *ServerConn) ShortName() string { return c.short }

// KafkaPrincipal is "User:" and the short name, as the broker's ACLs see it.
func (c *ServerConn) KafkaPrincipal() string {
	if c.short == "" {
		return ""
	}
	return "User:" + c.short
}

// Flow is how the client authenticated.
func (c *ServerConn) Flow() Flow { return c.flow }

// Expiry is when the session ends; zero when it does not.
func (c *ServerConn) Expiry() time.Time { return c.expiry }

// Reauthentications counts completed re-authentications.
func (c *ServerConn) Reauthentications() int { return c.reauths }

// ClientSoftware is the name and version from ApiVersions v3+, if sent.
func (c *ServerConn) ClientSoftware() string { return c.software }

func (c *ServerConn) what() string {
	if c.reauth {
		return "re-authentication"
	}
	return "authentication"
}

// CloseError is the reason a connection is closed.
type CloseError struct{ Msg string }

func (e *CloseError) Error() string { return "kafka: " + e.Msg }

func (c *ServerConn) fail(resp []byte, msg string) ([]byte, Verdict, error) {
	c.state = stFailed
	c.a.failures.Add(1)
	c.a.log.Info("kafka: SASL "+c.what()+" failed", "reason", msg, "flow", c.flow.String())
	return resp, Close, &CloseError{msg}
}

// Handle takes one frame (without its size) and returns the framed bytes to
// send back, if any, and what to do next. When the verdict is Close, err
// says why.
func (c *ServerConn) Handle(ctx context.Context, frame []byte) (resp []byte, v Verdict, err error) {
	switch c.state {
	case stInitial, stHandshakeOrVersions, stHandshake:
		return c.handleKafkaRequest(ctx, frame)
	case stAuthenticate:
		if c.flow == FlowAuthenticate {
			return c.handleAuthenticate(ctx, frame)
		}
		return c.handleRawToken(ctx, frame)
	case stComplete:
		return c.handleAuthenticated(ctx, frame)
	}
	return nil, Close, &CloseError{"the connection already failed authentication"}
}

func (c *ServerConn) handleKafkaRequest(ctx context.Context, frame []byte) ([]byte, Verdict, error) {
	h, body, err := ParseRequestHeader(frame)
	if err != nil {
		if c.state == stInitial {
			if c.a.cfg.DisableLegacy {
				return c.fail(nil, "the first packet is not a Kafka request and the legacy GSSAPI flow is disabled")
			}
			// KIP-43: a 0.9 client's first packet is its GSSAPI token.
			c.flow = FlowLegacy
			if err := c.startSASL(); err != nil {
				return c.fail(nil, err.Error())
			}
			return c.handleRawToken(ctx, frame)
		}
		return c.fail(nil, "invalid request during SASL handshake: "+err.Error())
	}
	if c.state == stInitial {
		c.state = stHandshakeOrVersions
	}
	switch h.Key {
	case KeyApiVersions:
		if c.state != stHandshakeOrVersions {
			return c.fail(nil, "unexpected ApiVersions request during SASL authentication")
		}
		return c.handleApiVersions(ctx, h, body)
	case KeySASLHandshake:
		return c.handleHandshake(h, body)
	}
	return c.fail(nil, "unexpected Kafka request of type "+apiName(h.Key)+" during SASL handshake")
}

func apiName(key int16) string {
	if r := kmsg.RequestForKey(key); r != nil {
		name := reflect.TypeOf(r).Elem().Name()
		return strings.TrimSuffix(name, "Request")
	}
	return "API key " + strconv.Itoa(int(key))
}

// softwareRE is the broker's rule for ApiVersions v3 client software.
var softwareRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (c *ServerConn) handleApiVersions(ctx context.Context, h RequestHeader, body []byte) ([]byte, Verdict, error) {
	keys, err := c.a.apiKeys(ctx)
	if err != nil {
		return c.fail(nil, "listing API versions: "+err.Error())
	}
	maxV := int16(0)
	for _, k := range keys {
		if k.ApiKey == KeyApiVersions {
			maxV = k.MaxVersion
		}
	}
	if h.Version > maxV {
		// Answered in v0, which every client reads, with the versions
		// this server does speak.
		r := kmsg.NewPtrApiVersionsResponse()
		r.ErrorCode = ErrUnsupportedVersion
		r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: KeyApiVersions, MinVersion: 0, MaxVersion: maxV}}
		return AppendResponse(nil, h.CorrelationID, r), Continue, nil
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = h.Version
	if err := req.ReadFrom(body); err != nil {
		return c.fail(nil, "invalid ApiVersions request: "+err.Error())
	}
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = h.Version
	if h.Version >= 3 && (!softwareRE.MatchString(req.ClientSoftwareName) || !softwareRE.MatchString(req.ClientSoftwareVersion)) {
		r.ErrorCode = ErrInvalidRequest
		return AppendResponse(nil, h.CorrelationID, r), Continue, nil
	}
	if h.Version >= 3 {
		c.software = req.ClientSoftwareName + " " + req.ClientSoftwareVersion
	}
	r.ApiKeys = keys
	c.state = stHandshake
	return AppendResponse(nil, h.CorrelationID, r), Continue, nil
}

// saslKeys are the versions of the SASL APIs served here.
var saslKeys = []kmsg.ApiVersionsResponseApiKey{
	{ApiKey: KeySASLHandshake, MinVersion: 0, MaxVersion: 1},
	{ApiKey: KeySASLAuthenticate, MinVersion: 0, MaxVersion: 2},
}

func (a *Authenticator) apiKeys(ctx context.Context) ([]kmsg.ApiVersionsResponseApiKey, error) {
	var keys []kmsg.ApiVersionsResponseApiKey
	if a.cfg.APIKeys != nil {
		k, err := a.cfg.APIKeys(ctx)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	} else {
		keys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: KeyApiVersions, MinVersion: 0, MaxVersion: 3}}
	}
	return a.MergeSASLKeys(keys), nil
}

// MergeSASLKeys returns keys with SaslHandshake and SaslAuthenticate set to
// the versions this authenticator advertises, sorted by key. An embedder
// applies it to the ApiVersions responses it sends after authentication,
// so that clients keep seeing that they can re-authenticate.
func (a *Authenticator) MergeSASLKeys(keys []kmsg.ApiVersionsResponseApiKey) []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys)+2)
	for _, k := range keys {
		if k.ApiKey != KeySASLHandshake && k.ApiKey != KeySASLAuthenticate {
			out = append(out, k)
		}
	}
	if a.cfg.HandshakeV0 {
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: KeySASLHandshake, MinVersion: 0, MaxVersion: 0})
	} else {
		out = append(out, saslKeys...)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ApiKey < out[j-1].ApiKey; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (c *ServerConn) handleHandshake(h RequestHeader, body []byte) ([]byte, Verdict, error) {
	if h.Version > 1 {
		return c.fail(nil, "SaslHandshake v"+strconv.Itoa(int(h.Version))+" is not supported")
	}
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version = h.Version
	if err := req.ReadFrom(body); err != nil {
		return c.fail(nil, "invalid SaslHandshake request: "+err.Error())
	}
	r := kmsg.NewPtrSASLHandshakeResponse()
	r.Version = h.Version
	r.SupportedMechanisms = []string{Mechanism}
	if req.Mechanism != Mechanism {
		r.ErrorCode = ErrUnsupportedSASLMechanism
		return c.fail(AppendResponse(nil, h.CorrelationID, r), "unsupported SASL mechanism "+req.Mechanism)
	}
	if err := c.startSASL(); err != nil {
		return c.fail(nil, err.Error())
	}
	if h.Version >= 1 {
		c.flow = FlowAuthenticate
	} else {
		c.flow = FlowHandshakeV0
	}
	return AppendResponse(nil, h.CorrelationID, r), Continue, nil
}

func (c *ServerConn) startSASL() error {
	srv, err := sasl.NewServer(&sasl.ServerConfig{
		Registry:   c.a.cfg.Registry,
		Credential: c.a.cfg.Credential,
		// As the broker: Kafka clients never negotiate a layer.
		Layers: sasl.LayerNone,
		// The broker (through the JDK) lets any authzid through and
		// uses the authenticated name.
		Authorize: func(*gss.Name, string) error { return nil },
	})
	if err != nil {
		return err
	}
	c.srv = srv
	c.state = stAuthenticate
	return nil
}

func (c *ServerConn) handleRawToken(ctx context.Context, token []byte) ([]byte, Verdict, error) {
	out, done, err := c.srv.Step(ctx, token)
	if err != nil {
		// Raw framing has no error message: the broker just closes.
		return c.fail(nil, "GSSAPI token refused: "+err.Error())
	}
	var resp []byte
	if out != nil {
		resp = AppendFrame(nil, out)
	}
	if !done {
		return resp, Continue, nil
	}
	if msg, ok := c.complete(); !ok {
		return c.fail(nil, msg)
	}
	return resp, Authenticated, nil
}

func (c *ServerConn) handleAuthenticate(ctx context.Context, frame []byte) ([]byte, Verdict, error) {
	h, body, err := ParseRequestHeader(frame)
	if err != nil {
		return c.fail(nil, "invalid request during SASL "+c.what()+": "+err.Error())
	}
	if h.Key != KeySASLAuthenticate {
		msg := "Unexpected Kafka request of type " + apiName(h.Key) + " during SASL " + c.what() + "."
		return c.fail(errorResponse(h, ErrIllegalSASLState, msg), msg)
	}
	if h.Version > 2 {
		return c.fail(nil, "SaslAuthenticate v"+strconv.Itoa(int(h.Version))+" is not supported")
	}
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version = h.Version
	if err := req.ReadFrom(body); err != nil {
		return c.fail(nil, "invalid SaslAuthenticate request: "+err.Error())
	}
	if h.Version > c.authVersion {
		c.authVersion = h.Version
	}
	r := kmsg.NewPtrSASLAuthenticateResponse()
	r.Version = h.Version
	out, done, err := c.srv.Step(ctx, req.SASLAuthBytes)
	if err != nil {
		// The broker keeps the cause to itself: it may say whether a
		// principal exists.
		msg := "Authentication failed during " + c.what() + " due to invalid credentials with SASL mechanism " + Mechanism
		r.ErrorCode, r.ErrorMessage = ErrSASLAuthenticationFailed, &msg
		c.a.log.Debug("kafka: GSSAPI step failed", "error", err)
		return c.fail(AppendResponse(nil, h.CorrelationID, r), msg+": "+err.Error())
	}
	r.SASLAuthBytes = out
	if r.SASLAuthBytes == nil {
		r.SASLAuthBytes = []byte{}
	}
	if !done {
		return AppendResponse(nil, h.CorrelationID, r), Continue, nil
	}
	wasReauth := c.reauth
	if msg, ok := c.complete(); !ok {
		if wasReauth && strings.HasPrefix(msg, "Cannot change principals") {
			r.ErrorCode, r.ErrorMessage = ErrSASLAuthenticationFailed, &msg
			return c.fail(AppendResponse(nil, h.CorrelationID, r), msg)
		}
		return c.fail(nil, msg)
	}
	if c.a.cfg.SessionLifetime > 0 {
		r.SessionLifetimeMillis = c.a.cfg.SessionLifetime.Milliseconds()
	}
	return AppendResponse(nil, h.CorrelationID, r), Authenticated, nil
}

// complete maps the principal and starts the session; on failure it
// returns why.
func (c *ServerConn) complete() (string, bool) {
	p := c.srv.Principal()
	if p == nil {
		return "the GSSAPI context has no initiator name", false
	}
	name := p.String()
	short, err := c.a.rules.ShortName(name)
	if err != nil {
		return "failed to set name for '" + name + "' based on Kerberos authentication rules: " + err.Error(), false
	}
	if c.reauth {
		if short != c.short {
			return "Cannot change principals during re-authentication from User." + c.short + ": User." + short, false
		}
		c.reauths++
		c.a.reauthentications.Add(1)
	} else {
		c.a.authentications.Add(1)
		c.a.flows[c.flow].Add(1)
	}
	if c.flow == FlowAuthenticate && c.authVersion > 0 {
		c.supportsReauth = true
	}
	c.principal, c.short = name, short
	now := c.a.now()
	c.authenticatedAt = now
	c.expiry = time.Time{}
	if c.a.cfg.SessionLifetime > 0 {
		c.expiry = now.Add(c.a.cfg.SessionLifetime)
	}
	c.a.log.Debug("kafka: SASL "+c.what()+" complete", "principal", name, "kafka_principal", "User:"+short,
		"flow", c.flow.String(), "expiry", c.expiry)
	c.reauth = false
	c.state = stComplete
	c.srv = nil
	return "", true
}

// handleAuthenticated deals with a frame from an authenticated client:
// re-authentication (KIP-368), the broker's answers to stray SASL
// requests, and the session's end.
func (c *ServerConn) handleAuthenticated(ctx context.Context, frame []byte) ([]byte, Verdict, error) {
	h, _, err := ParseRequestHeader(frame)
	if err != nil {
		return c.fail(nil, "invalid request: "+err.Error())
	}
	switch h.Key {
	case KeySASLHandshake:
		if c.supportsReauth {
			c.reauth = true
			_, body, _ := ParseRequestHeader(frame)
			return c.handleHandshake(h, body)
		}
		r := kmsg.NewPtrSASLHandshakeResponse()
		r.Version = min(h.Version, 1)
		r.ErrorCode = ErrIllegalSASLState
		return AppendResponse(nil, h.CorrelationID, r), Continue, nil
	case KeySASLAuthenticate:
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = min(h.Version, 2)
		r.ErrorCode = ErrIllegalSASLState
		msg := "SaslAuthenticate request received after successful authentication"
		r.ErrorMessage = &msg
		return AppendResponse(nil, h.CorrelationID, r), Continue, nil
	}
	if !c.expiry.IsZero() && c.a.now().After(c.expiry) {
		c.state = stFailed
		c.a.expirations.Add(1)
		c.a.log.Debug("kafka: session expired", "principal", c.principal)
		return nil, Close, &CloseError{"the SASL session of " + c.principal + " expired " +
			c.expiry.Format(time.RFC3339) + " and the client did not re-authenticate"}
	}
	return nil, Forward, nil
}

// errorResponse builds the response of h's API with code (and message
// where the response has one) at its top level, as the broker's
// getErrorResponse does; nil for APIs whose responses carry errors only
// per partition or topic.
func errorResponse(h RequestHeader, code int16, msg string) []byte {
	r := kmsg.ResponseForKey(h.Key)
	if r == nil {
		return nil
	}
	r.SetVersion(h.Version)
	v := reflect.ValueOf(r).Elem()
	f := v.FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil
	}
	f.SetInt(int64(code))
	if m := v.FieldByName("ErrorMessage"); m.IsValid() && m.Type() == reflect.TypeOf((*string)(nil)) {
		m.Set(reflect.ValueOf(&msg))
	}
	return AppendResponse(nil, h.CorrelationID, r)
}

// Authenticate runs the server side on conn until the client is
// authenticated, for embedders that serve the connection themselves
// afterwards. It reads frames unbuffered, so nothing past the last SASL
// frame is consumed. On failure the broker's answer has been sent and the
// caller closes conn.
func (a *Authenticator) Authenticate(ctx context.Context, conn net.Conn) (*ServerConn, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c := a.NewConn()
	var buf []byte
	for {
		frame, err := ReadFrame(conn, buf, a.maxRecv)
		if err != nil {
			var fe *FrameError
			if errors.As(err, &fe) {
				_, _, cerr := c.fail(nil, "Failing SASL authentication due to invalid receive size: "+fe.Error())
				return nil, cerr
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, &CloseError{"the client closed the connection during SASL " + c.what()}
			}
			return nil, err
		}
		buf = frame
		resp, v, herr := c.Handle(ctx, frame)
		if len(resp) > 0 {
			if _, err := conn.Write(resp); err != nil {
				return nil, err
			}
		}
		switch v {
		case Authenticated:
			return c, nil
		case Close:
			return nil, herr
		case Forward:
			return nil, errors.New("kafka: internal error: a frame forwarded before authentication")
		}
	}
}
