package proxyd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// DefaultProcUseGSSProxy is the file through which the Linux NFS server is
// told that gss-proxy answers its RPCSEC_GSS upcalls.
const DefaultProcUseGSSProxy = "/proc/net/rpc/use-gss-proxy"

// Log levels below slog.LevelDebug for the reference's debug levels 2 and
// 3: level 1 is slog.LevelDebug (connections and the service each call
// gets), 2 adds every call and its status, 3 and above the mechanism's
// diagnostics.
const (
	LevelCalls slog.Level = slog.LevelDebug - 2
	LevelTrace slog.Level = slog.LevelDebug - 4
)

// LevelForDebug maps a gssproxy debug_level onto slog. Level 0 logs
// warnings and errors plus the start-up and reload notices.
func LevelForDebug(debugLevel int) slog.Level {
	switch {
	case debugLevel <= 0:
		return slog.LevelInfo
	case debugLevel == 1:
		return slog.LevelDebug
	case debugLevel == 2:
		return LevelCalls
	default:
		return LevelTrace
	}
}

// DaemonConfig configures a Daemon.
type DaemonConfig struct {
	// Load says where gssproxy.conf and its snippets are and which socket
	// services without one use (the command line's -c, -C and -s). Reload
	// reads them again.
	Load LoadOptions

	// Userproxy runs the reference's user-session mode (-u): no
	// configuration file, one service for the daemon's own uid on
	// Load.Socket (default $XDG_RUNTIME_DIR/gssproxy/default.sock) with
	// the default credential store, and an exit after IdleTimeout
	// without connections.
	Userproxy   bool
	IdleTimeout time.Duration

	// DebugLevel is the command line's level (-d is 1). The reference
	// lets the file's debug_level replace it at every load; so does this.
	DebugLevel int

	// Logger receives the daemon's structured log; its handler should let
	// everything through, since the daemon filters by level itself
	// (Level). Nil logs text to standard error.
	Logger *slog.Logger

	// Registry holds the mechanisms; nil is gss.DefaultRegistry(), where
	// the krb5 package registers itself.
	Registry *gss.Registry

	// HandleSecret seals credential handles and partial contexts. Nil
	// reads (or creates) HandleSecretFile, or DefaultHandleSecretFile.
	HandleSecret     []byte
	HandleSecretFile string

	// Listeners are already-open listening sockets by path, for sockets
	// the daemon must not create itself. With systemd socket activation
	// (LISTEN_FDS), the one passed socket is the default socket's.
	Listeners map[string]net.Listener
	// NoSocketActivation ignores LISTEN_FDS/LISTEN_PID.
	NoSocketActivation bool

	// ProcUseGSSProxy is where kernel_nfsd writes "1"; empty is
	// DefaultProcUseGSSProxy. A file that does not exist is not an error:
	// the kernel has no gss-proxy support, or its auth_rpcgss module is not
	// loaded yet, so the daemon tries again every ten seconds until the
	// write succeeds, as the reference does.
	ProcUseGSSProxy string

	// SyslogStatus sends the status of every failed call to the system
	// log (the command line's --syslog-status); the configuration's
	// syslog_status turns it on too. SyslogAddr is the logger's datagram
	// socket; empty is the system's (/dev/log).
	SyslogStatus bool
	SyslogAddr   string

	// DropPrivileges makes Start switch the whole process to the
	// configuration's run_as_user once the sockets are open, before the
	// first call is served, as the reference does. A daemon embedded in
	// another program leaves it off unless the program is the daemon.
	// run_as_user takes effect only at start; a reload that changes it is
	// noted and otherwise ignored.
	DropPrivileges bool

	// LookupUser maps a uid to a user name for %u and for impersonation;
	// nil uses the system's user database.
	LookupUser func(uid uint32) (string, error)
}

