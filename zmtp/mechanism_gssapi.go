package zmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/gsskit/gsskit/gss"
)

// NameType is how a principal name is read, numbered as libzmq's
// ZMQ_GSSAPI_NT_* options are.
type NameType int

const (
	// NameHostbased is "service@host" (ZMQ_GSSAPI_NT_HOSTBASED, 0).
	NameHostbased NameType = 0
	// NameUser is a user name (ZMQ_GSSAPI_NT_USER_NAME, 1).
	NameUser NameType = 1
	// NameKrb5Principal is a Kerberos principal such as
	// "zmq/host@REALM" (ZMQ_GSSAPI_NT_KRB5_PRINCIPAL, 2).
	NameKrb5Principal NameType = 2
)

// OID is the GSS-API name type of t.
func (t NameType) OID() (gss.OID, error) {
	switch t {
	case NameHostbased:
		return gss.NTHostbasedService, nil
	case NameUser:
		return gss.NTUserName, nil
	case NameKrb5Principal:
		return gss.NTKrb5Principal, nil
	}
	return "", fmt.Errorf("zmtp: unknown GSSAPI name type %d (want 0 hostbased, 1 user name, 2 krb5 principal)", int(t))
}

// GSSAPIConfig configures the GSSAPI mechanism (RFC 38 as libzmq 4.3
// implements it) with the Kerberos V5 mechanism of package krb5, which the
// program must import for its side effect.
//
// A GSSAPIConfig caches the credential it acquires, so it must not be
// copied after first use; share one between sockets instead.
type GSSAPIConfig struct {
	// Server makes this side the GSSAPI acceptor (ZMQ_GSSAPI_SERVER);
	// otherwise it is the initiator. Roles are independent of bind and
	// connect.
	Server bool
	// Principal names this side's own credential (ZMQ_GSSAPI_PRINCIPAL);
	// empty means the default: the ccache's principal for a client, any
	// key of the keytab for a server.
	Principal         string
	PrincipalNameType NameType
	// ServicePrincipal names the server a client authenticates to
	// (ZMQ_GSSAPI_SERVICE_PRINCIPAL); required for a client.
	ServicePrincipal         string
	ServicePrincipalNameType NameType
	// Plaintext turns off per-frame encryption after authentication
	// (ZMQ_GSSAPI_PLAINTEXT). It is not negotiated: both sides must agree,
	// and a mismatch fails the handshake.
	Plaintext bool
	// Keytab is the server's keytab file; empty means KRB5_KTNAME or
	// the system default.
	Keytab string
	// Store is passed to gss.AcquireCredential (keys "ccache",
	// "client_keytab", "keytab", ...); Keytab, when set, overrides its
	// "keytab".
	Store gss.CredStore
	// Credential, when set, is used as is and Principal, Keytab and Store
	// are ignored. The caller keeps ownership.
	Credential *gss.Credential
	// Registry is the gss registry; nil means gss.DefaultRegistry().
	Registry *gss.Registry

	mu       sync.Mutex
	acquired *gss.Credential
}

func (g *GSSAPIConfig) check() error {
	if _, err := g.PrincipalNameType.OID(); err != nil {
		return err
	}
	if _, err := g.ServicePrincipalNameType.OID(); err != nil {
		return err
	}
	if !g.Server && g.ServicePrincipal == "" {
		return errors.New("zmtp: a GSSAPI client needs ServicePrincipal")
	}
	return nil
}

func (g *GSSAPIConfig) registry() *gss.Registry {
	if g.Registry != nil {
		return g.Registry
	}
	return gss.DefaultRegistry()
}

// credential returns the credential to use, acquiring it on first use;
// nil means the mechanism's default.
func (g *GSSAPIConfig) credential(ctx context.Context) (*gss.Credential, error) {
	if g.Credential != nil {
		return g.Credential, nil
	}
	store := g.Store
	if g.Keytab != "" {
		store = gss.CredStore{}
		for k, v := range g.Store {
			store[k] = v
		}
		store["keytab"] = g.Keytab
	}
	if g.Principal == "" && len(store) == 0 {
		return nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.acquired != nil {
		return g.acquired, nil
	}
	reg := g.registry()
	cfg := &gss.CredentialConfig{Mechs: gss.OIDSet{gss.MechKrb5}, Store: store, Usage: gss.CredInitiate}
	if g.Server {
		cfg.Usage = gss.CredAccept
	}
	if g.Principal != "" {
		nt, _ := g.PrincipalNameType.OID()
		name, err := reg.ImportName(g.Principal, nt)
		if err != nil {
			return nil, fmt.Errorf("zmtp: GSSAPI principal %q: %w", g.Principal, err)
		}
		cfg.Name = name
	}
	cred, err := reg.AcquireCredential(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("zmtp: GSSAPI credential: %w", err)
	}
	g.acquired = cred
	return cred, nil
}

// Release releases the credential the configuration acquired, if any.
func (g *GSSAPIConfig) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.acquired != nil {
		g.acquired.Release()
		g.acquired = nil
	}
}

