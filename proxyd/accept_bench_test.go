package proxyd_test

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/oncrpc"
	"github.com/gsskit/gsskit/proxyd"
)

// The daemon's own work for one ACCEPT_SEC_CONTEXT, as the interposer
// sends it (the credential handle from acquire_cred, a fresh AP-REQ with
// mutual authentication): decoding the arguments, opening the handle,
// accepting, exporting the context in MIT's form and encoding the result,
// in this goroutine, with no socket and no client.
//
//	go test -run '^$' -bench BenchmarkAcceptInProcess -benchtime 20000x -count 6 ./proxyd/
func BenchmarkAcceptInProcess(b *testing.B) {
	e := startBenchEnv(b)
	caller := &proxyd.Caller{
		PID: int32(os.Getpid()), UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()),
		Socket: e.d.Socket("accept"),
	}
	serve := e.d.Daemon().InProcessHandler(caller, gssproxy.ProcAcceptSecContext)
	toks := e.apReqs(b, b.N)
	args := make([][]byte, b.N)
	for i := range args {
		enc := oncrpc.NewEncoder(nil)
		(&gssproxy.AcceptSecContextArg{Cred: e.acc, InputToken: toks[i]}).MarshalXDR(enc)
		args[i] = enc.Bytes()
	}
	ctx := context.Background()
	res := oncrpc.NewEncoder(nil)
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := range b.N {
		res.Reset(res.Bytes()[:0])
		if err := serve(ctx, args[i], res); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	// The process's CPU time (garbage collection included) per call: on a
	// busy machine a steadier figure than the elapsed time.
	cpu := syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
		syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime)
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	var r gssproxy.AcceptSecContextRes
	if err := oncrpc.Unmarshal(res.Bytes(), &r); err != nil {
		b.Fatal(err)
	}
	if r.Status.Major != 0 || r.OutputToken == nil || r.Context == nil || len(r.Context.ExportedToken) == 0 {
		b.Fatalf("major %#x: %s", r.Status.Major, r.Status.MinorText)
	}
}
