package proxyd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
)

// The reference's t_multi_key: a trusted service whose keytab holds the
// keys of several principals, and a krb5_principal naming the one to
// initiate as. An MIT client with no credentials of its own calls
// gss_init_sec_context with GSS_C_NO_CREDENTIAL through the interposer;
// the daemon must log in with the named principal's key, not the
// keytab's first entry. Both principals are tried in turn, the second
// after rewriting krb5_principal and reloading, and the acceptor (a plain
// MIT gss-server with the target's keytab) must see each as the
// initiator.
//
// The keytab here is harder than the reference's (one key per principal):
// its first entry is a stale key version of multi/localhost (the KDC has
// rotated that principal's keys since), multi$ has keys of two enctypes
// and requires pre-authentication, and the current multi/localhost keys
// come last.

// concatKeytabs writes dst with the entries of each src keytab, in order.
// A version 2 keytab is a two-byte version and length-prefixed entries, so
// the entries of several files can follow one header.
func concatKeytabs(dst string, srcs ...string) error {
	out := []byte{5, 2}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			return err
		}
		if len(b) < 2 || b[0] != 5 || b[1] != 2 {
			return fmt.Errorf("%s is not a version 2 keytab", s)
		}
		out = append(out, b[2:]...)
	}
	return os.WriteFile(dst, out, 0o600)
}

// backdateKeytab moves the timestamp of every entry of a version 2 keytab
// back by d, as if its keys had been written that much earlier.
func backdateKeytab(path string, d time.Duration) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	be := binary.BigEndian
	for off := 2; off+4 <= len(b); {
		n := int(int32(be.Uint32(b[off:])))
		off += 4
		if n < 0 {
			off -= n
			continue
		}
		if off+n > len(b) {
			return errors.New("truncated keytab entry")
		}
		e := b[off : off+n]
		comps := int(be.Uint16(e))
		p := 2
		for range comps + 1 { // realm, then the components
			p += 2 + int(be.Uint16(e[p:]))
		}
		p += 4 // name type
		ts := be.Uint32(e[p:])
		be.PutUint32(e[p:], ts-uint32(d/time.Second))
		off += n
	}
	return os.WriteFile(path, b, 0o600)
}

// keytabEntries lists "principal kvno enctype" for each entry of a version
// 2 keytab, to show in failures what the daemon was given.
func keytabEntries(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, errors.New("short keytab")
	}
	var out []string
	be := binary.BigEndian
	for r := b[2:]; len(r) >= 4; {
		n := int32(be.Uint32(r))
		r = r[4:]
		if n < 0 { // a hole
			r = r[min(int(-n), len(r)):]
			continue
		}
		if int(n) > len(r) {
			return out, errors.New("truncated entry")
		}
		e := r[:n]
		r = r[n:]
		str := func() string {
			l := int(be.Uint16(e))
			s := string(e[2 : 2+l])
			e = e[2+l:]
			return s
		}
		comps := int(be.Uint16(e))
		e = e[2:]
		realm := str()
		var parts []string
		for range comps {
			parts = append(parts, str())
		}
		e = e[4+4:] // name type, timestamp
		kvno := int(e[0])
		et := be.Uint16(e[1:])
		kl := int(be.Uint16(e[3:]))
		if rest := e[5+kl:]; len(rest) >= 4 {
			if v := be.Uint32(rest); v != 0 {
				kvno = int(v)
			}
		}
		out = append(out, fmt.Sprintf("%s@%s kvno %d enctype %d", strings.Join(parts, "/"), realm, kvno, et))
	}
	return out, nil
}

