package zmtp_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

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
