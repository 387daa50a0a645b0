package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gsskit/gsskit/internal/gsssample/mitsample"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
)

// The daemon's two services share one socket and are told apart by the
// caller's executable, the way a host's gssproxy.conf gives nfsd and a
// web server different credentials.
const (
	acceptService   = "gss-server"
	initiateService = "gss-client"
)

// Report is what the gss-proxy parts of a run observed, for callers that
// check more than the verdict. (Parts 1 and 2 have nothing beyond it.)
type Report struct {
	// Config is the gssproxy.conf the daemon ran with.
	Config string
	// Calls are the daemon's own log records about its callers, in the
	// order it made them: each connection and the service it was given,
	// and each call that acquired a credential or established a context.
	Calls []ProxyCall
	// AcceptorPID is the MIT gss-server of part 3, whose accepting the
	// daemon did; AcceptorEnv is the environment it ran with and
	// AcceptorOutput what it printed.
	AcceptorPID    int
	AcceptorEnv    []string
	AcceptorOutput string
	// InitiatorPID is the MIT gss-client of part 4, for which the daemon
	// initiated; InitiatorEnv is the environment it ran with, and
	// AcceptorOutput4 what the local gss-server it talked to printed.
	InitiatorPID    int
	InitiatorEnv    []string
	AcceptorOutput4 string
}

// ProxyCall is one record of the daemon's log about a caller.
type ProxyCall struct {
	// Message is the daemon's: "connection", "credential acquired",
	// "context accepted", "context initiated", "call failed"...
	Message string
	// PID, UID and Program identify the caller (from SO_PEERCRED and
	// /proc/<pid>/exe); Service is the service the daemon chose for it.
	PID     int
	UID     string
	Program string
	Service string
	// Proc is the GSS-PROXY procedure ("GSSX_ACCEPT_SEC_CONTEXT"); empty
	// for a connection.
	Proc string
	// Attrs are the record's other attributes (initiator, acceptor...).
	Attrs map[string]string
}

func (c ProxyCall) String() string {
	var b strings.Builder
	proc := c.Proc
	if proc == "" {
		proc = "(connect)"
	}
	fmt.Fprintf(&b, "%-24s pid %d uid %s %s -> service %s: %s", proc, c.PID, c.UID, c.Program, c.Service, c.Message)
	keys := make([]string, 0, len(c.Attrs))
	for k := range c.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, c.Attrs[k])
	}
	return b.String()
}

// startDaemon starts gsskit's gss-proxy daemon in this process with a
// service for MIT's gss-server holding the service keytab, and one for
// MIT's gss-client holding bob's client keytab.
func startDaemon(dir string, realm *krbtest.Realm, out io.Writer, rep *Report) (*proxyrun.Gsskit, *callLog, error) {
	serverExe, err := programPath("gss-server")
	if err != nil {
		return nil, nil, err
	}
	clientExe, err := programPath("gss-client")
	if err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(dir, "gssproxy.sock")
	cfg := proxyrun.Config{
		// 1 is enough for a record per connection and per credential or
		// context; 2 adds the failed calls, which a failing demo wants.
		DebugLevel: 2,
		Services: []proxyrun.Service{
			{Name: acceptService, Socket: sock, Program: serverExe, CredUsage: "accept",
				Keytab: realm.Keytab(spn)},
			{Name: initiateService, Socket: sock, Program: clientExe, CredUsage: "initiate",
				ClientKeytab: realm.ClientKeytab(keyUser),
				CCache:       "FILE:" + filepath.Join(dir, "initiator-%U.ccache")},
		},
	}
	calls := &callLog{}
	d, err := proxyrun.LaunchGsskit(dir, realm, cfg, &callHandler{log: calls})
	if err != nil {
		return nil, nil, fmt.Errorf("starting gsskit's gss-proxy daemon: %w", err)
	}
	conf, err := os.ReadFile(d.Layout().ConfPath)
	if err != nil {
		d.Stop()
		return nil, nil, err
	}
	rep.Config = string(conf)
	fmt.Fprintf(out, "gsskit's gss-proxy daemon (package proxyd, in this process) listens on %s\n", sock)
	fmt.Fprintf(out, "gssproxy.conf:\n")
	for _, l := range strings.Split(strings.TrimSpace(string(conf)), "\n") {
		if !strings.HasPrefix(l, "#") {
			fmt.Fprintf(out, "  | %s\n", l)
		}
	}
	return d, calls, nil
}

