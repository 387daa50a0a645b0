package proxyrun

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/proxyd"
)

// Gsskit is gsskit's own daemon (package proxyd) running inside this
// process on a Layout written by WriteConfig, with a Kerberos mechanism of
// its own that sees exactly the environment DaemonEnv gives the reference:
// the realm's krb5.conf and no default keytab or ccache. Running it in the
// process lets tests count its goroutines and descriptors and call Reload
// directly, and lets the demo read its log records as they are made.
type Gsskit struct {
	layout  *Layout
	logPath string
	logFile *os.File
	d       *proxyd.Daemon

	stopOnce sync.Once
	stopErr  error
}

// Socket is the Unix socket path of the named service; it panics on a name
// the config does not have, which is a bug in the caller.
func (g *Gsskit) Socket(service string) string {
	s, ok := g.layout.Sockets[service]
	if !ok {
		panic("proxyrun: no service " + service + " in this daemon's config")
	}
	return s
}

// Layout is the configuration the daemon was started with.
func (g *Gsskit) Layout() *Layout { return g.layout }

// Log is the daemon's slog output so far, one record a line.
func (g *Gsskit) Log() string {
	b, _ := os.ReadFile(g.logPath)
	return string(b)
}

// Daemon is the running proxyd.Daemon.
func (g *Gsskit) Daemon() *proxyd.Daemon { return g.d }

// Rewrite writes cfg over the daemon's configuration file (same
// directory, so sockets named by service keep their paths) without
// reloading; call Daemon().Reload() to apply it.
func (g *Gsskit) Rewrite(cfg Config) (*Layout, error) {
	l, err := WriteConfig(g.layout.Dir, cfg)
	if err != nil {
		return nil, err
	}
	for k, v := range l.Sockets {
		g.layout.Sockets[k] = v
	}
	g.layout.Config = l.Config
	return l, nil
}

// Stop shuts the daemon down gracefully, cut short after ten seconds; it
// is safe to call twice.
func (g *Gsskit) Stop() error {
	g.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := g.d.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			g.stopErr = errors.New("proxyrun: gsskit daemon did not finish its calls within 10s")
		}
		g.logFile.Close()
	})
	return g.stopErr
}

// GsskitRegistry is a mechanism registry whose Kerberos mechanism reads
// only env (KRB5_CONFIG, KRB5_KTNAME, KRB5_CLIENT_KTNAME, KRB5CCNAME), never
// this process's own environment.
func GsskitRegistry(env []string) (*gss.Registry, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	reg := gss.NewRegistry()
	m := krb5.NewMechanism(&krb5.Config{Getenv: func(k string) string { return vars[k] }})
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return reg, nil
}

// LaunchGsskit writes cfg into dir (which must exist) and starts proxyd on
// it in this process; the caller stops it. The daemon logs to dir as text
// (Log); each handler in observe also receives every record the daemon
// lets through at its configured debug level, with the caller's pid, uid,
// program, the service chosen and the procedure as attributes of each
// call's records.
func LaunchGsskit(dir string, realm *krbtest.Realm, cfg Config, observe ...slog.Handler) (*Gsskit, error) {
	layout, err := WriteConfig(dir, cfg)
	if err != nil {
		return nil, err
	}
	env, err := DaemonEnv(layout.Dir, realm, cfg.DebugLevel)
	if err != nil {
		return nil, err
	}
	reg, err := GsskitRegistry(env)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(layout.Dir, "gsskit.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var h slog.Handler = slog.NewTextHandler(logf, &slog.HandlerOptions{Level: proxyd.LevelTrace})
	if len(observe) > 0 {
		h = slog.NewMultiHandler(append([]slog.Handler{h}, observe...)...)
	}
	d, err := proxyd.NewDaemon(&proxyd.DaemonConfig{
		Load:               proxyd.LoadOptions{File: layout.ConfPath, Socket: layout.DefaultSocket},
		Logger:             slog.New(h),
		Registry:           reg,
		HandleSecretFile:   filepath.Join(layout.Dir, "handle.key"),
		NoSocketActivation: true,
		// Never the host's: a config that sets kernel_nfsd must not
		// switch the machine's NFS server over.
		ProcUseGSSProxy: filepath.Join(layout.Dir, "use-gss-proxy"),
	})
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := d.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	return &Gsskit{layout: layout, logPath: logPath, logFile: logf, d: d}, nil
}
