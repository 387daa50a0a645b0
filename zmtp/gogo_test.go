package zmtp_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/zmtp"
)

// Go against Go: the socket types' routing rules over GSSAPI.

func newSocket(t *testing.T, typ zmtp.SocketType, cfg *zmtp.Config) *zmtp.Socket {
	t.Helper()
	s, err := zmtp.NewSocket(typ, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func listen(t *testing.T, s *zmtp.Socket) string {
	t.Helper()
	addr, err := s.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return "tcp://" + addr.String()
}

func TestGoRouterDealer(t *testing.T) {
	f := newFixture(t)
	router := newSocket(t, zmtp.ROUTER, f.serverConfig(zmtp.NameHostbased, false))
	ep := listen(t, router)
	var dealers []*zmtp.Socket
	for _, id := range []string{"first", "", "first"} { // the second "first" is taken: it gets a made-up id
		cfg := f.clientConfig(zmtp.NameHostbased, false)
		cfg.Identity = []byte(id)
		d := newSocket(t, zmtp.DEALER, cfg)
		if err := d.Dial(f.ctx, ep); err != nil {
			t.Fatal(err)
		}
		dealers = append(dealers, d)
	}
	ids := map[string]int{}
	for i, d := range dealers {
		if err := d.Send(f.ctx, []byte{byte('0' + i)}, []byte("payload")); err != nil {
			t.Fatal(err)
		}
		m, err := router.Recv(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Frames) != 3 || string(m.Frames[2]) != "payload" {
			t.Fatalf("ROUTER got %q", m.Frames)
		}
		ids[string(m.Frames[0])] = int(m.Frames[1][0] - '0')
	}
	if len(ids) != 3 || ids["first"] != 0 {
		t.Fatalf("routing ids %v", ids)
	}
	// Reply to each through its id; each dealer gets only its own.
	for id, i := range ids {
		if err := router.Send(f.ctx, []byte(id), []byte{byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range dealers {
		m, err := d.Recv(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Frames[0]) != string(rune('0'+i)) {
			t.Errorf("dealer %d got %q", i, m.Frames)
		}
	}
	if err := router.Send(f.ctx, []byte("nobody"), []byte("x")); !errors.Is(err, zmtp.ErrUnroutable) {
		t.Errorf("Send to an unknown id = %v", err)
	}
}

func TestGoReqRepStates(t *testing.T) {
	f := newFixture(t)
	rep := newSocket(t, zmtp.REP, f.serverConfig(zmtp.NameKrb5Principal, false))
	ep := listen(t, rep)
	req := newSocket(t, zmtp.REQ, f.clientConfig(zmtp.NameKrb5Principal, false))
	if err := req.Dial(f.ctx, ep); err != nil {
		t.Fatal(err)
	}
	if _, err := req.Recv(f.ctx); !errors.Is(err, zmtp.ErrState) {
		t.Fatalf("REQ Recv before Send = %v", err)
	}
	if err := rep.Send(f.ctx, []byte("x")); !errors.Is(err, zmtp.ErrState) {
		t.Fatalf("REP Send before Recv = %v", err)
	}
	if err := req.Send(f.ctx, []byte("q1"), []byte("q2")); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(f.ctx, []byte("again")); !errors.Is(err, zmtp.ErrState) {
		t.Fatalf("second REQ Send = %v", err)
	}
	m, err := rep.Recv(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Frames) != 2 || string(m.Frames[1]) != "q2" {
		t.Fatalf("REP got %q", m.Frames)
	}
	if err := rep.Send(f.ctx, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if m, err = req.Recv(f.ctx); err != nil || string(m.Frames[0]) != "answer" {
		t.Fatalf("REQ Recv = %v", err)
	}
	// The server going away while a reply is due is reported.
	if err := req.Send(f.ctx, []byte("q3")); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Recv(f.ctx); err != nil {
		t.Fatal(err)
	}
	rep.Close()
	if _, err := req.Recv(f.ctx); !errors.Is(err, zmtp.ErrPeerGone) {
		t.Fatalf("REQ Recv after the server closed = %v", err)
	}
}

func TestGoPubSub(t *testing.T) {
	f := newFixture(t)
	pub := newSocket(t, zmtp.PUB, f.serverConfig(zmtp.NameHostbased, false))
	ep := listen(t, pub)
	sub := newSocket(t, zmtp.SUB, f.clientConfig(zmtp.NameHostbased, false))
	if err := sub.Dial(f.ctx, ep); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe([]byte("a.")); err != nil {
		t.Fatal(err)
	}
	// The subscription travels after Dial; publish until it has arrived.
	for {
		pub.Send(f.ctx, []byte("b.skip"))
		pub.Send(f.ctx, []byte("a.one"), []byte("second frame"))
		ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
		m, err := sub.Recv(ctx)
		cancel()
		if err == nil {
			if !bytes.HasPrefix(m.Frames[0], []byte("a.")) || len(m.Frames) != 2 {
				t.Fatalf("SUB got %q", m.Frames)
			}
			break
		}
		if f.ctx.Err() != nil {
			t.Fatal("no message on the subscribed topic")
		}
	}
	if err := sub.Send(f.ctx, []byte("x")); !errors.Is(err, zmtp.ErrNotSupported) {
		t.Errorf("SUB Send = %v", err)
	}
	if _, err := pub.Recv(f.ctx); !errors.Is(err, zmtp.ErrNotSupported) {
		t.Errorf("PUB Recv = %v", err)
	}
}

func TestGoPlaintextMismatch(t *testing.T) {
	f := newFixture(t)
	for _, serverPT := range []bool{false, true} {
		mark := f.logs.String()
		s := newSocket(t, zmtp.REP, f.serverConfig(zmtp.NameHostbased, serverPT))
		ep := listen(t, s)
		c := newSocket(t, zmtp.REQ, f.clientConfig(zmtp.NameHostbased, !serverPT))
		err := c.Dial(f.ctx, ep)
		if err == nil || !strings.Contains(err.Error(), "plaintext") {
			t.Fatalf("server plaintext %v: Dial = %v", serverPT, err)
		}
		f.waitLogAfter(mark, "handshake failed")
	}
}

// HandshakeStream and Session against a zmtp socket: the pieces another
// ZMTP implementation would use, encrypting.
func TestHandshakeStream(t *testing.T) {
	f := newFixture(t)
	rep := newSocket(t, zmtp.REP, f.serverConfig(zmtp.NameHostbased, false))
	ep := listen(t, rep)
	go func() {
		for {
			m, err := rep.Recv(f.ctx)
			if err != nil {
				return
			}
			rep.Send(f.ctx, m.Frames...)
		}
	}()
	nc, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	g, _ := zmtp.AppendGreeting(nil, zmtp.Greeting{Major: 3, Minor: 1, Mechanism: "GSSAPI"})
	nc.Write(g)
	peerGreeting := make([]byte, zmtp.GreetingSize)
	if _, err := readFull(nc, peerGreeting); err != nil {
		t.Fatal(err)
	}
	sess, err := zmtp.HandshakeStream(f.ctx, nc, "REQ", f.clientConfig(zmtp.NameHostbased, false))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if !sess.Encrypted() || sess.Peer().SocketType != zmtp.REP {
		t.Fatalf("session %+v", sess.Peer())
	}
	var out []byte
	out, _ = sess.AppendFrame(out, true, false, nil)
	out, _ = sess.AppendFrame(out, false, false, []byte("via a session"))
	nc.Write(out)
	// Read the two echoed frames: each is a MESSAGE command frame.
	for i, want := range []string{"", "via a session"} {
		hdr := make([]byte, 2)
		readFull(nc, hdr)
		n := int(hdr[1])
		if hdr[0]&0x02 != 0 {
			long := make([]byte, 8)
			readFull(nc, long)
			n = int(long[7]) | int(long[6])<<8
		}
		body := make([]byte, n)
		readFull(nc, body)
		more, cmd, frame, err := sess.OpenFrame(body)
		if err != nil || cmd || more != (i == 0) || string(frame) != want {
			t.Fatalf("frame %d: %v more=%v cmd=%v %q", i, err, more, cmd, frame)
		}
	}
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