// contextFlags are what a client asks for. libzmq asks for mutual
// authentication and replay detection; sequencing and confidentiality are
// added because every frame after the handshake is a wrap token on an
// ordered stream, and gsskit's acceptor encrypts either way.
const contextFlags = gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg

// gssapiClient is the initiator's handshake, in libzmq's order:
//
//	C: INITIATE(AP-REQ)   S: INITIATE(AP-REP)   C: empty command
//	S: READY (wrapped)    C: READY (wrapped)
//
// The empty command is what libzmq's client sends when the last
// gss_init_sec_context call has no token; libzmq's server waits for a
// command there and ignores its content.
func (c *Conn) gssapiClient(ctx context.Context) error {
	g := c.cfg.GSSAPI
	reg := g.registry()
	nt, _ := g.ServicePrincipalNameType.OID()
	target, err := reg.ImportName(g.ServicePrincipal, nt)
	if err != nil {
		return fmt.Errorf("zmtp: GSSAPI service principal %q: %w", g.ServicePrincipal, err)
	}
	cred, err := g.credential(ctx)
	if err != nil {
		return err
	}
	sc, err := reg.NewInitiator(&gss.InitiatorConfig{Credential: cred, Target: target, Mech: gss.MechKrb5, Flags: contextFlags})
	if err != nil {
		return fmt.Errorf("zmtp: GSSAPI initiator for %s: %w", g.ServicePrincipal, err)
	}
	c.sc = sc
	var in []byte
	for legs := 0; ; legs++ {
		if legs > 8 {
			return protoErr("GSSAPI context establishment did not finish")
		}
		out, err := sc.Step(ctx, in)
		if err != nil {
			return fmt.Errorf("zmtp: GSSAPI context establishment with %s: %w", g.ServicePrincipal, err)
		}
		if sc.Done() {
			if legs == 0 {
				return protoErr("GSSAPI context completed without mutual authentication")
			}
			if len(out) > 0 {
				err = c.writeCommand(appendToken([]byte(cmdInitiate), out))
			} else {
				err = c.writeCommand(nil)
			}
			if err != nil {
				return err
			}
			break
		}
		if len(out) == 0 {
			return protoErr("GSSAPI mechanism wants another token but produced none to send")
		}
		if err := c.writeCommand(appendToken([]byte(cmdInitiate), out)); err != nil {
			return err
		}
		body, err := c.readCommand()
		if err != nil {
			if isEOF(err) {
				return fmt.Errorf("zmtp: the GSSAPI server closed the connection instead of answering our token "+
					"(does it hold keys for %s?): %w", g.ServicePrincipal, err)
			}
			if isTimeout(err) {
				// libzmq 4.3.4's server neither answers nor closes when it
				// cannot accept a token, so the handshake timeout ends it.
				return fmt.Errorf("zmtp: the GSSAPI server did not answer our token "+
					"(does it hold keys for %s?): %w", g.ServicePrincipal, err)
			}
			return err
		}
		switch {
		case hasName(body, cmdInitiate):
		case hasName(body, cmdError):
			return peerError(body)
		default:
			return protoErr("expected INITIATE from the GSSAPI server, got %s", commandName(body))
		}
		tok, err := ParseToken(body[len(cmdInitiate):])
		if err != nil {
			return fmt.Errorf("%w (in INITIATE)", err)
		}
		in = tok
	}
	c.encrypt = !g.Plaintext
	c.peer.Encrypted = c.encrypt
	if info, err := sc.Inquire(); err == nil && info.Target != nil {
		c.peer.Principal = info.Target.String()
	}

	body, err := c.readHandshakeCommand()
	if err != nil {
		if isEOF(err) {
			return fmt.Errorf("zmtp: the GSSAPI server closed the connection instead of sending READY "+
				"(it refused us, or its plaintext setting differs): %w", err)
		}
		return err
	}
	if err := c.takeReady(body); err != nil {
		return err
	}
	return c.writeHandshakeCommand(c.readyBody())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// gssapiServer is the acceptor's side of the same exchange, with ZAP
// between the empty command and READY.
func (c *Conn) gssapiServer(ctx context.Context) error {
	g := c.cfg.GSSAPI
	cred, err := g.credential(ctx)
	if err != nil {
		return err
	}
	sc, err := g.registry().NewAcceptor(&gss.AcceptorConfig{Credential: cred})
	if err != nil {
		return fmt.Errorf("zmtp: GSSAPI acceptor: %w", err)
	}
	c.sc = sc
	var last []byte
	for legs := 0; !sc.Done(); legs++ {
		if legs > 8 {
			return protoErr("GSSAPI context establishment did not finish")
		}
		body, err := c.readCommand()
		if err != nil {
			return err
		}
		if !hasName(body, cmdInitiate) {
			if len(body) == 0 {
				return protoErr("empty command before the GSSAPI context was established")
			}
			return protoErr("expected INITIATE from the GSSAPI client, got %s", commandName(body))
		}
		tok, err := ParseToken(body[len(cmdInitiate):])
		if err != nil {
			return fmt.Errorf("%w (in INITIATE)", err)
		}
		out, err := sc.Step(ctx, tok)
		if err != nil {
			// The client learns only that it failed; the reason, which
			// may name keys and principals, stays in our log.
			c.writeCommand(appendError(nil, "GSSAPI authentication failed"))
			return fmt.Errorf("zmtp: GSSAPI context establishment: %w", err)
		}
		last = out
		if len(out) > 0 {
			if err := c.writeCommand(appendToken([]byte(cmdInitiate), out)); err != nil {
				return err
			}
		}
	}
	if len(last) > 0 {
		// The client's answer to our last token: libzmq sends an empty
		// command; a final INITIATE is possible with other mechanisms.
		body, err := c.readCommand()
		if err != nil {
			return err
		}
		if len(body) != 0 {
			if !hasName(body, cmdInitiate) {
				return protoErr("expected the empty command that ends the GSSAPI exchange, got %s", commandName(body))
			}
			tok, err := ParseToken(body[len(cmdInitiate):])
			if err != nil {
				return fmt.Errorf("%w (in INITIATE)", err)
			}
			if len(tok) != 0 {
				return protoErr("GSSAPI client sent a token after the context was established")
			}
		}
	}
	info, err := sc.Inquire()
	if err != nil {
		return fmt.Errorf("zmtp: GSSAPI context: %w", err)
	}
	if info.Source != nil {
		c.peer.Principal = info.Source.String()
	}
	if info.Flags&gss.FlagMutual == 0 {
		return protoErr("GSSAPI client %s did not ask for mutual authentication", c.peer.Principal)
	}
	c.encrypt = !g.Plaintext
	c.peer.Encrypted = c.encrypt

	if h := c.cfg.ZAP; h != nil {
		req := &ZAPRequest{
			Version:     zapVersion,
			RequestID:   "1",
			Domain:      c.cfg.ZAPDomain,
			Address:     c.peer.ip(),
			Identity:    c.cfg.Identity,
			Mechanism:   "GSSAPI",
			Credentials: [][]byte{[]byte(c.peer.Principal)},
		}
		if err := c.applyZAP(ctx, h, req); err != nil {
			return err
		}
	}

	if err := c.writeHandshakeCommand(c.readyBody()); err != nil {
		return err
	}
	body, err := c.readHandshakeCommand()
	if err != nil {
		if isEOF(err) {
			return fmt.Errorf("zmtp: the GSSAPI client %s closed the connection instead of sending READY "+
				"(its plaintext setting may differ): %w", c.peer.Principal, err)
		}
		return err
	}
	if !hasName(body, cmdReady) && !hasName(body, cmdError) {
		return protoErr("expected the client's READY, got %s", commandName(body))
	}
	return c.takeReady(body)
}

// writeHandshakeCommand sends READY the way libzmq does: wrapped in a
// MESSAGE command unless plaintext, in a frame flagged as a command, with
// inner flags 0 (libzmq wraps it before marking it a command).
func (c *Conn) writeHandshakeCommand(body []byte) error {
	if !c.encrypt {
		return c.writeCommand(body)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf, err := c.appendWrapped(c.wbuf[:0], flagCommand, 0, body)
	c.wbuf = buf
	if err != nil {
		return err
	}
	_, err = c.nc.Write(buf)
	return err
}

// readHandshakeCommand reads READY or ERROR after the context is
// established, unwrapping it when frames are encrypted. An ERROR may
// arrive unwrapped either way: a refusing server sends it in clear.
func (c *Conn) readHandshakeCommand() ([]byte, error) {
	body, err := c.readCommand()
	if err != nil {
		return nil, err
	}
	if hasName(body, cmdError) {
		return nil, peerError(body)
	}
	if !c.encrypt {
		if hasName(body, cmdMessage) {
			return nil, protoErr("the peer wraps its frames but we are configured for plaintext; both sides must agree")
		}
		return body, nil
	}
	inner, plain, err := c.unwrapFrame(body)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && hasName(body, cmdReady) {
			return nil, protoErr("the peer sent READY in plaintext but we encrypt; both sides must agree on plaintext")
		}
		return nil, err
	}
	// libzmq wraps READY before its engine marks it a command, so the
	// inner flags are 0; the name tells READY from a data message.
	if inner&innerMore != 0 || !hasName(plain, cmdReady) && !hasName(plain, cmdError) {
		if _, err := ParseCommand(plain); err != nil || inner&innerCommand == 0 {
			return nil, protoErr("data message before READY")
		}
		return nil, protoErr("expected READY, got %s", commandName(plain))
	}
	return plain, nil
}
