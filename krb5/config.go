package krb5

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"github.com/gsskit/gsskit/gss"
)

// Config is the Kerberos mechanism's configuration for callers that build
// their own mechanism with NewMechanism instead of relying on the one
// registered from init (which reads the environment like MIT's library).
// The zero value behaves like the registered mechanism.
type Config struct {
	// Krb5Conf is krb5.conf text to use instead of reading files.
	Krb5Conf string
	// Files are krb5.conf files, the first one's settings winning as in
	// MIT. Nil means the colon-separated list in KRB5_CONFIG, or
	// /etc/krb5.conf. Files are read again when they change, so a test can
	// rewrite them between acquisitions.
	Files []string
	// Getenv, if set, replaces os.Getenv for KRB5_CONFIG, KRB5CCNAME,
	// KRB5_KTNAME and KRB5_CLIENT_KTNAME.
	Getenv func(string) string
}

const defaultKrb5Conf = "/etc/krb5.conf"

// krbConfig is one loaded configuration. It is immutable once built; the
// mechanism swaps in a new one when the files change.
type krbConfig struct {
	gk      *config.Config // gokrb5's view, enctype lists filtered by policy
	files   []string       // the files that were read
	loadErr error          // why the files could not be used, if they could not

	defaultRealm  string
	clockSkew     time.Duration
	dnsCanon      bool
	allowWeak     bool
	permitted     map[int32]bool // explicit permitted_enctypes; nil if unset
	ccacheName    string         // default_ccache_name, expanded
	keytabName    string         // default_keytab_name
	clientKTName  string         // default_client_keytab_name, expanded
	ticketLife    time.Duration
	renewLife     time.Duration
	forwardable   bool
	domainRealm   map[string]string
	relationsSeen map[string]string // raw [libdefaults] relations, first wins
}

// fileStamp identifies a file's version for the reload check.
type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
	exist bool
}

type configCache struct {
	mu      sync.Mutex
	stamps  []fileStamp
	cfg     *krbConfig
	checked time.Time // when the files were last looked at
	env     string    // KRB5_CONFIG then, when it chose the files
}

// configRecheck is how long configFast trusts the loaded configuration
// before it looks at the files again: MIT's profile library looks at most
// once a second too.
const configRecheck = time.Second

// configFast is config for the context-establishment path, where a stat of
// every krb5.conf on every call costs more than the protocol: it looks at
// the files only when the last look is older than configRecheck. Changes
// still show up within a second (at once through config, which always
// looks).
func (m *mechanism) configFast() *krbConfig {
	if m.opts.Krb5Conf == "" {
		env := ""
		if m.opts.Files == nil {
			env = m.getenv("KRB5_CONFIG")
		}
		m.cfgCache.mu.Lock()
		cfg, checked, sameFiles := m.cfgCache.cfg, m.cfgCache.checked, m.cfgCache.env == env
		m.cfgCache.mu.Unlock()
		if cfg != nil && sameFiles && time.Since(checked) < configRecheck {
			return cfg
		}
	}
	return m.config()
}

func (m *mechanism) getenv(k string) string {
	if m.opts.Getenv != nil {
		return m.opts.Getenv(k)
	}
	return os.Getenv(k)
}

