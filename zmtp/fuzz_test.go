package zmtp

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// Fuzz targets for every decoder that reads peer input. None may panic;
// each either decodes or returns an error.

func FuzzParseGreeting(f *testing.F) {
	f.Add(greetingBytes("GSSAPI"))
	f.Add(greetingBytes("NULL"))
	f.Add([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGreeting(b)
		if err != nil {
			return
		}
		out, err := AppendGreeting(nil, g)
		if err != nil {
			t.Fatalf("re-encoding a parsed greeting: %v", err)
		}
		if g2, err := ParseGreeting(out); err != nil || g2 != g {
			t.Fatalf("greeting does not round-trip: %+v -> %+v (%v)", g, g2, err)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Add(appendReady(nil, REQ, []byte("id"), Metadata{"X-App": "v"}))
	f.Add(appendToken([]byte(cmdInitiate), []byte("token")))
	f.Add(appendToken([]byte(cmdMessage), []byte{1, 2, 3}))
	f.Add(appendError(nil, "400"))
	f.Add([]byte("\x04PING\x00\x0aabc"))
	f.Add([]byte("\x09SUBSCRIBEtopic"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		switch c.Name {
		case "READY":
			if md, err := ParseMetadata(c.Data); err == nil {
				// Parsed metadata re-encodes to something that parses
				// to the same properties.
				md2, err := ParseMetadata(appendMetadata(nil, md))
				if err != nil || len(md2) != len(md) {
					t.Fatalf("metadata does not round-trip: %v %v", md, err)
				}
			}
		case "INITIATE", "MESSAGE":
			if tok, err := ParseToken(c.Data); err == nil && !bytes.Equal(appendToken(nil, tok), c.Data) {
				t.Fatal("token does not round-trip")
			}
		case "ERROR":
			ParseError(c.Data)
		case "PING":
			if _, ctx, err := ParsePing(c.Data); err == nil && len(ctx) > 16 {
				t.Fatal("PING context longer than 16 bytes")
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(appendMetadata(nil, Metadata{"Socket-Type": "REQ", "Identity": "", "X-A": "b"}))
	f.Add([]byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseMetadata(b)
	})
}

// splitFrames cuts b at 0x00 0xff pairs, a cheap way to let the fuzzer
// vary frame counts.
func splitFrames(b []byte) [][]byte {
	return bytes.Split(b, []byte{0x00, 0xff})
}

func FuzzParseZAP(f *testing.F) {
	join := func(frames [][]byte) []byte { return bytes.Join(frames, []byte{0x00, 0xff}) }
	f.Add(join((&ZAPRequest{Version: "1.0", RequestID: "1", Mechanism: "GSSAPI",
		Credentials: [][]byte{[]byte("alice@EXAMPLE")}}).Frames()))
	f.Add(join((&ZAPReply{RequestID: "1", StatusCode: "200", UserID: "alice",
		Metadata: Metadata{"X-Role": "admin"}}).Frames()))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := splitFrames(b)
		if r, err := ParseZAPRequest(frames); err == nil {
			if _, err := ParseZAPRequest(r.Frames()); err != nil {
				t.Fatalf("request does not round-trip: %v", err)
			}
		}
		if r, err := ParseZAPReply(frames); err == nil {
			if _, err := ParseZAPReply(r.Frames()); err != nil {
				t.Fatalf("reply does not round-trip: %v", err)
			}
		}
	})
}

// pipeConn is one end of a connection whose other end writes in and
// then closes, so that reads end with EOF.
func pipeConn(t *testing.T, in []byte) net.Conn {
	a, b := net.Pipe()
	go func() {
		b.Write(in)
		b.Close()
	}()
	go io.Copy(io.Discard, b) // what a handshake writes
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetDeadline(time.Now().Add(10 * time.Second))
	return a
}

// FuzzRecv feeds frames to an established NULL connection: the frame
// reader, multipart assembly and command handling.
func FuzzRecv(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, flagMore, []byte("a")), 0, []byte("b")))
	f.Add(appendFrame(nil, flagCommand, []byte("\x04PING\x00\x01ctx")))
	f.Add(appendFrame(nil, flagCommand, []byte("\x09SUBSCRIBEnews")))
	f.Add(appendFrame(nil, flagCommand, appendError(nil, "bye")))
	f.Add([]byte{flagLong, 0, 0, 0, 0, 0, 0, 1, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewConn(pipeConn(t, b), SUB, &Config{MaxMessageSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		c.peer = &Peer{}
		c.established = true
		c.fr.max = c.cfg.maxMessageSize()
		for i := 0; i < 1000; i++ {
			if _, err := c.Recv(); err != nil {
				return
			}
		}
	})
}

// FuzzHandshake feeds a server's handshake: NULL, and GSSAPI as far as
// the acceptor's first token (no keys are needed to reject junk).
func FuzzHandshake(f *testing.F) {
	f.Add(false, append(greetingBytes("NULL"), appendFrame(nil, flagCommand, appendReady(nil, REQ, nil, nil))...))
	f.Add(true, append(greetingBytes("GSSAPI"), appendFrame(nil, flagCommand,
		appendToken([]byte(cmdInitiate), []byte("\x60\x10\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01\x00")))...))
	f.Add(true, greetingBytes("GSSAPI")[:30])
	f.Fuzz(func(t *testing.T, gssapi bool, b []byte) {
		cfg := &Config{HandshakeTimeout: 10 * time.Second}
		if gssapi {
			cfg.GSSAPI = &GSSAPIConfig{Server: true}
		}
		c, err := NewConn(pipeConn(t, b), REP, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.Handshake(context.Background()) == nil {
			for i := 0; i < 100; i++ {
				if _, err := c.Recv(); err != nil {
					return
				}
			}
		}
	})
}

// FuzzUnwrapFrame decodes MESSAGE command bodies with a real Kerberos
// acceptor context from a throwaway KDC: each input meets a fresh copy of
// the context, imported from its exported form.
func FuzzUnwrapFrame(f *testing.F) {
	realm := krbtest.StartT(f, krbtest.Config{
		Users:    map[string]string{"alice": "alice-fuzz-pw-3"},
		Services: []krbtest.Service{{Principal: badSPN}},
	})
	realm.Setenv(f)
	realm.KinitT(f, "alice", "")
	ctx := context.Background()
	target, err := gss.ImportName("zmq@localhost", gss.NTHostbasedService)
	if err != nil {
		f.Fatal(err)
	}
	ini, err := gss.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: contextFlags})
	if err != nil {
		f.Fatal(err)
	}
	acc, err := gss.NewAcceptor(&gss.AcceptorConfig{})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := ini.Step(ctx, nil)
	if err != nil {
		f.Fatal(err)
	}
	rep, err := acc.Step(ctx, tok)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := ini.Step(ctx, rep); err != nil {
		f.Fatal(err)
	}
	exported, err := acc.Export()
	if err != nil {
		f.Fatal(err)
	}
	sender := &Conn{sc: ini, encrypt: true}
	for _, seed := range []struct {
		inner byte
		body  string
	}{{0, "hello"}, {innerMore, "part"}, {innerCommand, "\x04PING\x00\x00"}, {0, ""}} {
		frame, err := sender.appendWrapped(nil, 0, seed.inner, []byte(seed.body))
		if err != nil {
			f.Fatal(err)
		}
		// The body of the frame: skip its 2- or 9-byte header.
		if frame[0]&flagLong != 0 {
			f.Add(frame[9:])
		} else {
			f.Add(frame[2:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sc, err := gss.ImportSecContext(exported)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Delete()
		c := &Conn{sc: sc, encrypt: true}
		c.unwrapFrame(body)
		// The whole receive path too, from a stream of such frames.
		c2, _ := NewConn(pipeConn(t, appendFrame(nil, 0, body)), DEALER, &Config{})
		sc2, err := gss.ImportSecContext(exported)
		if err != nil {
			t.Fatal(err)
		}
		c2.sc, c2.encrypt, c2.established, c2.peer = sc2, true, true, &Peer{}
		c2.fr.max = 1 << 20
		c2.Recv()
		c2.Close()
	})
}
