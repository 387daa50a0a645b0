package proxytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

// ClientEnv is proxyrun.ClientEnv in a fresh directory removed on
// cleanup: the environment that sends an MIT program's GSS-API calls
// through the interposer to the daemon at socket, with no keytab, client
// keytab or ticket of its own. A missing interposer skips the test, or
// fails it in CI.
func ClientEnv(t testing.TB, realm *krbtest.Realm, socket string, behavior Behavior) []string {
	t.Helper()
	env, err := proxyrun.ClientEnv(ShortTempDir(t), realm, socket, behavior)
	if errors.Is(err, krbtest.ErrNotInstalled) {
		krbtest.Missing(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// LocalEnv is proxyrun.LocalEnv in a fresh directory removed on cleanup:
// the environment for a peer that does not use the proxy.
func LocalEnv(t testing.TB, realm *krbtest.Realm, ccache string) []string {
	t.Helper()
	env, err := proxyrun.LocalEnv(ShortTempDir(t), realm, ccache)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// GSSServer is MIT's gss-server (krb5-gss-samples) running with -once.
type GSSServer struct {
	Port   int
	done   chan struct{}
	out    *bytes.Buffer
	cancel context.CancelFunc
}

// StartGSSServer starts gss-server for service ("host@localhost") with env
// on a free loopback port and returns once it listens. args go before the
// service name (e.g. "-keytab", path, or "-export"). It is stopped on
// cleanup if still running.
func StartGSSServer(t testing.TB, env []string, service string, args ...string) *GSSServer {
	t.Helper()
	bin := krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	argv := append([]string{"-port", strconv.Itoa(port), "-once"}, args...)
	argv = append(argv, service)
	c := exec.CommandContext(ctx, bin, argv...)
	c.Env = env
	s := &GSSServer{Port: port, done: make(chan struct{}), out: &bytes.Buffer{}, cancel: cancel}
	c.Stdout, c.Stderr = s.out, s.out
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { c.Wait(); close(s.done) }()
	t.Cleanup(func() { cancel(); <-s.done })
	// Connecting to find out whether it listens would use up -once, so
	// look for the listening socket in /proc/net instead.
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := tcpListening(port)
		if err != nil {
			t.Skipf("cannot tell when gss-server listens: %v", err)
		}
		if ok {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("gss-server exited before listening:\n%s", s.out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gss-server does not listen on port %d:\n%s", port, s.out.String())
		}
	}
}

// Wait waits (up to 30 s) for the server to handle its one client and
// returns everything it printed.
func (s *GSSServer) Wait() string {
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cancel()
		<-s.done
	}
	return s.out.String()
}

// RunGSSClient runs MIT's gss-client against 127.0.0.1:port ("localhost"),
// sending msg to service, and returns its combined output. gss-client
// wraps msg with confidentiality, and verifies the MIC the server returns
// over it ("Signature verified.").
func RunGSSClient(t testing.TB, env []string, port int, service, msg string, args ...string) (string, error) {
	t.Helper()
	bin := krbtest.LookPathT(t, "gss-client", "krb5-gss-samples")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"-port", strconv.Itoa(port)}, args...)
	argv = append(argv, "localhost", service, msg)
	c := exec.CommandContext(ctx, bin, argv...)
	c.Env = env
	out, err := c.CombinedOutput()
	return string(out), err
}

// Python is the interpreter that has python3-gssapi: Debian's, not
// whatever python3 comes first on PATH.
const Python = "/usr/bin/python3"

// RunPython runs a python3-gssapi script with env and returns stdout and
// stderr separately. A missing interpreter or module skips the test, or
// fails it in CI.
func RunPython(t testing.TB, env []string, script string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: Python, Package: "python3-gssapi"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, Python, append([]string{"-c", script}, args...)...)
	c.Env = env
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	if err != nil && strings.Contains(e.String(), "No module named 'gssapi'") {
		krbtest.Missing(t, &krbtest.MissingToolError{Program: "python3 module gssapi", Package: "python3-gssapi"})
	}
	return o.String(), e.String(), err
}

// freePort picks a loopback TCP port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tcpListening reports whether a TCP socket listens on port.
func tcpListening(port int) (bool, error) {
	suffix := fmt.Sprintf(":%04X", port)
	found := false
	var errs []error
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], suffix) && fields[3] == "0A" {
				found = true
			}
		}
	}
	if len(errs) == 2 {
		return false, errors.Join(errs...)
	}
	return found, nil
}