// Daemon is a running gss-proxy daemon.
type Daemon struct {
	cfg    DaemonConfig
	log    *slog.Logger
	level  slog.LevelVar
	reg    *gss.Registry
	secret []byte
	srv    *oncrpc.Server

	state atomic.Pointer[daemonState]

	mu        sync.Mutex // guards listeners, closed
	listeners map[string]*daemonListener
	closed    bool
	serveWG   sync.WaitGroup

	partials *partialStore

	// memPrefix names the daemon's memory caches (replay and
	// credential caches). Memory caches live as long as the process, so
	// the prefix is new for each daemon: a daemon started again in the
	// same process, perhaps against a realm whose keys changed, must not
	// find the tickets of the one before.
	memPrefix string

	// rcache is the replay cache every acceptor credential of the daemon
	// uses unless its cred_store names one: a memory cache of its own.
	rcache string

	// nfsdOnce starts the retry of use-gss-proxy; nfsdDone is set once
	// "1" has been written, after which the daemon never writes again.
	nfsdOnce sync.Once
	nfsdDone atomic.Bool

	// stopped is closed when the daemon shuts down.
	stopped  chan struct{}
	stopOnce sync.Once

	// syslog receives failed calls' statuses while syslogOn.
	syslogOn atomic.Bool
	syslog   statusLog

	// active counts open connections, for the user proxy's idle exit.
	active   atomic.Int64
	lastIdle atomic.Int64 // unix nanoseconds when active last fell to 0
	idleDone chan struct{}
}

// daemonState is one loaded configuration with what is derived from it.
// Calls pick up the state current when they start; a reload swaps it.
type daemonState struct {
	cfg     *Config
	sealers map[*Service]*HandleSealer
	creds   map[*Service]*credCache
	loaded  time.Time
}

// daemonSeq tells apart the replay caches of daemons in one process (tests
// run several), so that each sees only its own authenticators.
var daemonSeq atomic.Uint64

// NewDaemon loads the configuration and prepares the daemon; Start opens the
// sockets.
func NewDaemon(cfg *DaemonConfig) (*Daemon, error) {
	d := &Daemon{cfg: *cfg, listeners: map[string]*daemonListener{}, idleDone: make(chan struct{}), stopped: make(chan struct{})}
	d.reg = cfg.Registry
	if d.reg == nil {
		d.reg = gss.DefaultRegistry()
	}
	if cfg.Logger != nil {
		d.log = cfg.Logger
	} else {
		d.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &d.level}))
	}
	d.syslog.addr = cfg.SyslogAddr
	d.syslog.warn = d.log
	d.log = slog.New(&levelHandler{h: &statusHandler{h: d.log.Handler(), d: d}, level: &d.level})
	d.level.Set(LevelForDebug(cfg.DebugLevel))

	d.secret = cfg.HandleSecret
	if d.secret == nil {
		path := cfg.HandleSecretFile
		if path == "" {
			path = DefaultHandleSecretFile
		}
		s, err := LoadOrCreateHandleSecret(path)
		if err != nil {
			return nil, fmt.Errorf("proxyd: handle secret: %w", err)
		}
		d.secret = s
	}
	d.partials = newPartialStore()
	d.memPrefix = "gsskit-proxyd-" + strconv.FormatUint(daemonSeq.Add(1), 10)
	d.rcache = "memory:" + d.memPrefix
	st, err := d.load()
	if err != nil {
		return nil, err
	}
	d.state.Store(st)
	d.level.Set(LevelForDebug(d.debugLevel(st.cfg)))
	d.syslogOn.Store(d.cfg.SyslogStatus || st.cfg.SyslogStatus)
	d.srv = oncrpc.NewServer(&oncrpc.Config{
		// The reference's MAX_RPC_SIZE, which is also oncrpc's default.
		MaxRecordSize: oncrpc.DefaultMaxRecordSize,
		// Only AUTH_NONE: the interposer and the kernel send nothing
		// else, and identity comes from SO_PEERCRED, never the call.
		Authenticators: map[oncrpc.Flavor]oncrpc.Authenticator{oncrpc.FlavorNone: oncrpc.AuthNone{}},
		Logger:         d.log,
	})
	d.srv.Register(Program, Version, d.procs())
	return d, nil
}

// Logger is the daemon's logger (filtered at the configured level).
func (d *Daemon) Logger() *slog.Logger { return d.log }

