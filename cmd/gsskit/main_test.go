package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/gsssample/demo"
	"github.com/gsskit/gsskit/internal/gsssample/mitsample"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"sample"}, {"sample", "bogus"}, {"demo", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
			t.Errorf("run(%q) = %d, %q; want 2 and the usage", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "gsskit demo") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func realm(t *testing.T) *krbtest.Realm {
	t.Helper()
	krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	r := krbtest.StartT(t, krbtest.Config{Users: map[string]string{"alice": "cli-test-pw"}, Services: []krbtest.Service{{Principal: "host/localhost"}}})
	r.Setenv(t)
	r.KinitT(t, "alice", "")
	return r
}

// TestSampleServerCLI: `gsskit sample server -port 0 -once -keytab ...`
// serves MIT's gss-client.
func TestSampleServerCLI(t *testing.T) {
	r := realm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errR, errW := io.Pipe()
	var out bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"sample", "server", "-port", "0", "-once", "-keytab", r.Keytab("host/localhost"), "host@localhost"}, &out, errW)
		errW.Close()
	}()
	line, err := bufio.NewReader(errR).ReadString('\n')
	if err != nil {
		t.Fatalf("gsskit sample server said nothing on stderr (exit %d): %v", <-code, err)
	}
	go io.Copy(io.Discard, errR)
	m := regexp.MustCompile(`starting\.\.\. listening on .*:(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected first line %q", line)
	}
	gssClient := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	cout, cerr := r.Cmd(ctx, gssClient, "-port", m[1], "-d", "-mcount", "2", "127.0.0.1", "host@localhost", "via the CLI").CombinedOutput()
	if c := <-code; c != 0 || cerr != nil {
		t.Fatalf("gsskit sample server exit %d, gss-client %v\n%s\nserver log:\n%s", c, cerr, cout, out.String())
	}
	if n := strings.Count(string(cout), "Signature verified."); n != 2 {
		t.Errorf("gss-client verified %d signatures, want 2:\n%s", n, cout)
	}
	for _, want := range []string{`received message`, `"via the CLI"`, fmt.Sprintf("accepted connection: %q", r.Principal("alice")), "deleg", "delegated credential for " + r.Principal("alice")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSampleClientCLI: `gsskit sample client` talks to MIT's gss-server.
func TestSampleClientCLI(t *testing.T) {
	r := realm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := mitsample.StartServer(ctx, r, "host@localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"sample", "client", "-port", strconv.Itoa(srv.Port), "-ccache", r.DefaultCCache(), "-seq", "-ccount", "2", "-mcount", "2",
		"127.0.0.1", "host@localhost", "from the CLI"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s\nlog:\n%s\ngss-server:\n%s", code, errb.String(), out.String(), srv.Stdout())
	}
	srv.WaitOutput(ctx, "NOOP token", 2)
	srv.Stop()
	if n := strings.Count(out.String(), "signature verified"); n != 4 {
		t.Errorf("client verified %d MICs, want 4:\n%s", n, out.String())
	}
	if n := strings.Count(srv.Stdout(), `Received message: "from the CLI"`); n != 4 {
		t.Errorf("gss-server received %d messages, want 4:\n%s", n, srv.Stdout())
	}
	if !strings.Contains(srv.Stdout(), "context flag: GSS_C_SEQUENCE_FLAG") {
		t.Errorf("gss-server did not see -seq:\n%s", srv.Stdout())
	}
}

// TestDemo runs `gsskit demo` in-process. Beyond its exit status it
// checks, from the daemon's own records, that the MIT programs of the
// gss-proxy parts were served by gsskit's daemon: the keyless gss-server's
// ACCEPT_SEC_CONTEXT and the ticketless gss-client's INIT_SEC_CONTEXT,
// each under the service chosen for its executable.
func TestDemo(t *testing.T) {
	if err := krbtest.ServerToolsInstalled(); err != nil {
		krbtest.Missing(t, err)
	}
	gssServer := krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	gssClient := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	if _, err := proxyrun.InterposerLibrary(); err != nil {
		krbtest.Missing(t, err)
	}
	// The demo points the process at its realm; put things back after.
	for _, k := range []string{"KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME", "KRB5RCACHEDIR"} {
		t.Setenv(k, os.Getenv(k))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	rep, code := runDemo(ctx, &out, &errb)
	if code != 0 {
		t.Fatalf("gsskit demo exit %d: %s\n%s", code, errb.String(), out.String())
	}
	for _, want := range []string{"part 1 OK", "part 2 OK", "part 3 OK", "part 4 OK", "both directions interoperate",
		"gss-proxy daemon serves MIT's programs in both roles"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if t.Failed() {
		return
	}
	serverExe, err := filepath.EvalSymlinks(gssServer)
	if err != nil {
		t.Fatal(err)
	}
	clientExe, err := filepath.EvalSymlinks(gssClient)
	if err != nil {
		t.Fatal(err)
	}

	// Part 3: gss-server ran through the interposer, REMOTE_ONLY, with
	// no keytab, so its acceptor credential and its context can only
	// have come from the daemon.
	env := envMap(rep.AcceptorEnv)
	if env["GSS_USE_PROXY"] != "yes" || env["GSSPROXY_BEHAVIOR"] != "REMOTE_ONLY" || env["GSSPROXY_SOCKET"] == "" {
		t.Errorf("gss-server did not run through the interposer, remote only: GSS_USE_PROXY=%q GSSPROXY_BEHAVIOR=%q GSSPROXY_SOCKET=%q",
			env["GSS_USE_PROXY"], env["GSSPROXY_BEHAVIOR"], env["GSSPROXY_SOCKET"])
	}
	if kt := env["KRB5_KTNAME"]; !strings.HasSuffix(kt, "/no.keytab") {
		t.Errorf("gss-server's KRB5_KTNAME is %q, want a file that does not exist", kt)
	}
	if !strings.Contains(rep.Config, "program = "+serverExe) || !strings.Contains(rep.Config, "socket = "+env["GSSPROXY_SOCKET"]) {
		t.Errorf("the daemon's config has no service for %s on %s:\n%s", serverExe, env["GSSPROXY_SOCKET"], rep.Config)
	}
	wantCall(t, rep.Calls, rep.AcceptorPID, serverExe, "gss-server", "GSSX_ACQUIRE_CRED", "credential acquired", "name", "host/localhost@")
	wantCall(t, rep.Calls, rep.AcceptorPID, serverExe, "gss-server", "GSSX_ACCEPT_SEC_CONTEXT", "context accepted", "initiator", "alice@")
	for _, want := range []string{`Accepted connection: "alice@`, `Received message: "Hello from the gsskit demo"`} {
		if !strings.Contains(rep.AcceptorOutput, want) {
			t.Errorf("part 3's gss-server output lacks %q:\n%s", want, rep.AcceptorOutput)
		}
	}

	// Part 4: gss-client had no ticket and no keys; the daemon
	// initiated as bob from the client keytab of the service chosen for
	// gss-client, and a local gss-server accepted bob.
	env = envMap(rep.InitiatorEnv)
	if env["GSS_USE_PROXY"] != "yes" || env["GSSPROXY_BEHAVIOR"] != "REMOTE_ONLY" {
		t.Errorf("gss-client did not run through the interposer, remote only: GSS_USE_PROXY=%q GSSPROXY_BEHAVIOR=%q",
			env["GSS_USE_PROXY"], env["GSSPROXY_BEHAVIOR"])
	}
	wantCall(t, rep.Calls, rep.InitiatorPID, clientExe, "gss-client", "GSSX_INIT_SEC_CONTEXT", "context initiated", "initiator", "bob@")
	if !strings.Contains(rep.AcceptorOutput4, `Accepted connection: "bob@`) {
		t.Errorf("part 4's gss-server did not accept bob:\n%s", rep.AcceptorOutput4)
	}

	// Every record is about one of the two MIT programs, under the
	// service for its executable; the demo itself never called.
	if rep.AcceptorPID == rep.InitiatorPID || rep.AcceptorPID == os.Getpid() || rep.InitiatorPID == os.Getpid() {
		t.Errorf("pids: gss-server %d, gss-client %d, test %d", rep.AcceptorPID, rep.InitiatorPID, os.Getpid())
	}
	for _, c := range rep.Calls {
		switch {
		case c.PID == rep.AcceptorPID && c.Service == "gss-server" && c.Program == serverExe:
		case c.PID == rep.InitiatorPID && c.Service == "gss-client" && c.Program == clientExe:
		default:
			t.Errorf("unexpected daemon record: %s", c)
		}
	}
}

