package zmtp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
)

// Bad input from either peer closes that one connection with a logged or
// returned reason; nothing panics and the socket goes on serving others.

const badSPN = "zmq/localhost"

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type badEnv struct {
	t     *testing.T
	ctx   context.Context
	realm *krbtest.Realm
	logs  *syncBuf
	addr  string // the Go REP server
}

// newBadEnv starts a realm and an encrypting Go REP server that echoes.
func newBadEnv(t *testing.T) *badEnv {
	realm := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "alice-bad-input-pw"},
		Services: []krbtest.Service{{Principal: badSPN}},
	})
	realm.Setenv(t)
	realm.KinitT(t, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &badEnv{t: t, ctx: ctx, realm: realm, logs: &syncBuf{}}
	s, err := NewSocket(REP, &Config{
		GSSAPI: &GSSAPIConfig{Server: true, Principal: "zmq@localhost", Keytab: realm.Keytab(badSPN)},
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = addr.String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			s.Send(ctx, m.Frames...)
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *badEnv) clientConfig() *Config {
	return &Config{GSSAPI: &GSSAPIConfig{ServicePrincipal: "zmq@localhost"}}
}

// waitLog waits for the server to log want.
func (e *badEnv) waitLog(want string) {
	e.t.Helper()
	for !strings.Contains(e.logs.String(), want) {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("server never logged %q; log:\n%s", want, e.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stillServes checks that a well-behaved client still gets its echo.
func (e *badEnv) stillServes() {
	e.t.Helper()
	s, err := NewSocket(REQ, e.clientConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	if err := s.Dial(e.ctx, "tcp://"+e.addr); err != nil {
		e.t.Fatalf("a good client after the bad one: %v", err)
	}
	if err := s.Send(e.ctx, []byte("still here?")); err != nil {
		e.t.Fatal(err)
	}
	m, err := s.Recv(e.ctx)
	if err != nil {
		e.t.Fatalf("echo after the bad client: %v", err)
	}
	if string(m.Frames[0]) != "still here?" {
		e.t.Fatalf("echo after the bad client: %q", m.Frames)
	}
}

func (e *badEnv) dial() net.Conn {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return nc
}

func greetingBytes(mech string) []byte {
	b, _ := AppendGreeting(nil, Greeting{Major: 3, Minor: 1, Mechanism: mech})
	return b
}

// rawClient is a GSSAPI client driven step by step, so a test can
// misbehave at any point.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	fr frameReader
	sc *gss.SecContext
}

func (e *badEnv) rawClient() *rawClient {
	nc := e.dial()
	r := &rawClient{t: e.t, nc: nc, br: bufio.NewReader(nc)}
	r.fr = frameReader{r: r.br, max: 1 << 24}
	if _, err := nc.Write(greetingBytes("GSSAPI")); err != nil {
		e.t.Fatal(err)
	}
	if _, err := readGreeting(r.br); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) readFrame() (byte, []byte) {
	r.t.Helper()
	flags, size, err := r.fr.header()
	if err != nil {
		r.t.Fatal(err)
	}
	body, err := r.fr.body(nil, size)
	if err != nil {
		r.t.Fatal(err)
	}
	return flags, body
}

// authenticate runs the GSSAPI exchange up to and including the empty
// command, as libzmq's client does, and reads the server's READY.
func (r *rawClient) authenticate(ctx context.Context) {
	r.t.Helper()
	target, err := gss.ImportName("zmq@localhost", gss.NTHostbasedService)
	if err != nil {
		r.t.Fatal(err)
	}
	sc, err := gss.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: contextFlags})
	if err != nil {
		r.t.Fatal(err)
	}
	r.sc = sc
	tok, err := sc.Step(ctx, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(appendFrame(nil, flagCommand, appendToken([]byte(cmdInitiate), tok)))
	_, body := r.readFrame()
	rep, err := ParseToken(body[len(cmdInitiate):])
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := sc.Step(ctx, rep); err != nil || !sc.Done() {
		r.t.Fatalf("initiator: %v", err)
	}
	r.write(appendFrame(nil, flagCommand, nil))
	r.readFrame() // the server's wrapped READY
}

// wrapped is a MESSAGE frame carrying wrap([inner][body]).
func (r *rawClient) wrapped(inner byte, body []byte) []byte {
	r.t.Helper()
	tok, _, err := r.sc.Wrap(nil, append([]byte{inner}, body...), true, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return appendFrame(nil, 0, appendToken([]byte(cmdMessage), tok))
}

// wrappedCommand is wrapped as libzmq sends READY: in a command frame.
func (r *rawClient) wrappedCommand(inner byte, body []byte) []byte {
	f := r.wrapped(inner, body)
	f[0] |= flagCommand
	return f
}

func TestBadInputFromClient(t *testing.T) {
	e := newBadEnv(t)
	long := func(flags byte, n uint64) []byte {
		b := []byte{flags | flagLong, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[1:], n)
		return b
	}
	cases := []struct {
		name string
		send func(r *rawClient) // after the greeting exchange
		want string
	}{
		{"malformed command name", func(r *rawClient) {
			r.write([]byte{flagCommand, 5, 9, 'I', 'N', 'I', 'T'})
		}, "command name of 9 bytes in a 5-byte frame"},
		{"INITIATE with a wrong length", func(r *rawClient) {
			r.write(appendFrame(nil, flagCommand, append([]byte(cmdInitiate), 0, 0, 0, 100, 1, 2, 3)))
		}, "token length 100 does not match the 3 bytes that follow"},
		{"INITIATE with a garbage token", func(r *rawClient) {
			r.write(appendFrame(nil, flagCommand, appendToken([]byte(cmdInitiate), []byte("\x60\x03garbage"))))
		}, "GSSAPI context establishment"},
		{"MESSAGE before INITIATE", func(r *rawClient) {
			r.write(appendFrame(nil, 0, appendToken([]byte(cmdMessage), []byte("x"))))
		}, "data frame during the handshake, before READY"},
		{"MESSAGE command before INITIATE", func(r *rawClient) {
			r.write(appendFrame(nil, flagCommand, appendToken([]byte(cmdMessage), []byte("x"))))
		}, "expected INITIATE from the GSSAPI client, got MESSAGE"},
		{"reserved frame flags", func(r *rawClient) {
			r.write([]byte{0x80, 0})
		}, "reserved bits set"},
		{"command with MORE", func(r *rawClient) {
			r.write([]byte{flagCommand | flagMore, 0})
		}, "command frame with the MORE flag"},
		{"huge frame before authentication", func(r *rawClient) {
			r.write(long(flagCommand, 1<<40))
		}, "exceeds the limit"},
		{"frame cut short", func(r *rawClient) {
			r.write([]byte{flagCommand, 200, 8})
			r.nc.(*net.TCPConn).CloseWrite()
		}, "peer closed the connection during the handshake: unexpected EOF"},
		{"data MESSAGE before READY", func(r *rawClient) {
			r.authenticate(e.ctx)
			r.write(r.wrapped(0, []byte("hello")))
		}, "data frame during the handshake, before READY"},
		{"data MESSAGE in a command frame before READY", func(r *rawClient) {
			r.authenticate(e.ctx)
			f := r.wrapped(0, []byte("hello"))
			f[0] |= flagCommand
			r.write(f)
		}, "data message before READY"},
		{"bad wrap token instead of READY", func(r *rawClient) {
			r.authenticate(e.ctx)
			f := r.wrapped(0, appendReady(nil, REQ, nil, nil))
			f[0] |= flagCommand
			f[len(f)-3] ^= 0x40
			r.write(f)
		}, "bad wrap token"},
		{"READY in plaintext on an encrypted connection", func(r *rawClient) {
			r.authenticate(e.ctx)
			r.write(appendFrame(nil, flagCommand, appendReady(nil, REQ, nil, nil)))
		}, "sent READY in plaintext but we encrypt"},
		{"READY with broken metadata", func(r *rawClient) {
			r.authenticate(e.ctx)
			r.write(r.wrappedCommand(0, append([]byte(cmdReady), 11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 200)))
		}, "value of 200 bytes, 0 left"},
		{"READY from an incompatible socket type", func(r *rawClient) {
			r.authenticate(e.ctx)
			r.write(r.wrappedCommand(0, appendReady(nil, PUB, nil, nil)))
		}, `PUB\" cannot talk to REP`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.rawClient()
			tc.send(r)
			e.waitLog(tc.want)
			// The server closes: the read ends (EOF or reset).
			r.nc.SetReadDeadline(time.Now().Add(time.Minute))
			io.Copy(io.Discard, r.br)
			e.stillServes()
		})
	}

	t.Run("truncated greeting", func(t *testing.T) {
		e.t = t
		nc := e.dial()
		nc.Write(greetingBytes("GSSAPI")[:20])
		nc.(*net.TCPConn).CloseWrite()
		e.waitLog("truncated greeting: peer sent 20 of 64 bytes")
		e.stillServes()
	})
	t.Run("not a ZMTP peer", func(t *testing.T) {
		e.t = t
		nc := e.dial()
		nc.Write([]byte(strings.Repeat("GET / HTTP/1.1\r\n", 4)))
		e.waitLog("bad greeting signature")
		e.stillServes()
	})
	t.Run("mechanism mismatch", func(t *testing.T) {
		e.t = t
		nc := e.dial()
		nc.Write(greetingBytes("NULL"))
		e.waitLog("security mechanism mismatch: we use GSSAPI, the peer NULL")
		e.stillServes()
	})

	// After the handshake: a real client connection whose later frames
	// are tampered with.
	established := []struct {
		name  string
		frame func(c *Conn) []byte
		want  string
	}{
		{"bad wrap token", func(c *Conn) []byte {
			f, err := c.appendWrapped(nil, 0, 0, []byte("tampered"))
			if err != nil {
				t.Fatal(err)
			}
			f[len(f)-1] ^= 1
			return f
		}, "bad wrap token in a MESSAGE command"},
		{"truncated wrap token", func(c *Conn) []byte {
			return appendFrame(nil, 0, appendToken([]byte(cmdMessage), []byte{0x05, 0x04}))
		}, "bad wrap token in a MESSAGE command"},
		{"plaintext frame", func(c *Conn) []byte {
			return appendFrame(nil, 0, []byte("hello"))
		}, "unencrypted frame"},
		{"outer MORE flag", func(c *Conn) []byte {
			f, _ := c.appendWrapped(nil, flagMore, 0, []byte("x"))
			return f
		}, "outer frame with the MORE flag"},
		{"reserved inner flags", func(c *Conn) []byte {
			f, _ := c.appendWrapped(nil, 0, 0x10, []byte("x"))
			return f
		}, "MESSAGE flags 0x10 have reserved bits set"},
		{"wrapped command with MORE", func(c *Conn) []byte {
			f, _ := c.appendWrapped(nil, 0, innerCommand|innerMore, []byte("\x04PING\x00\x00"))
			return f
		}, "wrapped command with the MORE flag"},
		{"replayed token", func(c *Conn) []byte {
			f, _ := c.appendWrapped(nil, 0, 0, append([]byte{}, []byte("once")...))
			return append(append([]byte{}, f...), f...)
		}, "bad wrap token"},
		{"malformed PING", func(c *Conn) []byte {
			f, _ := c.appendWrapped(nil, 0, innerCommand, []byte("\x04PING"))
			return f
		}, "PING without its TTL"},
	}
	for _, tc := range established {
		t.Run("established/"+tc.name, func(t *testing.T) {
			e.t = t
			nc := e.dial()
			c, err := NewConn(nc, REQ, e.clientConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Handshake(e.ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Write(tc.frame(c)); err != nil {
				t.Fatal(err)
			}
			e.waitLog(tc.want)
			if _, err := c.Recv(); err == nil {
				t.Error("the server's side of the connection is still open")
			}
			e.stillServes()
		})
	}
}

// fakeServer accepts one connection, answers the greeting as a GSSAPI
// server and then runs script.
func fakeServer(t *testing.T, script func(nc net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		script(nc, bufio.NewReader(nc))
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "tcp://" + ln.Addr().String()
}

func TestBadInputFromServer(t *testing.T) {
	e := newBadEnv(t)
	skipINITIATE := func(br *bufio.Reader) {
		fr := frameReader{r: br, max: 1 << 20}
		_, n, err := fr.header()
		if err == nil {
			fr.body(nil, n)
		}
	}
	cases := []struct {
		name   string
		script func(nc net.Conn, br *bufio.Reader)
		want   string
	}{
		{"truncated greeting", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI")[:40])
		}, "truncated greeting: peer sent 40 of 64 bytes"},
		{"ZMTP 2 peer", func(nc net.Conn, br *bufio.Reader) {
			g := greetingBytes("GSSAPI")
			g[10] = 2
			nc.Write(g)
		}, "only 3.x carries security mechanisms"},
		{"malformed INITIATE reply", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI"))
			io.ReadFull(br, make([]byte, 64))
			skipINITIATE(br)
			nc.Write(appendFrame(nil, flagCommand, append([]byte(cmdInitiate), 0xff, 0xff, 0xff, 0xff)))
		}, "token length 4294967295 does not match"},
		{"garbage AP-REP", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI"))
			io.ReadFull(br, make([]byte, 64))
			skipINITIATE(br)
			nc.Write(appendFrame(nil, flagCommand, appendToken([]byte(cmdInitiate), []byte("\x6f\x03abc"))))
		}, "GSSAPI context establishment"},
		{"READY instead of INITIATE", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI"))
			io.ReadFull(br, make([]byte, 64))
			skipINITIATE(br)
			nc.Write(appendFrame(nil, flagCommand, appendReady(nil, REP, nil, nil)))
		}, "expected INITIATE from the GSSAPI server, got READY"},
		{"ERROR", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI"))
			io.ReadFull(br, make([]byte, 64))
			skipINITIATE(br)
			nc.Write(appendFrame(nil, flagCommand, appendError(nil, "go away")))
		}, "peer refused the connection: go away"},
		{"malformed ERROR", func(nc net.Conn, br *bufio.Reader) {
			nc.Write(greetingBytes("GSSAPI"))
			io.ReadFull(br, make([]byte, 64))
			skipINITIATE(br)
			nc.Write(appendFrame(nil, flagCommand, append([]byte(cmdError), 50, 'x')))
		}, "malformed ERROR command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := fakeServer(t, tc.script)
			s, err := NewSocket(REQ, e.clientConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Dial(e.ctx, ep)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial error %v, want %q", err, tc.want)
			}
		})
	}
}