// Level is the current log level, from the debug level in force.
func (d *Daemon) Level() slog.Level { return d.level.Level() }

// Config is the configuration in force.
func (d *Daemon) Config() *Config { return d.state.Load().cfg }

func (d *Daemon) load() (*daemonState, error) {
	var cfg *Config
	if d.cfg.Userproxy {
		var err error
		if cfg, err = UserproxyConfig(d.cfg.Load.Socket); err != nil {
			return nil, err
		}
	} else {
		var err error
		if cfg, err = Load(d.cfg.Load); err != nil {
			return nil, err
		}
	}
	st := &daemonState{cfg: cfg, sealers: map[*Service]*HandleSealer{}, creds: map[*Service]*credCache{}, loaded: time.Now()}
	for _, s := range cfg.Services {
		h, err := NewHandleSealer(s.Name, d.secret)
		if err != nil {
			return nil, err
		}
		st.sealers[s] = h
		st.creds[s] = newCredCache()
	}
	return st, nil
}

// UserproxyConfig is the configuration of the reference's -u mode: one
// service named "userproxy" for the daemon's own uid on socket, which
// defaults to $XDG_RUNTIME_DIR/gssproxy/default.sock (the directory is
// created 0700), allowing ccache sync and using the default credentials.
func UserproxyConfig(socket string) (*Config, error) {
	if socket == "" {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return nil, errors.New("proxyd: user proxy mode needs XDG_RUNTIME_DIR or a socket")
		}
		dir += "/gssproxy"
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		socket = dir + "/default.sock"
	}
	s := &Service{
		Name:                  "userproxy",
		Socket:                socket,
		Euid:                  uint32(os.Geteuid()),
		AllowClientCcacheSync: true,
		Krb5:                  true,
		CredUsage:             gss.CredBoth,
		FilterFlags:           DefaultFilterFlags,
		EnforceFlags:          DefaultEnforceFlags,
		MinLifetime:           DefaultMinLifetime,
	}
	return &Config{Socket: socket, Services: []*Service{s}, WorkerThreads: 1}, nil
}

// Start opens every socket of the configuration (or takes the ones passed
// in), writes use-gss-proxy when a service asks for kernel_nfsd, drops
// privileges (DropPrivileges), tells systemd it is ready (NOTIFY_SOCKET)
// and serves in the background.
func (d *Daemon) Start() error {
	st := d.state.Load()
	ls, err := d.openSockets(st.cfg, true)
	if err != nil {
		d.closeListeners()
		return err
	}
	d.initProcNFSD(st.cfg)
	if d.cfg.DropPrivileges {
		if err := d.dropPrivileges(); err != nil {
			d.closeListeners()
			return err
		}
	}
	d.serve(ls)
	d.log.Info("gss-proxy daemon started", "services", len(st.cfg.Services),
		"sockets", st.cfg.Sockets(), "files", st.cfg.Files)
	for _, w := range st.cfg.Warnings {
		d.log.Warn("configuration", "warning", w.String())
	}
	if d.cfg.Userproxy && d.cfg.IdleTimeout > 0 {
		d.lastIdle.Store(time.Now().UnixNano())
		go d.idleWatch()
	}
	sdNotify(fmt.Sprintf("READY=1\nSTATUS=Running, %d service(s) configured\n", len(st.cfg.Services)))
	return nil
}

// Idle is closed when a user proxy has had no connection for its idle
// timeout; the caller shuts the daemon down then.
func (d *Daemon) Idle() <-chan struct{} { return d.idleDone }

func (d *Daemon) idleWatch() {
	t := time.NewTicker(max(d.cfg.IdleTimeout/4, time.Millisecond))
	defer t.Stop()
	for range t.C {
		d.mu.Lock()
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return
		}
		if d.active.Load() == 0 && time.Since(time.Unix(0, d.lastIdle.Load())) >= d.cfg.IdleTimeout {
			d.log.Info("user proxy idle; exiting", "idle_timeout", d.cfg.IdleTimeout)
			sdNotify(fmt.Sprintf("STOPPING=1\nSTATUS=Idle for %d seconds, stopping\n", int(d.cfg.IdleTimeout/time.Second)))
			close(d.idleDone)
			return
		}
	}
}

