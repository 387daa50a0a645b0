package proxyd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
	"github.com/gsskit/gsskit/proxyd"
)

// allow_client_ccache_sync: a service with no ccache of its own hands the
// credential back, with the tickets the call got, in INIT_SEC_CONTEXT's
// sync_creds result option when the client sent sync_modified_creds =
// "default"; the C interposer keeps it in the client's ccache.

// syncRealm is interopRealm with syncer/localhost, the principal the
// services below initiate as from its keytab.
func syncRealm(t *testing.T) *krbtest.Realm {
	t.Helper()
	r := interopRealm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.AddService(ctx, krbtest.Service{Principal: "syncer/localhost"}); err != nil {
		t.Fatal(err)
	}
	return r
}

func syncService(r *krbtest.Realm, name string, allow bool) proxytest.Service {
	return proxytest.Service{Name: name, Keytab: r.Keytab("syncer/localhost"), Trusted: true, AllowClientCCacheSync: allow}
}

// tgsCount is how many service tickets for target the KDC has issued to
// client.
func tgsCount(r *krbtest.Realm, client, target string) int {
	n := 0
	for _, l := range strings.Split(r.KDCLog(), "\n") {
		if strings.Contains(l, "TGS_REQ") && strings.Contains(l, "ISSUE") &&
			strings.Contains(l, " "+r.Principal(client)+" for "+r.Principal(target)) {
			n++
		}
	}
	return n
}

func klist(t *testing.T, r *krbtest.Realm, ccache string) (string, error) {
	t.Helper()
	bin := krbtest.LookPathT(t, "klist", "krb5-user")
	c := exec.Command(bin, "-c", ccache)
	c.Env = append(os.Environ(), r.Env()...)
	out, err := c.CombinedOutput()
	return string(out), err
}

// envValue is key's value in env; the last one wins, as in exec.Cmd.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if s, ok := strings.CutPrefix(kv, key+"="); ok {
			v = s
		}
	}
	return v
}

func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// restartDaemon stops d and starts the same configuration again: gsskit's
// in the same directory (so with the same handle secret, and none of the
// credentials it had in memory), the reference in a new one (its handle
// key comes from the service's keytab).
func restartDaemon(t *testing.T, r *krbtest.Realm, d proxytest.Daemon) proxytest.Daemon {
	t.Helper()
	cfg := d.Layout().Config
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	switch d.(type) {
	case *proxytest.Reference:
		return proxytest.StartReference(t, r, cfg)
	case *proxytest.Gsskit:
		g, err := proxytest.LaunchGsskit(d.Layout().Dir, r, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := g.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("gsskit daemon log after the restart:\n%s", g.Log())
			}
		})
		return g
	}
	t.Fatalf("cannot restart a %T", d)
	return nil
}

// An unmodified MIT gss-client, with no credentials of its own, initiates
// through the C interposer. With sync allowed, its ccache ends up holding
// the daemon's credential (the interposer's "Encrypted/Credentials/v1@
// X-GSSPROXY:" entry, an XDR gssx_cred) with the service ticket the run
// got; without, the ccache is never written.
//
// That the ticket is in there is shown for gsskit's daemon by opening the
// handle with its secret, and for the reference (whose handles only it
// can open) by behaviour: after a restart, which loses the per-call
// memory ccaches the reference keeps tickets in, a second gss-client with
// the same ccache gets no new service ticket with sync, and one without.
// (gsskit's daemon runs in the test process, where a restart keeps its
// memory ccaches, so the second run would not tell.)
func TestClientCCacheSyncInterposer(t *testing.T) {
	r := syncRealm(t)
	for _, k := range proxytest.DaemonKinds {
		for _, allow := range []bool{true, false} {
			mode := "nosync"
			if allow {
				mode = "sync"
			}
			t.Run(k.Name+"/"+mode, func(t *testing.T) {
				// A service name of its own: gsskit's daemons in this
				// process share memory ccaches by service name.
				svc := "interp-" + mode
				d := k.Start(t, r, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{syncService(r, svc, allow)}})
				env := proxytest.ClientEnv(t, r, d.Socket(svc), proxytest.RemoteOnly)
				ccache := envValue(env, "KRB5CCNAME")
				run := func(msg string) {
					t.Helper()
					_, srvOut := proxytest.RunGSSSample(t, proxytest.LocalEnv(t, r, ""), env, msg, "-keytab", r.Keytab("host/localhost"))
					proxytest.WantContains(t, "gss-server output", srvOut, `Accepted connection: "`+r.Principal("syncer/localhost")+`"`)
				}
				before := tgsCount(r, "syncer/localhost", "host/localhost")
				run("first")
				if got := tgsCount(r, "syncer/localhost", "host/localhost") - before; got != 1 {
					t.Fatalf("first run: %d service tickets issued, want 1", got)
				}
				held, err := proxyCredInCCache(strings.TrimPrefix(ccache, "FILE:"))
				if !allow {
					if held != nil || err == nil || !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("without sync the client's ccache was written: %+v, %v", held, err)
					}
					if _, ok := d.(*proxytest.Reference); !ok {
						return
					}
				} else {
					if err != nil {
						t.Fatalf("with sync, the client's ccache: %v", err)
					}
					if got := string(held.DesiredName.Display); got != r.Principal("syncer/localhost") || len(held.HandleRef) == 0 {
						t.Fatalf("the credential in the client's ccache is for %q with a %d-byte handle", got, len(held.HandleRef))
					}
					list, err := klist(t, r, ccache)
					if err != nil {
						t.Fatalf("klist: %v\n%s", err, list)
					}
					proxytest.WantContains(t, "klist of the client's ccache", list, "Default principal: "+r.Principal("syncer/localhost"))
					if g, ok := d.(*proxytest.Gsskit); ok {
						wantTicketInHandle(t, r, g, svc, held.HandleRef, r.Principal("host/localhost"))
						return
					}
				}
				d = restartDaemon(t, r, d)
				env = withEnv(env, "GSSPROXY_SOCKET", d.Socket(svc))
				before = tgsCount(r, "syncer/localhost", "host/localhost")
				run("second")
				got := tgsCount(r, "syncer/localhost", "host/localhost") - before
				switch {
				case allow && got != 0:
					t.Errorf("second run with the synced credential in the client's ccache: %d new service tickets, want 0 (the first run's ticket)", got)
				case !allow && got != 1:
					t.Errorf("second run without sync: %d new service tickets, want 1", got)
				}
			})
		}
	}
}

