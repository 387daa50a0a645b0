package krbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// createDB runs kdb5_util create with a random master password and a stash
// file, so the KDC starts without prompting.
func (r *Realm) createDB(ctx context.Context) error {
	if r.ldap != nil {
		return r.createLDAPDB(ctx)
	}
	bin, err := LookPath("kdb5_util")
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, bin, "-r", r.name, "create", "-s", "-P", randomPassword())
	c.Env = append(os.Environ(), r.Env()...)
	c.Stdin = nil
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("krbtest: kdb5_util create for %s: %v\n%s", r.name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// benignStderr are lines kadmin.local prints on stderr on success.
var benignStderr = []string{
	"No policy specified for",
	"WARNING: no policy specified for",
	"Authenticating as principal",
}

// kadmin runs one kadmin.local query. kadmin.local exits 0 even when the
// query fails, so failure is read from its stderr. secret, if not empty,
// is replaced in error messages.
func (r *Realm) kadmin(ctx context.Context, query, secret string) (string, error) {
	bin, err := LookPath("kadmin.local")
	if err != nil {
		return "", err
	}
	c := exec.CommandContext(ctx, bin, "-r", r.name, "-q", query)
	c.Env = append(os.Environ(), r.Env()...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	runErr := c.Run()
	var bad []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || hasAnyPrefix(line, benignStderr) {
			continue
		}
		bad = append(bad, line)
	}
	if runErr != nil || len(bad) > 0 {
		shown := query
		if secret != "" {
			shown = strings.ReplaceAll(shown, secret, "********")
		}
		msg := strings.Join(bad, "; ")
		if runErr != nil {
			msg = strings.TrimSpace(runErr.Error() + " " + msg)
		}
		return stdout.String(), fmt.Errorf("krbtest: kadmin.local %q in %s: %s", shown, r.name, msg)
	}
	return stdout.String(), nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// qualify returns the full principal name, refusing names of another realm
// and names kadmin would split into several arguments.
func (r *Realm) qualify(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, " \t\n\"'") {
		return "", fmt.Errorf("krbtest: bad principal name %q", name)
	}
	p := r.Principal(name)
	if !strings.HasSuffix(p, "@"+r.name) {
		return "", fmt.Errorf("krbtest: principal %q is not in realm %s", name, r.name)
	}
	return p, nil
}

// AddUser creates a user principal with a password (pre-authentication
// required) and writes a client keytab with its password-derived keys.
func (r *Realm) AddUser(ctx context.Context, user, password string) error {
	p, err := r.qualify(user)
	if err != nil {
		return err
	}
	if password == "" || strings.ContainsAny(password, " \t\n\"'") {
		return fmt.Errorf("krbtest: password for %s must be non-empty and free of spaces and quotes", p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.kadmin(ctx, fmt.Sprintf("addprinc -pw %s %s", password, p), password); err != nil {
		return err
	}
	r.users[p] = password
	// -norandkey exports the existing keys instead of replacing them,
	// so the password keeps working.
	return r.ktadd(ctx, r.ClientKeytab(p), p)
}

// AddService creates a service principal with random keys and writes its
// keytab; the default keytab is extended with its keys too.
func (r *Realm) AddService(ctx context.Context, s Service) error {
	p, err := r.qualify(s.Principal)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := "addprinc -randkey"
	if len(s.Enctypes) > 0 {
		q += " -e " + strings.ReplaceAll(withSalt(s.Enctypes), " ", ",")
	}
	for _, f := range s.Flags {
		if !validFlag(f) {
			return fmt.Errorf("krbtest: bad principal flag %q for %s", f, p)
		}
		q += " " + f
	}
	if _, err := r.kadmin(ctx, q+" "+p, ""); err != nil {
		return err
	}
	if len(s.Enctypes) > 0 {
		// MIT's KDC assumes every service can use an aes256-sha1 session
		// key, whatever its long-term keys are. A service limited to
		// other enctypes must say so, or its tickets carry aes256-sha1
		// session keys and the limit is not tested at all.
		if _, err := r.kadmin(ctx, "setstr "+p+" session_enctypes "+strings.Join(bareEnctypes(s.Enctypes), ","), ""); err != nil {
			return err
		}
	}
	s.Principal = p
	r.services[p] = s
	if err := r.ktadd(ctx, r.Keytab(p), p); err != nil {
		return err
	}
	return r.ktadd(ctx, r.DefaultKeytab(), p)
}

// bareEnctypes strips the ":salt" of key/salt pairs.
func bareEnctypes(enctypes []string) []string {
	out := make([]string, len(enctypes))
	for i, e := range enctypes {
		out[i], _, _ = strings.Cut(e, ":")
	}
	return out
}

// ktadd appends principal's current keys (unchanged) to the keytab file.
func (r *Realm) ktadd(ctx context.Context, keytab, principal string) error {
	_, err := r.kadmin(ctx, fmt.Sprintf("ktadd -norandkey -k %s %s", keytab, principal), "")
	return err
}

// Keytab is the path of the keytab holding the current keys of a service
// added by Config.Services or AddService. For any other name the file does
// not exist.
func (r *Realm) Keytab(principal string) string {
	return r.path("keytabs/" + fileName(r.Principal(principal)) + ".keytab")
}

// ClientKeytab is the path of the keytab holding a user's password-derived
// keys, for initiators that acquire credentials from a client keytab.
func (r *Realm) ClientKeytab(user string) string {
	return r.path("keytabs/client-" + fileName(r.Principal(user)) + ".keytab")
}

// Password returns the password a user was created with.
func (r *Realm) Password(user string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pw, ok := r.users[r.Principal(user)]
	return pw, ok
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func fileName(principal string) string { return unsafeFileChars.ReplaceAllString(principal, "_") }

var keyVNO = regexp.MustCompile(`(?m)^Key: vno (\d+),`)

// KVNO returns the current key version number of a principal, as the KDC
// database holds it.
func (r *Realm) KVNO(ctx context.Context, principal string) (int, error) {
	p, err := r.qualify(principal)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kvnoLocked(ctx, p)
}

func (r *Realm) kvnoLocked(ctx context.Context, p string) (int, error) {
	out, err := r.kadmin(ctx, "getprinc "+p, "")
	if err != nil {
		return 0, err
	}
	m := keyVNO.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("krbtest: getprinc %s shows no keys", p)
	}
	return strconv.Atoi(m[1])
}

// RotateKeys gives a service new random keys (the key version number goes
// up by one), rewrites its keytab and the default keytab with only the new
// keys, and returns the path of a copy of the previous keytab. Tickets
// issued before the rotation are encrypted in the old key: an acceptor
// using the new keytab sees a key version it lacks, and one using the old
// keytab fails on tickets issued afterwards.
func (r *Realm) RotateKeys(ctx context.Context, principal string) (oldKeytab string, err error) {
	p, err := r.qualify(principal)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.services[p]
	if !ok {
		return "", fmt.Errorf("krbtest: RotateKeys: %s is not a service of this realm", p)
	}
	kvno, err := r.kvnoLocked(ctx, p)
	if err != nil {
		return "", err
	}
	cur := r.Keytab(p)
	oldKeytab = strings.TrimSuffix(cur, ".keytab") + ".kvno" + strconv.Itoa(kvno) + ".keytab"
	if err := copyFile(oldKeytab, cur); err != nil {
		return "", fmt.Errorf("krbtest: RotateKeys: %w", err)
	}
	q := "cpw -randkey"
	if len(s.Enctypes) > 0 {
		q += " -e " + strings.ReplaceAll(withSalt(s.Enctypes), " ", ",")
	}
	if _, err := r.kadmin(ctx, q+" "+p, ""); err != nil {
		return "", err
	}
	if err := os.Remove(cur); err != nil {
		return "", fmt.Errorf("krbtest: RotateKeys: %w", err)
	}
	if err := r.ktadd(ctx, cur, p); err != nil {
		return "", err
	}
	// The default keytab is rebuilt from scratch so it never holds keys
	// the KDC no longer has.
	if err := os.Remove(r.DefaultKeytab()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("krbtest: RotateKeys: %w", err)
	}
	for sp := range r.services {
		if err := r.ktadd(ctx, r.DefaultKeytab(), sp); err != nil {
			return "", err
		}
	}
	return oldKeytab, nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Kinit runs MIT kinit for a user created with a password, writing a
// forwardable TGT into the FILE ccache at ccachePath (the realm's default
// ccache when empty).
func (r *Realm) Kinit(ctx context.Context, user, ccachePath string) error {
	p, err := r.qualify(user)
	if err != nil {
		return err
	}
	pw, ok := r.Password(p)
	if !ok {
		return fmt.Errorf("krbtest: Kinit: %s is not a user of this realm", p)
	}
	bin, err := LookPath("kinit")
	if err != nil {
		return err
	}
	if ccachePath == "" {
		ccachePath = r.DefaultCCache()
	}
	c := r.Cmd(ctx, bin, "-f", "-c", "FILE:"+ccachePath, p)
	// MIT kinit reads the password from stdin when it is not a terminal.
	c.Stdin = strings.NewReader(pw + "\n")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("krbtest: kinit %s: %v\n%s%s", p, err, strings.TrimSpace(string(out)),
			tailNote(r.path("kdc.log")))
	}
	return nil
}

func tailNote(logPath string) string {
	if t := logTail(logPath, 5); t != "" {
		return "\nkdc.log (last lines):\n" + t
	}
	return ""
}