// wantCall finds the daemon's record of a call by pid and procedure and
// checks who it says the caller was and what it did.
func wantCall(t *testing.T, calls []demo.ProxyCall, pid int, program, service, proc, msg, attr, prefix string) {
	t.Helper()
	for _, c := range calls {
		if c.PID != pid || c.Proc != proc || c.Message != msg {
			continue
		}
		if c.Program != program || c.Service != service || c.UID != strconv.Itoa(os.Geteuid()) {
			t.Errorf("%s from pid %d: program %q service %q uid %s, want %q %q %d", proc, pid, c.Program, c.Service, c.UID, program, service, os.Geteuid())
		}
		if !strings.HasPrefix(c.Attrs[attr], prefix) {
			t.Errorf("%s from pid %d: %s=%q, want %s...", proc, pid, attr, c.Attrs[attr], prefix)
		}
		return
	}
	t.Errorf("the daemon served no %s (%s) for pid %d; its records:\n%s", proc, msg, pid, callList(calls))
}

func callList(calls []demo.ProxyCall) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestSampleChannelBindingsCLI: `gsskit sample client -cb` against `gsskit
// sample server -cb` over the sample protocol: the same bindings complete,
// different ones are refused by the acceptor with BAD_BINDINGS and the
// client is told why. (MIT's sample programs pass no bindings, so this
// mismatch can only be shown between gsskit's own; interop tests show it
// against MIT's library.)
func TestSampleChannelBindingsCLI(t *testing.T) {
	r := realm(t)
	for _, tc := range []struct {
		name            string
		clientCB, srvCB string
		ok              bool
	}{
		{"same bindings", "tls-server-end-point:AAAA", "tls-server-end-point:AAAA", true},
		{"different bindings", "tls-server-end-point:AAAA", "tls-server-end-point:BBBB", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			port, wait := cliServer(t, ctx, "-once", "-cb", tc.srvCB, "-keytab", r.Keytab("host/localhost"), "host@localhost")
			var cliOut, cliErr bytes.Buffer
			ccode := run(ctx, []string{"sample", "client", "-port", port, "-ccache", r.DefaultCCache(), "-cb", tc.clientCB,
				"127.0.0.1", "host@localhost", "bound message"}, &cliOut, &cliErr)
			scode, log, stderr := wait()
			srvOut, srvErr := bytes.NewBufferString(log), bytes.NewBufferString(stderr)
			if tc.ok {
				if ccode != 0 || scode != 0 {
					t.Fatalf("client exit %d: %s\nserver exit %d: %s\nserver log:\n%s", ccode, cliErr.String(), scode, srvErr.String(), srvOut.String())
				}
				if !strings.Contains(cliOut.String(), "1 MICs verified") || !strings.Contains(srvOut.String(), `"bound message"`) {
					t.Errorf("no round trip:\nclient:\n%s\nserver:\n%s", cliOut.String(), srvOut.String())
				}
				return
			}
			if scode != 1 || !strings.Contains(srvErr.String(), "Incorrect channel bindings were supplied") ||
				!strings.Contains(srvErr.String(), "channel bindings from the initiator do not match the acceptor's") {
				t.Errorf("server exit %d, want 1 with BAD_BINDINGS; stderr:\n%s", scode, srvErr.String())
			}
			if ccode != 1 || !strings.Contains(cliErr.String(), "Incorrect channel bindings were supplied") {
				t.Errorf("client exit %d, want 1 saying the bindings were refused; stderr:\n%s", ccode, cliErr.String())
			}
			if strings.Contains(srvOut.String(), "bound message") {
				t.Error("the server read a message over a context it refused")
			}
		})
	}
}

