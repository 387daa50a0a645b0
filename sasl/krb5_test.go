package sasl_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/sasl"
)

// The exchange with the Kerberos mechanism and tickets from a real MIT KDC.

const (
	servicePrincipal = "kafka/localhost"
	alicePassword    = "alice-sasl-secret"
)

// startRealm starts a realm with alice and kafka/localhost, points this
// process at it and puts alice's TGT in the default ccache.
func startRealm(t *testing.T) *krbtest.Realm { return krbRealmB(t) }

func krbRealmB(t testing.TB) *krbtest.Realm {
	t.Helper()
	r := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": alicePassword},
		Services: []krbtest.Service{{Principal: servicePrincipal}},
	})
	r.Setenv(t)
	r.KinitT(t, "alice", "")
	return r
}

func acceptorCred(t *testing.T, r *krbtest.Realm) *gss.Credential { return acceptorCredB(t, r) }

func acceptorCredB(t testing.TB, r *krbtest.Realm) *gss.Credential {
	t.Helper()
	name, err := gss.ImportName("kafka@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := gss.AcquireCredential(context.Background(), &gss.CredentialConfig{
		Name: name, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"keytab": r.Keytab(servicePrincipal)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Release() })
	return cred
}

func TestKerberosExchange(t *testing.T) {
	r := startRealm(t)
	cred := acceptorCred(t, r)
	for _, tc := range []struct {
		name     string
		layer    sasl.Layer
		noMutual bool
	}{
		{"none", sasl.LayerNone, false},
		{"integrity", sasl.LayerIntegrity, false},
		{"confidentiality", sasl.LayerConfidentiality, false},
		{"confidentiality-nomutual", sasl.LayerConfidentiality, true},
		{"none-nomutual", sasl.LayerNone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost",
				Layers: tc.layer, NoMutual: tc.noMutual, MaxBuffer: 4096})
			if err != nil {
				t.Fatal(err)
			}
			s, err := sasl.NewServer(&sasl.ServerConfig{Credential: cred, Layers: sasl.LayerAll, MaxBuffer: 1000})
			if err != nil {
				t.Fatal(err)
			}
			wire, err := run(t, c, s)
			if err != nil {
				t.Fatal(err)
			}
			want := 5
			if tc.noMutual {
				want = 3
			}
			if len(wire) != want {
				t.Fatalf("%d tokens crossed, want %d", len(wire), want)
			}
			if got := s.Principal().String(); got != r.Principal("alice") {
				t.Fatalf("server authenticated %q", got)
			}
			cs, ss := c.Session(), s.Session()
			if cs.Layer != tc.layer || ss.Layer != tc.layer {
				t.Fatalf("layers %v / %v", cs.Layer, ss.Layer)
			}
			if ss.Peer.String() != r.Principal("alice") || cs.Peer.String() != r.Principal(servicePrincipal) {
				t.Fatalf("peers: server sees %v, client sees %v", ss.Peer, cs.Peer)
			}
			// A conversation through the layer, larger than either buffer.
			a, b := net.Pipe()
			fa, fb := &framer{Conn: a}, &framer{Conn: b}
			ca, cb := cs.NewConn(fa), ss.NewConn(fb)
			msg := bytes.Repeat([]byte("kerberos layer "), 2000)
			var wg sync.WaitGroup
			wg.Add(1)
			var got []byte
			var rerr error
			go func() {
				defer wg.Done()
				got, rerr = io.ReadAll(io.LimitReader(cb, int64(len(msg))))
				if rerr == nil {
					_, rerr = cb.Write([]byte("ack"))
				}
			}()
			if _, err := ca.Write(msg); err != nil {
				t.Fatal(err)
			}
			ack := make([]byte, 3)
			if _, err := io.ReadFull(ca, ack); err != nil || string(ack) != "ack" {
				t.Fatalf("ack %q %v", ack, err)
			}
			wg.Wait()
			if rerr != nil || !bytes.Equal(got, msg) {
				t.Fatalf("server read %d bytes, err %v", len(got), rerr)
			}
			if tc.layer != sasl.LayerNone {
				for _, n := range fa.lens {
					if n > 1000 {
						t.Fatalf("client sent a %d-byte token against the server's 1000", n)
					}
				}
				if len(fa.lens) < len(msg)/1000 {
					t.Fatalf("%d packets for %d bytes", len(fa.lens), len(msg))
				}
			}
		})
	}
}

func TestKerberosBadToken(t *testing.T) {
	r := startRealm(t)
	cred := acceptorCred(t, r)
	c, err := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok[len(tok)-20] ^= 0xff // inside the authenticator's ciphertext
	s, _ := sasl.NewServer(&sasl.ServerConfig{Credential: cred})
	if _, _, err := s.Step(context.Background(), tok); err == nil || s.Principal() != nil {
		t.Fatalf("tampered AP-REQ: err=%v principal=%v", err, s.Principal())
	}
}
