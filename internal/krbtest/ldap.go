package krbtest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// A realm with Config.LDAP keeps its principals in a private OpenLDAP
// server, through MIT's kldap KDB module, because constrained delegation
// (S4U2Proxy) in MIT 1.20 is only decided by a KDB module: DB2 has no rule
// for it and refuses every request, while kldap allows a service to
// delegate to the principals listed in its krbAllowedToDelegateTo
// attribute. (Resource-based constrained delegation is in neither.)
//
// slapd runs in the foreground as our child, on a Unix socket in the realm
// directory, with an MDB database created by slapadd; nothing of the
// system's LDAP configuration is read. Start-up takes well under a second.

const (
	ldapSuffix    = "dc=gsskit,dc=test"
	ldapAdminDN   = "cn=admin," + ldapSuffix
	ldapContainer = "cn=krbContainer," + ldapSuffix
	ldapModule    = "gsskit_ldap"
)

// Where Debian puts what slapd needs: the standard schemas come with slapd,
// MIT's schema for Kerberos principals with krb5-kdc-ldap.
var (
	ldapSchemaDir      = "/etc/ldap/schema"
	kerberosSchemaGzip = "/usr/share/doc/krb5-kdc-ldap/kerberos.schema.gz"
	ldapModuleDir      = "/usr/lib/ldap"
)

type ldapServer struct {
	uri      string // ldapi:// URL of the socket
	password string // of ldapAdminDN
	cmd      *exec.Cmd
	out      *SyncBuffer
	exited   chan struct{}
	err      error
	dir      string
}

func init() {
	for prog, pkg := range map[string]string{
		"slapd": "slapd", "slapadd": "slapd", "kdb5_ldap_util": "krb5-kdc-ldap", "ldapmodify": "ldap-utils",
	} {
		toolPackages[prog] = pkg
	}
}

// LDAPToolsInstalled reports whether what an LDAP realm needs is present.
func LDAPToolsInstalled() error {
	for _, t := range []string{"slapd", "slapadd", "kdb5_ldap_util", "ldapmodify"} {
		if _, err := LookPath(t); err != nil {
			return err
		}
	}
	if _, err := os.Stat(kerberosSchemaGzip); err != nil {
		return &MissingToolError{Program: kerberosSchemaGzip, Package: "krb5-kdc-ldap"}
	}
	if _, err := os.Stat(ldapSchemaDir + "/core.schema"); err != nil {
		return &MissingToolError{Program: ldapSchemaDir + "/core.schema", Package: "slapd"}
	}
	return nil
}

// startLDAP creates the directory's database and starts slapd.
func (r *Realm) startLDAP(ctx context.Context) error {
	if err := LDAPToolsInstalled(); err != nil {
		return err
	}
	dir := r.path("ldap")
	if err := os.MkdirAll(dir+"/db", 0o700); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	l := &ldapServer{
		password: randomPassword(),
		out:      &SyncBuffer{},
		exited:   make(chan struct{}),
		dir:      dir,
	}
	// ldapi:// takes the socket path as the host, so "/" is escaped too.
	l.uri = "ldapi://" + url.QueryEscape(dir+"/ldapi")
	if err := gunzipTo(dir+"/kerberos.schema", kerberosSchemaGzip); err != nil {
		return fmt.Errorf("krbtest: MIT's LDAP schema: %w", err)
	}
	conf := strings.Join([]string{
		"include " + ldapSchemaDir + "/core.schema",
		"include " + ldapSchemaDir + "/cosine.schema",
		"include " + ldapSchemaDir + "/nis.schema",
		"include " + dir + "/kerberos.schema",
		"pidfile " + dir + "/slapd.pid",
		"modulepath " + ldapModuleDir,
		"moduleload back_mdb",
		"database mdb",
		"maxsize 104857600",
		"suffix \"" + ldapSuffix + "\"",
		"rootdn \"" + ldapAdminDN + "\"",
		"rootpw " + l.password,
		"directory " + dir + "/db",
		"",
	}, "\n")
	if err := os.WriteFile(dir+"/slapd.conf", []byte(conf), 0o600); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	base := "dn: " + ldapSuffix + "\nobjectClass: domain\ndc: gsskit\n\n" +
		"dn: " + ldapContainer + "\nobjectClass: krbContainer\ncn: krbContainer\n"
	if err := os.WriteFile(dir+"/base.ldif", []byte(base), 0o600); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	slapadd, _ := LookPath("slapadd")
	if out, err := exec.CommandContext(ctx, slapadd, "-f", dir+"/slapd.conf", "-l", dir+"/base.ldif").CombinedOutput(); err != nil {
		return fmt.Errorf("krbtest: slapadd: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	slapd, _ := LookPath("slapd")
	// -d 0 keeps slapd in the foreground (our child, killed with us)
	// without debug output.
	c := exec.Command(slapd, "-d", "0", "-f", dir+"/slapd.conf", "-h", l.uri)
	c.Stdout, c.Stderr = l.out, l.out
	c.Dir = dir
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return fmt.Errorf("krbtest: starting slapd: %w", err)
	}
	l.cmd = c
	go func() {
		l.err = c.Wait()
		close(l.exited)
	}()
	r.ldap = l
	// Poll until a connection is taken rather than sleep a guessed time.
	// The socket file appears at bind(), before listen(), so its
	// existence proves nothing: connecting does.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if conn, err := net.Dial("unix", dir+"/ldapi"); err == nil {
			conn.Close()
			break
		}
		select {
		case <-l.exited:
			return fmt.Errorf("krbtest: slapd exited during start-up (%v)\n%s", l.err, strings.TrimSpace(l.out.String()))
		case <-ctx.Done():
			return fmt.Errorf("krbtest: slapd start-up interrupted: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("krbtest: slapd not listening after 15s\n%s", strings.TrimSpace(l.out.String()))
		}
	}
	if err := os.WriteFile(r.path("kadm5.acl"), nil, 0o600); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	return r.writeKDCConf(88)
}

