package oncrpc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// Round trips Go client -> Go server on loopback: one call at a time
// (latency) and from GOMAXPROCS goroutines sharing the connection
// (throughput with calls outstanding together).

func benchServer(b *testing.B, network string) *Client {
	b.Helper()
	srv := NewServer(nil)
	srv.Register(testProg, 1, newTestService().procs())
	var l net.Listener
	var err error
	if network == "unix" {
		l, err = net.Listen("unix", filepath.Join(b.TempDir(), "bench.sock"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	c, err := Dial(context.Background(), network, l.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return c
}

func BenchmarkNullCall(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) {
			c := benchServer(b, network)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Call(ctx, testProg, 1, 0, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(network+"/parallel", func(b *testing.B) {
			c := benchServer(b, network)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Call(ctx, testProg, 1, 0, nil, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkEcho4K(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) {
			c := benchServer(b, network)
			ctx := context.Background()
			var args Marshaler = bytesArg(pattern(4096, 1))
			out := make(bytesArg, 0, 4096)
			b.SetBytes(2 * 4096)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Call(ctx, testProg, 1, procEcho, args, &out); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(out, args.(bytesArg)) {
				b.Fatal("echo differs")
			}
		})
		b.Run(network+"/parallel", func(b *testing.B) {
			c := benchServer(b, network)
			ctx := context.Background()
			b.SetBytes(2 * 4096)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var args Marshaler = bytesArg(pattern(4096, 1))
				out := make(bytesArg, 0, 4096)
				for pb.Next() {
					if err := c.Call(ctx, testProg, 1, procEcho, args, &out); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// 4 KiB echoes from 1, 4 and 16 callers sharing one Client over TCP, each
// with a context that can end, as callers' contexts usually can: the
// shapes of the echo example's AUTH_NONE runs with -parallel 1, 4 and 16,
// whose cost lies mostly in how replies reach their callers.
func BenchmarkEcho4KCallers(b *testing.B) {
	for _, callers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("tcp/callers=%d", callers), func(b *testing.B) {
			c := benchServer(b, "tcp")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var calls atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(2 * 4096)
			b.ReportAllocs()
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var args Marshaler = bytesArg(pattern(4096, 1))
					out := make(bytesArg, 0, 4096)
					for calls.Add(1) <= int64(b.N) {
						if err := c.Call(ctx, testProg, 1, procEcho, args, &out); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// The XDR and message layers alone, without a network.
func BenchmarkEncodeDecodeCall(b *testing.B) {
	sys := &AuthSys{MachineName: "bench", UID: 1000, GID: 1000, GIDs: []uint32{4, 24, 27}}
	payload := pattern(256, 0)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		e := Encoder{b: buf[:0]}
		appendCallPrefix(&e, 1, testProg, 1, procEcho)
		hdr, _, _ := sys.MarshalCred(e.b)
		e.b = hdr
		e.Opaque(payload)
		_, _, args, ce := parseCall(e.b)
		if ce != callOK || len(args) != 260 {
			b.Fatal("parse")
		}
	}
}
