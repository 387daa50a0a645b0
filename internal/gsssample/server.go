package gsssample

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gsskit/gsskit/gss"
)

// Server is the Go counterpart of MIT's gss-server: for each connection it
// accepts a context (or an unauthenticated client, as MIT does), then answers
// every data token, unwrapping it when the client says it is wrapped and
// returning a MIC of the message when asked.
//
// Unlike MIT 1.20's gss-server, it also serves v1 clients (gss-client -v1):
// their first token has no flag byte and is the first context token. A v1
// client always sends wrap tokens and expects a MIC back, and ends by closing
// the connection.
type Server struct {
	// Credential is the acceptor credential; nil means the default keytab.
	Credential      *gss.Credential
	ChannelBindings *gss.ChannelBindings
	// Export exports and re-imports the context three times after it is
	// established, as gss-server -export does, to prove the round trip.
	Export bool
	// MaxTokenSize bounds tokens read from clients; zero means
	// DefaultMaxTokenSize.
	MaxTokenSize int
	// Log receives a line for each step of the conversation; nil is quiet.
	Log io.Writer
	// Handle, if set, is called by Serve after each connection with what
	// ServeConn returned.
	Handle func(*Session, error)
}

// Session reports one served connection.
type Session struct {
	V1            bool
	Authenticated bool
	Client        string // display form of the initiator, "" if unauthenticated
	Mech          gss.OID
	Flags         gss.Flags
	ContextTokens []int    // sizes received (positive) and sent (negative)
	Messages      [][]byte // the messages as the server read them (unwrapped)
	Encrypted     []bool   // whether each message arrived with confidentiality
	MICsSent      int
	// Ended reports that a v2 client closed the session with its NOOP
	// token. MIT's gss-client sends that NOOP only after every MIC it
	// asked for passed gss_verify_mic (call_server returns before it on
	// any failure), so for such a client Ended with MICsSent > 0 is the
	// wire's own proof that the MICs verified. A v1 client has no NOOP:
	// it just closes, whether or not its last check passed.
	Ended bool
	// Delegated is the credential the client delegated, or nil; the caller
	// owns it and releases it.
	Delegated *gss.Credential
}

// Serve accepts connections on ln and serves them one after another, as
// gss-server does; with once it returns after the first. It returns when ctx
// ends (with nil) or the listener fails. A failed conversation does not stop
// Serve unless once is set: its error goes to Handle and the log.
func (s *Server) Serve(ctx context.Context, ln net.Listener, once bool) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("gsssample: accepting a connection: %w", err)
		}
		sess, err := s.ServeConn(ctx, conn)
		conn.Close()
		if err != nil && s.Log != nil {
			fmt.Fprintf(s.Log, "server: %v\n", err)
		}
		if s.Handle != nil {
			s.Handle(sess, err)
		} else if sess != nil && sess.Delegated != nil {
			sess.Delegated.Release()
		}
		if once {
			return err
		}
	}
}

// ServeConn serves one conversation on conn (sign_server in gss-server.c).
func (s *Server) ServeConn(ctx context.Context, conn io.ReadWriter) (*Session, error) {
	defer watch(ctx, conn)()
	st := newStream(ctx, conn, s.MaxTokenSize, s.Log, "server")
	sess := &Session{}

	sc, err := s.establish(ctx, st, sess)
	if err != nil {
		return sess, err
	}
	defer func() { sc.Delete() }()

	for {
		flags, body, err := st.recv()
		if err == io.EOF && st.v1 {
			st.logf("v1 client closed the connection")
			return sess, nil
		}
		if err != nil {
			return sess, noClose(err, "waiting for a message or NOOP")
		}
		if st.v1 {
			flags = TokenData | TokenWrapped | TokenSendMIC
		}
		if flags&TokenNoop != 0 {
			st.logf("NOOP token: end of session")
			sess.Ended = true
			return sess, nil
		}
		if sc == nil && flags&(TokenWrapped|TokenEncrypted|TokenSendMIC) != 0 {
			return sess, fmt.Errorf("gsssample: unauthenticated client asked for protected services (%s)", flags)
		}
		msg, conf := body, false
		if flags&TokenWrapped != 0 {
			var info gss.MessageInfo
			msg, info, err = sc.Unwrap(nil, body)
			if err != nil {
				return sess, fmt.Errorf("gsssample: unwrapping message %d from %s: %w", len(sess.Messages)+1, sess.Client, err)
			}
			conf = info.Conf
			if !conf && flags&TokenEncrypted != 0 {
				st.logf("warning: message not encrypted")
			}
		}
		sess.Messages = append(sess.Messages, msg)
		sess.Encrypted = append(sess.Encrypted, conf)
		st.logf("received message (%s, %d bytes): %s", flags, len(body), printable(msg))
		if flags&TokenSendMIC != 0 {
			mic, err := sc.GetMIC(nil, msg, 0)
			if err != nil {
				return sess, fmt.Errorf("gsssample: signing message %d: %w", len(sess.Messages), err)
			}
			if err := st.send(TokenMIC, mic); err != nil {
				return sess, err
			}
			sess.MICsSent++
			st.logf("sent MIC (%d bytes)", len(mic))
		} else if err := st.send(TokenNoop, nil); err != nil {
			return sess, err
		}
	}
}

