package oncrpc

import (
	"context"
	"errors"
)

// ErrDrop, returned by a server-side Authenticator, ServerAuth or Handler,
// discards the call without any reply. RPCSEC_GSS needs this for replayed
// or out-of-window sequence numbers (RFC 2203 section 5.3.3.1).
var ErrDrop = errors.New("oncrpc: call dropped without a reply")

// Client side.
//
// For each call attempt a Client encodes the call header from xid through
// proc, then:
//
//	hdr, ca, err := auth.MarshalCred(hdr)   // appends cred and verf
//	msg = append(hdr, encoded arguments...)
//	msg, err = ca.WrapArgs(msg, argsOffset)
//	... send, receive the reply ...
//	results, err := ca.UnwrapResults(replyVerf, results)  // SUCCESS replies only
//
// and decodes the results. RPCSEC_GSS maps onto this directly: MarshalCred
// picks the sequence number, appends rpc_gss_cred_t and a verifier holding
// the MIC of hdr (xid through the credential); WrapArgs and UnwrapResults
// do the integrity or privacy transforms and UnwrapResults checks the MIC
// of the sequence number in the reply verifier. Context creation is a call
// to the program's procedure 0 with its own Auth (Client.CallAuth), whose
// UnwrapResults sees the rpc_gss_init_res results and the verifier
// together, as it must to check the MIC of the sequence window.

// Auth is the client side of an authentication flavor. It must be safe for
// concurrent use: a Client makes many calls at once.
type Auth interface {
	// MarshalCred appends the credential and verifier of one call to hdr,
	// which holds the encoded call header from xid through proc, and
	// returns the extended header and the per-call state. Each attempt of a
	// call gets its own MarshalCred.
	//
	// A Client calls MarshalCred, WrapArgs and the write of the call under
	// its connection's write lock, so calls go out in the order of their
	// MarshalCred (sequence numbers stay in order on the wire). The price:
	// MarshalCred and WrapArgs must not make calls on the same Client, and
	// should not block. Establish contexts up front or in Refresh.
	MarshalCred(hdr []byte) ([]byte, CallAuth, error)
}

// CallAuth is the client-side state of one call attempt.
type CallAuth interface {
	// WrapArgs replaces msg[off:], the encoded procedure arguments, by
	// what the flavor sends in their place, and returns the message (which
	// may have been reallocated). msg[:off] must be kept as is.
	WrapArgs(msg []byte, off int) ([]byte, error)

	// UnwrapResults checks the verifier of a SUCCESS reply and returns the
	// procedure results carried in results. Both alias the reply buffer,
	// which is reused once the call returns; the returned slice may too.
	UnwrapResults(verf OpaqueAuth, results []byte) ([]byte, error)
}

// A Refresher is an Auth that can recover from an AUTH_ERROR rejection,
// for RPCSEC_GSS by establishing a new context on CREDPROBLEM or
// CTXPROBLEM. When Refresh returns nil, the Client sends the call once more
// with a fresh MarshalCred; otherwise the call fails with stat.
type Refresher interface {
	Refresh(ctx context.Context, stat AuthStat) error
}

// Server side.
//
// For each call the Server decodes the header into a Call, picks the
// Authenticator registered for the credential's flavor, and:
//
//	sa, err := authenticator.Authenticate(ctx, call)  // in arrival order
//	... then, in the call's own goroutine:
//	args, err := sa.UnwrapArgs(args)
//	err = handler.ServeRPC(ctx, call, args, results)  // or sa's own, see below
//	verf, err := sa.Verifier()
//	msg, err = sa.WrapResults(msg, resultsOffset)      // SUCCESS replies only
//
// An error from any step that is an AuthStat rejects the call with that
// auth_stat (MSG_DENIED, AUTH_ERROR), and ErrDrop discards it without a
// reply. Other errors give AUTH_FAILED from Authenticate and Verifier,
// GARBAGE_ARGS from UnwrapArgs and SYSTEM_ERR from WrapResults.
//
// If the ServerAuth that Authenticate returns also implements Handler, the
// server hands the call to it instead of to the registered program: this is
// how RPCSEC_GSS answers its INIT, CONTINUE_INIT and DESTROY control calls
// itself. Because Verifier is asked after the handler has run, such a
// handler can decide the verifier from its outcome (the MIC of the sequence
// window once the context is complete).

// Authenticator is the server side of an authentication flavor. It must be
// safe for concurrent use.
type Authenticator interface {
	// Authenticate checks the credential and verifier of c (c.Header holds
	// the raw call header from xid through the credential) and returns the
	// call's state; c.Auth is set to it for the handler.
	//
	// Authenticate runs on the connection's reader, one call at a time in
	// the order the calls arrived, so a sequence window sees the client's
	// order rather than the handlers' scheduling. It delays every later
	// call on the connection: check the header here, and leave the
	// expensive work (unwrapping arguments, context creation) to UnwrapArgs
	// and the handler, which run concurrently.
	Authenticate(ctx context.Context, c *Call) (ServerAuth, error)
}

// ServerAuth is the server-side state of one authenticated call. Handlers
// find the caller's identity in it by type assertion (*AuthSys for AUTH_SYS).
type ServerAuth interface {
	// UnwrapArgs returns the procedure arguments carried in args (which
	// aliases the received record, valid until the call returns).
	UnwrapArgs(args []byte) ([]byte, error)

	// Verifier returns the reply verifier, at most MaxAuthBytes long.
	Verifier() (OpaqueAuth, error)

	// WrapResults replaces msg[off:], the encoded results of a SUCCESS
	// reply, by what the flavor sends in their place, and returns the
	// message. msg[:off] must be kept as is.
	WrapResults(msg []byte, off int) ([]byte, error)
}