// configFiles is the list of krb5.conf files to read.
func (m *mechanism) configFiles() []string {
	if m.opts.Files != nil {
		return m.opts.Files
	}
	if v := m.getenv("KRB5_CONFIG"); v != "" {
		var out []string
		for _, f := range strings.Split(v, ":") {
			if f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	return []string{defaultKrb5Conf}
}

// config returns the current configuration, re-reading the files when any
// of them changed (or appeared, or vanished) since the last call.
func (m *mechanism) config() *krbConfig {
	if m.opts.Krb5Conf != "" {
		m.cfgCache.mu.Lock()
		defer m.cfgCache.mu.Unlock()
		if m.cfgCache.cfg == nil {
			m.cfgCache.cfg = buildConfig([]string{m.opts.Krb5Conf}, []string{"(Config.Krb5Conf)"}, nil)
		}
		return m.cfgCache.cfg
	}
	env := ""
	if m.opts.Files == nil {
		env = m.getenv("KRB5_CONFIG")
	}
	files := m.configFiles()
	looked := time.Now() // before the stats, so a change during them is looked at again
	stamps := make([]fileStamp, len(files))
	for i, f := range files {
		stamps[i].path = f
		if st, err := os.Stat(f); err == nil {
			stamps[i].size, stamps[i].mtime, stamps[i].exist = st.Size(), st.ModTime(), true
		}
	}
	m.cfgCache.mu.Lock()
	defer m.cfgCache.mu.Unlock()
	m.cfgCache.checked, m.cfgCache.env = looked, env
	if m.cfgCache.cfg != nil && stampsEqual(stamps, m.cfgCache.stamps) {
		return m.cfgCache.cfg
	}
	var texts, names []string
	var readErr error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && readErr == nil {
				readErr = err
			}
			continue
		}
		texts = append(texts, string(b))
		names = append(names, f)
	}
	cfg := buildConfig(texts, names, readErr)
	if len(names) == 0 && cfg.loadErr == nil {
		cfg.loadErr = errors.New("no Kerberos configuration: none of " + strings.Join(files, ", ") + " exists")
	}
	cfg.files = files
	m.cfgCache.cfg, m.cfgCache.stamps = cfg, stamps
	return cfg
}

func stampsEqual(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].path != b[i].path || a[i].exist != b[i].exist || a[i].size != b[i].size || !a[i].mtime.Equal(b[i].mtime) {
			return false
		}
	}
	return true
}

// buildConfig parses each text with gokrb5 and merges them MIT's way: a
// relation set by an earlier file wins. gokrb5 parses one file at a time,
// so [libdefaults] come from the first file that parses, and realms and
// domain_realm entries are added from later files when not yet present.
func buildConfig(texts, names []string, readErr error) *krbConfig {
	c := &krbConfig{
		gk:          config.New(),
		clockSkew:   300 * time.Second,
		dnsCanon:    true,
		ticketLife:  24 * time.Hour,
		domainRealm: map[string]string{},
		loadErr:     readErr,
		files:       names,
	}
	c.relationsSeen = map[string]string{}
	first := true
	for i, t := range texts {
		gk, err := config.NewFromString(t)
		if gk == nil {
			if c.loadErr == nil {
				c.loadErr = errors.New("cannot parse " + names[i] + ": " + errString(err))
			}
			continue
		}
		scanLibdefaults(t, c.relationsSeen)
		if first {
			c.gk = gk
			first = false
		} else {
			for _, r := range gk.Realms {
				if !hasRealm(c.gk, r.Realm) {
					c.gk.Realms = append(c.gk.Realms, r)
				}
			}
			for d, r := range gk.DomainRealm {
				if _, ok := c.gk.DomainRealm[d]; !ok {
					c.gk.DomainRealm[d] = r
				}
			}
		}
	}
	ld := &c.gk.LibDefaults
	rel := c.relationsSeen
	c.defaultRealm = ld.DefaultRealm
	if ld.Clockskew > 0 {
		c.clockSkew = ld.Clockskew
	}
	if v, ok := rel["dns_canonicalize_hostname"]; ok {
		// MIT's "fallback" tries the name as written first.
		c.dnsCanon = parseBool(v, true) && !strings.EqualFold(v, "fallback")
	}
	c.allowWeak = parseBool(rel["allow_weak_crypto"], false)
	if v, ok := rel["permitted_enctypes"]; ok {
		c.permitted = parseEnctypeList(v)
	}
	c.ccacheName = expandPathTokens(rel["default_ccache_name"])
	c.keytabName = expandPathTokens(rel["default_keytab_name"])
	c.clientKTName = expandPathTokens(rel["default_client_keytab_name"])
	if c.clientKTName == "" {
		c.clientKTName = expandPathTokens("FILE:/var/lib/krb5/user/%{euid}/client.keytab")
	}
	if ld.TicketLifetime > 0 {
		c.ticketLife = ld.TicketLifetime
	}
	c.renewLife = ld.RenewLifetime
	c.forwardable = ld.Forwardable
	for d, r := range c.gk.DomainRealm {
		c.domainRealm[strings.ToLower(d)] = r
	}
	// gokrb5 offers the KDC what its lists say; keep weak enctypes out of
	// requests unless policy allows them.
	ld.DefaultTGSEnctypeIDs = c.filterEnctypes(ld.DefaultTGSEnctypeIDs)
	ld.DefaultTktEnctypeIDs = c.filterEnctypes(ld.DefaultTktEnctypeIDs)
	ld.PermittedEnctypeIDs = c.filterEnctypes(ld.PermittedEnctypeIDs)
	if len(ld.DefaultTGSEnctypeIDs) == 0 {
		ld.DefaultTGSEnctypeIDs = append([]int32(nil), strongEnctypes...)
	}
	if len(ld.DefaultTktEnctypeIDs) == 0 {
		ld.DefaultTktEnctypeIDs = append([]int32(nil), strongEnctypes...)
	}
	return c
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func hasRealm(c *config.Config, name string) bool {
	for _, r := range c.Realms {
		if r.Realm == name {
			return true
		}
	}
	return false
}

// scanLibdefaults collects "key = value" relations of [libdefaults] that
// gokrb5 does not keep (default_ccache_name) or keeps without saying whether
// they were set (permitted_enctypes). The first setting wins, as in MIT.
func scanLibdefaults(text string, into map[string]string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	in := false
	depth := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			in = strings.HasPrefix(line, "[libdefaults]")
			depth = 0
			continue
		}
		if !in {
			continue
		}
		if strings.HasSuffix(line, "{") {
			depth++
			continue
		}
		if line == "}" {
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth > 0 {
			continue // a per-realm subsection
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := into[k]; !seen {
			into[k] = strings.TrimSpace(v)
		}
	}
}

func parseBool(v string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "y", "yes", "true", "t", "1", "on":
		return true
	case "n", "no", "false", "f", "0", "off", "nil":
		return false
	}
	return def
}

