package gssproxy_test

import (
	"bytes"
	"testing"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

// The Go interposer honours sync_creds as the C plugin does for the
// credential it holds: a service with allow_client_ccache_sync returns the
// credential with the service ticket the first context got, and the
// interposer sends that one, not the handle it acquired, with its next
// context, which then needs nothing new, so nothing comes back. Both
// plugins also keep the synced credential in the ccache; see
// TestInterposerKeepsHandleInCCache.
func TestInterposerUsesSyncedCred(t *testing.T) {
	for _, dk := range proxytest.DaemonKinds {
		t.Run(dk.Name, func(t *testing.T) {
			realm := testRealm(t)
			// Initiates as host/localhost, the keytab's principal, and
			// keeps no ccache of its own.
			d := dk.Start(t, realm, proxytest.Config{DebugLevel: 2, Services: []proxytest.Service{{
				Name: "ipsync", Keytab: realm.Keytab("host/localhost"), Trusted: true, AllowClientCCacheSync: true,
			}}})
			ctx := testCtx(t)
			rec := proxytest.RecordT(t, d.Socket("ipsync"))
			proxied, _ := proxiedRegistry(t, realm, rec.Socket(), RemoteOnly)
			local := localRegistry(t, realm)
			cred, err := proxied.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
			if err != nil {
				t.Fatal(err)
			}
			target, err := proxied.ImportName("host@localhost", gss.NTHostbasedService)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				establishT(t, ctx, proxied, &gss.InitiatorConfig{Credential: cred, Target: target, Mech: gss.MechKrb5, Flags: gss.FlagMutual}, local, nil)
			}

			// The first INIT_SEC_CONTEXT of each context (no context
			// handle yet), with its reply.
			var firsts []recordedLeg[InitSecContextArg, InitSecContextRes]
			for _, l := range recordedLegs[InitSecContextArg, InitSecContextRes](t, rec, ProcInitSecContext) {
				if l.arg.Context == nil {
					firsts = append(firsts, l)
				}
			}
			if len(firsts) != 2 {
				t.Fatalf("%d contexts started with the daemon, want 2: %v", len(firsts), rec.Transcript().Procs())
			}
			for i, l := range firsts {
				if v, ok := FindOption(l.arg.Options, OptSyncModifiedCreds); !ok || string(v) != ValSyncDefault+"\x00" {
					t.Errorf("context %d: sync_modified_creds option %q, %v", i+1, v, ok)
				}
				if l.arg.Cred == nil {
					t.Fatalf("context %d: sent no credential", i+1)
				}
			}
			v, ok := FindOption(firsts[0].res.Options, OptSyncCreds)
			if !ok {
				t.Fatal("the first context's service ticket came back without sync_creds")
			}
			var synced Cred
			if err := oncrpc.Unmarshal(v, &synced); err != nil {
				t.Fatalf("sync_creds: %v", err)
			}
			if bytes.Equal(synced.HandleRef, firsts[0].arg.Cred.HandleRef) {
				t.Error("sync_creds holds the handle the client already had")
			}
			if !bytes.Equal(firsts[1].arg.Cred.HandleRef, synced.HandleRef) {
				t.Error("the second context was not started with the synced credential")
			}
			if _, ok := FindOption(firsts[1].res.Options, OptSyncCreds); ok {
				t.Error("the second context, with the synced credential, got sync_creds again")
			}
		})
	}
}
