package gsssample

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// recorder keeps a copy of everything written through it.
type recorder struct {
	net.Conn
	out bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.out.Write(b)
	return r.Conn.Write(b)
}

// converse runs client c against server s over an in-memory connection and
// returns both results and the client's bytes on the wire.
func converse(t *testing.T, c *Client, s *Server, msg []byte) (*ClientResult, error, *Session, error, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := net.Pipe()
	rec := &recorder{Conn: a}
	type sres struct {
		s   *Session
		err error
	}
	done := make(chan sres, 1)
	go func() {
		sess, err := s.ServeConn(ctx, b)
		b.Close()
		done <- sres{sess, err}
	}()
	res, cerr := c.Run(ctx, rec, msg)
	a.Close()
	sr := <-done
	return res, cerr, sr.s, sr.err, rec.out.Bytes()
}

func toyClient(mod func(*Client)) *Client {
	c := &Client{Target: "sample@toyhost", Mech: toyOID}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestSessionDefault(t *testing.T) {
	msg := []byte("hello, sample server")
	res, cerr, sess, serr, wire := converse(t, toyClient(func(c *Client) { c.MCount = 3 }), &Server{}, msg)
	if cerr != nil || serr != nil {
		t.Fatalf("client: %v; server: %v", cerr, serr)
	}
	if !bytes.HasPrefix(wire, []byte{0x11, 0, 0, 0, 0, byte(TokenContext)}) {
		t.Errorf("client did not open with NOOP|CONTEXT_NEXT then a CONTEXT token: % x", wire[:8])
	}
	if !bytes.HasSuffix(wire, []byte{byte(TokenNoop), 0, 0, 0, 0}) {
		t.Errorf("client did not end with an empty NOOP: % x", wire[len(wire)-5:])
	}
	if bytes.Contains(wire, msg) {
		t.Error("the message crossed the wire in the clear although it was wrapped with confidentiality")
	}
	if !sess.Authenticated || sess.Client != "toyuser" || sess.Mech != toyOID {
		t.Errorf("session = %+v", sess)
	}
	if len(sess.Messages) != 3 || sess.MICsSent != 3 || res.MICsVerified != 3 || res.Sent != 3 {
		t.Fatalf("messages %d, MICs sent %d, verified %d, sent %d; want 3 each", len(sess.Messages), sess.MICsSent, res.MICsVerified, res.Sent)
	}
	for i, m := range sess.Messages {
		if !bytes.Equal(m, msg) || !sess.Encrypted[i] {
			t.Errorf("message %d = %q (encrypted %v)", i, m, sess.Encrypted[i])
		}
	}
	if sess.Flags&DefaultFlags != DefaultFlags || res.Flags&DefaultFlags != DefaultFlags {
		t.Errorf("flags: server %s, client %s; want at least %s", FlagString(sess.Flags), FlagString(res.Flags), FlagString(DefaultFlags))
	}
	if len(res.ContextTokens) != 2 || res.ContextTokens[0] <= 0 || res.ContextTokens[1] >= 0 {
		t.Errorf("client context tokens = %v, want one sent and one received", res.ContextTokens)
	}
}

func TestSessionOptions(t *testing.T) {
	msg := []byte("option test")
	cases := []struct {
		name      string
		mod       func(*Client)
		server    Server
		auth      bool
		encrypted bool
		mics      int
		plainWire bool
		v1        bool
	}{
		{"na", func(c *Client) { c.NoAuth = true }, Server{}, false, false, 0, true, false},
		{"nm-nx", func(c *Client) { c.NoMIC, c.NoConf = true, true }, Server{}, true, false, 0, true, false},
		{"nw", func(c *Client) { c.NoWrap = true }, Server{}, true, false, 1, true, false},
		{"nomutual", func(c *Client) { c.Flags = gss.FlagReplay }, Server{}, true, true, 1, false, false},
		{"v1", func(c *Client) { c.V1 = true }, Server{}, true, true, 1, false, true},
		{"export", nil, Server{Export: true}, true, true, 1, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, cerr, sess, serr, wire := converse(t, toyClient(tc.mod), &tc.server, msg)
			if cerr != nil || serr != nil {
				t.Fatalf("client: %v; server: %v", cerr, serr)
			}
			if sess.Authenticated != tc.auth || sess.V1 != tc.v1 {
				t.Errorf("authenticated %v v1 %v, want %v %v", sess.Authenticated, sess.V1, tc.auth, tc.v1)
			}
			if len(sess.Messages) != 1 || !bytes.Equal(sess.Messages[0], msg) || sess.Encrypted[0] != tc.encrypted {
				t.Fatalf("server read %q encrypted %v", sess.Messages, sess.Encrypted)
			}
			if sess.MICsSent != tc.mics || res.MICsVerified != tc.mics {
				t.Errorf("MICs sent %d verified %d, want %d", sess.MICsSent, res.MICsVerified, tc.mics)
			}
			if bytes.Contains(wire, msg) != tc.plainWire {
				t.Errorf("message in clear on the wire: %v, want %v", !tc.plainWire, tc.plainWire)
			}
			for rest := wire; tc.v1 && len(rest) > 0; {
				var f TokenFlags
				var err error
				if f, _, rest, err = ParseToken(rest, 0); err != nil || f != V1 {
					t.Fatalf("v1 client wrote a %s token (%v): % x", f, err, wire)
				}
			}
		})
	}
}