// Reload reads the configuration again, as the reference does on SIGHUP.
// A configuration that fails to load leaves the old one in force. On
// success, every call that starts afterwards — on new connections and on
// connections already open — is matched against the new services, as the
// reference matches each request; calls already running finish under the
// old configuration. Sockets the new configuration adds are opened, and
// listening sockets it no longer names are closed, without touching the
// connections accepted through them.
func (d *Daemon) Reload() error {
	sdNotify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=Reloading configuration\n", monotonicUsec()))
	cur := d.state.Load().cfg
	st, err := d.load()
	var ls []*daemonListener
	if err == nil {
		if ls, err = d.openSockets(st.cfg, false); err != nil {
			d.dropListeners(ls)
			err = fmt.Errorf("opening the new configuration's sockets: %w", err)
		}
	}
	if err != nil {
		d.log.Error("error reading new configuration; keeping the old one", "err", err)
		sdNotify(fmt.Sprintf("READY=1\nSTATUS=Running, %d service(s) configured (failed to re-read config)\n", len(cur.Services)))
		return err
	}
	if st.cfg.RunAsUser != cur.RunAsUser {
		d.log.Warn("run_as_user changes only at a restart", "run_as_user", cur.RunAsUser, "configured", st.cfg.RunAsUser)
	}
	old := d.state.Swap(st)
	d.serve(ls)
	d.level.Set(LevelForDebug(d.debugLevel(st.cfg)))
	d.syslogOn.Store(d.cfg.SyslogStatus || st.cfg.SyslogStatus)
	d.closeStaleListeners(st.cfg)
	d.initProcNFSD(st.cfg)
	d.log.Info("new configuration loaded", "services", len(st.cfg.Services),
		"sockets", st.cfg.Sockets(), "previous", old.loaded.Format(time.RFC3339))
	for _, w := range st.cfg.Warnings {
		d.log.Warn("configuration", "warning", w.String())
	}
	sdNotify(fmt.Sprintf("READY=1\nSTATUS=Running, %d service(s) configured\n", len(st.cfg.Services)))
	return nil
}

func (d *Daemon) debugLevel(cfg *Config) int {
	if d.cfg.Userproxy {
		return d.cfg.DebugLevel
	}
	return cfg.DebugLevel
}

// Shutdown stops accepting connections and calls, lets the calls already
// received finish and send their replies, then removes the sockets the
// daemon created. If ctx ends first, the remaining connections are cut.
func (d *Daemon) Shutdown(ctx context.Context) error {
	sdNotify("STOPPING=1\nSTATUS=Stopping\n")
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stopOnce.Do(func() { close(d.stopped) })
	err := d.srv.Shutdown(ctx)
	d.closeListeners()
	d.serveWG.Wait()
	d.log.Info("gss-proxy daemon stopped")
	d.syslog.close()
	return err
}

// Close stops the daemon at once.
func (d *Daemon) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stopOnce.Do(func() { close(d.stopped) })
	err := d.srv.Close()
	d.closeListeners()
	d.serveWG.Wait()
	d.syslog.close()
	return err
}

// procNFSDRetry is how often the daemon tries use-gss-proxy again while
// the file is missing (the reference's interval).
var procNFSDRetry = 10 * time.Second

// initProcNFSD tells the kernel's NFS server to use gss-proxy when a
// service sets kernel_nfsd: "1" into use-gss-proxy, once. A missing file is
// no error, the auth_rpcgss module may simply not be loaded yet: the daemon
// notes it at debug level and tries again every procNFSDRetry until it
// succeeds, the daemon stops or no service asks any more.
func (d *Daemon) initProcNFSD(cfg *Config) {
	if !cfg.KernelNFSD() || d.nfsdDone.Load() {
		return
	}
	if d.writeProcNFSD(true) {
		return
	}
	every := procNFSDRetry
	d.nfsdOnce.Do(func() { go d.retryProcNFSD(every) })
}

func (d *Daemon) procNFSDPath() string {
	if d.cfg.ProcUseGSSProxy != "" {
		return d.cfg.ProcUseGSSProxy
	}
	return DefaultProcUseGSSProxy
}

