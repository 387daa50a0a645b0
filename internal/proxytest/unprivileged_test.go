package proxytest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

// The reference needs no privileges: run as nobody with its files owned by
// nobody, it serves a keyless gss-server that also runs as nobody. (When
// the whole suite runs unprivileged the other tests already show this.)
func TestReferenceAsUnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the suite already runs unprivileged; every other reference test covers this")
	}
	nobody, err := LookupAccount("nobody")
	if err != nil {
		t.Skipf("no local account nobody: %v", err)
	}
	bin, err := ReferenceBinary()
	if err != nil {
		krbtest.Missing(t, err)
	}
	r := testRealm(t)
	dir := ShortTempDir(t)
	own := func(p string) {
		t.Helper()
		if err := os.Chown(p, int(nobody.UID), int(nobody.GID)); err != nil {
			t.Fatal(err)
		}
	}
	cp := func(src, name string) string {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		own(p)
		return p
	}
	own(dir)
	krb5conf := cp(r.Krb5Conf(), "krb5.conf")
	keytab := cp(r.Keytab("host/localhost"), "host.keytab")
	uid := strconv.Itoa(int(nobody.UID))
	layout, err := WriteConfig(dir, Config{DebugLevel: 2, Services: []Service{
		{Name: "accept", Keytab: keytab, CredUsage: "accept", EUID: uid},
	}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := DaemonEnv(dir, r, 2)
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "KRB5_CONFIG="+krb5conf)
	for _, p := range []string{layout.ConfPath, filepath.Join(dir, "rcache"), filepath.Join(dir, "mech.empty")} {
		own(p)
	}
	cred := &syscall.Credential{Uid: nobody.UID, Gid: nobody.GID, Groups: []uint32{}}

	logPath := filepath.Join(dir, "gssproxy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d := exec.Command(bin, "-i", "-c", layout.ConfPath, "-s", layout.DefaultSocket)
	d.Env, d.Stdout, d.Stderr = env, logf, logf
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.Wait(); close(exited) }()
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("daemon log:\n%s", tail(string(b), 40))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := proxyrun.WaitSocket(ctx, layout.Sockets["accept"], exited); err != nil {
		t.Fatal(err)
	}

	// gss-server as nobody, through the interposer, with its files in a
	// directory nobody can use.
	cdir := filepath.Join(dir, "client")
	if err := os.Mkdir(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	own(cdir)
	mech, err := WriteMechConfig(cdir)
	if err != nil {
		krbtest.Missing(t, err)
	}
	cenv := append(proxyrun.ScrubEnv(os.Environ()),
		"KRB5_CONFIG="+krb5conf,
		"KRB5CCNAME=FILE:"+filepath.Join(cdir, "ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(cdir, "no.keytab"),
		"KRB5RCACHEDIR="+cdir,
		"GSS_MECH_CONFIG="+mech,
		"GSS_USE_PROXY=yes",
		"GSSPROXY_SOCKET="+layout.Sockets["accept"],
		"GSSPROXY_BEHAVIOR="+string(RemoteOnly),
	)
	srvBin := krbtest.LookPathT(t, "gss-server", "krb5-gss-samples")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(srvBin, "-port", strconv.Itoa(port), "-once", "host@localhost")
	srv.Env = cenv
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var srvOut strings.Builder
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan struct{})
	go func() { srv.Wait(); close(srvDone) }()
	t.Cleanup(func() { srv.Process.Kill(); <-srvDone })
	for deadline := time.Now().Add(15 * time.Second); ; {
		if ok, _ := tcpListening(port); ok {
			break
		}
		select {
		case <-srvDone:
			t.Fatalf("gss-server as nobody exited:\n%s", srvOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("gss-server as nobody does not listen")
		}
	}
	out, err := RunGSSClient(t, kinitLocal(t, r), port, "host@localhost", "to an unprivileged proxy")
	select {
	case <-srvDone:
	case <-time.After(30 * time.Second):
	}
	if err != nil || !strings.Contains(srvOut.String(), `Received message: "to an unprivileged proxy"`) {
		t.Fatalf("gss-client: %v\n%s\ngss-server:\n%s", err, out, srvOut.String())
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "(uid = "+uid+")") {
		t.Errorf("the daemon did not see the client as uid %s:\n%s", uid, tail(string(log), 20))
	}
}
