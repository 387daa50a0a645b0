package proxytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

// Daemon is a running gss-proxy daemon: the reference gssproxy started by
// StartReference, or gsskit's own started by a sibling helper from the
// same Config and Layout.
type Daemon interface {
	// Socket is the Unix socket path of the named service.
	Socket(service string) string
	// Layout is the configuration the daemon was started with.
	Layout() *Layout
	// Log is the daemon's output so far.
	Log() string
	// Stop ends the daemon and waits for it; it is safe to call twice.
	Stop() error
}

// Reference is the reference gssproxy daemon running in the foreground on
// sockets in a directory of its own.
type Reference struct {
	layout  *Layout
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

var _ Daemon = (*Reference)(nil)

// Socket implements Daemon; it panics on a name the config does not have,
// which is a bug in the test.
func (r *Reference) Socket(service string) string {
	s, ok := r.layout.Sockets[service]
	if !ok {
		panic(fmt.Sprintf("proxytest: no service %q in this daemon's config", service))
	}
	return s
}

// Layout implements Daemon.
func (r *Reference) Layout() *Layout { return r.layout }

// Log implements Daemon. With DebugLevel 2 it shows every call and result
// the daemon handled, decoded.
func (r *Reference) Log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// PID is the daemon's process id.
func (r *Reference) PID() int { return r.cmd.Process.Pid }

// Stop sends SIGTERM (the reference exits its event loop on it), waits up
// to five seconds, then kills.
func (r *Reference) Stop() error {
	r.stopOnce.Do(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(5 * time.Second):
				r.cmd.Process.Kill()
				<-r.done
				r.stopErr = errors.New("proxytest: gssproxy ignored SIGTERM for 5s and was killed")
			}
		}
		pidFiles.release(r.cmd.Process.Pid)
	})
	return r.stopErr
}

// Exited reports whether the daemon has exited, and how.
func (r *Reference) Exited() (bool, error) {
	select {
	case <-r.done:
		return true, r.waitErr
	default:
		return false, nil
	}
}

// ReferenceBinary finds the reference daemon (Debian package gssproxy).
func ReferenceBinary() (string, error) {
	p, err := krbtest.LookPath("gssproxy")
	var me *krbtest.MissingToolError
	if errors.As(err, &me) {
		me.Package = "gssproxy"
	}
	return p, err
}

// StartReference writes cfg into a new directory, starts the reference
// gssproxy on it in the foreground with realm's Kerberos configuration,
// waits until every service socket accepts connections, and stops it on
// test cleanup. A missing gssproxy skips the test, or fails it in CI.
func StartReference(t testing.TB, realm *krbtest.Realm, cfg Config) *Reference {
	t.Helper()
	if _, err := ReferenceBinary(); err != nil {
		krbtest.Missing(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ref, err := LaunchReference(ctx, ShortTempDir(t), realm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxytest: reference gssproxy log (last lines):\n%s", tail(ref.Log(), 60))
		}
		if err := ref.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return ref
}

// LaunchReference is StartReference without a testing.TB: dir must exist
// and be short enough for socket paths (ShortTempDir). The caller stops
// the daemon.
func LaunchReference(ctx context.Context, dir string, realm *krbtest.Realm, cfg Config) (*Reference, error) {
	bin, err := ReferenceBinary()
	if err != nil {
		return nil, err
	}
	layout, err := WriteConfig(dir, cfg)
	if err != nil {
		return nil, err
	}
	env, err := DaemonEnv(layout.Dir, realm, cfg.DebugLevel)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(layout.Dir, "gssproxy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	// -i: stay in the foreground (the default is to fork away).
	// -c without -C: read only this file, not /etc/gssproxy/*.conf.
	// -s: the socket of services without one; every service here has
	// one, so this only keeps the compiled-in default out of reach.
	cmd := exec.Command(bin, "-i", "-c", layout.ConfPath, "-s", layout.DefaultSocket)
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group, so a Ctrl-C aimed at `go test` does not
	// reach it before the cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	pidFiles.acquire()
	if err := cmd.Start(); err != nil {
		pidFiles.release(-1)
		return nil, fmt.Errorf("proxytest: starting %s: %w", bin, err)
	}
	ref := &Reference{layout: layout, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		ref.waitErr = cmd.Wait()
		close(ref.done)
	}()
	for _, s := range layout.Config.Services {
		if err := proxyrun.WaitSocket(ctx, s.Socket, ref.done); err != nil {
			ref.Stop()
			return nil, fmt.Errorf("proxytest: gssproxy service %s: %w\n%s", s.Name, err, tail(ref.Log(), 30))
		}
	}
	return ref, nil
}

// pidFiles deals with the one file the reference writes outside its
// config: it writes its pid to a compiled-in path (Debian:
// /var/run/gssproxy.pid) whenever it can, i.e. when it runs as root. The
// harness saves what was there before the first daemon of this process
// starts and puts it back after the last one stops, unless someone else has
// written the file in between.
var pidFiles = &pidFileGuard{paths: []string{"/var/run/gssproxy.pid", "/run/gssproxy.pid"}}

type pidFileGuard struct {
	paths []string

	mu    sync.Mutex
	users int
	saved map[string][]byte // nil value: did not exist
	ours  map[string]bool
}

func (g *pidFileGuard) acquire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users++
	if g.users > 1 || os.Geteuid() != 0 {
		return
	}
	g.saved = map[string][]byte{}
	g.ours = map[string]bool{}
	seen := map[string]bool{}
	for _, p := range g.paths {
		real := p
		if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			real = filepath.Join(dir, filepath.Base(p))
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		b, err := os.ReadFile(real)
		if err != nil {
			b = nil
		}
		g.saved[real] = b
	}
}

// release is called with the pid of a daemon that has exited (-1 if it
// never started).
func (g *pidFileGuard) release(pid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pid > 0 {
		if g.ours == nil {
			g.ours = map[string]bool{}
		}
		g.ours[strconv.Itoa(pid)] = true
	}
	g.users--
	if g.users > 0 || g.saved == nil {
		return
	}
	for p, old := range g.saved {
		cur, err := os.ReadFile(p)
		if err != nil || !g.ours[strings.TrimSpace(string(cur))] {
			continue
		}
		if old == nil {
			os.Remove(p)
		} else {
			os.WriteFile(p, old, 0o600)
		}
	}
	g.saved, g.ours = nil, nil
}

// ShortTempDir is a temporary directory with a short path, removed on
// cleanup. Unix socket paths are limited to 107 bytes and t.TempDir()
// includes the test's name.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pxt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