// programPath is the canonical path of an MIT program: what the daemon
// reads from /proc/<pid>/exe and compares with a service's program.
func programPath(name string) (string, error) {
	p, err := krbtest.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// part3 runs MIT's gss-server with no keytab it can read, through the
// reference interposer with GSSPROXY_BEHAVIOR=REMOTE_ONLY against gsskit's
// daemon, and MIT's gss-client with alice's ticket against it.
func part3(ctx context.Context, dir string, realm *krbtest.Realm, d *proxyrun.Gsskit, calls *callLog, out io.Writer, msg string, rep *Report) error {
	srvDir, cliDir := filepath.Join(dir, "server3"), filepath.Join(dir, "client3")
	for _, p := range []string{srvDir, cliDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
	}
	senv, err := proxyrun.ClientEnv(srvDir, realm, d.Socket(acceptService), proxyrun.RemoteOnly)
	if err != nil {
		return err
	}
	rep.AcceptorEnv = senv
	kt := envValue(senv, "KRB5_KTNAME")
	if err := absent(kt); err != nil {
		return fmt.Errorf("gss-server's keytab: %w", err)
	}
	fmt.Fprintf(out, "MIT gss-server: KRB5_KTNAME=%s (no such file), GSS_USE_PROXY=%s, GSSPROXY_BEHAVIOR=%s, GSSPROXY_SOCKET=%s\n",
		kt, envValue(senv, "GSS_USE_PROXY"), envValue(senv, "GSSPROXY_BEHAVIOR"), envValue(senv, "GSSPROXY_SOCKET"))
	mark := calls.len()
	srv, err := mitsample.StartServerEnv(ctx, senv, service, "-once")
	if err != nil {
		return fmt.Errorf("MIT gss-server through the proxy: %w", err)
	}
	defer srv.Stop()
	rep.AcceptorPID = srv.PID()
	fmt.Fprintf(out, "MIT gss-server (pid %d) listening on port %d\n", srv.PID(), srv.Port)

	cenv, err := proxyrun.LocalEnv(cliDir, realm, realm.DefaultCCache())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "MIT gss-client: local, with %s's ticket from kinit\n", realm.Principal(user))
	cout, _, cerr := runGSSClient(ctx, cenv, srv.Port, msg)
	werr := srv.Wait()
	rep.AcceptorOutput = srv.Stdout()
	io.WriteString(prefix(out, "  mit-client "), readable(cout))
	io.WriteString(prefix(out, "  mit-server "), readable(srv.Stdout()))
	if ln := localname(srv.Stdout()); ln != user && strings.HasPrefix(ln, user) {
		// gss-server's gss_localname goes to the interposer, which
		// answers it locally from the name the daemon returned; the
		// reference gssproxy daemon gets the same line printed.
		fmt.Fprintf(out, "  (the stray bytes after %q in gss-server's localname line are printed with the reference gssproxy daemon too)\n", user)
	}
	alice := realm.Principal(user)
	served, err := checkSampleRun(out, calls, mark, rep, "MIT gss-client", cerr, werr, rep.AcceptorOutput, alice, msg)
	if err != nil {
		return err
	}
	acc, ok := findCall(served, srv.PID(), acceptService, "context accepted")
	if !ok {
		return fmt.Errorf("the daemon logged no accepted context for gss-server (pid %d) under service %s", srv.PID(), acceptService)
	}
	if acc.Attrs["initiator"] != alice || acc.Attrs["acceptor"] != realm.Principal(spn) {
		return fmt.Errorf("the daemon accepted %s for %s, want %s for %s", acc.Attrs["initiator"], acc.Attrs["acceptor"], alice, realm.Principal(spn))
	}
	fmt.Fprintf(out, "handshake: the daemon accepted %s's AP-REQ for %s in %s and returned the context to gss-server\n", alice, realm.Principal(spn), acc.Proc)
	fmt.Fprintf(out, "round trip: MIT gss-client wrapped %q; gss-server unwrapped it with the context the interposer imported and sent a MIC; gss-client verified it (exit 0)\n", msg)
	return nil
}

