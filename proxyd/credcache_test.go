package proxyd_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
)

// An AP-REQ opens one context through the daemon, whichever way the
// acceptor credential reaches the call: acquired by the daemon for a call
// without one, or opened from a handle (two handles, from two clients'
// acquisitions, are two credential objects in the daemon). The reference
// relies on MIT's replay cache file; gsskit's daemon on one replay cache
// in its memory for all its acceptors.
func TestReplayedAPReqRefused(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{Services: []proxytest.Service{acceptService(r)}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket("accept")})
		defer c.Close()

		apReq := aliceAPReqs(t, r)
		handle := func() *gssproxy.Cred {
			res, err := c.AcquireCred(ctx, &gssproxy.AcquireCredArg{Usage: gssproxy.CredAccept})
			if err != nil {
				t.Fatal(err)
			}
			return res.OutputCred
		}
		accept := func(cred *gssproxy.Cred, tok []byte) error {
			_, err := c.AcceptSecContext(ctx, &gssproxy.AcceptSecContextArg{Cred: cred, InputToken: tok})
			return err
		}
		wantReplay := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s: a replayed AP-REQ was accepted", what)
			} else if !strings.Contains(strings.ToLower(err.Error()), "replay") {
				t.Errorf("%s: %v, want a replay error", what, err)
			}
		}

		h1, h2 := handle(), handle()
		tok := apReq()
		if err := accept(nil, tok); err != nil {
			t.Fatalf("first use: %v", err)
		}
		wantReplay("again without a credential", accept(nil, tok))
		wantReplay("again with a handle", accept(h1, tok))

		tok = apReq()
		if err := accept(h1, tok); err != nil {
			t.Fatalf("first use with a handle: %v", err)
		}
		wantReplay("again with the same handle", accept(h1, tok))
		wantReplay("again with another handle", accept(h2, tok))
		wantReplay("again without a credential", accept(nil, tok))
	})
}

// aliceAPReqs returns a function making AP-REQs from alice to
// host/localhost, with gsskit's krb5 in this process.
func aliceAPReqs(t *testing.T, r *krbtest.Realm) func() []byte {
	cc := filepath.Join(t.TempDir(), "alice.ccache")
	r.KinitT(t, "alice", cc)
	reg, err := proxytest.GsskitRegistry(append(r.Env(), "KRB5CCNAME=FILE:"+cc))
	if err != nil {
		t.Fatal(err)
	}
	target, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	return func() []byte {
		t.Helper()
		sc, err := reg.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: gss.FlagMutual})
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Delete()
		tok, err := sc.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// The names of an accepted context go back as the reference sends them:
// display form, type, exported token and exported composite name (which
// carries the initiator's PAC). Encoding the composite name is a good part
// of the daemon's work per accept, but the reference's interposer is owed
// it.
func TestAcceptedContextNames(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		d := start(proxytest.Config{Services: []proxytest.Service{acceptService(r)}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket("accept")})
		defer c.Close()
		res, err := c.AcceptSecContext(ctx, &gssproxy.AcceptSecContextArg{InputToken: aliceAPReqs(t, r)()})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []struct {
			side  string
			name  gssproxy.Name
			want  string
			attrs bool
		}{
			{"src_name", res.Context.SrcName, r.Principal("alice"), true},
			{"targ_name", res.Context.TargName, r.Principal("host/localhost"), false},
		} {
			if n.name.String() != n.want || n.name.NameType != gss.NTKrb5Principal || len(n.name.Exported) == 0 {
				t.Errorf("%s: %q type %s, exported %d bytes; want %s", n.side, n.name.String(), n.name.NameType, len(n.name.Exported), n.want)
			}
			if c := len(n.name.ExportedComposite); c == 0 || n.attrs && c <= len(n.name.Exported) {
				t.Errorf("%s: %d bytes of exported composite name beside %d of exported name", n.side, c, len(n.name.Exported))
			}
		}
	})
}

// The daemon keeps the credential it acquired from a cred_store, but not
// past a change to the files the store names: when someone else's tickets
// replace the ticket cache, the next call initiates with them, as an
// acquisition per call (the reference's way) would.
func TestAcquiredCredentialFollowsTicketCache(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, start func(proxytest.Config) proxytest.Daemon) {
		r := realmOf(t)
		dir := proxytest.ShortTempDir(t)
		d := start(proxytest.Config{Services: []proxytest.Service{initService(r, dir)}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket("init")})
		defer c.Close()
		initiator := func() string {
			t.Helper()
			res, err := c.InitSecContext(ctx, &gssproxy.InitSecContextArg{
				TargetName: gssproxy.NewName("host@localhost", gss.NTHostbasedService), Mech: gss.MechKrb5,
			})
			if err != nil {
				t.Fatal(err)
			}
			return res.Context.SrcName.String()
		}
		for i := range 3 {
			if got := initiator(); got != r.Principal("alice") {
				t.Fatalf("call %d: initiator %s, want alice from the client keytab", i, got)
			}
		}
		ccache := filepath.Join(dir, "init-"+strconv.Itoa(os.Getuid())+".ccache")
		if _, err := os.Stat(ccache); err != nil {
			t.Fatalf("the daemon's ticket cache: %v", err)
		}
		r.KinitT(t, "bob", ccache)
		if got := initiator(); got != r.Principal("bob") {
			t.Errorf("after bob's tickets replaced the cache: initiator %s, want bob", got)
		}
	})
}
