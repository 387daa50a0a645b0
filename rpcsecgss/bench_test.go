package rpcsecgss

import (
	"context"
	"testing"

	"github.com/gsskit/gsskit/oncrpc"
)

// The Go client against the Go server over loopback TCP with Kerberos, one
// call in flight or several: the cost of each service per 4 KiB echo, and
// its allocations (client and server together, as both run here).
func benchEcho(b *testing.B, svc Service, parallel bool) {
	ts := startServer(b, nil)
	c, a := dial(b, ts.addr, &Config{Service: svc})
	ctx := context.Background()
	data := blob(pattern(4096, 1))
	var out blob
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if svc == 0 {
				if err := c.Call(ctx, echoProg, echoVers, procEcho, data, &out); err != nil {
					b.Fatal(err)
				}
				continue
			}
			if err := a.Call(ctx, procEcho, data, &out); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		var out blob
		for pb.Next() {
			var err error
			if svc == 0 {
				err = c.Call(ctx, echoProg, echoVers, procEcho, data, &out)
			} else {
				err = a.Call(ctx, procEcho, data, &out)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchServices = []struct {
	name string
	svc  Service
}{{"AuthNone", 0}, {"None", ServiceNone}, {"Integrity", ServiceIntegrity}, {"Privacy", ServicePrivacy}}

func BenchmarkEcho4K(b *testing.B) {
	for _, s := range benchServices {
		b.Run(s.name, func(b *testing.B) { benchEcho(b, s.svc, false) })
	}
}

func BenchmarkEcho4KParallel(b *testing.B) {
	for _, s := range benchServices {
		b.Run(s.name, func(b *testing.B) { benchEcho(b, s.svc, true) })
	}
}

// The server's work on one DATA call with Kerberos, without the network:
// Authenticate, unprotecting the arguments, the reply verifier and
// protecting the results.
func BenchmarkServerCall4K(b *testing.B) {
	for _, s := range benchServices[1:] {
		b.Run(s.name, func(b *testing.B) {
			ts := startServer(b, nil)
			_, ca := dial(b, ts.addr, nil)
			gs, cc := ts.gs, ca.cur.Load()
			cli := &cc.sec
			args := oncrpc.Marshal(nil, blob(pattern(4096, 2)))
			ctx := context.Background()
			res := make([]byte, 0, 8192)
			b.SetBytes(4096)
			b.ReportAllocs()
			seq := uint32(0)
			b.ResetTimer()
			b.StopTimer()
			for range b.N {
				seq++
				p, cred, vf, verf, body := seedFor(b, cli, cc.handle, ProcData, procEcho, seq, s.svc, args)
				c := fuzzCall(p, cred, vf, verf)
				b.StartTimer()
				sa, err := gs.Authenticate(ctx, c)
				if err != nil {
					b.Fatal(err)
				}
				c.Auth = sa
				a, err := sa.UnwrapArgs(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sa.Verifier(); err != nil {
					b.Fatal(err)
				}
				msg := append(append(res[:0], 1, 2, 3, 4), a...)
				if _, err := sa.WrapResults(msg, 4); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
		})
	}
}