// writeProcNFSD writes "1" and reports whether it did; first says whether
// to log an absent file (only the first attempt does).
func (d *Daemon) writeProcNFSD(first bool) bool {
	path := d.procNFSDPath()
	// O_WRONLY without O_CREATE: the file is the kernel's, and its absence
	// means the kernel (or its auth_rpcgss module) lacks support.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if first {
			lvl := slog.LevelDebug
			if !errors.Is(err, os.ErrNotExist) {
				lvl = slog.LevelWarn
			}
			d.log.Log(context.Background(), lvl, "kernel gss-proxy support not available (yet); will retry",
				"file", path, "err", err, "retry", procNFSDRetry)
		}
		return false
	}
	defer f.Close()
	if _, err := f.Write([]byte("1")); err != nil {
		if first {
			d.log.Error("enabling kernel gss-proxy support", "file", path, "err", err)
		}
		return false
	}
	d.nfsdDone.Store(true)
	d.log.Info("kernel gss-proxy support enabled", "file", path)
	return true
}

func (d *Daemon) retryProcNFSD(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.stopped:
			return
		}
		if d.nfsdDone.Load() {
			return
		}
		if !d.state.Load().cfg.KernelNFSD() {
			continue
		}
		if d.writeProcNFSD(false) {
			return
		}
	}
}

// dropPrivileges switches the process to the configuration's run_as_user
// (its uid, gid and groups), as the reference does once its sockets are
// open, before it serves: the sockets, the handle secret and
// use-gss-proxy need root, the calls do not. Without run_as_user, or when
// the process already runs as that user, it does nothing.
//
// The reference keeps CAP_SYS_PTRACE so that it can still read the
// executable of callers running as other users; a Go process cannot set
// capabilities on all its threads (the runtime's threads would keep
// differing ones), so here program matching sees only the executables
// of callers the user may inspect. Start warns when services use it.
func (d *Daemon) dropPrivileges() error {
	cfg := d.Config()
	name := cfg.RunAsUser
	if name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("proxyd: run_as_user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("proxyd: run_as_user %q: uid %q, gid %q", name, u.Uid, u.Gid)
	}
	if os.Getuid() == uid && os.Geteuid() == uid && os.Getgid() == gid && os.Getegid() == gid {
		return nil
	}
	gids, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("proxyd: run_as_user %q: groups: %w", name, err)
	}
	groups := []int{gid}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			groups = append(groups, n)
		}
	}
	// Groups first, then the gid, then the uid: after setuid the process
	// may no longer change the others. Go applies each to every thread.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("proxyd: run_as_user %q: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("proxyd: run_as_user %q: setgid %d: %w", name, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("proxyd: run_as_user %q: setuid %d: %w", name, uid, err)
	}
	d.log.Info("dropped privileges", "user", name, "uid", uid, "gid", gid, "groups", groups)
	for _, s := range cfg.Services {
		if s.Program != "" {
			d.log.Warn("service matches by program, but after run_as_user the daemon cannot read the executable of callers running as other users",
				"service", s.Name, "program", s.Program, "run_as_user", name)
		}
	}
	return nil
}

// --- syslog_status ---

// statusHandler passes every record on and, while syslog_status is on,
// copies each failed call's status to the system log.
type statusHandler struct {
	h     slog.Handler
	d     *Daemon
	attrs []slog.Attr // from WithAttrs, with group prefixes applied
	group string
}

func (h *statusHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *statusHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "call failed" && h.d.syslogOn.Load() {
		h.d.syslog.write(statusLine(h.attrs, h.group, r))
	}
	return h.h.Handle(ctx, r)
}

