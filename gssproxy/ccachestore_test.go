package gssproxy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/ccache"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// The daemon's handle kept in the ccache under
// Encrypted/Credentials/v1@X-GSSPROXY:, as the C plugin keeps it, and read
// back by a later interposer, Go or C.

// storeService initiates as host/localhost, the keytab's principal, keeps
// no ccache of its own and syncs its credentials back to the client.
func storeService(realm *krbtest.Realm) proxytest.Service {
	return proxytest.Service{Name: "ipstore", Keytab: realm.Keytab("host/localhost"), Trusted: true, AllowClientCCacheSync: true}
}

// recordedLeg is one call the recorder saw, with its reply.
type recordedLeg[A, R any] struct {
	arg A
	res R
}

// recordedLegs decodes the recorder's calls of proc, each with its reply.
func recordedLegs[A, R any, PA interface {
	*A
	oncrpc.Unmarshaler
}, PR interface {
	*R
	oncrpc.Unmarshaler
}](t *testing.T, rec *proxytest.Recorder, proc uint32) []recordedLeg[A, R] {
	t.Helper()
	var legs []recordedLeg[A, R]
	for _, r := range rec.Records() {
		if r.Proc != proc {
			continue
		}
		body, err := r.Body()
		if err != nil {
			t.Fatal(err)
		}
		switch r.Dir {
		case proxytest.Call:
			legs = append(legs, recordedLeg[A, R]{})
			if err := oncrpc.Unmarshal(body, PA(&legs[len(legs)-1].arg)); err != nil {
				t.Fatal(err)
			}
		case proxytest.Reply:
			if len(legs) == 0 {
				t.Fatalf("a reply to procedure %d without a call", proc)
			}
			if err := oncrpc.Unmarshal(body, PR(&legs[len(legs)-1].res)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return legs
}

// acquireLegs are the ACQUIRE_CRED calls the recorder saw, with replies.
func acquireLegs(t *testing.T, rec *proxytest.Recorder) []recordedLeg[AcquireCredArg, AcquireCredRes] {
	t.Helper()
	return recordedLegs[AcquireCredArg, AcquireCredRes](t, rec, ProcAcquireCred)
}

// lastSyncedCred is the credential the last INIT_SEC_CONTEXT reply with
// sync_creds carried, nil if none did.
func lastSyncedCred(t *testing.T, rec *proxytest.Recorder) *Cred {
	t.Helper()
	var synced *Cred
	for _, l := range recordedLegs[InitSecContextArg, InitSecContextRes](t, rec, ProcInitSecContext) {
		if v, ok := FindOption(l.res.Options, OptSyncCreds); ok {
			var c Cred
			if err := oncrpc.Unmarshal(v, &c); err != nil {
				t.Fatal(err)
			}
			synced = &c
		}
	}
	return synced
}

func storedCredT(t *testing.T, cc string) *Cred {
	t.Helper()
	c, err := RetrieveRemoteCredForTest(cc, nil)
	if err != nil {
		t.Fatalf("reading the stored handle: %v", err)
	}
	return c
}

func initiateT(t *testing.T, realm *krbtest.Realm, reg *gss.Registry, cred *gss.Credential) {
	t.Helper()
	target, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	establishT(t, testCtx(t), reg, &gss.InitiatorConfig{Credential: cred, Target: target, Mech: gss.MechKrb5, Flags: gss.FlagMutual},
		localRegistry(t, realm), nil)
}

// One Go process acquires and keeps the handle in its ccache; a second
// interposer on the same ccache hands that handle to the daemon instead of
// asking it for a new credential, as the C plugin does (it still makes the
// ACQUIRE_CRED call, with input_cred_handle set, and the daemon answers
// with the same handle, so nothing is rewritten). A context then syncs a
// new handle, which replaces the stored one, and a default credential in a
// third interposer starts from that one.
func TestInterposerKeepsHandleInCCache(t *testing.T) {
	for _, dk := range proxytest.DaemonKinds {
		t.Run(dk.Name, func(t *testing.T) {
			realm := testRealm(t)
			d := dk.Start(t, realm, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{storeService(realm)}})
			ctx := testCtx(t)
			ccPath := filepath.Join(t.TempDir(), "shared.ccache")
			cc := "FILE:" + ccPath
			rec := proxytest.RecordT(t, d.Socket("ipstore"))
			acquire := func(reg *gss.Registry) *gss.Credential {
				t.Helper()
				cred, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cred.Release() })
				return cred
			}

			first, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, cc)
			acquire(first)
			legs := acquireLegs(t, rec)
			if len(legs) != 1 || legs[0].arg.InputCredHandle != nil || legs[0].res.OutputCred == nil {
				t.Fatalf("first acquisition: %d ACQUIRE_CRED calls, want one without an input handle: %v", len(legs), rec.Transcript().Procs())
			}
			stored := storedCredT(t, cc)
			if !bytes.Equal(stored.HandleRef, legs[0].res.OutputCred.HandleRef) {
				t.Fatal("the ccache does not hold the handle the daemon returned")
			}
			img, err := os.ReadFile(ccPath)
			if err != nil {
				t.Fatal(err)
			}
			file, err := ccache.Parse(img)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(file.Principal.Components, "/")+"@"+file.Principal.Realm, "host/localhost@"+realm.Name(); got != want {
				t.Errorf("ccache principal %s, want %s", got, want)
			}
			if len(file.Creds) != 1 || strings.Join(file.Creds[0].Server.Components, "/")+"@"+file.Creds[0].Server.Realm != RemoteCredEntryName {
				t.Fatalf("ccache entries: %+v", file.Creds)
			}

			rec.Reset()
			second, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, cc)
			cred2 := acquire(second)
			legs = acquireLegs(t, rec)
			if len(legs) != 1 {
				t.Fatalf("second interposer: %d ACQUIRE_CRED calls, want 1: %v", len(legs), rec.Transcript().Procs())
			}
			if in := legs[0].arg.InputCredHandle; in == nil || !bytes.Equal(in.HandleRef, stored.HandleRef) {
				t.Fatal("the second interposer did not hand the stored handle to the daemon")
			}
			if out := legs[0].res.OutputCred; out == nil || !bytes.Equal(out.HandleRef, stored.HandleRef) {
				t.Error("the daemon did not keep the stored handle")
			}
			if again, _ := os.ReadFile(ccPath); !bytes.Equal(again, img) {
				t.Error("an unchanged handle was written again")
			}

			rec.Reset()
			initiateT(t, realm, second, cred2)
			synced := lastSyncedCred(t, rec)
			if synced == nil {
				t.Fatalf("the context brought no sync_creds: %v", rec.Transcript().Procs())
			}
			if now := storedCredT(t, cc); !bytes.Equal(now.HandleRef, synced.HandleRef) {
				t.Error("the synced handle did not replace the stored one")
			}

			rec.Reset()
			third, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, cc)
			initiateT(t, realm, third, nil)
			legs = acquireLegs(t, rec)
			if len(legs) != 1 || legs[0].arg.InputCredHandle == nil || !bytes.Equal(legs[0].arg.InputCredHandle.HandleRef, synced.HandleRef) {
				t.Errorf("a default credential did not start from the synced handle: %v", rec.Transcript().Procs())
			}
		})
	}
}