// cliServer runs `gsskit sample server` in-process and returns the port it
// listens on and a function that waits for it to exit.
func cliServer(t *testing.T, ctx context.Context, args ...string) (port string, wait func() (code int, stdout, stderr string)) {
	t.Helper()
	errR, errW := io.Pipe()
	var out bytes.Buffer
	var errs strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"sample", "server", "-port", "0"}, args...), &out, errW)
		errW.Close()
	}()
	br := bufio.NewReader(errR)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("gsskit sample server said nothing on stderr (exit %d): %v", <-code, err)
	}
	rest := make(chan struct{})
	go func() { io.Copy(&errs, br); close(rest) }()
	m := regexp.MustCompile(`starting\.\.\. listening on .*:(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected first line %q", line)
	}
	return m[1], func() (int, string, string) {
		c := <-code
		<-rest
		return c, out.String(), errs.String()
	}
}

// TestSampleCLIEnctypes runs `gsskit sample` against MIT's sample programs
// in both roles, with delegation and two messages, for services whose
// tickets and session keys are aes256-sha1 and aes256-sha384 only.
func TestSampleCLIEnctypes(t *testing.T) {
	krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	gssClient := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	klist := krbtest.LookPathT(t, "klist", "krb5-user")
	enctypes := []string{"aes256-cts-hmac-sha1-96", "aes256-cts-hmac-sha384-192"}
	var svcs []krbtest.Service
	for _, et := range enctypes {
		svcs = append(svcs, krbtest.Service{Principal: "host/" + et + ".localhost", Enctypes: []string{et}})
	}
	r := krbtest.StartT(t, krbtest.Config{Users: map[string]string{"alice": "cli-enctype-pw"}, Services: svcs})
	r.Setenv(t)
	r.KinitT(t, "alice", "")
	alice := r.Principal("alice")
	for _, et := range enctypes {
		spn := "host/" + et + ".localhost"
		service := "host@" + et + ".localhost"
		issued := regexp.MustCompile(`tkt=` + regexp.QuoteMeta(et) + `\(\d+\), ses=` + regexp.QuoteMeta(et) + `\(\d+\)\}, ` +
			regexp.QuoteMeta(alice) + ` for ` + regexp.QuoteMeta(r.Principal(spn)))

		t.Run(et+"/gsskit client, MIT gss-server", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			before := len(issued.FindAllString(r.KDCLog(), -1))
			srv, err := mitsample.StartServer(ctx, r, service, "-once")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			var out, errb bytes.Buffer
			code := run(ctx, []string{"sample", "client", "-port", strconv.Itoa(srv.Port), "-ccache", r.DefaultCCache(),
				"-d", "-mcount", "2", "127.0.0.1", service, "enctype " + et}, &out, &errb)
			werr := srv.Wait()
			if code != 0 || werr != nil {
				t.Fatalf("gsskit client exit %d: %s\n%s\nMIT gss-server: %v\n%s", code, errb.String(), out.String(), werr, srv.Stdout())
			}
			if !strings.Contains(out.String(), "2 messages, 2 MICs verified") {
				t.Errorf("gsskit client did not verify MIT's two MICs:\n%s", out.String())
			}
			so := srv.Stdout()
			for _, want := range []string{fmt.Sprintf("Accepted connection: %q", alice), "context flag: GSS_C_DELEG_FLAG", "context flag: GSS_C_MUTUAL_FLAG"} {
				if !strings.Contains(so, want) {
					t.Errorf("MIT gss-server output lacks %q:\n%s", want, so)
				}
			}
			if n := strings.Count(so, fmt.Sprintf("Received message: %q", "enctype "+et)); n != 2 {
				t.Errorf("MIT gss-server unwrapped %d messages, want 2:\n%s", n, so)
			}
			if after := len(issued.FindAllString(r.KDCLog(), -1)); after <= before {
				t.Errorf("the KDC issued gsskit no %s ticket with a %s session key for %s", et, et, spn)
			}
		})

		t.Run(et+"/MIT gss-client, gsskit server", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			port, wait := cliServer(t, ctx, "-once", "-keytab", r.Keytab(spn), service)
			cout, cerr := r.Cmd(ctx, gssClient, "-port", port, "-d", "-mcount", "2", "127.0.0.1", service, "enctype "+et).CombinedOutput()
			code, log, stderr := wait()
			if cerr != nil || code != 0 {
				t.Fatalf("gss-client: %v\n%s\ngsskit server exit %d: %s\n%s", cerr, cout, code, stderr, log)
			}
			if n := strings.Count(string(cout), "Signature verified."); n != 2 {
				t.Errorf("gss-client verified %d MICs, want 2:\n%s", n, cout)
			}
			for _, want := range []string{fmt.Sprintf("accepted connection: %q", alice), "deleg",
				"delegated credential for " + alice, "NOOP token: end of session"} {
				if !strings.Contains(log, want) {
					t.Errorf("gsskit server log lacks %q:\n%s", want, log)
				}
			}
			if n := strings.Count(log, fmt.Sprintf("%q", "enctype "+et)); n != 2 {
				t.Errorf("gsskit server unwrapped %d messages, want 2:\n%s", n, log)
			}
			kl, err := r.Cmd(ctx, klist, "-e", "-c", r.DefaultCCache()).CombinedOutput()
			if err != nil {
				t.Fatalf("klist: %v\n%s", err, kl)
			}
			// gss-client presented the cached ticket for the service
			// (written by the KDC exchange of either client).
			re := regexp.MustCompile(regexp.QuoteMeta(r.Principal(spn)) + `\s*\n[^\n]*Etype \(skey, tkt\): ` + regexp.QuoteMeta(et) + `, ` + regexp.QuoteMeta(et))
			if !re.Match(kl) {
				t.Errorf("the cached ticket for %s is not %s:\n%s", spn, et, kl)
			}
		})
	}
}
