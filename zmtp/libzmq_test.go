package zmtp_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/zmtp"
)

// Interoperability with libzmq 4.3.4 (python3-zmq) and a real MIT KDC.

func ntArg(nt zmtp.NameType) string { return strconv.Itoa(int(nt)) }

// TestLibzmqClientGoServer: libzmq REQ and DEALER clients against Go REP
// and ROUTER servers, encrypted and plaintext, with every name type on
// both the service principal and the client principal.
func TestLibzmqClientGoServer(t *testing.T) {
	f := newFixture(t)
	pairs := []struct{ server, client zmtp.SocketType }{{zmtp.REP, zmtp.REQ}, {zmtp.ROUTER, zmtp.DEALER}}
	for _, pair := range pairs {
		for _, plaintext := range []bool{false, true} {
			for nt := zmtp.NameHostbased; nt <= zmtp.NameKrb5Principal; nt++ {
				name := fmt.Sprintf("%s-%s/plaintext=%v/nametype=%d", pair.client, pair.server, plaintext, nt)
				t.Run(name, func(t *testing.T) {
					f.t = t
					ep, _, seen := f.echoServer(pair.server, f.serverConfig(nt, plaintext))
					args := []string{"--role", "client", "--type", string(pair.client), "--endpoint", ep,
						"--service-principal", f.name(serviceSPN, nt), "--service-principal-nametype", ntArg(nt),
						"--count", "5", "--size", "100", "--frames", "3"}
					client := alice
					if nt == zmtp.NameHostbased {
						client = clientSPN
					}
					args = append(args, "--principal", f.name(client, nt), "--principal-nametype", ntArg(nt))
					env := f.pyEnvFor(client)
					if plaintext {
						args = append(args, "--plaintext")
					}
					p := f.py(env, args...)
					p.expect("OK 5")
					if code := p.wait(); code != 0 {
						t.Fatalf("libzmq client exited with %d", code)
					}
					m := <-seen
					want := f.realm.Principal(alice)
					if nt == zmtp.NameHostbased {
						want = f.realm.Principal(clientSPN)
					}
					peer := m.Peer()
					if peer.Principal != want || peer.Encrypted == plaintext || peer.SocketType != pair.client {
						t.Errorf("peer = %+v, want principal %s, encrypted %v, type %s", peer, want, !plaintext, pair.client)
					}
				})
			}
		}
	}
}

// TestGoClientLibzmqServer: Go REQ and DEALER clients against libzmq REP
// and ROUTER servers, encrypted and plaintext, every name type.
func TestGoClientLibzmqServer(t *testing.T) {
	f := newFixture(t)
	pairs := []struct{ server, client zmtp.SocketType }{{zmtp.REP, zmtp.REQ}, {zmtp.ROUTER, zmtp.DEALER}}
	for _, pair := range pairs {
		for _, plaintext := range []bool{false, true} {
			for nt := zmtp.NameHostbased; nt <= zmtp.NameKrb5Principal; nt++ {
				name := fmt.Sprintf("%s-%s/plaintext=%v/nametype=%d", pair.client, pair.server, plaintext, nt)
				t.Run(name, func(t *testing.T) {
					f.t = t
					args := []string{"--role", "server", "--type", string(pair.server), "--endpoint", "tcp://127.0.0.1:0",
						"--principal", f.name(serviceSPN, nt), "--principal-nametype", ntArg(nt), "--count", "5"}
					if plaintext {
						args = append(args, "--plaintext")
					}
					p := f.py(f.pyEnvFor(serviceSPN), args...)
					ep := p.endpoint()

					cfg := f.clientConfig(nt, plaintext)
					switch nt {
					case zmtp.NameHostbased:
						cfg.GSSAPI.Principal = f.name(clientSPN, nt)
						cfg.GSSAPI.Store = map[string]string{"client_keytab": f.realm.Keytab(clientSPN),
							"ccache": "FILE:" + t.TempDir() + "/client.ccache"}
					default:
						cfg.GSSAPI.Principal = f.name(alice, nt)
					}
					cfg.GSSAPI.PrincipalNameType = nt
					s, err := zmtp.NewSocket(pair.client, cfg)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					if err := s.Dial(f.ctx, ep); err != nil {
						t.Fatalf("Dial: %v", err)
					}
					for i := 0; i < 5; i++ {
						frames := payload(i, 100, 3)
						send := frames
						if pair.client == zmtp.DEALER {
							send = append([][]byte{{}}, frames...)
						}
						if err := s.Send(f.ctx, send...); err != nil {
							t.Fatalf("Send %d: %v", i, err)
						}
						m, err := s.Recv(f.ctx)
						if err != nil {
							t.Fatalf("Recv %d: %v", i, err)
						}
						got := m.Frames
						if pair.client == zmtp.DEALER {
							got = got[1:]
						}
						if !equalFrames(got, frames) {
							t.Fatalf("echo %d differs", i)
						}
						if i == 0 {
							peer := m.Peer()
							if peer.Principal != f.realm.Principal(serviceSPN) || peer.Encrypted == plaintext || peer.SocketType != pair.server {
								t.Errorf("peer = %+v", peer)
							}
						}
					}
					p.expect("OK 5")
					if code := p.wait(); code != 0 {
						t.Fatalf("libzmq server exited with %d", code)
					}
				})
			}
		}
	}
}