// envValue is the last value of key in env.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// The C plugin, in MIT's gss-client, keeps the handle the daemon synced to
// it; the Go interposer on the same ccache reads it, hands it to the
// daemon and initiates with it. Then the other way: a handle the Go
// interposer stored goes to the daemon from the C plugin.
func TestInterposerSharesHandleWithCPlugin(t *testing.T) {
	for _, dk := range proxytest.DaemonKinds {
		t.Run(dk.Name, func(t *testing.T) {
			realm := testRealm(t)
			d := dk.Start(t, realm, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{storeService(realm)}})

			t.Run("CToGo", func(t *testing.T) {
				rec := proxytest.RecordT(t, d.Socket("ipstore"))
				env := proxytest.ClientEnv(t, realm, rec.Socket(), proxytest.RemoteOnly)
				cc := envValue(env, "KRB5CCNAME")
				srv := proxytest.StartGSSServer(t, proxytest.LocalEnv(t, realm, ""), "host@localhost", "-keytab", realm.Keytab("host/localhost"))
				out, err := proxytest.RunGSSClient(t, env, srv.Port, "host@localhost", "through the C plugin")
				srvOut := srv.Wait()
				if err != nil {
					t.Fatalf("gss-client: %v\n%s\ngss-server:\n%s", err, out, srvOut)
				}
				synced := lastSyncedCred(t, rec)
				if synced == nil {
					t.Fatalf("the C plugin's context brought no sync_creds: %v", rec.Transcript().Procs())
				}
				stored := storedCredT(t, cc)
				if !bytes.Equal(stored.HandleRef, synced.HandleRef) {
					t.Fatal("the C plugin's ccache entry is not the handle the daemon synced")
				}

				rec.Reset()
				reg, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, cc)
				initiateT(t, realm, reg, nil)
				legs := acquireLegs(t, rec)
				if len(legs) != 1 || legs[0].arg.InputCredHandle == nil || !bytes.Equal(legs[0].arg.InputCredHandle.HandleRef, stored.HandleRef) {
					t.Errorf("the Go interposer did not hand the C plugin's handle to the daemon: %v", rec.Transcript().Procs())
				}
			})

			t.Run("GoToC", func(t *testing.T) {
				rec := proxytest.RecordT(t, d.Socket("ipstore"))
				env := proxytest.ClientEnv(t, realm, rec.Socket(), proxytest.RemoteOnly)
				cc := envValue(env, "KRB5CCNAME")
				reg, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, cc)
				cred, err := reg.AcquireCredential(testCtx(t), &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cred.Release() })
				stored := storedCredT(t, cc)

				rec.Reset()
				srv := proxytest.StartGSSServer(t, proxytest.LocalEnv(t, realm, ""), "host@localhost", "-keytab", realm.Keytab("host/localhost"))
				out, err := proxytest.RunGSSClient(t, env, srv.Port, "host@localhost", "from the Go handle")
				srvOut := srv.Wait()
				if err != nil {
					t.Fatalf("gss-client: %v\n%s\ngss-server:\n%s", err, out, srvOut)
				}
				legs := acquireLegs(t, rec)
				if len(legs) == 0 || legs[0].arg.InputCredHandle == nil || !bytes.Equal(legs[0].arg.InputCredHandle.HandleRef, stored.HandleRef) {
					t.Errorf("the C plugin did not hand the Go interposer's handle to the daemon: %v", rec.Transcript().Procs())
				}
			})
		})
	}
}