// syncCall is one INIT_SEC_CONTEXT for host@localhost over the Go client.
func syncCall(t *testing.T, sock string, cred *gssproxy.Cred, opts ...gssproxy.Option) *gssproxy.InitSecContextRes {
	t.Helper()
	c := gssproxy.NewClient(&gssproxy.Config{Socket: sock})
	defer c.Close()
	res, err := c.InitSecContext(context.Background(), &gssproxy.InitSecContextArg{
		Cred:       cred,
		TargetName: gssproxy.NewName("host@localhost", gss.NTHostbasedService),
		Mech:       gss.MechKrb5,
		ReqFlags:   uint64(gss.FlagMutual),
		Options:    opts,
	})
	if err != nil {
		t.Fatalf("init_sec_context: %v", err)
	}
	if res.OutputToken == nil || len(*res.OutputToken) == 0 {
		t.Fatal("init_sec_context: no AP-REQ")
	}
	return res
}

func syncedCred(t *testing.T, res *gssproxy.InitSecContextRes) *gssproxy.Cred {
	t.Helper()
	v, ok := gssproxy.FindOption(res.Options, gssproxy.OptSyncCreds)
	if !ok {
		return nil
	}
	var gc gssproxy.Cred
	if err := oncrpc.Unmarshal(v, &gc); err != nil {
		t.Fatalf("sync_creds value is not an XDR gssx_cred: %v", err)
	}
	return &gc
}

// The rule, call by call, over the Go client, side by side: which calls
// get sync_creds back, and what it holds.
func TestClientCCacheSyncProtocol(t *testing.T) {
	r := syncRealm(t)
	syncOpt := gssproxy.CStringOption(gssproxy.OptSyncModifiedCreds, gssproxy.ValSyncDefault)
	otherOpt := gssproxy.CStringOption(gssproxy.OptSyncModifiedCreds, "always")
	for _, k := range proxytest.DaemonKinds {
		t.Run(k.Name, func(t *testing.T) {
			dir := proxytest.ShortTempDir(t)
			withCCache := syncService(r, "proto-ccache", true)
			withCCache.CCache = "FILE:" + filepath.Join(dir, "svc-%U.ccache")
			d := k.Start(t, r, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{
				syncService(r, "proto-sync", true), syncService(r, "proto-nosync", false), withCCache,
			}})
			acquire := func(svc string) *gssproxy.Cred {
				c := gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket(svc)})
				defer c.Close()
				res, err := c.AcquireCred(context.Background(), &gssproxy.AcquireCredArg{Usage: gssproxy.CredInitiate, DesiredMechs: gss.OIDSet{gss.MechKrb5}})
				if err != nil || res.OutputCred == nil {
					t.Fatalf("%s: acquire_cred: %v", svc, err)
				}
				return res.OutputCred
			}
			want := r.Principal("syncer/localhost")

			// The service that syncs: a fresh credential comes back
			// with the service ticket the call got.
			h := acquire("proto-sync")
			if syncedCred(t, syncCall(t, d.Socket("proto-sync"), h)) != nil {
				t.Error("sync service, no option: sync_creds returned")
			}
			if syncedCred(t, syncCall(t, d.Socket("proto-sync"), h, otherOpt)) != nil {
				t.Error(`sync service, sync_modified_creds = "always": sync_creds returned`)
			}
			h = acquire("proto-sync")
			synced := syncedCred(t, syncCall(t, d.Socket("proto-sync"), h, syncOpt))
			if synced == nil {
				t.Fatal("sync service: the call that got a service ticket returned no sync_creds")
			}
			if got := string(synced.DesiredName.Display); got != want || len(synced.HandleRef) == 0 || len(synced.Elements) != 1 {
				t.Errorf("sync_creds: name %q (want %q), %d-byte handle, %d elements", got, want, len(synced.HandleRef), len(synced.Elements))
			}
			if g, ok := d.(*proxytest.Gsskit); ok {
				wantTicketInHandle(t, r, g, "proto-sync", synced.HandleRef, r.Principal("host/localhost"))
			}
			// The synced credential already has the ticket: using it
			// gets none, changes nothing and so syncs nothing. (The
			// reference keeps no tickets between calls, so for it this
			// shows the ticket is in the synced credential.)
			before := tgsCount(r, "syncer/localhost", "host/localhost")
			if syncedCred(t, syncCall(t, d.Socket("proto-sync"), synced, syncOpt)) != nil {
				t.Error("sync service: a call that changed nothing returned sync_creds")
			}
			if got := tgsCount(r, "syncer/localhost", "host/localhost") - before; got != 0 {
				t.Errorf("%d service tickets issued for a call with the synced credential; want 0", got)
			}
			// No credential in the call: the daemon acquires one, and
			// the client gets it.
			if synced := syncedCred(t, syncCall(t, d.Socket("proto-sync"), nil, syncOpt)); synced == nil || string(synced.DesiredName.Display) != want {
				t.Errorf("sync service, call without a credential: sync_creds %+v", synced)
			}

			// Services that do not sync.
			for _, svc := range []string{"proto-nosync", "proto-ccache"} {
				if syncedCred(t, syncCall(t, d.Socket(svc), acquire(svc), syncOpt)) != nil {
					t.Errorf("%s service: sync_creds returned", svc)
				}
				if syncedCred(t, syncCall(t, d.Socket(svc), nil, syncOpt)) != nil {
					t.Errorf("%s service, call without a credential: sync_creds returned", svc)
				}
			}
		})
	}
}

