package proxyd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
	"github.com/gsskit/gsskit/proxyd"
)

// Operations of the daemon as a service manager runs it: socket
// activation and readiness notification, use-gss-proxy for kernel_nfsd,
// the user proxy's idle exit, run_as_user, syslog_status and SIGHUP
// reload. The process-level ones start the built `gsskit proxy`.

// buildProxy builds the gsskit command for a test.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gsskit")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gsskit/gsskit/cmd/gsskit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proxyProc is a `gsskit proxy` subprocess.
type proxyProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // Wait's result, once exited is closed
}

// startProxy starts bin with args; env is added to a minimal environment
// whose state directory is dir. extra become descriptors 3, 4, ...
// A shell in front sets LISTEN_PID to the daemon's own pid, as systemd
// does after its fork, when listenPID is set.
func startProxy(t *testing.T, bin, dir string, env []string, extra []*os.File, listenPID bool, args ...string) *proxyProc {
	t.Helper()
	var cmd *exec.Cmd
	if listenPID {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, bin, "proxy"}, args...)...)
	} else {
		cmd = exec.Command(bin, append([]string{"proxy"}, args...)...)
	}
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "GSSKIT_PROXY_STATE_DIR=" + dir, "KRB5_CONFIG=/dev/null"}, env...)
	cmd.ExtraFiles = extra
	p := &proxyProc{t: t, cmd: cmd, logPath: filepath.Join(dir, fmt.Sprintf("proxy-%d.log", time.Now().UnixNano())), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proxyProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proxyProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// wait waits for the process to exit, failing the test after bound.
func (p *proxyProc) wait(bound time.Duration) error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(bound):
		p.t.Fatalf("gsskit proxy still running after %v\n%s", bound, p.log())
		return nil
	}
}

// waitSocket waits until sock answers an INDICATE_MECHS with krb5.
func (p *proxyProc) waitSocket(sock string) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = indicateKrb5(sock); err == nil {
			return
		}
		if !p.running() {
			p.t.Fatalf("gsskit proxy exited (%v) before %s answered: %v\n%s", p.err, sock, err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("%s never answered: %v\n%s", sock, err, p.log())
}

// indicateKrb5 makes an INDICATE_MECHS call through the gssproxy client
// on a connection of its own and checks that krb5 is offered.
func indicateKrb5(sock string) error {
	c := gssproxy.NewClient(&gssproxy.Config{Socket: sock, MaxConns: 1, Timeout: 20 * time.Second})
	defer c.Close()
	res, err := c.IndicateMechs(context.Background())
	if err != nil {
		return err
	}
	return hasKrb5(res)
}

func hasKrb5(res *gssproxy.IndicateMechsRes) error {
	for _, m := range res.Mechs {
		if m.Mech == gss.MechKrb5 {
			return nil
		}
	}
	return fmt.Errorf("INDICATE_MECHS without krb5: %+v", res.Mechs)
}

// rawIndicate makes an INDICATE_MECHS call on an open connection.
func rawIndicate(c *oncrpc.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var res gssproxy.IndicateMechsRes
	if err := c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, &gssproxy.IndicateMechsArg{}, &res); err != nil {
		return err
	}
	return hasKrb5(&res)
}