// serveBytes feeds raw client bytes to a server over TCP, half-closes, and
// returns the server's error.
func serveBytes(t *testing.T, s *Server, in []byte) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = s.ServeConn(ctx, conn)
	return err
}

func TestServerRejects(t *testing.T) {
	tok := func(f TokenFlags, body []byte) []byte {
		b, err := AppendToken(nil, f, body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"data first", tok(TokenData, []byte("x")), "expected a NOOP token first"},
		{"unauthenticated wrap", append(tok(TokenNoop, nil), tok(TokenData|TokenWrapped, []byte("x"))...), "unauthenticated client asked for protected services"},
		{"data instead of context", append(tok(TokenNoop|TokenContextNext, nil), tok(TokenData, []byte("x"))...), "expected a CONTEXT token"},
		{"garbage context token", append(tok(TokenNoop|TokenContextNext, nil), tok(TokenContext, []byte("not a gss token"))...), "accepting context"},
		{"oversized", append(tok(TokenNoop|TokenContextNext, nil), byte(TokenContext), 0x10, 0, 0, 0), "too large"},
		{"hang up", tok(TokenNoop|TokenContextNext, nil), "connection closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := serveBytes(t, &Server{MaxTokenSize: 4096}, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ServeConn = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := serveBytes(t, &Server{}, tok(TokenNoop, nil)); !strings.Contains(fmt.Sprint(err), "connection closed") {
		t.Errorf("unauthenticated client hanging up: %v", err)
	}
}

func TestClientContextCancel(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b) // a server that never answers
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := toyClient(nil).Run(ctx, a, []byte("x"))
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run succeeded against a silent server")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestServeOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got *Session
	srv := &Server{Handle: func(s *Session, err error) { got = s }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln, true) }()
	if _, err := toyClient(nil).Call(ctx, ln.Addr().String(), []byte("over tcp")); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got == nil || len(got.Messages) != 1 || string(got.Messages[0]) != "over tcp" {
		t.Errorf("session = %+v", got)
	}
}

// rw is a canned client: reads come from in, writes are dropped.
type rw struct {
	io.Reader
	io.Writer
}

// FuzzServeConn feeds arbitrary client bytes to the server (with the toy
// mechanism): it must end with a session or an error, never panic, and never
// claim messages it was not sent.
func FuzzServeConn(f *testing.F) {
	good := func(mod func(*Client)) []byte {
		a, b := net.Pipe()
		var rec recorder
		rec.Conn = a
		go func() {
			(&Server{}).ServeConn(context.Background(), b)
			b.Close()
		}()
		toyClient(mod).Run(context.Background(), &rec, []byte("seed"))
		a.Close()
		return rec.out.Bytes()
	}
	f.Add(good(nil))
	f.Add(good(func(c *Client) { c.V1 = true }))
	f.Add(good(func(c *Client) { c.NoAuth = true }))
	f.Add(good(func(c *Client) { c.NoMIC, c.NoWrap = true, true }))
	f.Add([]byte{0x11, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0x60})
	f.Fuzz(func(t *testing.T, in []byte) {
		sess, err := (&Server{MaxTokenSize: 1 << 12}).ServeConn(context.Background(), rw{bytes.NewReader(in), io.Discard})
		if sess == nil {
			t.Fatalf("nil session (err %v)", err)
		}
		// A token takes at least 4 bytes: a zero flag byte is read, as by
		// MIT's recv_token, as the high byte of a v1 token's length.
		if len(sess.Messages) > len(in)/4 {
			t.Fatalf("%d messages from %d bytes", len(sess.Messages), len(in))
		}
	})
}

// hangUpConn closes the connection instead of sending the client's closing
// NOOP, as MIT's gss-client does when a MIC fails to verify.
type hangUpConn struct {
	net.Conn
	writes int
}

func (h *hangUpConn) Write(b []byte) (int, error) {
	h.writes++
	if h.writes > 1 && bytes.Equal(b, []byte{byte(TokenNoop), 0, 0, 0, 0}) {
		h.Conn.Close()
		return 0, io.ErrClosedPipe
	}
	return h.Conn.Write(b)
}

// TestSessionEnded: Ended is set by the client's closing NOOP only, so a
// client that hangs up after the last MIC is not taken to have accepted it.
func TestSessionEnded(t *testing.T) {
	msg := []byte("ended?")
	_, cerr, sess, serr, _ := converse(t, toyClient(nil), &Server{}, msg)
	if cerr != nil || serr != nil || !sess.Ended || sess.MICsSent != 1 {
		t.Fatalf("client %v, server %v, ended %v, MICs %d", cerr, serr, sess.Ended, sess.MICsSent)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := net.Pipe()
	done := make(chan *Session, 1)
	go func() {
		s, err := (&Server{}).ServeConn(ctx, b)
		b.Close()
		if err == nil {
			t.Error("server: a client that hung up ended the session cleanly")
		}
		done <- s
	}()
	if _, err := toyClient(nil).Run(ctx, &hangUpConn{Conn: a}, msg); err == nil {
		t.Error("client: hanging up instead of the NOOP was not an error")
	}
	a.Close()
	s := <-done
	if s.Ended || s.MICsSent != 1 || len(s.Messages) != 1 {
		t.Errorf("hung-up session: ended %v, MICs %d, messages %d", s.Ended, s.MICsSent, len(s.Messages))
	}
}