// Enctype numbers (RFC 3961 registry).
const (
	etDES3       int32 = 16
	etAES128SHA1 int32 = 17
	etAES256SHA1 int32 = 18
	etAES128SHA2 int32 = 19
	etAES256SHA2 int32 = 20
	etRC4        int32 = 23
)

var strongEnctypes = []int32{etAES256SHA1, etAES128SHA1, etAES256SHA2, etAES128SHA2}

// parseEnctypeList parses an MIT enctype list: names, family names (aes,
// des3, rc4), DEFAULT, and "-name" to remove, separated by spaces or commas.
func parseEnctypeList(v string) map[int32]bool {
	out := map[int32]bool{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		remove := strings.HasPrefix(f, "-")
		f = strings.TrimPrefix(strings.TrimPrefix(f, "-"), "+")
		var ids []int32
		switch strings.ToLower(f) {
		case "default", "aes":
			ids = strongEnctypes
		case "des3", "des3-cbc-sha1", "des3-hmac-sha1", "des3-cbc-sha1-kd":
			ids = []int32{etDES3}
		case "rc4", "arcfour-hmac", "arcfour-hmac-md5", "rc4-hmac":
			ids = []int32{etRC4}
		default:
			if id := etypeID.EtypeSupported(f); id != 0 {
				ids = []int32{id}
			} else if n, err := strconv.Atoi(f); err == nil {
				ids = []int32{int32(n)}
			}
		}
		for _, id := range ids {
			if remove {
				delete(out, id)
			} else {
				out[id] = true
			}
		}
	}
	return out
}

func isStrongEnctype(e int32) bool {
	return e == etAES128SHA1 || e == etAES256SHA1 || e == etAES128SHA2 || e == etAES256SHA2
}

// enctypeAllowed is the policy for keys and tickets: the AES enctypes
// always; RC4 and triple DES only when allow_weak_crypto is set or
// permitted_enctypes names them; single DES never (gokrb5 has no usable
// DES and MIT removed it).
func (c *krbConfig) enctypeAllowed(e int32) bool {
	if isStrongEnctype(e) {
		return true
	}
	if e != etRC4 && e != etDES3 {
		return false
	}
	return c.allowWeak || c.permitted[e]
}

func (c *krbConfig) filterEnctypes(in []int32) []int32 {
	var out []int32
	for _, e := range in {
		if c.enctypeAllowed(e) {
			out = append(out, e)
		}
	}
	return out
}