// multiKeytab creates multi/localhost (with its keys rotated once) and
// multi$ in r, and returns a keytab with a stale multi/localhost key
// first, then multi$'s two keys, then multi/localhost's current keys.
func multiKeytab(t *testing.T, r *krbtest.Realm) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.AddService(ctx, krbtest.Service{Principal: "multi/localhost", Enctypes: []string{"aes256-cts-hmac-sha1-96"}}); err != nil {
		t.Fatal(err)
	}
	stale, err := r.RotateKeys(ctx, "multi/localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddService(ctx, krbtest.Service{
		Principal: "multi$",
		Enctypes:  []string{"aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96"},
		Flags:     []string{"+requires_preauth"},
	}); err != nil {
		t.Fatal(err)
	}
	// The stale key was written a day before the rotation, as it would
	// be in a keytab kept across a real one.
	if err := backdateKeytab(stale, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	kt := filepath.Join(t.TempDir(), "multi.keytab")
	if err := concatKeytabs(kt, stale, r.Keytab("multi$"), r.Keytab("multi/localhost")); err != nil {
		t.Fatal(err)
	}
	ents, err := keytabEntries(kt)
	if err != nil {
		t.Fatal(err)
	}
	// The point of the exercise: the first entry is neither principal's
	// usable key.
	if len(ents) != 4 || !strings.HasPrefix(ents[0], r.Principal("multi/localhost")+" kvno 1 ") ||
		!strings.HasPrefix(ents[3], r.Principal("multi/localhost")+" kvno 2 ") {
		t.Fatalf("multi keytab entries: %q", ents)
	}
	t.Logf("multi keytab: %q", ents)
	return kt
}

// acquireInitiate asks sock for the service's default initiator credential
// and returns the name it is for.
func acquireInitiate(sock string) (string, *gssproxy.Status, error) {
	return acquireDefault(sock, gssproxy.CredInitiate)
}

// reloadDaemon writes cfg over d's configuration and makes d load it:
// SIGHUP for the reference, Reload for gsskit's.
func reloadDaemon(t *testing.T, d proxytest.Daemon, cfg proxytest.Config) {
	t.Helper()
	switch dd := d.(type) {
	case *proxytest.Reference:
		if _, err := proxytest.WriteConfig(d.Layout().Dir, cfg); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(dd.PID(), syscall.SIGHUP)
	case *proxytest.Gsskit:
		if _, err := dd.Rewrite(cfg); err != nil {
			t.Fatal(err)
		}
		if err := dd.Daemon().Reload(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot reload a %T", d)
	}
}

func multiService(kt, principal string) proxytest.Config {
	return proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{{
		Name: "test", Keytab: kt, KRB5Principal: principal,
		Trusted: true, AllowClientCCacheSync: true,
	}}}
}

func TestMultiKeyKeytab(t *testing.T) {
	r := interopRealm(t)
	kt := multiKeytab(t, r)
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			var d proxytest.Daemon
			for i, p := range []string{"multi$", "multi/localhost"} {
				cfg := multiService(kt, p)
				if i == 0 {
					d = k.Start(t, r, cfg)
				} else {
					reloadDaemon(t, d, cfg)
				}
				// The reference reloads asynchronously: wait until the
				// service initiates as the new principal.
				var got string
				var st *gssproxy.Status
				var err error
				for range 500 {
					if got, st, err = acquireInitiate(d.Socket("test")); err == nil && got == r.Principal(p) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if got != r.Principal(p) {
					t.Fatalf("krb5_principal %s: default initiator credential is %q (status %+v, err %v)", p, got, st, err)
				}
				srv := proxytest.StartGSSServer(t, proxytest.LocalEnv(t, r, ""), "host@localhost", "-keytab", r.Keytab("host/localhost"))
				out, err := proxytest.RunGSSClient(t, proxytest.ClientEnv(t, r, d.Socket("test"), proxytest.RemoteOnly), srv.Port, "host@localhost", "multi key "+p)
				srvOut := srv.Wait()
				if err != nil {
					t.Fatalf("krb5_principal %s: gss-client: %v\n%s\ngss-server:\n%s", p, err, out, srvOut)
				}
				proxytest.WantContains(t, "gss-server output", srvOut,
					`Accepted connection: "`+r.Principal(p)+`"`,
					`Received message: "multi key `+p+`"`)
				wantServed(t, d, "context initiated")
			}
		})
	}
}
