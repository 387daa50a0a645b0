package krbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{
		Users:    map[string]string{"alice": "alice-secret-1"},
		Services: []Service{{Principal: "host/localhost"}},
	}
}

// run runs a program in the realm's environment and returns its combined
// output, failing the test when it exits non-zero.
func run(t *testing.T, r *Realm, env []string, name string, args ...string) string {
	t.Helper()
	c := r.Cmd(context.Background(), LookPathT(t, name, ""), args...)
	c.Env = append(c.Env, env...)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKinitKlist(t *testing.T) {
	r := StartT(t, testConfig())
	if r.Name() != DefaultRealm {
		t.Errorf("Name() = %q, want %q", r.Name(), DefaultRealm)
	}
	if got := r.Principal("alice"); got != "alice@"+DefaultRealm {
		t.Errorf("Principal(alice) = %q", got)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	out := run(t, r, nil, "klist", "-f", "-c", "FILE:"+cc)
	if !strings.Contains(out, "Default principal: alice@"+DefaultRealm) {
		t.Errorf("klist does not show alice as the default principal:\n%s", out)
	}
	tgt := "krbtgt/" + DefaultRealm + "@" + DefaultRealm
	if !strings.Contains(out, tgt) {
		t.Errorf("klist does not show %s:\n%s", tgt, out)
	}
	// Flags line after the TGT: forwardable (F) and pre-authenticated (A).
	if m := regexp.MustCompile(`Flags: (\S+)`).FindStringSubmatch(out); m == nil || !strings.Contains(m[1], "F") || !strings.Contains(m[1], "A") {
		t.Errorf("TGT is not forwardable and pre-authenticated:\n%s", out)
	}
	// A service ticket through the same KDC, over TCP.
	run(t, r, []string{"KRB5CCNAME=FILE:" + cc}, "kvno", r.Principal("host/localhost"))
	if log := r.KDCLog(); !strings.Contains(log, "TGS_REQ") || !strings.Contains(log, "host/localhost@"+DefaultRealm) {
		t.Errorf("KDC log shows no TGS request for host/localhost:\n%s", log)
	}
}

func TestWrongPassword(t *testing.T) {
	r := StartT(t, testConfig())
	LookPathT(t, "kinit", "")
	c := r.Cmd(context.Background(), "kinit", "-c", "FILE:"+filepath.Join(t.TempDir(), "cc"), "alice")
	c.Stdin = strings.NewReader("not-the-password\n")
	out, err := c.CombinedOutput()
	if err == nil {
		t.Fatalf("kinit with a wrong password succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "Password incorrect") {
		t.Errorf("kinit error does not say the password is wrong:\n%s", out)
	}
}

func TestKeytabs(t *testing.T) {
	r := StartT(t, Config{
		Realm: "OTHER.TEST",
		Users: map[string]string{"bob@OTHER.TEST": "bob-secret"},
		Services: []Service{
			{Principal: "host/localhost"},
			{Principal: "nfs/localhost", Enctypes: []string{"aes128-cts-hmac-sha256-128"}},
		},
	})
	host := run(t, r, nil, "klist", "-k", "-e", r.Keytab("host/localhost"))
	for _, e := range DefaultEnctypes {
		if !strings.Contains(host, "host/localhost@OTHER.TEST ("+e+")") {
			t.Errorf("host keytab lacks %s:\n%s", e, host)
		}
	}
	nfs := run(t, r, nil, "klist", "-k", "-e", r.Keytab("nfs/localhost"))
	if n := strings.Count(nfs, "nfs/localhost@OTHER.TEST"); n != 1 || !strings.Contains(nfs, "aes128-cts-hmac-sha256-128") {
		t.Errorf("nfs keytab should hold exactly one aes128-sha2 key:\n%s", nfs)
	}
	def := run(t, r, nil, "klist", "-k", r.DefaultKeytab())
	if !strings.Contains(def, "host/localhost@OTHER.TEST") || !strings.Contains(def, "nfs/localhost@OTHER.TEST") {
		t.Errorf("default keytab lacks a service:\n%s", def)
	}
	// The client keytab holds bob's password keys: kinit -k with it works.
	cc := filepath.Join(t.TempDir(), "cc")
	run(t, r, nil, "kinit", "-k", "-t", r.ClientKeytab("bob"), "-c", "FILE:"+cc, "bob@OTHER.TEST")
	// And the password still works after the export.
	r.KinitT(t, "bob", cc)

	if err := r.AddUser(context.Background(), "carol@ELSEWHERE.TEST", "x"); err == nil {
		t.Error("AddUser accepted a principal of another realm")
	}
	if err := r.AddUser(context.Background(), "bob", "again"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("adding bob twice: err = %v, want an 'already exists' error", err)
	} else if strings.Contains(err.Error(), "again") {
		t.Errorf("error message reveals the password: %v", err)
	}
}

// gssServer starts MIT's gss-server on a free port with the given keytab
// and returns the port and a function that waits for it to exit.
func gssServer(t *testing.T, r *Realm, keytab string) (int, func() string) {
	t.Helper()
	bin := LookPathT(t, "gss-server", "krb5-gss-samples")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c := r.Cmd(ctx, bin, "-port", strconv.Itoa(port), "-once", "-keytab", keytab, "host@localhost")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait until it listens. Connecting to find out would use up -once,
	// so look for the listening socket in /proc/net instead.
	for i := 0; !listening(t, port); i++ {
		select {
		case <-done:
			t.Fatalf("gss-server exited: %s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if i > 1000 {
			t.Fatalf("gss-server does not listen on %d: %s", port, out.String())
		}
	}
	return port, func() string {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		return out.String()
	}
}

// listening reports whether any TCP socket listens on port.
func listening(t *testing.T, port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("cannot tell when gss-server listens: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], suffix) && fields[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// The realm works for MIT's own GSS-API sample programs: gss-client gets a
// service ticket from the KDC and gss-server accepts it with the keytab.
func TestMITSamples(t *testing.T) {
	r := StartT(t, testConfig())
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	client := LookPathT(t, "gss-client", "krb5-gss-samples")

	port, wait := gssServer(t, r, r.Keytab("host/localhost"))
	c := r.Cmd(context.Background(), client, "-port", strconv.Itoa(port), "localhost", "host@localhost", "hello from gss-client")
	c.Env = append(c.Env, "KRB5CCNAME=FILE:"+cc)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("gss-client: %v\n%s\nserver:\n%s", err, out, wait())
	}
	if !strings.Contains(string(out), "Signature verified") {
		t.Errorf("gss-client did not verify the server's signature:\n%s", out)
	}
	srv := wait()
	if !strings.Contains(srv, "alice@"+DefaultRealm) || !strings.Contains(srv, "hello from gss-client") {
		t.Errorf("gss-server output lacks the client principal or message:\n%s", srv)
	}
}

// After RotateKeys a ticket for the new key is refused by an acceptor with
// only the old keytab, and accepted with the new one.
func TestRotateKeys(t *testing.T) {
	r := StartT(t, testConfig())
	ctx := context.Background()
	if v, err := r.KVNO(ctx, "host/localhost"); err != nil || v != 1 {
		t.Fatalf("KVNO before rotation = %d, %v; want 1", v, err)
	}
	old, err := r.RotateKeys(ctx, "host/localhost")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.KVNO(ctx, "host/localhost"); err != nil || v != 2 {
		t.Fatalf("KVNO after rotation = %d, %v; want 2", v, err)
	}
	// klist -k lists "KVNO Principal" rows after a dashed header.
	kvnos := func(path string) string {
		seen := map[int]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s*(\d+) \S+@`).FindAllStringSubmatch(run(t, r, nil, "klist", "-k", path), -1) {
			n, _ := strconv.Atoi(m[1])
			seen[n] = true
		}
		return fmt.Sprint(seen)
	}
	if got := kvnos(old); got != "map[1:true]" {
		t.Errorf("old keytab kvnos = %s, want only 1", got)
	}
	if got := kvnos(r.Keytab("host/localhost")); got != "map[2:true]" {
		t.Errorf("new keytab kvnos = %s, want only 2", got)
	}
	if got := kvnos(r.DefaultKeytab()); got != "map[2:true]" {
		t.Errorf("default keytab kvnos = %s, want only 2", got)
	}
	if _, err := r.RotateKeys(ctx, "alice"); err == nil {
		t.Error("RotateKeys accepted a user")
	}

	client := LookPathT(t, "gss-client", "krb5-gss-samples")
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	for _, tc := range []struct {
		keytab string
		ok     bool
	}{{old, false}, {r.Keytab("host/localhost"), true}} {
		port, wait := gssServer(t, r, tc.keytab)
		c := r.Cmd(ctx, client, "-port", strconv.Itoa(port), "localhost", "host@localhost", "msg")
		c.Env = append(c.Env, "KRB5CCNAME=FILE:"+cc)
		out, err := c.CombinedOutput()
		srv := wait()
		if (err == nil) != tc.ok {
			t.Errorf("keytab %s: gss-client err = %v, want success %v\nclient:\n%s\nserver:\n%s", filepath.Base(tc.keytab), err, tc.ok, out, srv)
		}
	}
}

// Two realms at once get their own ports and do not answer for each other.
func TestConcurrentRealms(t *testing.T) {
	for i := 0; i < 4; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("R%d.TEST", i)
			r := StartT(t, Config{Realm: name, Users: map[string]string{"u": "pw-u"}})
			r.KinitT(t, "u", filepath.Join(t.TempDir(), "cc"))
			if log := r.KDCLog(); !strings.Contains(log, "ISSUE") || !strings.Contains(log, "u@"+name) {
				t.Errorf("the AS request did not reach %s's own KDC:\n%s", name, log)
			}
		})
	}
}

// MIT's KDC binds with SO_REUSEPORT, so a second one on a taken port starts
// without complaint; launch must notice and report a port collision.
func TestPortCollisionDetected(t *testing.T) {
	a := StartT(t, Config{Realm: "A.TEST", Users: map[string]string{"nobody": "pw-nobody"}})
	b := StartT(t, Config{Realm: "B.TEST"})
	_, portStr, _ := net.SplitHostPort(a.KDCAddr())
	port, _ := strconv.Atoi(portStr)
	if tcp, udp, ok := loopbackSockets(port); !ok {
		t.Skip("no /proc/net here")
	} else if tcp != 1 || udp != 1 {
		t.Fatalf("realm A's port %d has %d tcp and %d udp sockets, want 1 and 1", port, tcp, udp)
	}

	b.kdc.stop()
	b.kdcAddr = a.KDCAddr()
	if err := b.writeKDCConf(port); err != nil {
		t.Fatal(err)
	}
	p, err := b.launch(context.Background(), port)
	if err == nil {
		p.stop()
		t.Fatal("a second KDC on realm A's port was not detected")
	}
	var pe *portError
	if !errors.As(err, &pe) {
		t.Fatalf("collision reported as %v, want a portError", err)
	}
	// A is still the only KDC on its port and still works.
	a.KinitT(t, "nobody", "")
}

func TestCloseRemovesDir(t *testing.T) {
	if err := ServerToolsInstalled(); err != nil {
		Missing(t, err)
	}
	r, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := r.Dir(), r.KDCAddr()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("realm directory %s still exists after Close", dir)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("KDC still accepts connections on %s after Close", addr)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestEnvConfinesTools(t *testing.T) {
	r := StartT(t, testConfig())
	env := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME", "KRB5RCACHEDIR"} {
		v, ok := env[k]
		if !ok {
			t.Errorf("Env lacks %s", k)
			continue
		}
		if !strings.Contains(v, r.Dir()) {
			t.Errorf("%s=%s points outside the realm directory", k, v)
		}
	}
	// kinit with no -c writes the realm's default ccache, not /tmp/krb5cc_*.
	if err := r.Kinit(context.Background(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.DefaultCCache()); err != nil {
		t.Errorf("default ccache not written: %v", err)
	}
	out := run(t, r, nil, "klist")
	if !strings.Contains(out, r.DefaultCCache()) {
		t.Errorf("klist with Env reads another ccache:\n%s", out)
	}
}

// A port held by a program without SO_REUSEPORT makes krb5kdc fail to bind;
// launch reports that as a collision to retry, not as a hang.
func TestPortTakenByOtherProgram(t *testing.T) {
	b := StartT(t, Config{Realm: "B.TEST"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	b.kdc.stop()
	b.kdcAddr = l.Addr().String()
	if err := b.writeKDCConf(port); err != nil {
		t.Fatal(err)
	}
	p, err := b.launch(context.Background(), port)
	if err == nil {
		p.stop()
		t.Fatal("krb5kdc started on a port another program holds")
	}
	var pe *portError
	if !errors.As(err, &pe) {
		t.Fatalf("taken port reported as %v, want a portError", err)
	}
	t.Logf("reported: %v", err)
}

// Principals added while the KDC runs are served at once.
func TestAddAfterStart(t *testing.T) {
	r := StartT(t, Config{})
	ctx := context.Background()
	if err := r.AddUser(ctx, "dave", "dave-pw"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddService(ctx, Service{Principal: "HTTP/localhost", Enctypes: []string{"aes256-cts-hmac-sha384-192"}}); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "dave", cc)
	out := run(t, r, []string{"KRB5CCNAME=FILE:" + cc}, "kvno", "HTTP/localhost")
	if !strings.Contains(out, "kvno = 1") {
		t.Errorf("kvno HTTP/localhost: %s", out)
	}
	// Both the ticket and its session key use the service's only enctype
	// ("Etype (skey, tkt)" in klist -e).
	kl := run(t, r, nil, "klist", "-e", "-c", "FILE:"+cc)
	want := "Etype (skey, tkt): aes256-cts-hmac-sha384-192, aes256-cts-hmac-sha384-192"
	if i := strings.Index(kl, "HTTP/localhost@"+DefaultRealm); i < 0 || !strings.Contains(kl[i:], want) {
		t.Errorf("service ticket for HTTP/localhost: want %q:\n%s", want, kl)
	}
}

func TestMissingTools(t *testing.T) {
	saved := sbinDirs
	sbinDirs = nil
	t.Cleanup(func() { sbinDirs = saved })
	t.Setenv("PATH", t.TempDir())
	err := ServerToolsInstalled()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("ServerToolsInstalled with empty PATH = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y krb5-kdc") {
		t.Errorf("error does not say what to install: %v", err)
	}
	if _, err := Start(context.Background(), Config{}); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Start with empty PATH = %v, want ErrNotInstalled", err)
	}
}