// hostRealm maps a host to its realm through [domain_realm], trying what
// MIT's profile lookup tries, most specific first: the host itself, then
// for each parent domain the dotted form and the bare one (for
// a.b.example.com: .b.example.com, b.example.com, .example.com, ...). No
// mapping gives "" (the referral realm), as MIT does.
func (c *krbConfig) hostRealm(host string) string {
	cp := strings.ToLower(strings.TrimSuffix(host, "."))
	for cp != "" {
		if r, ok := c.domainRealm[cp]; ok {
			return r
		}
		if cp[0] == '.' {
			cp = cp[1:]
		} else if i := strings.IndexByte(cp, '.'); i >= 0 {
			cp = cp[i:]
		} else {
			break
		}
	}
	return ""
}

// canonicalHost lower-cases a host name, and with
// dns_canonicalize_hostname = true replaces it by its DNS canonical name
// when DNS knows one (otherwise the name as written is kept).
func (c *krbConfig) canonicalHost(host string) string {
	h := strings.TrimSuffix(host, ".")
	if c.dnsCanon && net.ParseIP(h) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		cname, err := net.DefaultResolver.LookupCNAME(ctx, h)
		cancel()
		if err == nil && cname != "" {
			h = strings.TrimSuffix(cname, ".")
		}
	}
	return strings.ToLower(h)
}

// expandPathTokens expands the %{...} tokens MIT allows in ccache and
// keytab names that gsskit's callers are likely to meet.
func expandPathTokens(s string) string {
	if !strings.Contains(s, "%{") {
		return s
	}
	uid := strconv.Itoa(os.Getuid())
	euid := strconv.Itoa(os.Geteuid())
	uname := uid
	if u, err := user.LookupId(uid); err == nil {
		uname = u.Username
	}
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	r := strings.NewReplacer("%{uid}", uid, "%{euid}", euid, "%{USERID}", uid, "%{username}", uname,
		"%{TEMP}", tmp, "%{null}", "")
	return r.Replace(s)
}

// requireDefaultRealm returns the default realm, or an error saying which
// configuration lacks it and what needed it.
func (m *mechanism) requireDefaultRealm(what string) (string, error) {
	c := m.config()
	if c.defaultRealm != "" {
		return c.defaultRealm, nil
	}
	msg := "no default realm configured for " + what
	if len(c.files) > 0 {
		msg += " (krb5.conf: " + strings.Join(c.files, ", ") + ")"
	}
	if c.loadErr != nil {
		return "", gss.WrapError(gss.Failure, 0, gss.MechKrb5, msg, c.loadErr)
	}
	return "", gss.NewError(gss.Failure, 0, gss.MechKrb5, msg)
}

// defaultRealm is the configured default realm, "" if none.
func (m *mechanism) defaultRealm() string { return m.config().defaultRealm }

// clockSkew is the allowed clock skew (libdefaults clockskew, default 5 min).
func (m *mechanism) clockSkew() time.Duration { return m.config().clockSkew }

// enctypeAllowed applies the configured enctype policy.
func (m *mechanism) enctypeAllowed(etype int32) bool { return m.config().enctypeAllowed(etype) }

// kdcConfig returns gokrb5's configuration for talking to the KDC of realm,
// or an error naming the files read when no KDC is known for it.
func (m *mechanism) kdcConfig(realm string) (*config.Config, error) {
	c := m.config()
	for _, r := range c.gk.Realms {
		if r.Realm == realm && len(r.KDC) > 0 {
			return c.gk, nil
		}
	}
	if c.gk.LibDefaults.DNSLookupKDC {
		return c.gk, nil
	}
	msg := "no KDC configured for realm " + strconv.Quote(realm)
	if len(c.files) > 0 {
		msg += " in " + strings.Join(c.files, ", ")
	}
	if c.loadErr != nil {
		return nil, gss.WrapError(gss.Failure, krbMinor(krb5RealmUnknown), gss.MechKrb5, msg, c.loadErr)
	}
	return nil, gss.NewError(gss.Failure, krbMinor(krb5RealmUnknown), gss.MechKrb5, msg)
}

// krb5RealmUnknown is MIT's KRB5_REALM_UNKNOWN offset ("Cannot find KDC
// for requested realm").
const krb5RealmUnknown = 154
