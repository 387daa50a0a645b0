package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/gsssample"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
)

const (
	user        = "alice"
	userPass    = "alice-interop-pw-7"
	hostSPN     = "host/localhost"
	hostService = "host@localhost"
	// allFlags are what the tests ask for unless they say otherwise.
	allFlags = gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg
)

// fixture is a realm with alice (kinit done) and host/localhost, and this
// process pointed at it.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	realm *krbtest.Realm
}

func newFixture(t *testing.T, extra ...krbtest.Service) *fixture {
	t.Helper()
	services := append([]krbtest.Service{{Principal: hostSPN}}, extra...)
	realm := krbtest.StartT(t, krbtest.Config{Users: map[string]string{user: userPass}, Services: services})
	realm.Setenv(t)
	realm.KinitT(t, user, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, ctx: ctx, realm: realm}
}

func (f *fixture) alice() string { return f.realm.Principal(user) }

// initiator starts a Go initiator from alice's ccache.
func (f *fixture) initiator(target string, flags gss.Flags, cb *gss.ChannelBindings) *gss.SecContext {
	f.t.Helper()
	cred, err := gsssample.InitiatorCredential(f.ctx, f.realm.DefaultCCache(), gss.MechKrb5)
	if err != nil {
		f.t.Fatalf("Go initiator credential: %v", err)
	}
	f.t.Cleanup(func() { cred.Release() })
	return f.initiatorWith(cred, target, flags, cb)
}

func (f *fixture) initiatorWith(cred *gss.Credential, target string, flags gss.Flags, cb *gss.ChannelBindings) *gss.SecContext {
	f.t.Helper()
	name, err := gss.ImportName(target, gss.NTHostbasedService)
	if err != nil {
		f.t.Fatalf("importing %s: %v", target, err)
	}
	sc, err := gss.NewInitiator(&gss.InitiatorConfig{Credential: cred, Target: name, Mech: gss.MechKrb5, Flags: flags, ChannelBindings: cb})
	if err != nil {
		f.t.Fatalf("Go NewInitiator(%s): %v", target, err)
	}
	f.t.Cleanup(func() { sc.Delete() })
	return sc
}

// acceptor starts a Go acceptor with the keytab of spn.
func (f *fixture) acceptor(spn string, cb *gss.ChannelBindings) *gss.SecContext {
	f.t.Helper()
	cred, err := gss.AcquireCredential(f.ctx, &gss.CredentialConfig{
		Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"keytab": f.realm.Keytab(spn)},
	})
	if err != nil {
		f.t.Fatalf("Go acceptor credential from the keytab of %s: %v", spn, err)
	}
	f.t.Cleanup(func() { cred.Release() })
	sc, err := gss.NewAcceptor(&gss.AcceptorConfig{Credential: cred, ChannelBindings: cb})
	if err != nil {
		f.t.Fatalf("Go NewAcceptor: %v", err)
	}
	f.t.Cleanup(func() { sc.Delete() })
	return sc
}

// goToMIT runs context establishment between a Go initiator and an MIT
// acceptor peer on which "accept" was already called. It returns the Go
// error or the MIT *peerError that stopped it.
func (f *fixture) goToMIT(ini *gss.SecContext, peer *mitPeer) error {
	f.t.Helper()
	var in []byte
	peerDone := false
	for round := 0; round < 8; round++ {
		out, err := ini.Step(f.ctx, in)
		if err != nil {
			return fmt.Errorf("Go initiator step %d: %w", round+1, err)
		}
		if len(out) == 0 {
			if ini.Done() && peerDone {
				return nil
			}
			return fmt.Errorf("Go initiator produced no token at step %d but is not done (MIT done: %v)", round+1, peerDone)
		}
		fields, perr := peer.call("step", b64(out))
		if perr != nil {
			return perr
		}
		in, peerDone = unb64(f.t, fields[0]), fields[1] == "1"
		if ini.Done() {
			if !peerDone || len(in) != 0 {
				return fmt.Errorf("Go initiator done but MIT acceptor done=%v with a %d-byte token", peerDone, len(in))
			}
			return nil
		}
		if len(in) == 0 {
			return fmt.Errorf("MIT acceptor sent no token but the Go initiator is not done")
		}
	}
	return errors.New("context establishment did not finish in 8 rounds")
}