// writeConf writes a gssproxy.conf: the [gssproxy] options, then one
// service per entry of services (NAME → extra option lines), each for this
// process's euid with the krb5 mechanism.
func writeConf(t *testing.T, dir, global string, services ...[2]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[gssproxy]\n%s\n", global)
	for _, s := range services {
		fmt.Fprintf(&b, "[service/%s]\n  mechs = krb5\n  euid = %d\n%s\n", s[0], os.Geteuid(), s[1])
	}
	path := filepath.Join(dir, "gssproxy.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// listenPassed makes a listening Unix socket at path as systemd's socket
// unit would, and the descriptor the daemon inherits.
func listenPassed(t *testing.T, path string) *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	// The parent's copy stays open (as systemd's does) but never accepts.
	t.Cleanup(func() { l.Close(); f.Close() })
	return f
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// notifyListener is a NOTIFY_SOCKET: it collects the daemon's messages.
type notifyListener struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T, dir string) *notifyListener {
	t.Helper()
	n := &notifyListener{path: filepath.Join(dir, "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

// waitFor waits until a message containing want has come after the first
// `after` messages, and returns how many messages there are then.
func (n *notifyListener) waitFor(t *testing.T, want string, after int) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		msgs := append([]string(nil), n.msgs...)
		n.mu.Unlock()
		for i := after; i < len(msgs); i++ {
			if strings.Contains(msgs[i], want) {
				return i + 1
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	t.Fatalf("no notification %q after message %d; got %q", want, after, n.msgs)
	return 0
}

// TestSocketActivation: `gsskit proxy` started as systemd starts it for
// gsskit-proxy.socket — an inherited listening socket as descriptor 3 and
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES set — serves GSS-PROXY calls
// on that socket, leaves its file alone when it stops, and reports
// readiness, reloads and stopping on NOTIFY_SOCKET.
func TestSocketActivation(t *testing.T) {
	bin := buildProxy(t)

	t.Run("default socket", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		// Bound to a path the configuration does not name: as with the
		// reference, the one passed socket is the default socket.
		passed := filepath.Join(dir, "sd.sock")
		dflt := filepath.Join(dir, "default.sock")
		conf := writeConf(t, dir, "", [2]string{"any", ""})
		notify := listenNotify(t, dir)
		p := startProxy(t, bin, dir, []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=gsskit-proxy.socket", "NOTIFY_SOCKET=" + notify.path},
			[]*os.File{listenPassed(t, passed)}, true, "-i", "-c", conf, "-s", dflt)
		p.waitSocket(passed)
		n := notify.waitFor(t, "READY=1", 0)
		if _, err := os.Stat(dflt); err == nil {
			t.Errorf("the daemon made %s although systemd passed the default socket", dflt)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		n = notify.waitFor(t, "RELOADING=1", n)
		notify.waitFor(t, "READY=1", n)
		if err := indicateKrb5(passed); err != nil {
			t.Errorf("after SIGHUP: %v", err)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(time.Minute); err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.log())
		}
		notify.waitFor(t, "STOPPING=1", 0)
		if fi, err := os.Lstat(passed); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("the daemon removed systemd's socket file: %v", err)
		}
	})

	t.Run("user proxy", func(t *testing.T) {
		// gsskit-userproxy.socket: the session's socket, passed to -u.
		dir := proxytest.ShortTempDir(t)
		if err := os.Mkdir(filepath.Join(dir, "gssproxy"), 0o700); err != nil {
			t.Fatal(err)
		}
		passed := filepath.Join(dir, "gssproxy", "default.sock")
		notify := listenNotify(t, dir)
		p := startProxy(t, bin, dir, []string{"XDG_RUNTIME_DIR=" + dir, "LISTEN_FDS=1", "LISTEN_FDNAMES=gsskit-userproxy.socket", "NOTIFY_SOCKET=" + notify.path},
			[]*os.File{listenPassed(t, passed)}, true, "-i", "-u", "--idle-timeout", "1")
		p.waitSocket(passed)
		notify.waitFor(t, "READY=1", 0)
		// Idle: it exits, and the socket stays for systemd to listen on.
		if err := p.wait(time.Minute); err != nil {
			t.Fatalf("idle exit: %v\n%s", err, p.log())
		}
		notify.waitFor(t, "Idle for 1 seconds", 0)
		if _, err := os.Lstat(passed); err != nil {
			t.Errorf("the user proxy removed systemd's socket file: %v", err)
		}
	})

	t.Run("service sockets", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		one, two := filepath.Join(dir, "one.sock"), filepath.Join(dir, "two.sock")
		conf := writeConf(t, dir, "", [2]string{"one", "  socket = " + one}, [2]string{"two", "  socket = " + two})
		// Passed in the other order than configured: matched by path.
		p := startProxy(t, bin, dir, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=two:one"},
			[]*os.File{listenPassed(t, two), listenPassed(t, one)}, true, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
		inoOne, inoTwo := inode(t, one), inode(t, two)
		p.waitSocket(one)
		p.waitSocket(two)
		// Served on the passed sockets, not on new ones in their place.
		if inode(t, one) != inoOne || inode(t, two) != inoTwo {
			t.Errorf("the daemon replaced the passed sockets' files with its own")
		}
		if _, err := os.Stat(filepath.Join(dir, "default.sock")); err != nil {
			t.Errorf("the daemon did not make its default socket, which systemd did not pass: %v", err)
		}
	})

	t.Run("unused socket", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		one := filepath.Join(dir, "one.sock")
		conf := writeConf(t, dir, "", [2]string{"one", "  socket = " + one})
		stray := filepath.Join(dir, "stray.sock")
		p := startProxy(t, bin, dir, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=one:stray"},
			[]*os.File{listenPassed(t, one), listenPassed(t, stray)}, true, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
		err := p.wait(time.Minute)
		if err == nil || !strings.Contains(p.log(), "stray") {
			t.Errorf("a passed socket no service uses: exit %v, want a failure naming it\n%s", err, p.log())
		}
	})

	t.Run("not for this process", func(t *testing.T) {
		// LISTEN_PID of another process: the sockets are not the
		// daemon's, and it makes its own.
		dir := proxytest.ShortTempDir(t)
		passed := filepath.Join(dir, "sd.sock")
		dflt := filepath.Join(dir, "default.sock")
		conf := writeConf(t, dir, "", [2]string{"any", ""})
		p := startProxy(t, bin, dir, []string{"LISTEN_FDS=1", "LISTEN_PID=1"},
			[]*os.File{listenPassed(t, passed)}, false, "-i", "-c", conf, "-s", dflt)
		p.waitSocket(dflt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if c, err := oncrpc.Dial(ctx, "unix", passed, nil); err == nil {
			// The connection is queued on a socket no one accepts on;
			// a call must not be answered.
			err = c.Call(ctx, gssproxy.Program, 1, gssproxy.ProcIndicateMechs, &gssproxy.IndicateMechsArg{}, &gssproxy.IndicateMechsRes{})
			c.Close()
			if err == nil {
				t.Error("the daemon served a socket passed to another process")
			}
		}
	})
}

// TestKernelNFSD: with a kernel_nfsd service the daemon writes "1" to
// use-gss-proxy at start when the file exists; when it does not (no
// auth_rpcgss yet) it starts quietly and writes once the file appears;
// without kernel_nfsd it never touches the file.
func TestKernelNFSD(t *testing.T) {
	defer proxyd.SetProcNFSDRetry(20 * time.Millisecond)()
	start := func(t *testing.T, dir, proc string, nfsd bool) (*proxyd.Daemon, *krbtest.SyncBuffer) {
		t.Helper()
		opt := ""
		if nfsd {
			opt = "  kernel_nfsd = yes\n  trusted = yes"
		}
		conf := writeConf(t, dir, "", [2]string{"nfs-server", "  socket = " + filepath.Join(dir, "nfsd.sock") + "\n" + opt})
		return startLogged(t, &proxyd.DaemonConfig{
			Load:            proxyd.LoadOptions{File: conf, Socket: filepath.Join(dir, "default.sock")},
			ProcUseGSSProxy: proc,
		})
	}
	content := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}

	t.Run("exists", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		proc := filepath.Join(dir, "use-gss-proxy")
		if err := os.WriteFile(proc, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		d, buf := start(t, dir, proc, true)
		if got := content(proc); got != "1" {
			t.Fatalf("use-gss-proxy after start: %q, want \"1\"\n%s", got, buf)
		}
		// Once written it stays written: a reload does not write again.
		os.WriteFile(proc, nil, 0o600)
		if err := d.Reload(); err != nil {
			t.Fatal(err)
		}
		if got := content(proc); got != "" {
			t.Errorf("use-gss-proxy written again at reload: %q", got)
		}
	})

	t.Run("missing", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		proc := filepath.Join(dir, "use-gss-proxy")
		_, buf := start(t, dir, proc, true)
		if err := indicateKrb5(filepath.Join(dir, "nfsd.sock")); err != nil {
			t.Fatalf("daemon without use-gss-proxy does not serve: %v", err)
		}
		if _, err := os.Stat(proc); err == nil {
			t.Fatal("the daemon created use-gss-proxy")
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Errorf("a missing use-gss-proxy was not quiet: %s", l)
			}
		}
		// The module is loaded later: the file appears, and the daemon
		// writes it.
		if err := os.WriteFile(proc, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for content(proc) != "1" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := content(proc); got != "1" {
			t.Errorf("use-gss-proxy after it appeared: %q, want \"1\"\n%s", got, buf)
		}
	})

	t.Run("not asked", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		proc := filepath.Join(dir, "use-gss-proxy")
		if err := os.WriteFile(proc, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		start(t, dir, proc, false)
		if got := content(proc); got != "" {
			t.Errorf("use-gss-proxy written without kernel_nfsd: %q", got)
		}
	})
}

// TestUserproxyIdleTimeout: `gsskit proxy -u --idle-timeout 1` exits on
// its own once it has had no connection for a second, and not while a
// client keeps a connection open, however long.
func TestUserproxyIdleTimeout(t *testing.T) {
	bin := buildProxy(t)
	startUser := func(t *testing.T) (*proxyProc, string) {
		dir := proxytest.ShortTempDir(t)
		sock := filepath.Join(dir, "user.sock")
		p := startProxy(t, bin, dir, []string{"XDG_RUNTIME_DIR=" + dir}, nil, false, "-u", "-s", sock, "--idle-timeout", "1")
		return p, sock
	}

	t.Run("idle", func(t *testing.T) {
		p, sock := startUser(t)
		p.waitSocket(sock)
		if err := p.wait(time.Minute); err != nil {
			t.Fatalf("idle exit: %v\n%s", err, p.log())
		}
		if !strings.Contains(p.log(), "idle") {
			t.Errorf("the log does not say why the daemon stopped:\n%s", p.log())
		}
		if _, err := os.Stat(sock); err == nil {
			t.Error("socket left behind after the idle exit")
		}
	})

	t.Run("connected", func(t *testing.T) {
		p, sock := startUser(t)
		p.waitSocket(sock)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := oncrpc.Dial(ctx, "unix", sock, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rawIndicate(c); err != nil {
			t.Fatal(err)
		}
		// Several idle timeouts with the connection open and quiet.
		time.Sleep(4 * time.Second)
		if !p.running() {
			t.Fatalf("the user proxy exited with a connection open: %v\n%s", p.err, p.log())
		}
		if err := rawIndicate(c); err != nil {
			t.Fatalf("call on the connection kept open: %v", err)
		}
		c.Close()
		if err := p.wait(time.Minute); err != nil {
			t.Fatalf("idle exit after the connection closed: %v\n%s", err, p.log())
		}
	})

	t.Run("zero disables", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		sock := filepath.Join(dir, "user.sock")
		p := startProxy(t, bin, dir, []string{"XDG_RUNTIME_DIR=" + dir}, nil, false, "-u", "-s", sock, "--idle-timeout", "0")
		p.waitSocket(sock)
		time.Sleep(3 * time.Second)
		if !p.running() {
			t.Fatalf("--idle-timeout 0 exited: %v\n%s", p.err, p.log())
		}
	})
}

// procStatus returns the fields of /proc/PID/status named.
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out, nil
}

// needRootAndNobody skips unless the test can change users: it runs as
// root and the system has the user nobody (which CI must have).
func needRootAndNobody(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		krbtest.Missing(t, errors.New("run_as_user needs root"))
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		krbtest.Missing(t, fmt.Errorf("no user nobody: %w", err))
	}
	return u
}