// part4 runs MIT's gss-client with no ticket and no keys through the
// interposer against gsskit's daemon, which initiates from bob's client
// keytab, and a local MIT gss-server with the service keytab.
func part4(ctx context.Context, dir string, realm *krbtest.Realm, d *proxyrun.Gsskit, calls *callLog, out io.Writer, msg string, rep *Report) error {
	srvDir, cliDir := filepath.Join(dir, "server4"), filepath.Join(dir, "client4")
	for _, p := range []string{srvDir, cliDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
	}
	senv, err := proxyrun.LocalEnv(srvDir, realm, filepath.Join(srvDir, "no.ccache"))
	if err != nil {
		return err
	}
	srv, err := mitsample.StartServerEnv(ctx, senv, service, "-once", "-keytab", realm.Keytab(spn))
	if err != nil {
		return fmt.Errorf("MIT gss-server: %w", err)
	}
	defer srv.Stop()
	fmt.Fprintf(out, "MIT gss-server (local, -keytab with %s's keys) listening on port %d\n", realm.Principal(spn), srv.Port)

	cenv, err := proxyrun.ClientEnv(cliDir, realm, d.Socket(initiateService), proxyrun.RemoteOnly)
	if err != nil {
		return err
	}
	rep.InitiatorEnv = cenv
	for _, k := range []string{"KRB5CCNAME", "KRB5_CLIENT_KTNAME", "KRB5_KTNAME"} {
		if err := absent(envValue(cenv, k)); err != nil {
			return fmt.Errorf("gss-client's %s: %w", k, err)
		}
	}
	fmt.Fprintf(out, "MIT gss-client: no ticket (KRB5CCNAME=%s: no such file), no keys (KRB5_CLIENT_KTNAME=%s: no such file), GSSPROXY_BEHAVIOR=%s\n",
		envValue(cenv, "KRB5CCNAME"), envValue(cenv, "KRB5_CLIENT_KTNAME"), envValue(cenv, "GSSPROXY_BEHAVIOR"))
	mark := calls.len()
	cout, pid, cerr := runGSSClient(ctx, cenv, srv.Port, msg)
	rep.InitiatorPID = pid
	werr := srv.Wait()
	rep.AcceptorOutput4 = srv.Stdout()
	io.WriteString(prefix(out, "  mit-client "), readable(cout))
	io.WriteString(prefix(out, "  mit-server "), readable(srv.Stdout()))
	bob := realm.Principal(keyUser)
	served, err := checkSampleRun(out, calls, mark, rep, "MIT gss-client through the proxy", cerr, werr, rep.AcceptorOutput4, bob, msg)
	if err != nil {
		return err
	}
	ini, ok := findCall(served, pid, initiateService, "context initiated")
	if !ok {
		return fmt.Errorf("the daemon logged no initiated context for gss-client (pid %d) under service %s", pid, initiateService)
	}
	if ini.Attrs["initiator"] != bob {
		return fmt.Errorf("the daemon initiated as %s, want %s from the client keytab", ini.Attrs["initiator"], bob)
	}
	fmt.Fprintf(out, "handshake: the daemon initiated as %s from its client keytab in %s; gss-server accepted %s\n", bob, ini.Proc, bob)
	fmt.Fprintf(out, "round trip: MIT gss-client wrapped %q with the context the interposer imported; gss-server unwrapped it and sent a MIC; gss-client verified it (exit 0)\n", msg)
	return nil
}

// runGSSClient runs MIT's gss-client against 127.0.0.1:port and returns
// its output and pid. Its exit status is the verdict: it exits 0 only
// after gss_verify_mic accepted the server's MIC.
func runGSSClient(ctx context.Context, env []string, port int, msg string) (string, int, error) {
	path, err := krbtest.LookPath("gss-client")
	if err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(ctx, path, "-port", strconv.Itoa(port), "127.0.0.1", service, msg)
	cmd.Env = env
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return "", 0, err
	}
	err = cmd.Wait()
	return b.String(), cmd.Process.Pid, err
}