// mitToGo starts an MIT initiator with "init target opts..." and runs
// establishment against a Go acceptor.
func (f *fixture) mitToGo(peer *mitPeer, acc *gss.SecContext, target string, opts ...string) error {
	f.t.Helper()
	fields, perr := peer.call("init", append([]string{target}, opts...)...)
	if perr != nil {
		return perr
	}
	tok, peerDone := unb64(f.t, fields[0]), fields[1] == "1"
	for round := 0; round < 8; round++ {
		if len(tok) == 0 {
			if peerDone && acc.Done() {
				return nil
			}
			return fmt.Errorf("MIT initiator sent no token but Go acceptor done=%v, MIT done=%v", acc.Done(), peerDone)
		}
		out, err := acc.Step(f.ctx, tok)
		if err != nil {
			return fmt.Errorf("Go acceptor step %d: %w", round+1, err)
		}
		if len(out) == 0 {
			if acc.Done() && peerDone {
				return nil
			}
			return fmt.Errorf("Go acceptor produced no token at step %d but done=%v, MIT done=%v", round+1, acc.Done(), peerDone)
		}
		fields, perr := peer.call("step", b64(out))
		if perr != nil {
			return perr
		}
		tok, peerDone = unb64(f.t, fields[0]), fields[1] == "1"
	}
	return errors.New("context establishment did not finish in 8 rounds")
}

// pairGoInit returns an established Go initiator and its MIT acceptor.
func (f *fixture) pairGoInit(target string, flags gss.Flags) (*gss.SecContext, *mitPeer) {
	f.t.Helper()
	peer := startPeer(f.t, f.realm, "acceptor")
	peer.must("accept")
	ini := f.initiator(target, flags, nil)
	if err := f.goToMIT(ini, peer); err != nil {
		f.t.Fatalf("Go initiator -> MIT acceptor for %s: %v", target, err)
	}
	return ini, peer
}

// pairMITInit returns an MIT initiator and its established Go acceptor.
func (f *fixture) pairMITInit(target, spn string, flags gss.Flags) (*mitPeer, *gss.SecContext) {
	f.t.Helper()
	peer := startPeer(f.t, f.realm, "initiator")
	acc := f.acceptor(spn, nil)
	if err := f.mitToGo(peer, acc, target, fmt.Sprintf("flags=%d", flags)); err != nil {
		f.t.Fatalf("MIT initiator -> Go acceptor for %s: %v", target, err)
	}
	return peer, acc
}

// flip returns a copy of b with one bit of byte i (from the end if
// negative) inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	if i < 0 {
		i += len(c)
	}
	c[i] ^= 0x01
	return c
}

// message returns a test message of n bytes that differs per i.
func message(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

// pinSessionEnctype makes the KDC issue session keys of the service's own
// enctype. Without the session_enctypes string attribute MIT's KDC assumes
// every service also handles aes-sha1 session keys and picks the client's
// first choice, so a service with only aes256-sha384 keys would still get
// tickets whose session key (and so every GSS token) is aes256-sha1.
func (f *fixture) pinSessionEnctype(spn, enctype string) {
	f.t.Helper()
	kadmin := krbtest.LookPathT(f.t, "kadmin.local", "krb5-admin-server")
	princ := f.realm.Principal(spn)
	out, err := f.realm.Cmd(f.ctx, kadmin, "-r", f.realm.Name(), "-q", "setstr "+princ+" session_enctypes "+enctype).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error")) || bytes.Contains(out, []byte("rror")) {
		f.t.Fatalf("kadmin.local setstr %s session_enctypes %s: %v\n%s", princ, enctype, err, out)
	}
}

// preferEnctype writes a copy of the realm's krb5.conf whose enctype lists
// put enctype first and returns its path. The per-message key of a krb5
// context is the acceptor subkey, whose enctype MIT's acceptor picks as the
// first of its own permitted_enctypes that the initiator's RFC 4537 list
// offers; with the realm's defaults that is aes256-sha1 whatever the ticket.
// Only when both sides prefer an enctype does it protect the messages.
func (f *fixture) preferEnctype(enctype string) string {
	f.t.Helper()
	conf, err := os.ReadFile(f.realm.Krb5Conf())
	if err != nil {
		f.t.Fatal(err)
	}
	order := []string{enctype}
	for _, e := range krbtest.DefaultEnctypes {
		if e != enctype {
			order = append(order, e)
		}
	}
	lines := strings.Split(string(conf), "\n")
	changed := 0
	for i, l := range lines {
		key, _, ok := strings.Cut(strings.TrimSpace(l), "=")
		switch strings.TrimSpace(key) {
		case "default_tkt_enctypes", "default_tgs_enctypes", "permitted_enctypes":
			if ok {
				lines[i] = "\t" + strings.TrimSpace(key) + " = " + strings.Join(order, " ")
				changed++
			}
		}
	}
	if changed == 0 {
		f.t.Fatalf("the realm's krb5.conf has no enctype lists to reorder")
	}
	path := filepath.Join(f.t.TempDir(), "krb5-"+enctype+".conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}
