package zmtp_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/zmtp"
)

// BenchmarkRoundTrip is a REQ/REP round trip over encrypted GSSAPI on
// loopback, both sockets in this process: two wraps and two unwraps of
// the message (and of the empty delimiter) per operation. bench/zmtp.sh
// compares whole processes with libzmq; this shows the allocations.
func BenchmarkRoundTrip(b *testing.B) {
	realm := krbtest.StartT(b, krbtest.Config{
		Users:    map[string]string{alice: "alice-bench-pw-6"},
		Services: []krbtest.Service{{Principal: serviceSPN}},
	})
	realm.Setenv(b)
	realm.KinitT(b, alice, "")
	ctx := context.Background()
	for _, plaintext := range []bool{false, true} {
		rep, err := zmtp.NewSocket(zmtp.REP, &zmtp.Config{GSSAPI: &zmtp.GSSAPIConfig{
			Server: true, Principal: "zmq@localhost", Keytab: realm.Keytab(serviceSPN), Plaintext: plaintext}})
		if err != nil {
			b.Fatal(err)
		}
		defer rep.Close()
		addr, err := rep.Listen("tcp://127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				if rep.Send(ctx, m.Frames...) != nil {
					return
				}
			}
		}()
		req, err := zmtp.NewSocket(zmtp.REQ, &zmtp.Config{GSSAPI: &zmtp.GSSAPIConfig{
			ServicePrincipal: "zmq@localhost", Plaintext: plaintext}})
		if err != nil {
			b.Fatal(err)
		}
		defer req.Close()
		if err := req.Dial(ctx, "tcp://"+addr.String()); err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{64, 1024, 65536} {
			name := fmt.Sprintf("%d", size)
			if plaintext {
				name += "-plaintext"
			}
			b.Run(name, func(b *testing.B) {
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := req.Send(ctx, msg); err != nil {
						b.Fatal(err)
					}
					if _, err := req.Recv(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