// TestRunAsUser: with run_as_user = nobody, the daemon started as root
// opens its sockets and then runs as nobody — all four uids and gids, and
// nobody's groups — and still answers on the sockets it opened. An
// unknown user stops it at start rather than letting it run as root.
func TestRunAsUser(t *testing.T) {
	u := needRootAndNobody(t)
	bin := buildProxy(t)

	t.Run("nobody", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		sock := filepath.Join(dir, "svc.sock")
		conf := writeConf(t, dir, "  run_as_user = nobody", [2]string{"any", "  socket = " + sock})
		p := startProxy(t, bin, dir, nil, nil, false, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
		p.waitSocket(sock)
		want := strings.Repeat(u.Uid+" ", 4)
		wantG := strings.Repeat(u.Gid+" ", 4)
		st, err := procStatus(p.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if st["Uid"]+" " != want || st["Gid"]+" " != wantG {
			t.Errorf("daemon runs as Uid %q Gid %q, want %q and %q\n%s", st["Uid"], st["Gid"], want, wantG, p.log())
		}
		gids, _ := u.GroupIds()
		for _, g := range strings.Fields(st["Groups"]) {
			ok := g == u.Gid
			for _, w := range gids {
				ok = ok || g == w
			}
			if !ok {
				t.Errorf("daemon keeps group %s; nobody's are %v", g, gids)
			}
		}
		if st["CapEff"] != "0000000000000000" {
			t.Errorf("daemon keeps capabilities %s", st["CapEff"])
		}
		// Every thread, not just the main one: a goroutine on a thread
		// left as root would serve calls as root.
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task/" + task.Name() + "/status")
			if err != nil {
				continue // the thread exited
			}
			for _, l := range strings.Split(string(b), "\n") {
				k, v, _ := strings.Cut(l, ":")
				if (k == "Uid" && strings.Join(strings.Fields(v), " ")+" " != want) || (k == "Gid" && strings.Join(strings.Fields(v), " ")+" " != wantG) {
					t.Errorf("thread %s: %s %q", task.Name(), k, strings.TrimSpace(v))
				}
			}
		}
		if len(tasks) < 2 {
			t.Logf("only %d thread(s) to check", len(tasks))
		}
		// Still serving, on a fresh connection.
		if err := indicateKrb5(sock); err != nil {
			t.Errorf("after dropping privileges: %v", err)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		dir := proxytest.ShortTempDir(t)
		conf := writeConf(t, dir, "  run_as_user = no-such-user-gsskit", [2]string{"any", "  socket = " + filepath.Join(dir, "svc.sock")})
		p := startProxy(t, bin, dir, nil, nil, false, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
		if err := p.wait(time.Minute); err == nil || !strings.Contains(p.log(), "no-such-user-gsskit") {
			t.Errorf("unknown run_as_user: exit %v, want a failure naming the user\n%s", err, p.log())
		}
	})
}

// TestSyslogStatus: with syslog_status the status of each failed call
// goes to the system log — authpriv.debug as "gssproxy", with the call,
// the caller and the GSS error — and without it nothing does; the
// command line's setting (SyslogStatus) turns it on regardless.
func TestSyslogStatus(t *testing.T) {
	dir := proxytest.ShortTempDir(t)
	logSock := filepath.Join(dir, "log.sock")
	lc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: logSock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := lc.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	sock := filepath.Join(dir, "svc.sock")
	svc := [2]string{"any", "  socket = " + sock + "\n  cred_store = keytab:" + filepath.Join(dir, "missing.keytab") + "\n  cred_usage = accept"}
	failCall := func(t *testing.T) {
		t.Helper()
		c := gssproxy.NewClient(&gssproxy.Config{Socket: sock, MaxConns: 1})
		defer c.Close()
		_, err := c.AcquireCred(context.Background(), &gssproxy.AcquireCredArg{Usage: gssproxy.CredAccept, DesiredMechs: gss.OIDSet{gss.MechKrb5}})
		if err == nil {
			t.Fatal("ACQUIRE_CRED with a missing keytab succeeded")
		}
	}
	run := func(t *testing.T, global string, cmdline bool) (*proxyd.Daemon, *krbtest.SyncBuffer) {
		conf := writeConf(t, dir, global, svc)
		return startLogged(t, &proxyd.DaemonConfig{
			Load:         proxyd.LoadOptions{File: conf, Socket: filepath.Join(dir, "default.sock")},
			SyslogStatus: cmdline,
			SyslogAddr:   logSock,
		})
	}
	expect := func(t *testing.T, buf *krbtest.SyncBuffer) {
		t.Helper()
		select {
		case m := <-msgs:
			t.Logf("syslog: %q", m)
			// authpriv (10) * 8 + debug (7)
			for _, want := range []string{"<87>", "gssproxy[" + strconv.Itoa(os.Getpid()) + "]: GSSX_ACQUIRE_CRED failed for pid=", " uid=", " service=any", "No credentials were supplied", "missing.keytab", "(minor "} {
				if !strings.Contains(m, want) {
					t.Errorf("syslog message lacks %q: %q", want, m)
				}
			}
		case <-time.After(time.Minute):
			t.Fatalf("no syslog message for a failed call\n%s", buf)
		}
	}
	expectNone := func(t *testing.T) {
		t.Helper()
		select {
		case m := <-msgs:
			t.Errorf("syslog message without syslog_status: %q", m)
		case <-time.After(2 * time.Second):
		}
	}

	t.Run("config", func(t *testing.T) {
		d, buf := run(t, "  syslog_status = yes", false)
		failCall(t)
		expect(t, buf)
		// A reload that turns it off stops the messages.
		writeConf(t, dir, "", svc)
		if err := d.Reload(); err != nil {
			t.Fatal(err)
		}
		failCall(t)
		expectNone(t)
	})
	t.Run("off", func(t *testing.T) {
		run(t, "  syslog_status = no", false)
		failCall(t)
		expectNone(t)
	})
	t.Run("command line", func(t *testing.T) {
		_, buf := run(t, "", true)
		failCall(t)
		expect(t, buf)
	})
}

// TestSIGHUPKeepsConnections: SIGHUP to `gsskit proxy` reloads the
// configuration while a client holds a connection: the connection stays
// open and its next call is answered, the service the new configuration
// adds answers, and a configuration that fails to load leaves the daemon
// running with the old one and the connection still open.
func TestSIGHUPKeepsConnections(t *testing.T) {
	bin := buildProxy(t)
	dir := proxytest.ShortTempDir(t)
	one, two := filepath.Join(dir, "one.sock"), filepath.Join(dir, "two.sock")
	conf := writeConf(t, dir, "", [2]string{"one", "  socket = " + one})
	p := startProxy(t, bin, dir, nil, nil, false, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
	p.waitSocket(one)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := oncrpc.Dial(ctx, "unix", one, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := rawIndicate(c); err != nil {
		t.Fatal(err)
	}

	writeConf(t, dir, "", [2]string{"one", "  socket = " + one}, [2]string{"two", "  socket = " + two})
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitSocket(two)
	if err := rawIndicate(c); err != nil {
		t.Fatalf("connection opened before SIGHUP: %v\n%s", err, p.log())
	}

	// A broken configuration: the reload fails, nothing else changes.
	if err := os.WriteFile(conf, []byte("[gssproxy]\n[service/broken]\n  mechs = nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.log(), "keeping the old one") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.log(), "keeping the old one") {
		t.Fatalf("no failed reload in the log:\n%s", p.log())
	}
	if !p.running() {
		t.Fatalf("daemon exited on a broken configuration: %v\n%s", p.err, p.log())
	}
	if err := rawIndicate(c); err != nil {
		t.Errorf("connection after a failed reload: %v", err)
	}
	if err := indicateKrb5(two); err != nil {
		t.Errorf("service of the configuration in force after a failed reload: %v", err)
	}
}

// startLogged starts a daemon of cfg with a fixed handle secret, no socket
// activation and its log at trace level in the returned buffer; it is
// closed when the test ends.
func startLogged(t *testing.T, cfg *proxyd.DaemonConfig) (*proxyd.Daemon, *krbtest.SyncBuffer) {
	t.Helper()
	var buf krbtest.SyncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: proxyd.LevelTrace}))
	cfg.HandleSecret = bytes.Repeat([]byte{7}, 32)
	cfg.NoSocketActivation = true
	d, err := proxyd.NewDaemon(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, &buf
}
