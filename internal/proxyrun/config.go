package proxyrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config describes a gss-proxy daemon for a test or the demo, in terms of
// the gssproxy.conf(5) options. It is written by WriteConfig and read both
// by the reference gssproxy and by gsskit's own daemon, so a test can run
// the same configuration against either.
type Config struct {
	// DebugLevel is [gssproxy] debug_level. At 2 the reference logs every
	// call and result, which is what a failing test wants to see; at 3
	// and above it also enables krb5 tracing, which the harness sends to
	// a file in the daemon's directory.
	DebugLevel int
	// WorkerThreads is [gssproxy] "worker threads"; 0 leaves the default.
	WorkerThreads int
	// Services become [service/<Name>] sections, in order. The reference
	// matches a connection to the first service whose socket and euid
	// (and program, if set) fit.
	Services []Service
	// Extra lines appended to the [gssproxy] section verbatim.
	Extra []string
}

// Service is one [service/<Name>] section.
type Service struct {
	// Name is the section name after "service/"; it must be a plain word.
	Name string
	// Socket is the Unix socket path; empty means <dir>/<Name>.sock.
	// Every service gets its own socket so that a test never reaches the
	// daemon's compiled-in default socket.
	Socket string
	// Mechs is the mechs option; empty means "krb5".
	Mechs string
	// Keytab, ClientKeytab and CCache become cred_store entries
	// ("keytab:", "client_keytab:", "ccache:"). The reference expands %U
	// (uid) and %u (user name) in them.
	Keytab, ClientKeytab, CCache string
	// CredUsage is "initiate", "accept" or "both"; empty leaves the
	// default (both).
	CredUsage string
	// EUID is the euid option (a number or user name); empty means the
	// effective uid of this process, which is the uid the daemon sees for
	// the clients it starts.
	EUID string
	// KRB5Principal is krb5_principal.
	KRB5Principal string
	// Program restricts the service to one executable (absolute path).
	Program string
	// Boolean options; false leaves them out, which is their default.
	Trusted                    bool
	AllowAnyUID                bool
	Impersonate                bool
	AllowProtocolTransition    bool
	AllowConstrainedDelegation bool
	AllowClientCCacheSync      bool
	// KernelNFSD makes the reference write "1" to
	// /proc/net/rpc/use-gss-proxy at start-up, which switches the host's
	// NFS server to gss-proxy. Tests must not set it; the field exists
	// so that a test can assert that config parsing handles it.
	KernelNFSD bool
	// FilterFlags and EnforceFlags are the filter_flags and enforce_flags
	// strings ("+DELEGATE", "-0x0001"...).
	FilterFlags, EnforceFlags string
	// MinLifetime is min_lifetime in seconds; 0 leaves the default (15).
	MinLifetime int
	// Extra lines appended to the section verbatim.
	Extra []string
}

// Layout is a written configuration: where the file is and where each
// service's socket will be.
type Layout struct {
	Dir string
	// ConfPath is the gssproxy.conf path (-c).
	ConfPath string
	// DefaultSocket is passed with -s so that no service falls back to the
	// compiled-in default socket (/var/lib/gssproxy/default.sock on
	// Debian), which a test must never create or take over.
	DefaultSocket string
	// Sockets maps service names to socket paths.
	Sockets map[string]string
	// Config is the configuration as written, with defaults filled in.
	Config Config
}

// maxSunPath is the usable length of a Unix socket path on Linux
// (sizeof(sun_path) minus the terminating NUL the reference copies).
const maxSunPath = 107

// WriteConfig fills in cfg's defaults for dir and writes dir/gssproxy.conf.
func WriteConfig(dir string, cfg Config) (*Layout, error) {
	if len(cfg.Services) == 0 {
		return nil, errors.New("proxyrun: config has no services")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	l := &Layout{
		Dir:           abs,
		ConfPath:      filepath.Join(abs, "gssproxy.conf"),
		DefaultSocket: filepath.Join(abs, "default.sock"),
		Sockets:       map[string]string{},
		Config:        cfg,
	}
	l.Config.Services = append([]Service(nil), cfg.Services...)
	var b strings.Builder
	b.WriteString("# Written by gsskit internal/proxyrun; see gssproxy.conf(5).\n")
	b.WriteString("[gssproxy]\n")
	fmt.Fprintf(&b, "  debug_level = %d\n", cfg.DebugLevel)
	if cfg.WorkerThreads > 0 {
		fmt.Fprintf(&b, "  worker threads = %d\n", cfg.WorkerThreads)
	}
	for _, e := range cfg.Extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for i := range l.Config.Services {
		s := &l.Config.Services[i]
		if s.Name == "" || strings.ContainsAny(s.Name, " \t\n[]/=#") {
			return nil, fmt.Errorf("proxyrun: bad service name %q", s.Name)
		}
		if _, dup := l.Sockets[s.Name]; dup {
			return nil, fmt.Errorf("proxyrun: service %q configured twice", s.Name)
		}
		if s.Socket == "" {
			s.Socket = filepath.Join(abs, s.Name+".sock")
		}
		if len(s.Socket) > maxSunPath {
			return nil, fmt.Errorf("proxyrun: socket path %s is longer than %d bytes", s.Socket, maxSunPath)
		}
		if s.Mechs == "" {
			s.Mechs = "krb5"
		}
		if s.EUID == "" {
			s.EUID = strconv.Itoa(os.Geteuid())
		}
		l.Sockets[s.Name] = s.Socket
		fmt.Fprintf(&b, "\n[service/%s]\n", s.Name)
		fmt.Fprintf(&b, "  mechs = %s\n", s.Mechs)
		fmt.Fprintf(&b, "  socket = %s\n", s.Socket)
		fmt.Fprintf(&b, "  euid = %s\n", s.EUID)
		for _, cs := range []struct{ key, val string }{
			{"keytab", s.Keytab}, {"client_keytab", s.ClientKeytab}, {"ccache", s.CCache},
		} {
			if cs.val != "" {
				fmt.Fprintf(&b, "  cred_store = %s:%s\n", cs.key, cs.val)
			}
		}
		opt := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "  %s = %s\n", k, v)
			}
		}
		yes := func(k string, v bool) {
			if v {
				opt(k, "yes")
			}
		}
		opt("cred_usage", s.CredUsage)
		opt("krb5_principal", s.KRB5Principal)
		opt("program", s.Program)
		opt("filter_flags", s.FilterFlags)
		opt("enforce_flags", s.EnforceFlags)
		if s.MinLifetime > 0 {
			opt("min_lifetime", strconv.Itoa(s.MinLifetime))
		}
		yes("trusted", s.Trusted)
		yes("allow_any_uid", s.AllowAnyUID)
		yes("impersonate", s.Impersonate)
		yes("allow_protocol_transition", s.AllowProtocolTransition)
		yes("allow_constrained_delegation", s.AllowConstrainedDelegation)
		yes("allow_client_ccache_sync", s.AllowClientCCacheSync)
		yes("kernel_nfsd", s.KernelNFSD)
		for _, e := range s.Extra {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if len(l.DefaultSocket) > maxSunPath {
		return nil, fmt.Errorf("proxyrun: socket path %s is longer than %d bytes", l.DefaultSocket, maxSunPath)
	}
	if err := os.WriteFile(l.ConfPath, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return l, nil
}