// absent checks that a FILE: credential store names nothing, so that
// whatever works can only have come through the daemon.
func absent(store string) error {
	p, ok := strings.CutPrefix(store, "FILE:")
	if !ok || p == "" {
		return fmt.Errorf("%q is not a file", store)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s should not exist (%v)", p, err)
	}
	return nil
}

// localname is what gss-server printed on its "localname:" line.
func localname(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "localname: "); ok {
			return v
		}
	}
	return ""
}

// checkSampleRun records and prints the daemon calls since mark, then
// judges a run of MIT's gss-client against gss-server: both exited
// cleanly, and the server accepted principal and unwrapped msg.
func checkSampleRun(out io.Writer, calls *callLog, mark int, rep *Report, client string, cerr, werr error, serverOut, principal, msg string) ([]ProxyCall, error) {
	served := calls.since(mark)
	rep.Calls = append(rep.Calls, served...)
	fmt.Fprintf(out, "daemon log for this part:\n")
	for _, c := range served {
		fmt.Fprintf(out, "  daemon     %s\n", c)
	}
	if cerr != nil {
		return nil, fmt.Errorf("%s: %w", client, cerr)
	}
	if werr != nil {
		return nil, fmt.Errorf("MIT gss-server: %w", werr)
	}
	if want := fmt.Sprintf("Accepted connection: %q", principal); !strings.Contains(serverOut, want) {
		return nil, fmt.Errorf("MIT gss-server did not report %s", want)
	}
	if want := fmt.Sprintf("Received message: %q", msg); !strings.Contains(serverOut, want) {
		return nil, errors.New("MIT gss-server did not print the unwrapped message")
	}
	return served, nil
}

func findCall(calls []ProxyCall, pid int, svc, msg string) (ProxyCall, bool) {
	for _, c := range calls {
		if c.PID == pid && c.Service == svc && c.Message == msg {
			return c, true
		}
	}
	return ProxyCall{}, false
}

// envValue is the value a program sees for k: the last assignment wins.
func envValue(env []string, k string) string {
	v := ""
	for _, kv := range env {
		if key, val, ok := strings.Cut(kv, "="); ok && key == k {
			v = val
		}
	}
	return v
}

// callLog keeps the daemon's records about callers as they are made.
type callLog struct {
	mu    sync.Mutex
	calls []ProxyCall
}

func (l *callLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// since returns the records made after the first n. The daemon logs a
// call before it replies, so once a program has its answers and has
// exited, every record about it is here.
func (l *callLog) since(n int) []ProxyCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls[n:])
}

// callHandler is a slog.Handler that turns the daemon's records carrying a
// caller's pid into ProxyCalls; the daemon has filtered them by its
// debug level already.
type callHandler struct {
	log   *callLog
	attrs []slog.Attr
	group string
}

func (h *callHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *callHandler) Handle(_ context.Context, r slog.Record) error {
	c := ProxyCall{Message: r.Message, Attrs: map[string]string{}}
	set := func(key string, val slog.Value) {
		v := val.Resolve().String()
		switch key {
		case "pid":
			c.PID, _ = strconv.Atoi(v)
		case "uid":
			c.UID = v
		case "program":
			c.Program = v
		case "service":
			c.Service = v
		case "proc":
			c.Proc = v
		case "gid", "socket":
			// The same for every caller here; the config shows them.
		default:
			c.Attrs[key] = v
		}
	}
	for _, a := range h.attrs {
		set(a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { set(h.group+a.Key, a.Value); return true })
	if c.PID == 0 {
		return nil
	}
	h.log.mu.Lock()
	h.log.calls = append(h.log.calls, c)
	h.log.mu.Unlock()
	return nil
}

// WithAttrs keeps the attributes with their group prefix applied, since a
// later WithGroup does not reach them.
func (h *callHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		n.attrs = append(n.attrs, slog.Attr{Key: h.group + a.Key, Value: a.Value})
	}
	return &n
}

func (h *callHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.group = h.group + name + "."
	return &n
}
