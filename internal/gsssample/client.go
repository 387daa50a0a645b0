package gsssample

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gsskit/gsskit/gss"
)

// DefaultFlags are the context flags MIT's gss-client asks for when given no
// option: mutual authentication and replay detection.
const DefaultFlags = gss.FlagMutual | gss.FlagReplay

// Client is the Go counterpart of MIT's gss-client: it establishes a context
// with a sample server and sends it a message MCount times, wrapped and with a
// MIC asked back unless told otherwise. The zero value is MIT's default run
// except that Target must be set.
type Client struct {
	// Target is the acceptor's host-based service name, "service@host"
	// (GSS_C_NT_HOSTBASED_SERVICE), as gss-client's "service" argument.
	Target string
	// Mech is the mechanism; "" means Kerberos V5.
	Mech gss.OID
	// Flags are the requested context flags; zero means DefaultFlags.
	Flags gss.Flags
	// Credential is the initiator credential; nil means the default ccache.
	Credential      *gss.Credential
	ChannelBindings *gss.ChannelBindings

	NoAuth bool // -na: no context; messages travel in the clear, no MIC
	NoWrap bool // -nw: send the message itself, not a wrap token
	NoConf bool // -nx: wrap without confidentiality
	NoMIC  bool // -nm: do not ask the server for a MIC of the message
	V1     bool // -v1: the old format without flag bytes or NOOP framing

	// MCount is how many times the message is sent on the connection; zero
	// means once, as MIT's default, and a negative value sends none.
	MCount int
	// MaxTokenSize bounds tokens read from the server; zero means
	// DefaultMaxTokenSize.
	MaxTokenSize int
	// Log receives a line for each step of the conversation; nil is quiet.
	Log io.Writer
}

// ClientResult reports one conversation.
type ClientResult struct {
	// ContextTokens are the sizes of the context tokens sent (positive) and
	// received (negative), in order.
	ContextTokens []int
	Flags         gss.Flags // the established context's flags
	Mech          gss.OID
	Source        string // display form of the initiator name
	Target        string // display form of the acceptor name
	Sent          int    // messages sent
	MICsVerified  int    // server MICs that verified
}

// Call connects to addr over TCP and runs one conversation, as one pass of
// gss-client's -ccount loop.
func (c *Client) Call(ctx context.Context, addr string, msg []byte) (*ClientResult, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gsssample: connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	return c.Run(ctx, conn, msg)
}

// Run holds one conversation with a sample server over conn.
func (c *Client) Run(ctx context.Context, conn io.ReadWriter, msg []byte) (*ClientResult, error) {
	defer watch(ctx, conn)()
	s := newStream(ctx, conn, c.MaxTokenSize, c.Log, "client")
	s.v1 = c.V1
	res := &ClientResult{}

	sc, err := c.establish(ctx, s, res)
	if err != nil {
		return res, err
	}
	defer sc.Delete()

	wrap, conf, mic := !c.NoWrap, !c.NoConf, !c.NoMIC
	if sc == nil { // -na turns every protection off, as in gss-client
		wrap, conf, mic = false, false, false
	}
	count := c.MCount
	if count == 0 {
		count = 1
	}
	for i := 0; i < count; i++ {
		body := msg
		if wrap {
			var applied bool
			body, applied, err = sc.Wrap(nil, msg, conf, 0)
			if err != nil {
				return res, fmt.Errorf("gsssample: wrapping message %d: %w", i+1, err)
			}
			if conf && !applied {
				s.logf("warning: message not encrypted")
			}
		}
		flags := TokenData
		if wrap {
			flags |= TokenWrapped
		}
		if conf {
			// Set even with -nw, as gss-client does; the server only
			// looks at it for wrapped data.
			flags |= TokenEncrypted
		}
		if mic {
			flags |= TokenSendMIC
		}
		if err := s.send(flags, body); err != nil {
			return res, err
		}
		res.Sent++
		s.logf("sent message %d (%s, %d bytes)", i+1, flags, len(body))
		rf, reply, err := s.recv()
		if err != nil {
			return res, noClose(err, "waiting for the server's answer")
		}
		if mic {
			if _, err := sc.VerifyMIC(msg, reply); err != nil {
				return res, fmt.Errorf("gsssample: verifying the server's MIC of message %d: %w", i+1, err)
			}
			res.MICsVerified++
			s.logf("signature verified (%d-byte MIC)", len(reply))
		} else {
			s.logf("response received (%s, %d bytes)", rf, len(reply))
		}
	}
	if !c.V1 {
		if err := s.send(TokenNoop, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}

// establish runs client_establish_context; it returns a nil context when
// NoAuth is set.
func (c *Client) establish(ctx context.Context, s *stream, res *ClientResult) (*gss.SecContext, error) {
	if c.NoAuth {
		if c.V1 {
			return nil, errors.New("gsssample: the v1 format has no unauthenticated mode")
		}
		s.logf("no authentication requested")
		return nil, s.send(TokenNoop, nil)
	}
	if c.Target == "" {
		return nil, errors.New("gsssample: client needs a target service@host")
	}
	target, err := gss.ImportName(c.Target, gss.NTHostbasedService)
	if err != nil {
		return nil, fmt.Errorf("gsssample: parsing target %q: %w", c.Target, err)
	}
	flags := c.Flags
	if flags == 0 {
		flags = DefaultFlags
	}
	sc, err := gss.NewInitiator(&gss.InitiatorConfig{
		Credential:      c.Credential,
		Target:          target,
		Mech:            c.Mech,
		Flags:           flags,
		ChannelBindings: c.ChannelBindings,
	})
	if err != nil {
		return nil, fmt.Errorf("gsssample: starting initiator for %s: %w", c.Target, err)
	}
	if !c.V1 {
		if err := s.send(TokenNoop|TokenContextNext, nil); err != nil {
			sc.Delete()
			return nil, err
		}
	}
	var in []byte
	for {
		out, err := sc.Step(ctx, in)
		if len(out) > 0 {
			s.logf("sending init_sec_context token (size=%d)", len(out))
			res.ContextTokens = append(res.ContextTokens, len(out))
			if serr := s.send(TokenContext, out); serr != nil {
				sc.Delete()
				return nil, serr
			}
		}
		if err != nil {
			sc.Delete()
			return nil, fmt.Errorf("gsssample: initializing context with %s: %w", c.Target, err)
		}
		if sc.Done() {
			break
		}
		s.logf("continue needed")
		_, in, err = s.recv()
		if err != nil {
			sc.Delete()
			return nil, noClose(err, "waiting for the acceptor's context token")
		}
		s.logf("received accept_sec_context token (size=%d)", len(in))
		res.ContextTokens = append(res.ContextTokens, -len(in))
	}
	info, err := sc.Inquire()
	if err != nil {
		sc.Delete()
		return nil, fmt.Errorf("gsssample: inquiring context: %w", err)
	}
	res.Flags, res.Mech = info.Flags, info.Mech
	res.Source, res.Target = displayName(info.Source), displayName(info.Target)
	s.logf("context established: %q to %q, mech %s, flags %s", res.Source, res.Target, res.Mech, FlagString(res.Flags))
	return sc, nil
}

// noClose turns a clean end of stream into an error that says what was
// awaited when the peer hung up.
func noClose(err error, what string) error {
	if err == io.EOF {
		return fmt.Errorf("gsssample: connection closed while %s", what)
	}
	return err
}