// payload is peer.py's: frames frames of about size bytes, distinct per i.
func payload(i, size, frames int) [][]byte {
	per := max(1, size/frames)
	out := make([][]byte, frames)
	for f := range out {
		head := []byte(fmt.Sprintf("%d/%d:", i, f))
		n := max(per, len(head))
		out[f] = bytes.Repeat(head, n/len(head)+1)[:n]
	}
	return out
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestLibzmqPubSub: a Go SUB subscribes to a libzmq PUB, and a libzmq
// SUB to a Go PUB, encrypted and plaintext. An encrypting libzmq 4.3.4
// SUB sends its subscription as a bare topic (see pubsub.go); the Go PUB
// must still serve it, and must not send the other topic.
func TestLibzmqPubSub(t *testing.T) {
	f := newFixture(t)
	for _, plaintext := range []bool{false, true} {
		t.Run(fmt.Sprintf("GoSUB-libzmqPUB/plaintext=%v", plaintext), func(t *testing.T) {
			f.t = t
			args := []string{"--role", "server", "--type", "PUB", "--endpoint", "tcp://127.0.0.1:0",
				"--principal", f.name(serviceSPN, zmtp.NameHostbased), "--topic", "weather"}
			if plaintext {
				args = append(args, "--plaintext")
			}
			p := f.py(f.pyEnvFor(serviceSPN), args...)
			ep := p.endpoint()
			s, err := zmtp.NewSocket(zmtp.SUB, f.clientConfig(zmtp.NameHostbased, plaintext))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Subscribe([]byte("weather")); err != nil {
				t.Fatal(err)
			}
			if err := s.Dial(f.ctx, ep); err != nil {
				t.Fatalf("Dial: %v", err)
			}
			for i := 0; i < 5; i++ {
				m, err := s.Recv(f.ctx)
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
				if !bytes.HasPrefix(m.Frames[0], []byte("weather ")) {
					t.Fatalf("got %q off the subscribed topic", m.Frames[0])
				}
			}
			if code := p.wait(); code != 0 {
				t.Fatalf("libzmq PUB exited with %d", code)
			}
		})
		t.Run(fmt.Sprintf("libzmqSUB-GoPUB/plaintext=%v", plaintext), func(t *testing.T) {
			f.t = t
			s, err := zmtp.NewSocket(zmtp.PUB, f.serverConfig(zmtp.NameHostbased, plaintext))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addr, err := s.Listen("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"--role", "client", "--type", "SUB", "--endpoint", "tcp://" + addr.String(),
				"--service-principal", f.name(serviceSPN, zmtp.NameHostbased), "--topic", "weather", "--count", "5"}
			if plaintext {
				args = append(args, "--plaintext")
			}
			p := f.py(nil, args...)
			// The PUB cannot know when the subscription arrives, so it
			// publishes until the subscriber has its five messages.
			stop := make(chan struct{})
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					s.Send(f.ctx, []byte(fmt.Sprintf("weather %d", i)))
					s.Send(f.ctx, []byte(fmt.Sprintf("other %d", i)))
				}
			}()
			p.expect("GOT 5")
			close(stop)
			if code := p.wait(); code != 0 {
				t.Fatalf("libzmq SUB exited with %d", code)
			}
		})
	}
}