// statusLine is a failed call's syslog line: who called what, then the
// status as gss_display_status words, e.g.
//
//	GSSX_ACQUIRE_CRED failed for pid=12 uid=0 program=/usr/sbin/rpc.gssd service=nfs-client: No credentials were supplied, or the credentials were unavailable or inaccessible: cannot read keytab ... (minor 2529639093)
func statusLine(attrs []slog.Attr, group string, r slog.Record) string {
	vals := map[string]string{}
	var order []string
	add := func(a slog.Attr) {
		v := strings.TrimSuffix(a.Value.String(), "\x00")
		if _, ok := vals[a.Key]; !ok {
			order = append(order, a.Key)
		}
		vals[a.Key] = v
	}
	for _, a := range attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		if group != "" {
			a.Key = group + "." + a.Key
		}
		add(a)
		return true
	})
	var b strings.Builder
	if p := vals["proc"]; p != "" {
		b.WriteString(p + " ")
	}
	b.WriteString("failed for")
	status := map[string]bool{"proc": true, "major": true, "minor": true, "error": true}
	for _, k := range order {
		if v := vals[k]; !status[k] && v != "" {
			if strings.ContainsAny(v, " \t\"=") {
				v = strconv.Quote(v)
			}
			b.WriteString(" " + k + "=" + v)
		}
	}
	b.WriteString(":")
	for _, k := range []string{"major", "error"} {
		if v := vals[k]; v != "" {
			b.WriteString(" " + v)
			if k == "major" && vals["error"] != "" {
				b.WriteString(":")
			}
		}
	}
	if m := vals["minor"]; m != "" && m != "0" {
		b.WriteString(" (minor " + m + ")")
	}
	return b.String()
}

func (h *statusHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &statusHandler{h: h.h.WithAttrs(as), d: h.d, group: h.group}
	n.attrs = append(n.attrs, h.attrs...)
	for _, a := range as {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		n.attrs = append(n.attrs, a)
	}
	return n
}

func (h *statusHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &statusHandler{h: h.h.WithGroup(name), d: h.d, attrs: h.attrs, group: g}
}

// statusLog is the connection to the system log for syslog_status: the
// reference's facility (authpriv), priority (debug) and identity
// ("gssproxy", so that log filters written for it keep working). It
// connects at the first status and, while the logger is unreachable,
// again at each later one, warning once.
type statusLog struct {
	addr   string
	warn   *slog.Logger
	mu     sync.Mutex
	w      *syslog.Writer
	warned bool
}

func (s *statusLog) write(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		var err error
		if s.addr != "" {
			s.w, err = syslog.Dial("unixgram", s.addr, syslog.LOG_AUTHPRIV|syslog.LOG_DEBUG, "gssproxy")
		} else {
			s.w, err = syslog.New(syslog.LOG_AUTHPRIV|syslog.LOG_DEBUG, "gssproxy")
		}
		if err != nil {
			s.w = nil
			if !s.warned {
				s.warned = true
				s.warn.Warn("syslog_status: the system log is unreachable", "err", err)
			}
			return
		}
	}
	s.w.Debug(msg)
}

func (s *statusLog) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

// --- sockets ---

// daemonListener identifies the caller of every connection it accepts.
type daemonListener struct {
	net.Listener
	d       *Daemon
	socket  string
	created bool // the daemon made the file and removes it
}

// openSockets opens (or takes over) the sockets of cfg the daemon does not
// listen on yet and returns them, not yet served (serve). On an error the
// ones already opened are returned with it.
func (d *Daemon) openSockets(cfg *Config, starting bool) ([]*daemonListener, error) {
	activated, err := d.activationListeners(cfg, starting)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, oncrpc.ErrServerClosed
	}
	var opened []*daemonListener
	for _, path := range cfg.Sockets() {
		if path == "" {
			continue
		}
		if _, ok := d.listeners[path]; ok {
			continue
		}
		var l net.Listener
		created := false
		if pre, ok := d.cfg.Listeners[path]; ok {
			l = pre
		} else if pre, ok := activated[path]; ok {
			l = pre
		} else {
			if l, err = listenUnix(path); err != nil {
				return opened, err
			}
			created = true
		}
		dl := &daemonListener{Listener: l, d: d, socket: path, created: created}
		d.listeners[path] = dl
		opened = append(opened, dl)
	}
	return opened, nil
}