func gunzipTo(dst, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// writeDBModules adds the [dbmodules] section that points MIT's KDB
// library at the server.
func (l *ldapServer) writeDBModules(b *strings.Builder) {
	fmt.Fprintf(b, "\n[dbmodules]\n\t%s = {\n", ldapModule)
	fmt.Fprintf(b, "\t\tdb_library = kldap\n")
	fmt.Fprintf(b, "\t\tldap_kerberos_container_dn = %s\n", ldapContainer)
	fmt.Fprintf(b, "\t\tldap_kdc_dn = %s\n", ldapAdminDN)
	fmt.Fprintf(b, "\t\tldap_kadmind_dn = %s\n", ldapAdminDN)
	fmt.Fprintf(b, "\t\tldap_service_password_file = %s\n", l.dir+"/service.pw")
	fmt.Fprintf(b, "\t\tldap_servers = %s\n", l.uri)
	fmt.Fprintf(b, "\t\tldap_conns_per_server = 2\n")
	fmt.Fprintf(b, "\t}\n")
}

// createLDAPDB stores the bind password for the KDC and kadmin.local and
// creates the realm's entries (kdb5_ldap_util create, with a stash).
func (r *Realm) createLDAPDB(ctx context.Context) error {
	bin, err := LookPath("kdb5_ldap_util")
	if err != nil {
		return err
	}
	l := r.ldap
	stash := r.Cmd(ctx, bin, "-D", ldapAdminDN, "-w", l.password, "stashsrvpw", "-f", l.dir+"/service.pw", ldapAdminDN)
	stash.Stdin = strings.NewReader(l.password + "\n" + l.password + "\n")
	if out, err := stash.CombinedOutput(); err != nil {
		return fmt.Errorf("krbtest: kdb5_ldap_util stashsrvpw: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	create := r.Cmd(ctx, bin, "-D", ldapAdminDN, "-w", l.password, "-H", l.uri,
		"create", "-subtrees", ldapSuffix, "-r", r.name, "-s", "-P", randomPassword())
	if out, err := create.CombinedOutput(); err != nil {
		return fmt.Errorf("krbtest: kdb5_ldap_util create for %s: %v\n%s", r.name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (l *ldapServer) stop() error {
	if l.cmd == nil {
		return nil
	}
	select {
	case <-l.exited:
		return nil
	default:
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	l.cmd.Process.Kill()
	<-l.exited
	return nil
}

// IsLDAP reports whether the realm's database is in LDAP.
func (r *Realm) IsLDAP() bool { return r.ldap != nil }

// validFlag accepts kadmin's "+name" / "-name" principal flags.
func validFlag(f string) bool {
	if len(f) < 2 || f[0] != '+' && f[0] != '-' {
		return false
	}
	for _, c := range f[1:] {
		if !(c >= 'a' && c <= 'z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Modprinc changes a principal's flags (kadmin's modprinc), e.g.
// "+ok_to_auth_as_delegate" or "-requires_preauth". The KDC reads the
// database on every request, so the change applies at once.
func (r *Realm) Modprinc(ctx context.Context, principal string, flags ...string) error {
	p, err := r.qualify(principal)
	if err != nil {
		return err
	}
	if len(flags) == 0 {
		return nil
	}
	for _, f := range flags {
		if !validFlag(f) {
			return fmt.Errorf("krbtest: bad principal flag %q for %s", f, p)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.kadmin(ctx, "modprinc "+strings.Join(flags, " ")+" "+p, "")
	return err
}

// ErrNeedsLDAP is returned by AllowDelegation on a DB2 realm.
var ErrNeedsLDAP = errors.New("krbtest: constrained delegation needs a realm started with Config.LDAP")

// AllowDelegation lets service get tickets to targets in other users'
// names by S4U2Proxy: MIT's traditional constrained delegation, kept in
// the service's krbAllowedToDelegateTo attribute. It adds to what is
// already allowed.
func (r *Realm) AllowDelegation(ctx context.Context, service string, targets ...string) error {
	if r.ldap == nil {
		return ErrNeedsLDAP
	}
	p, err := r.qualify(service)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dn: krbPrincipalName=%s,cn=%s,%s\nchangetype: modify\nadd: krbAllowedToDelegateTo\n", p, r.name, ldapContainer)
	for _, t := range targets {
		tp, err := r.qualify(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "krbAllowedToDelegateTo: %s\n", tp)
	}
	bin, err := LookPath("ldapmodify")
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := exec.CommandContext(ctx, bin, "-x", "-H", r.ldap.uri, "-D", ldapAdminDN, "-w", r.ldap.password)
	c.Stdin = strings.NewReader(b.String())
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("krbtest: allowing %s to delegate to %s: ldapmodify: %v\n%s", p, strings.Join(targets, ", "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
