// Package krbtest starts a real MIT Kerberos KDC on loopback, with users,
// services and keytabs, for gsskit's tests and for the demo program.
//
// A Realm lives in a temporary directory of its own: kdc.conf, krb5.conf,
// the database, keytabs and the KDC log. Nothing reads or writes the
// system's Kerberos files: programs started with Realm.Env (or Realm.Cmd)
// see only that directory.
//
// Start needs krb5kdc, kdb5_util and kadmin.local (Debian: krb5-kdc,
// krb5-admin-server); Kinit and the ticket checks need krb5-user. Tests use
// StartT, which skips when those are missing, or fails when CI=true.
package krbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Config describes the realm to start. The zero value is a realm named
// DefaultRealm with no users or services.
type Config struct {
	// Realm is the realm name; empty means DefaultRealm.
	Realm string
	// Users maps a user principal (short name such as "alice", or a
	// full "alice@REALM") to its password.
	Users map[string]string
	// Services get random keys and a keytab each.
	Services []Service
	// TicketLifetime is both the KDC's maximum and the clients' default
	// ticket lifetime; zero means 24 hours.
	TicketLifetime time.Duration
	// RenewLifetime is the maximum renewable lifetime; zero means 7 days.
	RenewLifetime time.Duration
	// LDAP keeps the database in a private OpenLDAP server (ldap.go)
	// instead of DB2: MIT's constrained delegation needs it.
	LDAP bool
}

// Service is a service principal with random keys.
type Service struct {
	// Principal such as "host/localhost"; the realm is appended.
	Principal string
	// Enctypes are MIT enctype names ("aes256-cts-hmac-sha1-96", with
	// or without ":normal"); nil means DefaultEnctypes. When set, they
	// are also the service's session_enctypes, so the KDC issues session
	// keys of these types only (MIT otherwise assumes aes256-sha1).
	Enctypes []string
	// Flags are kadmin principal flags, e.g. "+ok_to_auth_as_delegate"
	// or "-requires_preauth".
	Flags []string
}

// DefaultRealm is the realm name used when Config.Realm is empty.
const DefaultRealm = "GSSKIT.TEST"

// Realm is a running MIT KDC and its database. Its methods are safe for
// concurrent use.
type Realm struct {
	name           string
	dir            string
	kdcAddr        string
	ticketLifetime time.Duration
	renewLifetime  time.Duration

	kdc  *kdcProcess
	ldap *ldapServer // nil for a DB2 realm

	mu        sync.Mutex // serialises kadmin.local and keytab files
	users     map[string]string
	services  map[string]Service // by full principal
	generated map[string]int     // keytab snapshot counter, by principal
	closed    bool
}

