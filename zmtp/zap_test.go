package zmtp_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/zmtp"
)

// zapPolicy lets alice in as user "alice-uid" and refuses everyone else
// with 400, recording who asked.
type zapPolicy struct {
	realm string
	mu    sync.Mutex
	asked []string
}

func (z *zapPolicy) AuthenticateZAP(_ context.Context, req *zmtp.ZAPRequest) (*zmtp.ZAPReply, error) {
	if req.Mechanism != "GSSAPI" || len(req.Credentials) != 1 || req.Version != "1.0" {
		return nil, errors.New("unexpected ZAP request")
	}
	who := string(req.Credentials[0])
	z.mu.Lock()
	z.asked = append(z.asked, who)
	z.mu.Unlock()
	if who == "alice@"+z.realm {
		return &zmtp.ZAPReply{StatusCode: zmtp.ZAPOK, UserID: "alice-uid",
			Metadata: zmtp.Metadata{"X-Clearance": "blue"}}, nil
	}
	return &zmtp.ZAPReply{StatusCode: zmtp.ZAPAuthFailure, StatusText: who + " is not allowed"}, nil
}

func (z *zapPolicy) askedFor(who string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range z.asked {
		if a == who {
			return true
		}
	}
	return false
}

// TestZAP: a Go ZAP handler on a Go server admits alice and refuses bob,
// whether the clients are libzmq or Go. A refused client gets no message
// through, and every message the server receives carries alice's user id.
func TestZAP(t *testing.T) {
	f := newFixture(t)
	policy := &zapPolicy{realm: f.realm.Name()}
	cfg := f.serverConfig(zmtp.NameHostbased, false)
	cfg.ZAP = policy
	cfg.ZAPDomain = "global"
	ep, _, seen := f.echoServer(zmtp.REP, cfg)

	t.Run("libzmq-bob-refused", func(t *testing.T) {
		f.t = t
		p := f.py(f.pyEnvFor(bob), "--role", "client", "--type", "REQ", "--endpoint", ep,
			"--service-principal", "zmq@localhost", "--principal", "bob", "--principal-nametype", "1")
		// libzmq's client sees the ERROR as a protocol failure and
		// retries; each attempt is refused again.
		p.expect("EVENT HANDSHAKE_FAILED_PROTOCOL")
		f.waitLog("ZAP refused a client")
		if !policy.askedFor(f.realm.Principal(bob)) {
			t.Fatal("the handler was not asked about bob")
		}
		p.stop()
		p.expect("REFUSED no reply to message 0")
		if code := p.wait(); code != 2 {
			t.Fatalf("libzmq client exited with %d, want 2 (no reply)", code)
		}
	})
	t.Run("libzmq-alice-admitted", func(t *testing.T) {
		f.t = t
		p := f.py(f.pyEnvFor(alice), "--role", "client", "--type", "REQ", "--endpoint", ep,
			"--service-principal", "zmq@localhost", "--principal", "alice", "--principal-nametype", "1", "--count", "3")
		p.expect("OK 3")
		p.wait()
	})
	t.Run("go-bob-refused", func(t *testing.T) {
		f.t = t
		c := f.clientConfig(zmtp.NameHostbased, false)
		c.GSSAPI.Principal, c.GSSAPI.PrincipalNameType = "bob", zmtp.NameUser
		c.GSSAPI.Store = map[string]string{"ccache": "FILE:" + t.TempDir() + "/bob.ccache",
			"client_keytab": f.realm.ClientKeytab(bob)}
		s, err := zmtp.NewSocket(zmtp.REQ, c)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Dial(f.ctx, ep)
		var pe *zmtp.PeerError
		if !errors.As(err, &pe) || pe.Reason != zmtp.ZAPAuthFailure {
			t.Fatalf("Dial = %v, want the server's ERROR 400", err)
		}
		if len(s.Peers()) != 0 {
			t.Fatal("a refused connection was kept")
		}
	})
	t.Run("go-alice-admitted", func(t *testing.T) {
		f.t = t
		s, err := zmtp.NewSocket(zmtp.REQ, f.clientConfig(zmtp.NameHostbased, false))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Dial(f.ctx, ep); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(f.ctx, []byte("from go")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(f.ctx); err != nil {
			t.Fatal(err)
		}
	})

	// Every message that reached the server came from alice: three from
	// libzmq and one from Go.
	f.t = t
	n := 0
	for len(seen) > 0 {
		m := <-seen
		n++
		uid, ok := m.Property("User-Id")
		clearance, _ := m.Property("x-clearance")
		if !ok || uid != "alice-uid" || clearance != "blue" || m.Peer().Principal != f.realm.Principal(alice) {
			t.Errorf("message %q from %s: User-Id %q (%v), X-Clearance %q", m.Frames, m.Peer().Principal, uid, ok, clearance)
		}
	}
	if n != 4 {
		t.Errorf("server received %d messages, want 4", n)
	}
	if !strings.Contains(f.logs.String(), "bob@"+f.realm.Name()) {
		t.Error("the refusal log does not name bob")
	}
}

// TestZAPTemporaryFailure: status 300 closes without an ERROR, as RFC 27
// asks; a handler error refuses with 500.
func TestZAPTemporaryFailure(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name    string
		handler zmtp.ZAPHandlerFunc
		check   func(err error) bool
	}{
		{"300", func(context.Context, *zmtp.ZAPRequest) (*zmtp.ZAPReply, error) {
			return &zmtp.ZAPReply{StatusCode: zmtp.ZAPTempFailure}, nil
		}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "closed the connection instead of sending READY")
		}},
		{"handler error", func(context.Context, *zmtp.ZAPRequest) (*zmtp.ZAPReply, error) {
			return nil, errors.New("directory unreachable")
		}, func(err error) bool {
			var pe *zmtp.PeerError
			return errors.As(err, &pe) && pe.Reason == zmtp.ZAPInternalError
		}},
		{"bad status", func(context.Context, *zmtp.ZAPRequest) (*zmtp.ZAPReply, error) {
			return &zmtp.ZAPReply{StatusCode: "201"}, nil
		}, func(err error) bool {
			var pe *zmtp.PeerError
			return errors.As(err, &pe) && pe.Reason == zmtp.ZAPInternalError
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			cfg := f.serverConfig(zmtp.NameHostbased, false)
			cfg.ZAP = tc.handler
			ep, _, _ := f.echoServer(zmtp.REP, cfg)
			s, err := zmtp.NewSocket(zmtp.REQ, f.clientConfig(zmtp.NameHostbased, false))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Dial(f.ctx, ep); !tc.check(err) {
				t.Fatalf("Dial = %v", err)
			}
		})
	}
}