// TestLibzmqLargeMultipart sends a 1 MiB message of four frames each
// way, encrypted.
func TestLibzmqLargeMultipart(t *testing.T) {
	f := newFixture(t)
	const size = 1 << 20
	t.Run("libzmq-client", func(t *testing.T) {
		f.t = t
		ep, _, _ := f.echoServer(zmtp.REP, f.serverConfig(zmtp.NameHostbased, false))
		p := f.py(nil, "--role", "client", "--type", "REQ", "--endpoint", ep,
			"--service-principal", f.name(serviceSPN, zmtp.NameHostbased),
			"--count", "3", "--size", strconv.Itoa(size), "--frames", "4")
		p.expect("OK 3")
		if code := p.wait(); code != 0 {
			t.Fatalf("libzmq client exited with %d", code)
		}
	})
	t.Run("libzmq-server", func(t *testing.T) {
		f.t = t
		p := f.py(f.pyEnvFor(serviceSPN), "--role", "server", "--type", "REP", "--endpoint", "tcp://127.0.0.1:0",
			"--principal", f.name(serviceSPN, zmtp.NameHostbased), "--count", "3")
		ep := p.endpoint()
		s, err := zmtp.NewSocket(zmtp.REQ, f.clientConfig(zmtp.NameHostbased, false))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Dial(f.ctx, ep); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			frames := payload(i, size, 4)
			if err := s.Send(f.ctx, frames...); err != nil {
				t.Fatal(err)
			}
			m, err := s.Recv(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFrames(m.Frames, frames) {
				t.Fatalf("echo %d differs", i)
			}
		}
		p.expect("OK 3")
		p.wait()
	})
}

// TestLibzmqFailures: a wrong service principal and a plaintext setting
// that differs from the peer's fail the handshake on both sides, with a
// reason on ours and a handshake failure event on libzmq's.
func TestLibzmqFailures(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name               string
		clientSPN          string
		clientPT, serverPT bool
		goErr              string // what our side reports
	}{
		{"wrong-service-principal", otherSPN, false, false, "does it hold keys for other@localhost"},
		{"client-plaintext-server-encrypts", serviceSPN, true, false, "plaintext"},
		{"client-encrypts-server-plaintext", serviceSPN, false, true, "plaintext"},
	}
	for _, tc := range cases {
		t.Run("GoClient-libzmqServer/"+tc.name, func(t *testing.T) {
			f.t = t
			args := []string{"--role", "server", "--type", "REP", "--endpoint", "tcp://127.0.0.1:0",
				"--principal", f.name(serviceSPN, zmtp.NameHostbased), "--count", "1"}
			if tc.serverPT {
				args = append(args, "--plaintext")
			}
			p := f.py(f.pyEnvFor(serviceSPN), args...)
			ep := p.endpoint()
			cfg := f.clientConfig(zmtp.NameHostbased, tc.clientPT)
			cfg.GSSAPI.ServicePrincipal = f.name(tc.clientSPN, zmtp.NameHostbased)
			// libzmq 4.3.4's GSSAPI server neither answers nor closes
			// when it cannot accept the token; only our handshake
			// timeout ends that (its own clients wait the same way).
			cfg.HandshakeTimeout = 3 * time.Second
			s, err := zmtp.NewSocket(zmtp.REQ, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Dial(f.ctx, ep)
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			t.Logf("Go client: %v", err)
			if !strings.Contains(err.Error(), tc.goErr) {
				t.Errorf("Dial error %q does not mention %q", err, tc.goErr)
			}
			// libzmq sees the handshake fail when we close, has
			// received nothing, and is still running when told to stop.
			p.expect("EVENT HANDSHAKE_FAILED")
			p.stop()
			p.expect("STOPPED after 0")
			if code := p.wait(); code != 0 {
				t.Fatalf("libzmq server exited with %d", code)
			}
		})
		t.Run("libzmqClient-GoServer/"+tc.name, func(t *testing.T) {
			f.t = t
			mark := f.logs.String()
			ep, _, seen := f.echoServer(zmtp.REP, f.serverConfig(zmtp.NameHostbased, tc.serverPT))
			args := []string{"--role", "client", "--type", "REQ", "--endpoint", ep,
				"--service-principal", f.name(tc.clientSPN, zmtp.NameHostbased)}
			if tc.clientPT {
				args = append(args, "--plaintext")
			}
			p := f.py(nil, args...)
			p.expect("EVENT HANDSHAKE_FAILED")
			f.waitLogAfter(mark, "handshake failed")
			p.wait()
			select {
			case m := <-seen:
				t.Fatalf("server received %q", m.Frames)
			default:
			}
			t.Logf("Go server log: %s", lastLine(f.logs.String()))
		})
	}
}
