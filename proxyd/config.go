package proxyd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gsskit/gsskit/gss"
)

// Defaults of the reference daemon as Debian builds it.
const (
	DefaultConfigFile    = "/etc/gssproxy/gssproxy.conf"
	DefaultConfigDir     = "/etc/gssproxy"
	DefaultSocket        = "/var/lib/gssproxy/default.sock"
	DefaultMinLifetime   = 15 // seconds
	DefaultWorkerThreads = 5
	DefaultFilterFlags   = gss.FlagDeleg
	DefaultEnforceFlags  = gss.Flags(0)
)

// LoadOptions says where the configuration lives, as the reference's
// command line does (-c, -C, -s).
type LoadOptions struct {
	// File is the main file. Empty means DefaultConfigFile, and then Dir
	// defaults to DefaultConfigDir: the reference reads the directory by
	// default only when it was not given a file.
	File string
	// Dir holds the ##-name.conf snippets. Empty means none, unless File
	// is empty too.
	Dir string
	// Socket is the default socket, used by services without a socket
	// option. Empty means DefaultSocket.
	Socket string
	// LookupUser resolves a user name given as euid. Nil uses os/user.
	LookupUser func(name string) (uid uint32, err error)
}

// Config is a loaded gssproxy.conf plus snippets.
type Config struct {
	Files    []string // files whose sections were used, in reading order
	Socket   string   // the default socket
	Warnings []ConfigWarning

	// [gssproxy]
	Debug bool
	// DebugLevel is debug_level, else 1 when debug is true, else 0. The
	// reference applies it on every load, replacing the command line's
	// level, even when the file says nothing.
	DebugLevel int
	// SyslogStatus is syslog_status: the daemon sends each failed call's
	// status to the system log (see DaemonConfig.SyslogStatus).
	SyslogStatus bool
	// RunAsUser is run_as_user: the user the daemon switches to once its
	// sockets are open (DaemonConfig.DropPrivileges); read at start only.
	RunAsUser     string
	WorkerThreads int // as configured; 0 or less means DefaultWorkerThreads

	// Services in the order the reference tries them.
	Services []*Service
}

// Service is one [service/NAME] section.
type Service struct {
	Name    string // NAME of [service/NAME]
	File    string // where the section header is
	Line    int
	Euid    uint32
	Program string // canonical path of the only executable allowed; "" any
	// Socket is the service's own socket; "" means the default one,
	// unless the option was given with an empty value (see Reachable).
	Socket string

	AllowAnyUID                bool
	AllowProtocolTransition    bool
	AllowConstrainedDelegation bool
	AllowClientCcacheSync      bool
	Trusted                    bool
	KernelNFSD                 bool
	Impersonate                bool

	Krb5          bool // mechs = krb5 (the only mechanism the reference knows)
	Krb5Principal string
	// CredStore keeps every cred_store line in order; values still hold
	// their %U / %u patterns (see ExpandCredStore).
	CredStore []CredStoreElement

	CredUsage    gss.CredUsage
	FilterFlags  gss.Flags
	EnforceFlags gss.Flags
	MinLifetime  uint32 // seconds

	// SELinuxContext is the deprecated selinux_context option.
	SELinuxContext *SELinuxContext

	programLine int
	unreachable bool // socket set to ""
}

// Reachable is false for a service whose socket option is empty: the
// reference binds that to an address no client can know.
func (s *Service) Reachable() bool { return !s.unreachable }

// CredStoreElement is one cred_store = KEY:VALUE line.
type CredStoreElement struct {
	Key, Value string
}