// AuthNone is AUTH_NONE on both sides: as an Auth and CallAuth it sends an
// empty credential and verifier and passes arguments and results through;
// as an Authenticator it accepts any AUTH_NONE credential with an AUTH_NONE
// verifier and is then itself the call's ServerAuth.
type AuthNone struct{}

var noneAuth = OpaqueAuth{Flavor: FlavorNone}

func (AuthNone) MarshalCred(hdr []byte) ([]byte, CallAuth, error) {
	// Credential and verifier: flavor 0, length 0.
	hdr = append(hdr, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	return hdr, AuthNone{}, nil
}

func (AuthNone) WrapArgs(msg []byte, off int) ([]byte, error) { return msg, nil }

func (AuthNone) UnwrapResults(verf OpaqueAuth, results []byte) ([]byte, error) {
	return results, nil
}

func (AuthNone) Authenticate(ctx context.Context, c *Call) (ServerAuth, error) {
	// RFC 5531 only recommends an empty AUTH_NONE body, so any is accepted.
	if c.Verf.Flavor != FlavorNone {
		return nil, AuthBadVerf
	}
	return AuthNone{}, nil
}

func (AuthNone) UnwrapArgs(args []byte) ([]byte, error)          { return args, nil }
func (AuthNone) Verifier() (OpaqueAuth, error)                   { return noneAuth, nil }
func (AuthNone) WrapResults(msg []byte, off int) ([]byte, error) { return msg, nil }

// Limits of authsys_parms.
const (
	MaxMachineName = 255
	MaxGIDs        = 16
)

// AuthSys is an AUTH_SYS credential (authsys_parms). As an Auth it sends
// itself with every call; on a server it is the ServerAuth of an AUTH_SYS
// call, so a handler reads the caller's claimed identity with
// c.Auth.(*oncrpc.AuthSys). The identity is what the client asserts and
// nothing more.
type AuthSys struct {
	Stamp       uint32
	MachineName string // at most MaxMachineName bytes
	UID, GID    uint32
	GIDs        []uint32 // at most MaxGIDs
}

var errAuthSysLimits = errors.New("oncrpc: AUTH_SYS machine name longer than 255 bytes or more than 16 gids")

func (a *AuthSys) MarshalXDR(e *Encoder) {
	e.Uint32(a.Stamp)
	e.String(a.MachineName)
	e.Uint32(a.UID)
	e.Uint32(a.GID)
	e.Uint32(uint32(len(a.GIDs)))
	for _, g := range a.GIDs {
		e.Uint32(g)
	}
}

func (a *AuthSys) UnmarshalXDR(d *Decoder) error {
	var err error
	if a.Stamp, err = d.Uint32(); err != nil {
		return err
	}
	if a.MachineName, err = d.String(MaxMachineName); err != nil {
		return err
	}
	if a.UID, err = d.Uint32(); err != nil {
		return err
	}
	if a.GID, err = d.Uint32(); err != nil {
		return err
	}
	n, err := d.ArrayLen(MaxGIDs)
	if err != nil {
		return err
	}
	a.GIDs = make([]uint32, n)
	for i := range a.GIDs {
		if a.GIDs[i], err = d.Uint32(); err != nil {
			return err
		}
	}
	return nil
}

func (a *AuthSys) MarshalCred(hdr []byte) ([]byte, CallAuth, error) {
	if len(a.MachineName) > MaxMachineName || len(a.GIDs) > MaxGIDs {
		return hdr, nil, errAuthSysLimits
	}
	e := Encoder{b: hdr}
	e.Uint32(uint32(FlavorSys))
	lenAt := e.Len()
	e.Uint32(0) // body length, patched below
	a.MarshalXDR(&e)
	b := e.b
	n := len(b) - lenAt - 4
	b[lenAt], b[lenAt+1], b[lenAt+2], b[lenAt+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	// Verifier: AUTH_NONE.
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	return b, AuthNone{}, nil
}

func (a *AuthSys) UnwrapArgs(args []byte) ([]byte, error)          { return args, nil }
func (a *AuthSys) Verifier() (OpaqueAuth, error)                   { return noneAuth, nil }
func (a *AuthSys) WrapResults(msg []byte, off int) ([]byte, error) { return msg, nil }

// SysAuthenticator is the server side of AUTH_SYS: it decodes the
// credential strictly (the RFC 5531 limits, no trailing bytes) and requires
// an AUTH_NONE verifier, answering AUTH_BADCRED or AUTH_BADVERF otherwise.
// It does not check the claimed identity; a program decides what to trust.
type SysAuthenticator struct{}

func (SysAuthenticator) Authenticate(ctx context.Context, c *Call) (ServerAuth, error) {
	if c.Verf.Flavor != FlavorNone {
		return nil, AuthBadVerf
	}
	a := new(AuthSys)
	if err := Unmarshal(c.Cred.Body, a); err != nil {
		return nil, AuthBadCred
	}
	return a, nil
}

// DefaultAuthenticators returns a new map with the flavors a Server accepts
// when Config.Authenticators is nil: AUTH_NONE and AUTH_SYS.
func DefaultAuthenticators() map[Flavor]Authenticator {
	return map[Flavor]Authenticator{
		FlavorNone: AuthNone{},
		FlavorSys:  SysAuthenticator{},
	}
}
