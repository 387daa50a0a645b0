package rpcsecgss

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/internal/cpeer"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/oncrpc"
)

// Interop with libtirpc's RPCSEC_GSS, which Linux systems use, over a real
// MIT KDC: C programs in testdata play the peer on each side.

var (
	buildMu  sync.Mutex
	builtBin = map[string]string{}
)

// buildC compiles testdata/<name>.c against libtirpc and MIT's GSS-API,
// once per test binary.
func buildC(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builtBin[name]; ok {
		return bin
	}
	gcc := krbtest.LookPathT(t, "gcc", "gcc")
	dir, err := filepath.Abs(filepath.Join("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir(t), name)
	if out, err := cpeer.Build(gcc, filepath.Join(dir, name+".c"), bin, "-lgssapi_krb5"); err != nil {
		if bytes.Contains(out, []byte("rpc/rpc.h")) || bytes.Contains(out, []byte("gssapi")) {
			krbtest.Missing(t, &krbtest.MissingToolError{Program: "libtirpc and GSS-API headers", Package: "libtirpc-dev libkrb5-dev"})
		}
		t.Fatalf("gcc %s: %v\n%s", name, err, out)
	}
	builtBin[name] = bin
	return bin
}

var (
	binDirOnce sync.Once
	binDirPath string
)

// binDir is a directory that outlives any one test, for built programs.
func binDir(t testing.TB) string {
	binDirOnce.Do(func() {
		d, err := os.MkdirTemp("", "rpcsecgss-bin-")
		if err != nil {
			t.Fatal(err)
		}
		binDirPath = d
	})
	return binDirPath
}

// startCServer runs the libtirpc echo server for principal and returns
// its address.
func startCServer(t testing.TB, principal string) string {
	t.Helper()
	r := testRealm(t)
	bin := buildC(t, "gss_echo_server")
	line := cpeer.Start(t, r.Cmd(context.Background(), bin, principal))
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "listening" {
		t.Fatalf("gss_echo_server said %q", line)
	}
	return net.JoinHostPort("127.0.0.1", f[1])
}

// runCClient runs the libtirpc client's check against a port.
func runCClient(t *testing.T, port string, services ...string) string {
	t.Helper()
	r := testRealm(t)
	bin := buildC(t, "gss_echo_client")
	args := append([]string{"check", port, svcPrinc}, services...)
	out, err := r.Cmd(context.Background(), bin, args...).CombinedOutput()
	if err != nil || !bytes.HasSuffix(out, []byte("all ok\n")) {
		t.Fatalf("C client %v: %v\n%s", services, err, out)
	}
	return string(out)
}

// okLine finds the client's report for a service as key/value pairs.
func okLine(t *testing.T, out, service string) map[string]string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "ok" && f[1] == service {
			m := map[string]string{}
			for i := 2; i+1 < len(f); i += 2 {
				m[f[i]] = f[i+1]
			}
			return m
		}
	}
	t.Fatalf("no report for %s in:\n%s", service, out)
	return nil
}

// libtirpc's client against the Go server: a context created with each
// service, all three services switched on it with rpc_gss_set_defaults,
// the largest arguments rpc_gss_max_data_length allows, the raw
// credential the Go handler sees, and RPCSEC_GSS_DESTROY.
func TestInteropCClientGoServer(t *testing.T) {
	ts := startServer(t, nil)
	_, port, _ := net.SplitHostPort(ts.addr)
	realmName := testRealm(t).Name()
	orders := [][]string{
		{"privacy", "integrity", "none"},
		{"integrity", "none", "privacy"},
		{"none", "privacy", "integrity"},
	}
	for i, order := range orders {
		out := runCClient(t, port, order...)
		t.Logf("C client, context created with %s:\n%s", order[0], out)
		for _, svc := range order {
			m := okLine(t, out, svc)
			want, _ := ParseService(svc)
			if m["principal"] != "alice@"+realmName || m["svc_principal"] != svcPrinc || m["mech"] != "kerberos_v5" ||
				m["qop"] != DefaultQOPName || m["service"] != strconv.Itoa(int(want)) {
				t.Fatalf("%s: the Go server saw %v", svc, m)
			}
			if n, _ := strconv.Atoi(m["maxdata"]); n < tirpcMaxData-200 {
				t.Fatalf("%s: rpc_gss_max_data_length %d", svc, n)
			}
		}
		if !strings.Contains(out, "destroyed") {
			t.Fatal("no destroy")
		}
		st := ts.gs.Stats()
		if st.Contexts != 0 || st.Established != uint64(i+1) {
			t.Fatalf("after the C client destroyed its context: %+v", st)
		}
	}
}

// The Go client against libtirpc's server: one connection per service,
// since libtirpc keeps one context per connection and does not follow a
// change of service on it.
func TestInteropGoClientCServer(t *testing.T) {
	addr := startCServer(t, svcPrinc)
	ctx := context.Background()
	realmName := testRealm(t).Name()
	for _, svc := range []Service{ServicePrivacy, ServiceIntegrity, ServiceNone} {
		c, a := dial(t, addr, &Config{Service: svc})
		if w := a.Info().Window; w == 0 {
			t.Fatalf("%v: window 0", svc)
		}
		for _, n := range []int{0, 1, 5, 4096, 65536, 200000, 1000000} {
			if n > tirpcMaxData && svc != ServiceNone {
				continue
			}
			data := pattern(n, byte(n))
			if got, err := echo(ctx, a, data); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%v: echo of %d bytes: %d back, %v", svc, n, len(got), err)
			}
		}
		// Arguments as large as libtirpc's buffer allows once protected.
		n := a.MaxDataLength(tirpcMaxData)
		data := pattern(n-4, 7)
		if got, err := echo(ctx, a, data); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%v: echo of %d bytes (max data length %d): %v", svc, len(data), n, err)
		}
		var w whoami
		if err := a.Call(ctx, procWhoami, nil, &w); err != nil {
			t.Fatalf("%v: whoami: %v", svc, err)
		}
		if w.principal != "alice@"+realmName || w.mech != "kerberos_v5" || Service(w.service) != svc {
			t.Fatalf("%v: libtirpc's rpc_gss_getcred saw %+v", svc, w)
		}
		// More calls at once than libtirpc's window of 5: they leave in
		// sequence-number order, so none falls behind the window.
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := pattern(i*97, byte(i))
				got, err := echo(ctx, a, d)
				if err == nil && !bytes.Equal(got, d) {
					err = errEchoMismatch
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%v: concurrent call: %v", svc, err)
		}
		if err := a.Destroy(ctx); err != nil {
			t.Fatalf("%v: destroy: %v", svc, err)
		}
		// libtirpc answers a call on the destroyed context's handle with
		// an AUTH_ERROR: its context is gone.
		raw := &rawAuth{proc: ProcData, seq: 1000, service: svc, handle: a.Info().Handle}
		if err := c.CallAuth(ctx, raw, echoProg, echoVers, 0, nil, nil); !errors.Is(err, oncrpc.RPCSECGSSCredProblem) {
			t.Fatalf("%v: a call on the destroyed context: %v", svc, err)
		}
		c.Close()
	}
}

var errEchoMismatch = oncrpc.GarbageArgs

// tirpcMaxData is TIRPC_MAXDATA of testdata/gss_echo.h: libtirpc protects
// an RPCSEC_GSS body in place in its record buffer, so with integrity or
// privacy a whole call or reply has to fit in it (256 KiB at most).
const tirpcMaxData = 256*1024 - 512