// Start creates the realm's database, adds cfg's principals, writes their
// keytabs and starts krb5kdc on a free loopback port. ctx bounds the
// start-up only: the KDC runs until Close.
func Start(ctx context.Context, cfg Config) (*Realm, error) {
	if err := ServerToolsInstalled(); err != nil {
		return nil, err
	}
	r := &Realm{
		name:           cfg.Realm,
		ticketLifetime: cfg.TicketLifetime,
		renewLifetime:  cfg.RenewLifetime,
		users:          map[string]string{},
		services:       map[string]Service{},
		generated:      map[string]int{},
	}
	if r.name == "" {
		r.name = DefaultRealm
	}
	if strings.ContainsAny(r.name, " \t\n/@{}[]=") {
		return nil, fmt.Errorf("krbtest: bad realm name %q", r.name)
	}
	if r.ticketLifetime <= 0 {
		r.ticketLifetime = 24 * time.Hour
	}
	if r.renewLifetime <= 0 {
		r.renewLifetime = 7 * 24 * time.Hour
	}
	dir, err := os.MkdirTemp("", "krbtest-")
	if err != nil {
		return nil, fmt.Errorf("krbtest: %w", err)
	}
	r.dir = dir
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	for _, sub := range []string{"keytabs", "rcache"} {
		if err := os.Mkdir(r.path(sub), 0o700); err != nil {
			return nil, fmt.Errorf("krbtest: %w", err)
		}
	}

	// The port in kdc.conf only matters once krb5kdc runs; the database
	// is created with a placeholder and the files are rewritten with the
	// real port by startKDC.
	r.kdcAddr = "127.0.0.1:88"
	if err := r.writeKDCConf(88); err != nil {
		return nil, fmt.Errorf("krbtest: %w", err)
	}
	if err := r.writeKrb5Conf(); err != nil {
		return nil, fmt.Errorf("krbtest: %w", err)
	}
	if cfg.LDAP {
		if err := r.startLDAP(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.createDB(ctx); err != nil {
		return nil, err
	}
	for user, pw := range cfg.Users {
		if err := r.AddUser(ctx, user, pw); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Services {
		if err := r.AddService(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := r.startKDC(ctx); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// Close stops the KDC and removes the realm's directory. It is safe to
// call more than once.
func (r *Realm) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	var errs []error
	if r.kdc != nil {
		errs = append(errs, r.kdc.stop())
	}
	if r.ldap != nil {
		errs = append(errs, r.ldap.stop())
	}
	if r.dir != "" {
		errs = append(errs, os.RemoveAll(r.dir))
	}
	return errors.Join(errs...)
}

// Name is the realm name, e.g. "GSSKIT.TEST".
func (r *Realm) Name() string { return r.name }

// Dir is the realm's private directory.
func (r *Realm) Dir() string { return r.dir }

// KDCAddr is the KDC's "127.0.0.1:port"; it listens on TCP and UDP.
func (r *Realm) KDCAddr() string { return r.kdcAddr }

// Krb5Conf is the path of the client profile (KRB5_CONFIG).
func (r *Realm) Krb5Conf() string { return r.path("krb5.conf") }

// KDCConf is the path of the KDC profile (KRB5_KDC_PROFILE).
func (r *Realm) KDCConf() string { return r.path("kdc.conf") }

// DefaultCCache is the path of the credential cache KRB5CCNAME names in
// Env; Kinit with an empty path writes there.
func (r *Realm) DefaultCCache() string { return r.path("ccache") }

// DefaultKeytab is the path of the keytab KRB5_KTNAME names in Env: it
// holds the current keys of every service.
func (r *Realm) DefaultKeytab() string { return r.path("krb5.keytab") }

// TicketLifetime is the realm's maximum (and default) ticket lifetime.
func (r *Realm) TicketLifetime() time.Duration { return r.ticketLifetime }

// Env returns the environment variables that confine MIT programs and
// gsskit to this realm, as "KEY=value" strings to append to os.Environ().
// KRB5_CLIENT_KTNAME names a file that does not exist, so no initiator
// picks up keys by accident.
func (r *Realm) Env() []string {
	return []string{
		"KRB5_CONFIG=" + r.Krb5Conf(),
		"KRB5_KDC_PROFILE=" + r.KDCConf(),
		"KRB5CCNAME=FILE:" + r.DefaultCCache(),
		"KRB5_KTNAME=FILE:" + r.DefaultKeytab(),
		"KRB5_CLIENT_KTNAME=FILE:" + r.path("client.keytab"),
		"KRB5RCACHEDIR=" + r.path("rcache"),
	}
}

// Cmd is exec.CommandContext with the realm's Env added to the current
// environment.
func (r *Realm) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), r.Env()...)
	return c
}

// Principal returns name qualified with the realm ("alice" becomes
// "alice@GSSKIT.TEST"); a name that already has a realm is returned as is.
func (r *Realm) Principal(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + r.name
}

// KDCLog returns the KDC's log so far (empty if it cannot be read).
func (r *Realm) KDCLog() string {
	b, _ := os.ReadFile(r.path("kdc.log"))
	return string(b)
}

func (r *Realm) path(name string) string { return filepath.Join(r.dir, name) }

func randomPassword() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// logTail returns the last n lines of the file at path, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
