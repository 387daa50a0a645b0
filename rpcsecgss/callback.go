package rpcsecgss

import (
	"context"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// Lock is rpc_gss_lock_t. A callback that sets Locked pins the context to
// the service and QOP of RawCred, those of the call it was run for: later
// calls with another service are rejected with AUTH_FAILED and with
// another QOP with AUTH_BADVERF, as Solaris and libtirpc do.
type Lock struct {
	Locked  bool
	RawCred *RawCred // read-only
}

// CallbackRequest is what a Callback learns about the first DATA call on
// a context.
type CallbackRequest struct {
	Call *oncrpc.Call
	// Delegated is the credential the client delegated, or nil. If the
	// callback accepts the context it owns it (and releases it);
	// otherwise the server does.
	Delegated *gss.Credential
	// Context is the GSS context, for inquiries (Inquire, Flags). The
	// server goes on using it: per-message calls on it are not allowed.
	Context *gss.SecContext
	Lock    Lock
	// Cookie is whatever the callback wants GetCred to hand back with
	// every call on the context.
	Cookie any
}

// Callback is the function of rpc_gss_set_callback. It runs once per
// context, at its first DATA call for the callback's program version,
// before the call is dispatched; returning false rejects that call and
// every later one on the context with AUTH_FAILED.
//
// It runs on the connection's reader (as a server's Authenticate does), so
// every later call on the connection waits for it: do not block.
type Callback func(ctx context.Context, req *CallbackRequest) bool

// SetCallback is rpc_gss_set_callback: cb is called at the first use of
// each context by version vers of program prog. A nil cb removes it.
func (s *Server) SetCallback(prog, vers uint32, cb Callback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cb == nil {
		delete(s.callbacks, progVers{prog, vers})
		return
	}
	s.callbacks[progVers{prog, vers}] = cb
}

// runCallback runs the callback registered for the call's program
// version, if any, with x.mu held, and reports whether the context is
// accepted. Without a callback the context is, and delegated credentials
// are released: nobody asked for them.
func (s *Server) runCallback(ctx context.Context, c *oncrpc.Call, d *dataCall, x *svcContext) bool {
	s.mu.RLock()
	cb := s.callbacks[progVers{c.Prog, c.Vers}]
	s.mu.RUnlock()
	deleg := x.deleg
	x.deleg = nil
	if cb == nil {
		if deleg != nil {
			deleg.Release()
		}
		return true
	}
	req := &CallbackRequest{Call: c, Delegated: deleg, Context: x.sec.sc, Lock: Lock{RawCred: d.rawCred()}}
	if !cb(ctx, req) {
		if deleg != nil {
			deleg.Release()
		}
		return false
	}
	x.locked = req.Lock.Locked
	x.cookie = req.Cookie
	return true
}
