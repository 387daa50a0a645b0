package proxyd

import (
	"bytes"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/oncrpc"
)

// Client ccache sync (allow_client_ccache_sync).
//
// A service with no ccache of its own in its cred_store keeps the
// tickets it gets for a client only in the credential it hands back: the
// client holds them, and the interposer keeps that credential in the
// client's ticket cache (the C plugin stores it there as the entry
// "Encrypted/Credentials/v1@X-GSSPROXY:"). When an INIT_SEC_CONTEXT then
// obtains new tickets (a service ticket, a renewed TGT), the handle the
// client holds is out of date, and without a way to return the new one
// the next process would go to the KDC again.
//
// So the interposer sends every INIT_SEC_CONTEXT with the option
// sync_modified_creds = "default", and a service with
// allow_client_ccache_sync = yes answers, when the call changed the
// credential, with the option sync_creds whose value is the credential as
// an XDR gssx_cred: the same thing ACQUIRE_CRED returns, sealed afresh
// with what it holds now. The interposer replaces its handle with it and
// stores it in the client's ccache. As in the reference:
//
//   - the option's value must be "default" (with or without its NUL);
//     other values, the option's absence, or a service without
//     allow_client_ccache_sync leave the call as it was;
//   - a service with a ccache in its cred_store keeps its tickets there
//     and never syncs;
//   - a call that came without a credential (the daemon acquired one for
//     it) always gets it back, since the client has nothing to compare
//     with; a call that brought one gets it back only if it changed;
//   - only a call that succeeded (COMPLETE or CONTINUE_NEEDED) syncs, and
//     failing to build the option is logged, never fatal.
//
// Where the reference counts the tickets before and after the call,
// gsskit compares the credential's exported form after the call with the
// one sealed in the client's handle, so a renewed TGT (same count, new
// ticket) is synced too, and so are tickets another call sharing the same
// live credential got since the client's handle was made.

// credSync is one INIT_SEC_CONTEXT's sync state, nil when the call does
// not sync.
type credSync struct {
	// in is the credential the call brought, nil if none.
	in *gssproxy.Cred
}

// syncApplies reports whether a call with these options to this service
// may get its credential back.
func (c *call) syncApplies(opts []Option) bool {
	if !c.svc.AllowClientCcacheSync || !ParseInitSecContextOptions(opts).SyncModifiedCreds {
		return false
	}
	for _, e := range c.svc.CredStore {
		if e.Key == "ccache" {
			return false
		}
	}
	return true
}

// beginCredSync starts a call's sync: in is the credential the client
// sent, nil if none. It returns nil when the call does not sync.
func (c *call) beginCredSync(opts []Option, in *gssproxy.Cred) *credSync {
	if !c.syncApplies(opts) {
		return nil
	}
	return &credSync{in: in}
}

// finish returns the sync_creds option for cred, the credential the call
// used, if it differs from what the client holds (always when the client
// sent none); ok is false otherwise.
func (s *credSync) finish(c *call, cred *gss.Credential) (opt Option, ok bool) {
	if s == nil || cred == nil {
		return Option{}, false
	}
	// The daemon shares one live credential among the calls that
	// acquired or opened the same one (credcache.go), so before this call
	// it may already have had tickets another call got, which the
	// client's handle lacks: what counts is what the handle holds. A
	// handle that does not open is no credential, as in openCred.
	if s.in != nil && len(s.in.HandleRef) > 0 {
		if held, err := c.sealer.Open(nil, s.in.HandleRef); err == nil {
			now, err := cred.Export()
			if err != nil || bytes.Equal(now, held) {
				return Option{}, false
			}
		}
	}
	gc, err := c.credToProxy(cred)
	if err != nil {
		c.log.Debug("cannot export the credential for ccache sync", "err", err)
		return Option{}, false
	}
	// The new handle stands for the same live credential.
	c.creds.rememberHandle(gc.HandleRef, cred)
	b := oncrpc.Marshal(nil, gc)
	c.log.Debug("credential synced back to the client", "name", string(gc.DesiredName.Display))
	return SyncCredsOption(b), true
}