// establish runs server_establish_context; a nil context means the client
// chose not to authenticate.
func (s *Server) establish(ctx context.Context, st *stream, sess *Session) (_ *gss.SecContext, err error) {
	flags, first, err := st.recv()
	if err != nil {
		return nil, noClose(err, "waiting for the client's first token")
	}
	switch {
	case flags == V1:
		st.v1, sess.V1 = true, true
		st.logf("v1 client")
	case flags&TokenNoop == 0:
		return nil, fmt.Errorf("gsssample: expected a NOOP token first, got %s", flags)
	case flags&TokenContextNext == 0:
		st.logf("accepted unauthenticated connection")
		return nil, nil
	default:
		if first, err = s.nextContextToken(st); err != nil {
			return nil, err
		}
	}

	sc, err := gss.NewAcceptor(&gss.AcceptorConfig{Credential: s.Credential, ChannelBindings: s.ChannelBindings})
	if err != nil {
		return nil, fmt.Errorf("gsssample: starting acceptor: %w", err)
	}
	defer func() {
		if err != nil {
			sc.Delete()
		}
	}()
	in := first
	for {
		st.logf("received init_sec_context token (size=%d)", len(in))
		sess.ContextTokens = append(sess.ContextTokens, len(in))
		out, err := sc.Step(ctx, in)
		if len(out) > 0 {
			// An error token (a KRB-ERROR) goes out too, as gss-server
			// sends whatever accept_sec_context produced.
			st.logf("sending accept_sec_context token (size=%d)", len(out))
			sess.ContextTokens = append(sess.ContextTokens, -len(out))
			if serr := st.send(TokenContext, out); serr != nil {
				return nil, serr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("gsssample: accepting context: %w", err)
		}
		if sc.Done() {
			break
		}
		st.logf("continue needed")
		if in, err = s.nextContextToken(st); err != nil {
			return nil, err
		}
	}

	info, err := sc.Inquire()
	if err != nil {
		return nil, fmt.Errorf("gsssample: inquiring context: %w", err)
	}
	sess.Authenticated = true
	sess.Mech, sess.Flags, sess.Client = info.Mech, info.Flags, displayName(info.Source)
	sess.Delegated = sc.DelegatedCredential()
	st.logf("accepted connection: %q, mech %s, flags %s", sess.Client, sess.Mech, FlagString(sess.Flags))
	if sess.Delegated != nil {
		st.logf("client delegated a credential")
	}
	if s.Export {
		for i := 0; i < 3; i++ {
			tok, err := sc.Export()
			if err != nil {
				return nil, fmt.Errorf("gsssample: exporting context (round %d): %w", i+1, err)
			}
			next, err := gss.ImportSecContext(tok)
			if err != nil {
				return nil, fmt.Errorf("gsssample: importing the exported context (round %d, %d bytes): %w", i+1, len(tok), err)
			}
			st.logf("exported and imported context (%d bytes)", len(tok))
			sc = next
		}
	}
	return sc, nil
}

// nextContextToken reads a context token of a v2 client, or the next token
// of a v1 one.
func (s *Server) nextContextToken(st *stream) ([]byte, error) {
	flags, body, err := st.recv()
	if err != nil {
		return nil, noClose(err, "waiting for a context token")
	}
	if !st.v1 && flags&TokenContext == 0 {
		return nil, fmt.Errorf("gsssample: expected a CONTEXT token, got %s", flags)
	}
	if st.v1 && flags != V1 {
		return nil, errors.New("gsssample: v1 client sent a token with a flag byte")
	}
	return body, nil
}