// wantTicketInHandle opens a handle of gsskit's daemon with its secret,
// writes the credential into a ccache and checks with MIT's klist that it
// holds a ticket for target.
func wantTicketInHandle(t *testing.T, r *krbtest.Realm, g *proxytest.Gsskit, svc string, handle []byte, target string) {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(g.Layout().Dir, "handle.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := proxyd.NewHandleSealer(svc, secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sealer.Open(nil, handle)
	if err != nil {
		t.Fatalf("the synced handle does not open: %v", err)
	}
	reg, err := proxytest.GsskitRegistry(r.Env())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := reg.ImportCredential(tok)
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Release()
	cc := filepath.Join(t.TempDir(), "synced.ccache")
	if _, err := cred.Store(&gss.StoreConfig{Usage: gss.CredInitiate, Overwrite: true, Store: gss.CredStore{"ccache": "FILE:" + cc}}); err != nil {
		t.Fatal(err)
	}
	list, err := klist(t, r, "FILE:"+cc)
	if err != nil {
		t.Fatalf("klist: %v\n%s", err, list)
	}
	proxytest.WantContains(t, "klist of the synced credential", list, "krbtgt/"+r.Name()+"@"+r.Name(), target)
}

// proxyCredInCCache reads a FILE ccache (version 4, as MIT writes it) and
// returns the gssx_cred the interposer stored in it as the ticket of
// "Encrypted/Credentials/v1@X-GSSPROXY:", nil if there is none.
func proxyCredInCCache(path string) (*gssproxy.Cred, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &ccReader{b: b}
	if v := r.u16(); v != 0x0504 {
		return nil, fmt.Errorf("ccache version %#x, want 0x0504", v)
	}
	r.take(int(r.u16())) // header tags
	r.principal()        // default principal
	for r.err == nil && r.off < len(r.b) {
		r.principal()
		server := r.principal()
		r.u16()             // key type
		r.data()            // key
		r.take(4*4 + 1 + 4) // times, is_skey, flags
		for range r.u32() { // addresses
			r.u16()
			r.data()
		}
		for range r.u32() { // authdata
			r.u16()
			r.data()
		}
		ticket := r.data()
		r.data() // second ticket
		if r.err == nil && server == "Encrypted/Credentials/v1@X-GSSPROXY:" {
			var gc gssproxy.Cred
			if err := oncrpc.Unmarshal(ticket, &gc); err != nil {
				return nil, fmt.Errorf("the X-GSSPROXY entry is not an XDR gssx_cred: %w", err)
			}
			return &gc, nil
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return nil, errors.New("no X-GSSPROXY entry in " + path)
}

type ccReader struct {
	b   []byte
	off int
	err error
}

func (r *ccReader) take(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		if r.err == nil {
			r.err = errors.New("truncated ccache")
		}
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *ccReader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *ccReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *ccReader) data() []byte { return r.take(int(r.u32())) }

// principal returns "comp/comp@realm".
func (r *ccReader) principal() string {
	r.u32() // name type
	n := r.u32()
	realm := string(r.data())
	var comps []string
	for range n {
		if r.err != nil {
			break
		}
		comps = append(comps, string(r.data()))
	}
	return strings.Join(comps, "/") + "@" + realm
}
