package proxyd_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// Service selection, cred_store expansion and reload, after the
// reference's own tests (t_basic, t_program, t_cred_store, t_reloading),
// against both daemons.

// acquireAccept asks sock for an acceptor credential and returns the
// name it is for, or the error (a closed connection for a caller no
// service takes).
func acquireAccept(sock string) (string, *gssproxy.Status, error) {
	return acquireDefault(sock, gssproxy.CredAccept)
}

// acquireDefault asks sock for the service's default credential of usage
// and returns the name it is for.
func acquireDefault(sock string, usage gssproxy.CredUsage) (string, *gssproxy.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := oncrpc.Dial(ctx, "unix", sock, nil)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	var res gssproxy.AcquireCredRes
	err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcAcquireCred, &gssproxy.AcquireCredArg{
		Usage: usage, DesiredMechs: gss.OIDSet{gss.MechKrb5},
	}, &res)
	if err != nil {
		return "", nil, err
	}
	if res.OutputCred == nil {
		return "", &res.Status, nil
	}
	return string(res.OutputCred.DesiredName.Display), &res.Status, nil
}

func selfExe(t *testing.T) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServiceSelection(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		shared := filepath.Join(dir, "shared.sock")
		other := strconv.Itoa(os.Geteuid() + 4242)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
			// Per-socket services.
			{Name: "host", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
			{Name: "nfs", Keytab: r.Keytab("nfs/localhost"), CredUsage: "accept"},
			// One socket, tried in order: another uid, a program that is
			// not the caller, then one that takes any uid.
			{Name: "otheruid", Socket: shared, EUID: other, Keytab: r.Keytab("nfs/localhost"), CredUsage: "accept"},
			{Name: "otherprog", Socket: shared, Program: "/usr/bin/true", Keytab: r.Keytab("nfs/localhost"), CredUsage: "accept"},
			{Name: "anyuid", Socket: shared, EUID: strconv.Itoa(os.Geteuid() + 4343), AllowAnyUID: true, Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
			// Reachable only by another uid, or another program.
			{Name: "nobodys", EUID: other, Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
			{Name: "trueonly", Program: "/usr/bin/true", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
			{Name: "meonly", Program: selfExe(t), Keytab: r.Keytab("nfs/localhost"), CredUsage: "accept"},
		}})
		for _, c := range []struct {
			svc, want string
		}{
			{"host", r.Principal("host/localhost")},
			{"nfs", r.Principal("nfs/localhost")},
			{"otheruid", r.Principal("host/localhost")}, // shared socket: anyuid wins
			{"meonly", r.Principal("nfs/localhost")},
		} {
			got, st, err := acquireAccept(d.Socket(c.svc))
			if err != nil || got != c.want {
				t.Errorf("%s: got %q (status %+v, err %v), want %q", c.svc, got, st, err, c.want)
			}
		}
		for _, svc := range []string{"nobodys", "trueonly"} {
			_, _, err := acquireAccept(d.Socket(svc))
			if err == nil {
				t.Errorf("%s: a caller no service takes was answered", svc)
			}
		}
	})
}

// A trusted-less service's cred_store with %U: the initiator's tickets land
// in the caller's own ccache file.
func TestCredStoreUID(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		d := start(proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{initService(r, dir)}})
		srv := proxytest.StartGSSServer(t, proxytest.LocalEnv(t, r, ""), "host@localhost", "-keytab", r.Keytab("host/localhost"))
		out, err := proxytest.RunGSSClient(t, proxytest.ClientEnv(t, r, d.Socket("init"), proxytest.RemoteOnly), srv.Port, "host@localhost", "cred store")
		srv.Wait()
		if err != nil {
			t.Fatalf("gss-client: %v\n%s", err, out)
		}
		cc := filepath.Join(dir, "init-"+strconv.Itoa(os.Geteuid())+".ccache")
		if fi, err := os.Stat(cc); err != nil || fi.Size() == 0 {
			t.Errorf("the caller's ccache %s was not written: %v", cc, err)
		}
	})
}

