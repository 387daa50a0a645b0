package proxytest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// InterposerOID is the mechanism OID the gss-proxy interposer plugin is
// registered under in /etc/gss/mech files.
const InterposerOID = "2.16.840.1.113730.3.8.15.1"

// Behavior is a GSSPROXY_BEHAVIOR value (gssproxy-mech(8)).
type Behavior string

const (
	// RemoteOnly sends everything to the daemon and never falls back to
	// the local mechanism, so a test that passes proves the proxy did the
	// work. The man page calls it "not fully implemented"; in 0.9.1 the
	// krb5 flows tested here work with it.
	RemoteOnly  Behavior = "REMOTE_ONLY"
	RemoteFirst Behavior = "REMOTE_FIRST"
	LocalFirst  Behavior = "LOCAL_FIRST"
	LocalOnly   Behavior = "LOCAL_ONLY"
)

// mechConfigPaths are where MIT krb5 reads mechanism modules from when
// GSS_MECH_CONFIG is unset.
var mechConfigPaths = []string{"/etc/gss/mech", "/etc/gss/mech.d/*.conf"}

// InterposerLibrary finds the reference interposer (proxymech.so): first
// in the system's mech config, as the gssproxy package registers it, then
// in the usual library directories.
func InterposerLibrary() (string, error) {
	for _, pat := range mechConfigPaths {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			if lib := interposerInMechFile(f); lib != "" {
				return lib, nil
			}
		}
	}
	for _, pat := range []string{
		"/usr/lib/*/gssproxy/proxymech.so",
		"/usr/lib64/gssproxy/proxymech.so",
		"/usr/lib/gssproxy/proxymech.so",
	} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", &krbtest.MissingToolError{Program: "proxymech.so", Package: "gssproxy"}
}

// interposerInMechFile returns the library path of the interposer's line in
// an /etc/gss/mech style file: "name oid library [kernel-module] [options]".
func interposerInMechFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[1] == InterposerOID {
			if _, err := os.Stat(fields[2]); err == nil {
				return fields[2]
			}
		}
	}
	return ""
}

// WriteMechConfig writes dir/mech, a mech file that loads only the
// interposer. Pointing GSS_MECH_CONFIG at it makes MIT's mechglue read it
// instead of /etc/gss/mech and /etc/gss/mech.d, so tests do not depend on
// the system file the gssproxy package installs (and a system without it
// still works if the library is present).
func WriteMechConfig(dir string) (string, error) {
	lib, err := InterposerLibrary()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "mech")
	line := fmt.Sprintf("gssproxy_v1\t%s\t%s\t<interposer>\n", InterposerOID, lib)
	return p, os.WriteFile(p, []byte(line), 0o644)
}

// ClientEnv is the full environment for an MIT program (or python3-gssapi)
// whose GSS-API calls should go through the gss-proxy daemon at socket:
//
//   - GSS_USE_PROXY=yes, GSSPROXY_SOCKET, GSSPROXY_BEHAVIOR;
//   - GSS_MECH_CONFIG naming a mech file that loads the interposer;
//   - the realm's krb5.conf, but a default keytab, client keytab and
//     ccache that do not exist, so nothing can succeed without the proxy.
//
// The ccache path is in a fresh directory and writable: the interposer
// stores the daemon's encrypted credential handle in the default ccache
// (as principal "Encrypted/Credentials/v1@X-GSSPROXY:"), fails
// gss_acquire_cred when it cannot, and on the next acquire sends what it
// finds there back as input_cred_handle. A fresh file per program keeps
// runs independent.
func ClientEnv(t testing.TB, realm *krbtest.Realm, socket string, behavior Behavior) []string {
	t.Helper()
	dir := ShortTempDir(t)
	mech, err := WriteMechConfig(dir)
	if err != nil {
		krbtest.Missing(t, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := scrubEnv(os.Environ())
	env = append(env, realm.Env()...)
	return append(env,
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "no.keytab"),
		"KRB5_CLIENT_KTNAME=FILE:"+filepath.Join(dir, "no-client.keytab"),
		"KRB5RCACHEDIR="+filepath.Join(dir, "rcache"),
		"GSS_MECH_CONFIG="+mech,
		"GSS_USE_PROXY=yes",
		"GSSPROXY_SOCKET="+socket,
		"GSSPROXY_BEHAVIOR="+string(behavior),
	)
}

// LocalEnv is the environment for a peer that does not use the proxy: the
// realm's settings, an empty mech config (so the interposer cannot load
// even if GSS_USE_PROXY were set) and the given ccache.
func LocalEnv(t testing.TB, realm *krbtest.Realm, ccache string) []string {
	t.Helper()
	dir := ShortTempDir(t)
	empty := filepath.Join(dir, "mech.empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := scrubEnv(os.Environ())
	env = append(env, realm.Env()...)
	env = append(env, "GSS_MECH_CONFIG="+empty, "KRB5RCACHEDIR="+filepath.Join(dir, "rcache"))
	if ccache != "" {
		env = append(env, "KRB5CCNAME=FILE:"+ccache)
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
