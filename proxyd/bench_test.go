package proxyd_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// The daemon under the load of many clients, each on its own connection,
// as the proxybench command loads it with separate processes; here the
// clients are goroutines of this process, so the CPU figure (cpu-ms/op,
// the whole process's user+system time per call) includes the clients'
// XDR work. Latency percentiles are over every call of the run.
//
//	go test -run '^$' -bench BenchmarkDaemon -benchtime 2000x ./proxyd/

const benchClients = 32

type benchEnv struct {
	realm  *krbtest.Realm
	d      *proxytest.Gsskit
	acc    *gssproxy.Cred // the accept service's credential handle
	ini    *gssproxy.Cred // the init service's
	reg    *gss.Registry  // alice's local initiator, for AP-REQs
	target *gss.Name
}

func startBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	r := krbtest.StartT(b, krbtest.Config{
		Users:    map[string]string{"alice": "alice-pw-1"},
		Services: []krbtest.Service{{Principal: "host/localhost"}},
	})
	dir := proxytest.ShortTempDir(b)
	d := proxytest.StartGsskit(b, r, proxytest.Config{Services: []proxytest.Service{
		{Name: "accept", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
		{Name: "init", ClientKeytab: r.ClientKeytab("alice"), CCache: "FILE:" + filepath.Join(dir, "init-%U.ccache"), CredUsage: "initiate"},
	}})
	ctx := context.Background()
	e := &benchEnv{realm: r, d: d}
	for _, s := range []struct {
		service string
		arg     *gssproxy.AcquireCredArg
		out     **gssproxy.Cred
	}{
		{"accept", &gssproxy.AcquireCredArg{Usage: gssproxy.CredAccept}, &e.acc},
		{"init", &gssproxy.AcquireCredArg{Usage: gssproxy.CredInitiate}, &e.ini},
	} {
		c := gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket(s.service)})
		res, err := c.AcquireCred(ctx, s.arg)
		c.Close()
		if err != nil {
			b.Fatalf("%s: acquire_cred: %v", s.service, err)
		}
		*s.out = res.OutputCred
	}
	cc := filepath.Join(b.TempDir(), "alice.ccache")
	r.KinitT(b, "alice", cc)
	reg, err := proxytest.GsskitRegistry(append(r.Env(), "KRB5CCNAME=FILE:"+cc))
	if err != nil {
		b.Fatal(err)
	}
	e.reg = reg
	if e.target, err = reg.ImportName("host@localhost", gss.NTHostbasedService); err != nil {
		b.Fatal(err)
	}
	return e
}

// apReqs makes n AP-REQs for host/localhost, each once: the daemon's
// replay cache refuses a second use.
func (e *benchEnv) apReqs(b *testing.B, n int) [][]byte {
	b.Helper()
	cred, err := e.reg.AcquireCredential(context.Background(), &gss.CredentialConfig{Usage: gss.CredInitiate})
	if err != nil {
		b.Fatal(err)
	}
	defer cred.Release()
	toks := make([][]byte, n)
	for i := range toks {
		sc, err := e.reg.NewInitiator(&gss.InitiatorConfig{Credential: cred, Target: e.target, Flags: gss.FlagMutual | gss.FlagConf | gss.FlagInteg})
		if err != nil {
			b.Fatal(err)
		}
		if toks[i], err = sc.Step(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		sc.Delete()
	}
	return toks
}

// runClients makes b.N calls from benchClients connections to sock, call(i)
// building the i-th call, and reports latency percentiles and CPU per call.
func runClients(b *testing.B, sock string, call func(ctx context.Context, c *oncrpc.Client, i int) error) {
	b.Helper()
	ctx := context.Background()
	conns := make([]*oncrpc.Client, benchClients)
	for i := range conns {
		c, err := oncrpc.Dial(ctx, "unix", sock, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	errs := make(chan error, benchClients)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w, c := range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := call(ctx, c, i); err != nil {
					errs <- fmt.Errorf("call %d: %w", i, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
		syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
}

func BenchmarkDaemon(b *testing.B) {
	e := startBenchEnv(b)
	accept := func(cred *gssproxy.Cred) func(b *testing.B) {
		return func(b *testing.B) {
			toks := e.apReqs(b, b.N)
			runClients(b, e.d.Socket("accept"), func(ctx context.Context, c *oncrpc.Client, i int) error {
				var res gssproxy.AcceptSecContextRes
				err := c.Call(ctx, gssproxy.Program, gssproxy.Version, gssproxy.ProcAcceptSecContext,
					&gssproxy.AcceptSecContextArg{Cred: cred, InputToken: toks[i]}, &res)
				if err == nil && (res.Status.Major != 0 || res.OutputToken == nil) {
					err = fmt.Errorf("major %#x: %s", res.Status.Major, res.Status.MinorText)
				}
				return err
			})
		}
	}
	// With the handle the client got from acquire_cred, as the interposer
	// sends it; without one, the daemon acquires from its cred_store.
	b.Run("Accept", accept(e.acc))
	b.Run("AcceptNoCred", accept(nil))
	init := func(cred *gssproxy.Cred) func(b *testing.B) {
		return func(b *testing.B) {
			target := gssproxy.NewName("host@localhost", gss.NTHostbasedService)
			runClients(b, e.d.Socket("init"), func(ctx context.Context, c *oncrpc.Client, i int) error {
				var res gssproxy.InitSecContextRes
				err := c.Call(ctx, gssproxy.Program, gssproxy.Version, gssproxy.ProcInitSecContext,
					&gssproxy.InitSecContextArg{Cred: cred, TargetName: target, Mech: gss.MechKrb5}, &res)
				if err == nil && (res.Status.Major != 0 || res.OutputToken == nil) {
					err = fmt.Errorf("major %#x: %s", res.Status.Major, res.Status.MinorText)
				}
				return err
			})
		}
	}
	b.Run("Init", init(e.ini))
	b.Run("InitNoCred", init(nil))
}