// ConfigError is a configuration the reference refuses to start with.
type ConfigError struct {
	File    string
	Line    int    // 0 when the problem is not on one line
	Section string // e.g. "service/nfs-server"
	Option  string
	Msg     string
	Err     error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	switch {
	case e.Option != "":
		fmt.Fprintf(&b, "option %q: ", e.Option)
	case e.Section != "":
		fmt.Fprintf(&b, "[%s]: ", e.Section)
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigWarning is something the reference accepts but an operator should
// hear about: an ignored option, file or service.
type ConfigWarning struct {
	File string
	Line int
	Msg  string
}

func (w ConfigWarning) String() string {
	switch {
	case w.File == "":
		return w.Msg
	case w.Line > 0:
		return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
	default:
		return w.File + ": " + w.Msg
	}
}

// snippetName is the reference's pattern for files in the directory:
// two digits, a dash, at least one character, ".conf".
var snippetName = regexp.MustCompile(`^[0-9]{2}-.+\.conf$`)

// Load reads the main file and the snippet directory and interprets them as
// the reference does. Within a file, repeated sections merge and the first
// value of a repeated single-valued option wins. Across files, a section
// seen before is dropped whole (with a warning), as the reference's
// libini merge in "preserve" mode does. A snippet that fails to parse or
// holds a section other than [gssproxy] or [service/...] is skipped with a
// warning; a broken main file is an error.
//
// Options the reference does not know are ignored with a warning (the
// reference ignores them silently).
func Load(opts LoadOptions) (*Config, error) {
	file, dir := opts.File, opts.Dir
	if file == "" {
		file = DefaultConfigFile
		if dir == "" {
			dir = DefaultConfigDir
		}
	}
	c := &Config{Socket: opts.Socket}
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}

	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &ConfigError{File: file, Msg: "cannot read configuration: " + errText(err), Err: err}
	}
	merged, err := parseINI(file, data)
	if err != nil {
		return nil, err
	}
	c.Files = append(c.Files, file)
	if dir != "" {
		c.mergeDir(merged, dir)
	}

	lookup := opts.LookupUser
	if lookup == nil {
		lookup = lookupUserUID
	}
	if err := c.interpret(merged, lookup); err != nil {
		return nil, err
	}
	return c, nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (c *Config) warn(file string, line int, format string, args ...any) {
	c.Warnings = append(c.Warnings, ConfigWarning{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// mergeDir adds the snippets in name order. The reference sorts with
// strcoll; at start it has not set a locale yet, so that is byte order.
// (After a SIGHUP it has, and a locale's collation may order names that
// differ only in punctuation or case differently.)
func (c *Config) mergeDir(merged *iniFile, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.warn(dir, 0, "configuration directory not read: %s", errText(err))
		return
	}
	var names []string
	for _, e := range entries {
		if snippetName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path) // follows symlinks, as the reference's stat does
		if err != nil {
			c.warn(path, 0, "skipped: %s", errText(err))
			continue
		}
		if !st.Mode().IsRegular() {
			c.warn(path, 0, "skipped: not a regular file")
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			c.warn(path, 0, "skipped: %s", errText(err))
			continue
		}
		snip, err := parseINI(path, data)
		if err != nil {
			c.warn("", 0, "%v; file skipped", err)
			continue
		}
		if len(snip.sections) == 0 {
			c.warn(path, 0, "skipped: no sections")
			continue
		}
		allowed := true
		for _, s := range snip.sections {
			if s.line == 0 {
				c.warn(path, s.values[0].line, "options before the first section are not allowed in a snippet; file skipped")
				allowed = false
			} else if s.name != "gssproxy" && !strings.HasPrefix(s.name, "service/") {
				// The reference's pattern match is case-sensitive even
				// though its section lookups are not.
				c.warn(path, s.line, "section [%s] is not allowed in a snippet; file skipped", s.name)
				allowed = false
			}
		}
		if !allowed {
			continue
		}
		for _, s := range snip.sections {
			if prev := merged.section(s.name); prev != nil {
				c.warn(path, s.line, "section [%s] already defined at %s:%d; this one is ignored", s.name, prev.file, prev.line)
				continue
			}
			merged.sections = append(merged.sections, s)
		}
		c.Files = append(c.Files, path)
	}
}

var (
	globalOptions  = []string{"debug", "debug_level", "syslog_status", "run_as_user", "worker threads"}
	serviceOptions = []string{
		"euid", "allow_any_uid", "allow_protocol_transition", "allow_constrained_delegation",
		"allow_client_ccache_sync", "trusted", "kernel_nfsd", "impersonate", "socket", "mechs",
		"krb5_principal", "cred_store", "selinux_context", "cred_usage", "filter_flags",
		"enforce_flags", "program", "min_lifetime",
		"krb5_keytab", "krb5_ccache", "krb5_client_keytab", // refused, below
	}
)

func knownOption(list []string, key string) (string, bool) {
	for _, o := range list {
		if asciiEqualFold(o, key) {
			return o, true
		}
	}
	return "", false
}

// checkOptions warns about options the reference never reads in this kind
// of section and about repeats of single-valued ones, whose first value
// the reference uses.
func (c *Config) checkOptions(s *iniSection, known []string, where string) {
	seen := map[string]int{}
	for _, v := range s.values {
		name, ok := knownOption(known, v.key)
		if !ok {
			if _, other := knownOption(globalOptions, v.key); other && where == "service" {
				c.warn(s.file, v.line, "option %q belongs in [gssproxy]; ignored in [%s]", v.key, s.name)
			} else if _, other := knownOption(serviceOptions, v.key); other && where == "gssproxy" {
				c.warn(s.file, v.line, "option %q belongs in [service/...]; ignored in [%s]", v.key, s.name)
			} else {
				c.warn(s.file, v.line, "unknown option %q ignored", v.key)
			}
			continue
		}
		if first, dup := seen[name]; dup && name != "cred_store" {
			c.warn(s.file, v.line, "option %q repeated; the first value (line %d) is used", name, first)
			continue
		}
		seen[name] = v.line
	}
}

func (c *Config) interpret(f *iniFile, lookup func(string) (uint32, error)) error {
	for _, s := range f.sections {
		switch {
		case s.line == 0 && len(s.values) > 0:
			c.warn(s.file, s.values[0].line, "options before the first section are ignored")
		case !asciiEqualFold(s.name, "gssproxy") && !strings.HasPrefix(s.name, "service/"):
			c.warn(s.file, s.line, "section [%s] is not [gssproxy] or [service/NAME]; ignored", s.name)
		}
	}
	if g := f.section("gssproxy"); g != nil {
		c.checkOptions(g, globalOptions, "gssproxy")
		if err := c.interpretGlobal(g); err != nil {
			return err
		}
	}
	for _, s := range f.sections {
		// Case matters here: the reference tests the name with strncmp.
		if !strings.HasPrefix(s.name, "service/") {
			continue
		}
		c.checkOptions(s, serviceOptions, "service")
		svc, err := c.interpretService(s, lookup)
		if err != nil {
			return err
		}
		if svc != nil {
			c.Services = append(c.Services, svc)
		}
	}
	if len(c.Services) == 0 {
		file := ""
		if len(c.Files) > 0 {
			file = c.Files[0]
		}
		return &ConfigError{File: file, Msg: "no usable [service/NAME] section configured"}
	}
	return c.checkServices()
}

func optErr(s *iniSection, v iniValue, format string, args ...any) *ConfigError {
	return &ConfigError{File: s.file, Line: v.line, Section: s.name, Option: v.key, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) interpretGlobal(g *iniSection) error {
	level := 0
	if v, ok := g.first("debug"); ok && c.parseBool(g, v) {
		c.Debug = true
		level = 1
	}
	if v, ok := g.first("debug_level"); ok {
		n, err := c.parseInt(g, v)
		if err != nil {
			return err
		}
		level = n
	}
	c.DebugLevel = level
	if v, ok := g.first("syslog_status"); ok {
		c.SyslogStatus = c.parseBool(g, v)
	}
	if v, ok := g.first("run_as_user"); ok {
		c.RunAsUser = v.value
	}
	if v, ok := g.first("worker threads"); ok {
		n, err := c.parseInt(g, v)
		if err != nil {
			return err
		}
		c.WorkerThreads = n
	}
	return nil
}

// parseBool is the reference's gp_boolean_is_true: "1", "on", "true" and
// "yes" in any case are true, everything else is false. A value that is
// neither a true nor a false word earns a warning, since a trailing
// "# comment" silently makes an option false.
func (c *Config) parseBool(s *iniSection, v iniValue) bool {
	switch strings.ToLower(v.value) {
	case "1", "on", "true", "yes":
		return true
	case "0", "off", "false", "no":
		return false
	}
	c.warn(s.file, v.line, "option %q: %q is not a boolean the reference recognises; taken as false", v.key, v.value)
	return false
}

// cStrtoll parses as strtoll(s, &end, 10): leading white space, an
// optional sign, at least one digit; it reports how much it consumed and
// whether the value overflowed 64 bits.
func cStrtoll(s string) (val int64, consumed int, overflow bool) {
	i := 0
	for i < len(s) && cIsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var u uint64
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if u > (1<<63)/10 || u*10 > (1<<63)-d {
			overflow = true
		} else {
			u = u*10 + d
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	if overflow || (!neg && u > 1<<63-1) {
		return 0, i, true
	}
	if neg {
		return -int64(u), i, false
	}
	return int64(u), i, false
}

// parseIntValue is libini's non-strict int conversion: base 10, trailing
// characters allowed, the result must fit a C int.
func parseIntValue(s string) (int, string, error) {
	v, n, overflow := cStrtoll(s)
	switch {
	case n == 0:
		return 0, "", fmt.Errorf("%q is not a number", s)
	case overflow || v > 1<<31-1 || v < -1<<31:
		return 0, "", fmt.Errorf("%q is out of range", s)
	}
	return int(v), s[n:], nil
}

func (c *Config) parseInt(s *iniSection, v iniValue) (int, error) {
	n, rest, err := parseIntValue(v.value)
	if err != nil {
		return 0, optErr(s, v, "%s", err)
	}
	if rest != "" {
		c.warn(s.file, v.line, "option %q: trailing %q after the number ignored", v.key, rest)
	}
	return n, nil
}

func lookupUserUID(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has a non-numeric uid %q", name, u.Uid)
	}
	return uint32(id), nil
}

// interpretService follows load_services in gp_config.c step by step, so
// that the same configuration fails on the same option and a service the
// reference drops is dropped here. It returns nil, nil for a dropped
// service.
func (c *Config) interpretService(s *iniSection, lookup func(string) (uint32, error)) (*Service, error) {
	svc := &Service{
		Name:         strings.TrimPrefix(s.name, "service/"),
		File:         s.file,
		Line:         s.line,
		CredUsage:    gss.CredBoth,
		FilterFlags:  DefaultFilterFlags,
		EnforceFlags: DefaultEnforceFlags,
		MinLifetime:  DefaultMinLifetime,
	}

	// euid: a number if it parses as one, else a user name.
	v, ok := s.first("euid")
	if !ok {
		return nil, &ConfigError{File: s.file, Line: s.line, Section: s.name, Msg: `option "euid" is missing`}
	}
	if n, rest, err := parseIntValue(v.value); err == nil {
		if rest != "" {
			c.warn(s.file, v.line, "option %q: trailing %q after the number ignored", v.key, rest)
		}
		svc.Euid = uint32(int32(n))
	} else {
		uid, err := lookup(v.value)
		if err != nil {
			var unknown user.UnknownUserError
			if errors.As(err, &unknown) {
				return nil, optErr(s, v, "unknown user %q", v.value)
			}
			return nil, optErr(s, v, "cannot look up user %q: %v", v.value, err)
		}
		svc.Euid = uid
	}

	for _, b := range []struct {
		key string
		dst *bool
	}{
		{"allow_any_uid", &svc.AllowAnyUID},
		{"allow_protocol_transition", &svc.AllowProtocolTransition},
		{"allow_constrained_delegation", &svc.AllowConstrainedDelegation},
		{"allow_client_ccache_sync", &svc.AllowClientCcacheSync},
		{"trusted", &svc.Trusted},
		{"kernel_nfsd", &svc.KernelNFSD},
		{"impersonate", &svc.Impersonate},
	} {
		if v, ok := s.first(b.key); ok {
			*b.dst = c.parseBool(s, v)
		}
	}
	if v, ok := s.first("socket"); ok {
		if v.value == "" {
			// The reference binds "" as given, which Linux turns into an
			// autobound abstract address nobody can know, so it starts
			// and the service is never reached. Keep that outcome.
			c.warn(s.file, v.line, "[%s]: empty socket; the service cannot be reached", s.name)
			svc.unreachable = true
		}
		svc.Socket = v.value
	}

	v, ok = s.first("mechs")
	if !ok {
		return nil, &ConfigError{File: s.file, Line: s.line, Section: s.name, Msg: `option "mechs" is missing`}
	}
	// The reference compares the whole value with "krb5", so a list (even
	// "krb5, krb5") enables nothing and the service is dropped.
	if v.value != "krb5" {
		c.warn(s.file, v.line, "[%s]: mechs = %q enables no mechanism (the reference accepts exactly \"krb5\"); service ignored", s.name, v.value)
		return nil, nil
	}
	svc.Krb5 = true
	if err := c.interpretKrb5(s, svc); err != nil {
		return nil, err
	}

	if v, ok := s.first("selinux_context"); ok {
		ctx, err := ParseSELinuxContext(v.value)
		if err != nil {
			return nil, optErr(s, v, "%v", err)
		}
		c.warn(s.file, v.line, "option %q is deprecated; use euid or socket", v.key)
		svc.SELinuxContext = ctx
	}
	if v, ok := s.first("cred_usage"); ok {
		switch strings.ToLower(v.value) {
		case "initiate":
			svc.CredUsage = gss.CredInitiate
		case "accept":
			svc.CredUsage = gss.CredAccept
		case "both":
			svc.CredUsage = gss.CredBoth
		default:
			return nil, optErr(s, v, "%q is not initiate, accept or both", v.value)
		}
	}
	if v, ok := s.first("filter_flags"); ok {
		svc.FilterFlags = c.parseFlags(s, v, svc.FilterFlags)
	}
	if v, ok := s.first("enforce_flags"); ok {
		svc.EnforceFlags = c.parseFlags(s, v, svc.EnforceFlags)
	}
	if v, ok := s.first("program"); ok {
		svc.Program = v.value
		svc.programLine = v.line
	}
	if v, ok := s.first("min_lifetime"); ok {
		n, rest, err := parseIntValue(v.value)
		switch {
		case err != nil:
			c.warn(s.file, v.line, "option %q: %v; default %d kept", v.key, err, DefaultMinLifetime)
		case n < 0:
			c.warn(s.file, v.line, "option %q: negative value %d ignored; default %d kept", v.key, n, DefaultMinLifetime)
		default:
			if rest != "" {
				c.warn(s.file, v.line, "option %q: trailing %q after the number ignored", v.key, rest)
			}
			svc.MinLifetime = uint32(n)
		}
	}
	return svc, nil
}

func (c *Config) interpretKrb5(s *iniSection, svc *Service) error {
	if v, ok := s.first("krb5_principal"); ok {
		svc.Krb5Principal = v.value
	}
	for _, d := range [][2]string{
		{"krb5_keytab", "keytab"}, {"krb5_ccache", "ccache"}, {"krb5_client_keytab", "client_keytab"},
	} {
		if v, ok := s.first(d[0]); ok {
			return optErr(s, v, "no longer supported; write \"cred_store = %s:%s\"", d[1], v.value)
		}
	}
	for _, v := range s.all("cred_store") {
		key, value, found := strings.Cut(v.value, ":")
		if !found {
			return optErr(s, v, "%q has no ':' between the store key and its value", v.value)
		}
		svc.CredStore = append(svc.CredStore, CredStoreElement{Key: key, Value: value})
	}
	return nil
}

// checkServices is the reference's check_services: program paths must be
// absolute and free of '|', and no two services may be told apart by
// nothing (same socket, program and SELinux context, and either the same
// euid or an earlier allow_any_uid service that would take every caller).
func (c *Config) checkServices() error {
	for i, si := range c.Services {
		if si.Program != "" {
			if !strings.HasPrefix(si.Program, "/") {
				return &ConfigError{File: si.File, Line: si.programLine, Section: "service/" + si.Name, Option: "program", Msg: "program paths must be absolute"}
			}
			if strings.ContainsRune(si.Program, '|') {
				return &ConfigError{File: si.File, Line: si.programLine, Section: "service/" + si.Name, Option: "program", Msg: "the character '|' is not allowed in program paths"}
			}
		}
		for _, sj := range c.Services[:i] {
			if c.effectiveSocket(si) != c.effectiveSocket(sj) || si.Program != sj.Program ||
				!si.SELinuxContext.Equal(sj.SELinuxContext) {
				continue
			}
			if sj.AllowAnyUID {
				return &ConfigError{File: si.File, Line: si.Line, Section: "service/" + si.Name,
					Msg: fmt.Sprintf("unreachable: [service/%s] (%s:%d) sets allow_any_uid with the same socket, program and selinux_context", sj.Name, sj.File, sj.Line)}
			}
			if sj.Euid == si.Euid {
				return &ConfigError{File: si.File, Line: si.Line, Section: "service/" + si.Name,
					Msg: fmt.Sprintf("same socket, program, selinux_context and euid as [service/%s] (%s:%d)", sj.Name, sj.File, sj.Line)}
			}
		}
	}
	return nil
}

// effectiveSocket is the socket a service listens on. (The reference's
// duplicate check substitutes its compiled-in default rather than the -s
// one; the socket actually used is the better key.)
func (c *Config) effectiveSocket(s *Service) string {
	if s.Socket != "" || s.unreachable {
		return s.Socket
	}
	return c.Socket
}

// Sockets lists the sockets the daemon listens on: the default one first,
// then each distinct service socket in service order.
func (c *Config) Sockets() []string {
	out := []string{c.Socket}
	for _, s := range c.Services {
		if s.Socket != "" && !containsString(out, s.Socket) {
			out = append(out, s.Socket)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// KernelNFSD reports whether any service sets kernel_nfsd, in which case
// the reference writes "1" to /proc/net/rpc/use-gss-proxy at start.
func (c *Config) KernelNFSD() bool {
	for _, s := range c.Services {
		if s.KernelNFSD {
			return true
		}
	}
	return false
}

// EffectiveWorkerThreads is the number of workers the reference starts.
func (c *Config) EffectiveWorkerThreads() int {
	if c.WorkerThreads > 0 {
		return c.WorkerThreads
	}
	return DefaultWorkerThreads
}

// flagNames are the reference's names. "INTEGRITIY" is its spelling; the
// documented "INTEGRITY" is not recognised by it (see parseFlags).
var flagNames = []struct {
	name string
	flag gss.Flags
}{
	{"DELEGATE", gss.FlagDeleg},
	{"MUTUAL_AUTH", gss.FlagMutual},
	{"REPLAY_DETECT", gss.FlagReplay},
	{"SEQUENCE", gss.FlagSequence},
	{"CONFIDENTIALITY", gss.FlagConf},
	{"INTEGRITIY", gss.FlagInteg},
	{"ANONYMOUS", gss.FlagAnon},
}

// parseFlags applies a filter_flags / enforce_flags list to start the way
// the reference's parse_flags does, quirks included, because a drop-in
// must turn the same text into the same flags:
//
//   - tokens are split on ',' and ' '; each needs a leading '+' or '-';
//   - names compare without regard to case; otherwise the token is read by
//     strtoul(…, 0) (so 0x20 and 040 both work), and 0, ULONG_MAX or a
//     trailing character reject it;
//   - the reference passes its strtok_r position to strtoul, so after a
//     token that is not a flag name it resumes where strtoul stopped: the
//     rest of that token is read again (without its sign, so it is
//     ignored unless it holds another sign, as in "+1+2"), and then the
//     list ends, because strtok_r finds the terminator it wrote.
//
// Whatever the reference silently skips is reported as a warning.
func (c *Config) parseFlags(s *iniSection, v iniValue, start gss.Flags) gss.Flags {
	buf := append([]byte(v.value), 0)
	flags := uint32(start)
	save := 0
	rescanUntil := -1 // a rejected number's remainder, which the reference re-reads
	numeric := ""     // the last token read as a number
	warn := func(format string, args ...any) {
		c.warn(s.file, v.line, "option %q: "+format, append([]any{v.key}, args...)...)
	}
	for tok, ok := cStrtok(buf, 0, &save); ok; tok, ok = cStrtok(buf, -1, &save) {
		token := cString(buf, tok)
		var add bool
		switch token[0] {
		case '+':
			add = true
		case '-':
			add = false
		default:
			if tok >= rescanUntil {
				warn("flag %q ignored: it needs a + or - in front", token)
			}
			continue
		}
		name := token[1:]
		var val uint32
		known := false
		for _, f := range flagNames {
			if asciiEqualFold(name, f.name) {
				val, known = uint32(f.flag), true
				break
			}
		}
		if !known {
			conv, end := cStrtoul(buf, tok+1)
			save = end
			numeric = token
			if conv == 0 || conv == ^uint64(0) || buf[end] != 0 {
				rescanUntil = tok + len(token)
				if asciiEqualFold(name, "INTEGRITY") {
					warn("flag %q ignored: the reference spells this flag INTEGRITIY (or write 0x20)", token)
				} else {
					warn("flag %q ignored: not a flag name or number", token)
				}
				continue
			}
			val = uint32(conv)
		}
		if add {
			flags |= val
		} else {
			flags &^= val
		}
	}
	// strtok_r stopped at a terminator it wrote itself: the rest of the
	// list was never read.
	if save < len(v.value) {
		if rest := strings.Trim(v.value[save+1:], ", "); rest != "" {
			warn("the reference stops reading flags after %q; %q ignored", numeric, rest)
		}
	}
	return gss.Flags(flags)
}

// cStrtok is glibc's strtok_r over a NUL-terminated buffer with the
// delimiters ", ". start < 0 continues from *save. It writes NULs into buf
// as strtok_r does.
func cStrtok(buf []byte, start int, save *int) (int, bool) {
	isDelim := func(c byte) bool { return c == ',' || c == ' ' }
	p := start
	if p < 0 {
		p = *save
	}
	if buf[p] == 0 {
		*save = p
		return 0, false
	}
	for buf[p] != 0 && isDelim(buf[p]) {
		p++
	}
	if buf[p] == 0 {
		*save = p
		return 0, false
	}
	end := p
	for buf[end] != 0 && !isDelim(buf[end]) {
		end++
	}
	if buf[end] == 0 {
		*save = end
		return p, true
	}
	buf[end] = 0
	*save = end + 1
	return p, true
}

func cString(buf []byte, at int) string {
	end := at
	for buf[end] != 0 {
		end++
	}
	return string(buf[at:end])
}

// cStrtoul is glibc's strtoul(buf+at, &end, 0) on a 64-bit system: it
// returns the value and the index end would point at.
func cStrtoul(buf []byte, at int) (uint64, int) {
	p := at
	for cIsSpace(buf[p]) {
		p++
	}
	neg := false
	if buf[p] == '+' || buf[p] == '-' {
		neg = buf[p] == '-'
		p++
	}
	base := uint64(10)
	if buf[p] == '0' {
		if asciiUpper(buf[p+1]) == 'X' {
			base = 16
			p += 2
		} else {
			base = 8
		}
	}
	digit := func(c byte) (uint64, bool) {
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'Z':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		return d, d < base
	}
	start := p
	var v uint64
	overflow := false
	for {
		d, ok := digit(buf[p])
		if !ok {
			break
		}
		if v > (^uint64(0)-d)/base {
			overflow = true
		} else {
			v = v*base + d
		}
		p++
	}
	if p == start {
		// "0x" with no hex digit after it parses as the "0".
		if base == 16 {
			return 0, start - 1
		}
		return 0, at
	}
	if overflow {
		return ^uint64(0), p
	}
	if neg {
		v = -v
	}
	return v, p
}

// ExpandCredStore substitutes the cred_store patterns for the user the
// call acts for: %U is the numeric uid, %u the user name (resolved through
// username only when a value needs it) and %% a literal percent. Another
// character after % is an error, as in the reference. (The reference's %%
// handling corrupts the string; a literal percent is what the pattern
// plainly means, so that is what this does.)
func (s *Service) ExpandCredStore(uid uint32, username func(uid uint32) (string, error)) ([]CredStoreElement, error) {
	if username == nil {
		username = lookupUsername
	}
	out := make([]CredStoreElement, 0, len(s.CredStore))
	name := ""
	for _, e := range s.CredStore {
		var b strings.Builder
		v := e.Value
		for {
			i := strings.IndexByte(v, '%')
			if i < 0 {
				b.WriteString(v)
				break
			}
			b.WriteString(v[:i])
			if i+1 >= len(v) {
				return nil, fmt.Errorf("cred_store %s:%s: %% at the end of the value", e.Key, e.Value)
			}
			switch v[i+1] {
			case '%':
				b.WriteByte('%')
			case 'U':
				b.WriteString(strconv.FormatUint(uint64(uid), 10))
			case 'u':
				if name == "" {
					n, err := username(uid)
					if err != nil {
						return nil, fmt.Errorf("cred_store %s:%s: no user name for uid %d: %w", e.Key, e.Value, uid, err)
					}
					name = n
				}
				b.WriteString(name)
			default:
				return nil, fmt.Errorf("cred_store %s:%s: unknown pattern %%%c", e.Key, e.Value, v[i+1])
			}
			v = v[i+2:]
		}
		out = append(out, CredStoreElement{Key: e.Key, Value: b.String()})
	}
	return out, nil
}

func lookupUsername(uid uint32) (string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// SELinuxContext is a parsed user:role:type[:range] context, split as
// libselinux's context_new splits it.
type SELinuxContext struct {
	User, Role, Type string
	Range            string // "" when absent
}

// ParseSELinuxContext accepts what context_new accepts: two to five
// colons, no tab, CR or LF, and no space before the third colon.
func ParseSELinuxContext(s string) (*SELinuxContext, error) {
	colons := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':':
			colons++
		case '\n', '\t', '\r':
			return nil, fmt.Errorf("invalid SELinux context %q", s)
		case ' ':
			if colons < 3 {
				return nil, fmt.Errorf("invalid SELinux context %q", s)
			}
		}
	}
	if colons < 2 || colons > 5 {
		return nil, fmt.Errorf("invalid SELinux context %q: want user:role:type[:range]", s)
	}
	parts := strings.SplitN(s, ":", 4)
	ctx := &SELinuxContext{User: parts[0], Role: parts[1], Type: parts[2]}
	if len(parts) == 4 {
		ctx.Range = parts[3]
	}
	return ctx, nil
}

// Equal compares as the reference's gp_selinux_ctx_equal: user, role and
// type must match; ranges are compared only when both are present.
func (a *SELinuxContext) Equal(b *SELinuxContext) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.User != b.User || a.Role != b.Role || a.Type != b.Type {
		return false
	}
	return a.Range == "" || b.Range == "" || a.Range == b.Range
}