// serve accepts and serves calls on ls in the background.
func (d *Daemon) serve(ls []*daemonListener) {
	for _, dl := range ls {
		d.serveWG.Add(1)
		go func() {
			defer d.serveWG.Done()
			err := d.srv.Serve(dl)
			if err != nil && !errors.Is(err, oncrpc.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				d.log.Error("socket stopped accepting", "socket", dl.socket, "err", err)
			}
		}()
		d.log.Debug("listening", "socket", dl.socket, "activated", !dl.created)
	}
}

// dropListeners closes ls, which were opened but never served.
func (d *Daemon) dropListeners(ls []*daemonListener) {
	d.mu.Lock()
	for _, l := range ls {
		if d.listeners[l.socket] == l {
			delete(d.listeners, l.socket)
		}
	}
	d.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

// listenUnix replaces any stale socket file and makes the socket usable by
// everyone (mode 0666), as the reference does: who may do what is decided
// per caller from SO_PEERCRED, not by file permissions.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("proxyd: %s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	old := syscall.Umask(0o111)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("proxyd: listening on %s: %w", path, err)
	}
	// Close removes the file; the daemon removes it itself so that a
	// socket taken over by a restarted daemon is not unlinked.
	l.SetUnlinkOnClose(false)
	return l, nil
}

func (d *Daemon) closeListeners() {
	d.mu.Lock()
	ls := d.listeners
	d.listeners = map[string]*daemonListener{}
	d.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

func (d *Daemon) closeStaleListeners(cfg *Config) {
	keep := map[string]bool{}
	for _, s := range cfg.Sockets() {
		keep[s] = true
	}
	d.mu.Lock()
	var stale []*daemonListener
	for path, l := range d.listeners {
		if !keep[path] {
			stale = append(stale, l)
			delete(d.listeners, path)
		}
	}
	d.mu.Unlock()
	for _, l := range stale {
		d.log.Info("closing socket no longer configured", "socket", l.socket)
		l.close()
	}
}

func (l *daemonListener) close() {
	l.Listener.Close()
	if l.created {
		os.Remove(l.socket)
	}
}

// Accept identifies each caller and refuses, by closing at once, one that
// no service takes: the reference answers such a caller's calls by closing
// the connection, and refusing at connect spares the caller a call.
func (l *daemonListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		caller, err := CallerFromConn(uc, l.socket)
		if err != nil {
			l.d.log.Warn("dropping connection: no peer credentials", "socket", l.socket, "err", err)
			c.Close()
			continue
		}
		st := l.d.state.Load()
		svc, err := st.cfg.SelectService(caller)
		if err != nil {
			l.d.log.Info("refusing connection: no service matches", callerAttrs(caller)...)
			c.Close()
			continue
		}
		l.d.log.Debug("connection", append(callerAttrs(caller), "service", svc.Name)...)
		l.d.connOpened()
		return &callerConn{UnixConn: uc, caller: caller, d: l.d}, nil
	}
}

func callerAttrs(c *Caller) []any {
	return []any{"pid", c.PID, "uid", c.UID, "gid", c.GID, "program", c.Program, "socket", c.Socket}
}

// callerConn is an accepted connection with its caller.
type callerConn struct {
	*net.UnixConn
	caller *Caller
	d      *Daemon
	once   sync.Once
}

func (c *callerConn) Close() error {
	c.once.Do(c.d.connClosed)
	return c.UnixConn.Close()
}

func (d *Daemon) connOpened() { d.active.Add(1) }

func (d *Daemon) connClosed() {
	if d.active.Add(-1) == 0 {
		d.lastIdle.Store(time.Now().UnixNano())
	}
}

// ActiveConnections is the number of open client connections.
func (d *Daemon) ActiveConnections() int { return int(d.active.Load()) }

// levelHandler filters records by the daemon's level, which a reload can
// change, whatever the level of the handler underneath.
type levelHandler struct {
	h     slog.Handler
	level *slog.LevelVar
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.h.Enabled(ctx, l)
}
func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error { return h.h.Handle(ctx, r) }
func (h *levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &levelHandler{h: h.h.WithAttrs(a), level: h.level}
}
func (h *levelHandler) WithGroup(n string) slog.Handler {
	return &levelHandler{h: h.h.WithGroup(n), level: h.level}
}