// Reload: a new service and socket appear, a connection opened before the
// reload keeps working, and the new configuration applies to its next
// call (the reference matches every call).
func TestReload(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		cfg := proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
			{Name: "one", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"},
		}}
		d := start(cfg)
		old, err := oncrpc.Dial(context.Background(), "unix", d.Socket("one"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		// The same service, now with nfs's keytab, and a second one.
		cfg.Services[0].Keytab = r.Keytab("nfs/localhost")
		cfg.Services = append(cfg.Services, proxytest.Service{Name: "two", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"})
		l, err := proxytest.WriteConfig(d.Layout().Dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		switch dd := d.(type) {
		case *proxytest.Reference:
			syscall.Kill(dd.PID(), syscall.SIGHUP)
		case *proxytest.Gsskit:
			if err := dd.Daemon().Reload(); err != nil {
				t.Fatal(err)
			}
		}
		two := l.Sockets["two"]
		var got string
		for i := 0; i < 500; i++ { // the reference reloads asynchronously
			if got, _, err = acquireAccept(two); err == nil && got != "" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got != r.Principal("host/localhost") {
			_, st, _ := acquireAccept(two)
			t.Fatalf("new service after reload: %q, %v %+v", got, err, st)
		}
		var res gssproxy.AcquireCredRes
		err = old.Call(context.Background(), gssproxy.Program, 1, gssproxy.ProcAcquireCred, &gssproxy.AcquireCredArg{
			Usage: gssproxy.CredAccept, DesiredMechs: gss.OIDSet{gss.MechKrb5},
		}, &res)
		if err != nil || res.OutputCred == nil {
			t.Fatalf("connection from before the reload: %v %+v", err, res.Status)
		}
		if got := string(res.OutputCred.DesiredName.Display); got != r.Principal("nfs/localhost") {
			t.Errorf("old connection's call after reload used %q, want the new keytab's %q", got, r.Principal("nfs/localhost"))
		}
	})
}

// The command: gsskit proxy with the reference's flags, SIGHUP reload and
// SIGTERM stop, as systemd runs it.
func TestProxyCommand(t *testing.T) {
	r := interopRealm(t)
	bin := buildProxy(t)
	dir := proxytest.ShortTempDir(t)
	cfg := proxytest.Config{DebugLevel: 1, Services: []proxytest.Service{{Name: "one", Keytab: r.Keytab("host/localhost"), CredUsage: "accept"}}}
	l, err := proxytest.WriteConfig(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	env, err := proxytest.DaemonEnv(dir, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "proxy", "-i", "-c", l.ConfPath, "-s", l.DefaultSocket)
	cmd.Env = append(env, "XDG_RUNTIME_DIR="+dir, "GSSKIT_PROXY_STATE_DIR="+dir)
	logPath := filepath.Join(dir, "cmd.log")
	logf, _ := os.Create(logPath)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	waitFor := func(sock string) (string, error) {
		var got string
		var err error
		for i := 0; i < 500; i++ {
			if got, _, err = acquireAccept(sock); err == nil && got != "" {
				return got, nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		b, _ := os.ReadFile(logPath)
		return got, errors.New("no credential from " + sock + "\n" + string(b))
	}
	if got, err := waitFor(l.Sockets["one"]); err != nil || got != r.Principal("host/localhost") {
		t.Fatalf("before reload: %q %v", got, err)
	}
	cfg.Services = append(cfg.Services, proxytest.Service{Name: "two", Keytab: r.Keytab("nfs/localhost"), CredUsage: "accept"})
	if l, err = proxytest.WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	if got, err := waitFor(l.Sockets["two"]); err != nil || got != r.Principal("nfs/localhost") {
		t.Fatalf("after SIGHUP: %q %v", got, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	exited <- nil
	if _, err := net.Dial("unix", l.Sockets["one"]); err == nil {
		t.Error("socket still accepting after SIGTERM")
	}
}