// A ccache whose entry is damaged or not the plugin's reads as holding no
// handle, with an error that says what is wrong; the acquisition then asks
// the daemon afresh and the good handle overwrites the bad entry, as the C
// plugin's does.
func TestInterposerIgnoresBadCCacheEntries(t *testing.T) {
	good := &Cred{DesiredName: Name{Display: []byte("host/localhost@GSSKIT.TEST")}, HandleRef: []byte("sealed"),
		Elements: []CredElement{{MN: Name{Display: []byte("host/localhost@GSSKIT.TEST")}, Mech: gss.MechKrb5, Usage: CredInitiate}}}
	client := ccache.Principal{NameType: 1, Realm: "GSSKIT.TEST", Components: []string{"host", "localhost"}}
	entryServer := ccache.Principal{NameType: 1, Realm: "X-GSSPROXY:", Components: []string{"Encrypted", "Credentials", "v1"}}
	xdr := oncrpc.Marshal(nil, good)
	for _, c := range []struct {
		name  string
		image []byte // the whole file, when not an entry
		entry *ccache.Cred
		want  string // in the error
	}{
		{name: "TruncatedXDR", entry: &ccache.Cred{Client: client, Server: entryServer, Ticket: xdr[:len(xdr)-3]}, want: "does not hold an XDR gssx_cred"},
		{name: "EmptyTicket", entry: &ccache.Cred{Client: client, Server: entryServer}, want: "does not hold an XDR gssx_cred"},
		{name: "WrongServer", entry: &ccache.Cred{Client: client, Server: ccache.Principal{Realm: "X-GSSPROXY:",
			Components: []string{"Encrypted", "Credentials", "v2"}}, Ticket: xdr}, want: "no gss-proxy credential entry"},
		{name: "WrongClient", entry: &ccache.Cred{Client: ccache.Principal{Realm: "GSSKIT.TEST", Components: []string{"alice"}},
			Server: entryServer, Ticket: xdr}, want: "no gss-proxy credential entry"},
		{name: "NotACCache", image: []byte("\x05\x04\x00\x00\xff\xff"), want: "truncated or malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.ccache")
			img := c.image
			if img == nil {
				img = (&ccache.Cache{Version: ccache.Version4, Principal: client, Creds: []*ccache.Cred{c.entry}}).Marshal()
			}
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := RetrieveRemoteCredForTest("FILE:"+path, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("reading: %v, want an error saying %q", err, c.want)
			}
			// Overwritten by the next good handle.
			if err := StoreRemoteCredForTest("FILE:"+path, good); err != nil {
				t.Fatal(err)
			}
			back, err := RetrieveRemoteCredForTest("FILE:"+path, nil)
			if err != nil || !bytes.Equal(back.HandleRef, good.HandleRef) {
				t.Fatalf("after a good store: %v", err)
			}
		})
	}

	// Against a daemon: a damaged entry is not sent, and is replaced.
	realm := testRealm(t)
	d := proxytest.DaemonKinds[1].Start(t, realm, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{storeService(realm)}})
	path := filepath.Join(t.TempDir(), "damaged.ccache")
	damaged := &ccache.Cache{Version: ccache.Version4, Principal: client, Creds: []*ccache.Cred{{Client: client, Server: entryServer, Ticket: xdr[:7]}}}
	if err := os.WriteFile(path, damaged.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := proxytest.RecordT(t, d.Socket("ipstore"))
	reg, _ := proxiedRegistryCC(t, realm, rec.Socket(), RemoteOnly, "FILE:"+path)
	cred, err := reg.AcquireCredential(testCtx(t), &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Release()
	legs := acquireLegs(t, rec)
	if len(legs) != 1 || legs[0].arg.InputCredHandle != nil {
		t.Fatalf("a damaged entry reached the daemon: %v", rec.Transcript().Procs())
	}
	if now := storedCredT(t, "FILE:"+path); !bytes.Equal(now.HandleRef, legs[0].res.OutputCred.HandleRef) {
		t.Error("the damaged entry was not replaced")
	}
}

func TestStoredCredRules(t *testing.T) {
	for in, want := range map[string]string{
		"host/localhost@R":                     "host/localhost@R",
		`a\/b@R`:                               "a/b@R",
		`u@R\@S`:                               "u@R@S",
		"Encrypted/Credentials/v1@X-GSSPROXY:": "Encrypted/Credentials/v1@X-GSSPROXY:",
	} {
		p, err := ParseEntryPrincipalForTest(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := strings.Join(p.Components, "/") + "@" + p.Realm; got != want {
			t.Errorf("%q parsed as %q", in, got)
		}
	}
	for _, bad := range []string{"alice", "alice@", `alice\`, "a@R@S", "a@R/x", ""} {
		if _, err := ParseEntryPrincipalForTest(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}

	// A name with no realm cannot be stored: a C reader would look for it
	// in the default realm.
	dir := t.TempDir()
	if err := StoreRemoteCredForTest("FILE:"+filepath.Join(dir, "c"), &Cred{DesiredName: Name{Display: []byte("alice")}}); err == nil {
		t.Error("stored a handle whose name has no realm")
	}
	// Nor can one larger than the plugin's buffer.
	huge := &Cred{DesiredName: Name{Display: []byte("a@R")}, HandleRef: make([]byte, MaxStoredCredForTest)}
	if err := StoreRemoteCredForTest("FILE:"+filepath.Join(dir, "c"), huge); err == nil {
		t.Error("stored a handle larger than the C plugin can")
	}
	// Types gsskit cannot write keep the handle in the process, silently.
	if err := StoreRemoteCredForTest("KEYRING:persistent:0", &Cred{DesiredName: Name{Display: []byte("a@R")}}); err != nil {
		t.Errorf("KEYRING: %v", err)
	}
	// A MEMORY: cache is shared with this process's Kerberos.
	mem := "MEMORY:" + t.Name()
	if err := StoreRemoteCredForTest(mem, &Cred{DesiredName: Name{Display: []byte("a@R\x00")}, HandleRef: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if c, err := RetrieveRemoteCredForTest(mem, &Name{Display: []byte("a@R")}); err != nil || !bytes.Equal(c.HandleRef, []byte{1}) {
		t.Errorf("MEMORY: %v", err)
	}

	// A FILE cache of another principal is taken over, as the C plugin
	// reinitializes it; one of the same principal keeps its tickets.
	path := filepath.Join(dir, "mine")
	tgt := &ccache.Cred{Client: ccache.Principal{NameType: 1, Realm: "R", Components: []string{"a"}},
		Server: ccache.Principal{NameType: 2, Realm: "R", Components: []string{"krbtgt", "R"}}, Ticket: []byte("tgt")}
	mine := &ccache.Cache{Version: ccache.Version4, Principal: tgt.Client, Creds: []*ccache.Cred{tgt}}
	if err := os.WriteFile(path, mine.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := StoreRemoteCredForTest("FILE:"+path, &Cred{DesiredName: Name{Display: []byte("a@R")}}); err != nil {
		t.Fatal(err)
	}
	if c, err := ccache.Load(ccache.Ref{Kind: "FILE", Path: path}); err != nil || len(c.Creds) != 2 {
		t.Errorf("same principal: %v, %d entries", err, len(c.Creds))
	}
	if err := StoreRemoteCredForTest("FILE:"+path, &Cred{DesiredName: Name{Display: []byte("b@R")}}); err != nil {
		t.Fatal(err)
	}
	if c, err := ccache.Load(ccache.Ref{Kind: "FILE", Path: path}); err != nil || len(c.Creds) != 1 || c.Principal.Components[0] != "b" {
		t.Errorf("other principal: %v, %+v", err, c)
	}

	a := &Cred{DesiredName: Name{Display: []byte("a@R")}, HandleRef: []byte{1}}
	b := &Cred{DesiredName: Name{Display: []byte("a@R")}, HandleRef: []byte{1}, NeedsRelease: true}
	if !SameRemoteCredForTest(a, b) || SameRemoteCredForTest(a, nil) || !SameRemoteCredForTest(nil, nil) ||
		SameRemoteCredForTest(a, &Cred{DesiredName: a.DesiredName, HandleRef: []byte{2}}) {
		t.Error("sameRemoteCred does not compare as the plugin does")
	}
}

// FuzzStoredCred decodes arbitrary ticket fields as the stored handle, and
// arbitrary cache images as a cache holding one. Neither may panic; what
// decodes re-encodes to a handle that decodes the same.
func FuzzStoredCred(f *testing.F) {
	good := &Cred{DesiredName: Name{Display: []byte("host/localhost@GSSKIT.TEST"), NameType: gss.NTKrb5Principal},
		HandleRef: []byte("sealed"), NeedsRelease: true,
		Elements: []CredElement{{MN: Name{Display: []byte("host/localhost@GSSKIT.TEST")}, Mech: gss.MechKrb5, Usage: CredInitiate, InitiatorTimeRec: 3600}}}
	xdr := oncrpc.Marshal(nil, good)
	f.Add(xdr)
	f.Add(xdr[:len(xdr)/2])
	f.Add([]byte{})
	client := ccache.Principal{NameType: 1, Realm: "GSSKIT.TEST", Components: []string{"host", "localhost"}}
	entryServer := ccache.Principal{NameType: 1, Realm: "X-GSSPROXY:", Components: []string{"Encrypted", "Credentials", "v1"}}
	f.Add((&ccache.Cache{Version: ccache.Version4, Principal: client, Creds: []*ccache.Cred{{Client: client, Server: entryServer, Ticket: xdr}}}).Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := DecodeStoredCredForTest(data); err == nil {
			again, err := DecodeStoredCredForTest(oncrpc.Marshal(nil, c))
			if err != nil {
				t.Fatalf("re-encoded handle does not decode: %v", err)
			}
			if !SameRemoteCredForTest(c, again) {
				t.Fatal("re-encoded handle differs")
			}
		}
		if cc, err := ccache.Parse(data); err == nil {
			FindStoredCredForTest(cc, nil)
			FindStoredCredForTest(cc, &Name{Display: []byte("host/localhost@GSSKIT.TEST")})
		}
	})
}

// gss_store_cred of a daemon-held credential with no ccache in the cred
// store writes into the default cache whether or not it is asked to make
// it the default, as the C plugin (0.8 and later: gpp_store_remote_creds
// stores into krb5_cc_default, default_cred only switches a collection's
// primary cache) and gsskit's own Kerberos mechanism do. A delegated
// credential, which is not a default one, stores the same way.
func TestStoreRemoteCredIntoDefaultCache(t *testing.T) {
	for _, makeDefault := range []bool{false, true} {
		for _, defaultCreds := range []bool{false, true} {
			def := "FILE:" + filepath.Join(t.TempDir(), "default.ccache")
			ip, err := RegisterInterposer(gss.NewRegistry(), &InterposerConfig{Behavior: RemoteOnly, CCacheName: def})
			if err != nil {
				t.Fatal(err)
			}
			h := &Cred{DesiredName: Name{Display: []byte("alice@GSSKIT.TEST")}, HandleRef: []byte("sealed")}
			if err := ip.RemoteCredForTest(h, defaultCreds).Store(gss.CredStore{}, gss.CredInitiate, true, makeDefault); err != nil {
				t.Errorf("default %v, default credential %v: %v", makeDefault, defaultCreds, err)
				continue
			}
			if got := storedCredT(t, def); !bytes.Equal(got.HandleRef, h.HandleRef) {
				t.Errorf("default %v, default credential %v: the default cache holds another handle", makeDefault, defaultCreds)
			}
		}
	}
}
