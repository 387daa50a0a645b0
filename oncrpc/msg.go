package oncrpc

import (
	"errors"
	"fmt"
	"strconv"
)

// RPCVersion is the only rpc_msg version (rpcvers) there is.
const RPCVersion = 2

// MaxAuthBytes bounds the body of an opaque_auth (credential or verifier).
const MaxAuthBytes = 400

// msg_type.
const (
	msgCall  = 0
	msgReply = 1
)

// reply_stat.
const (
	msgAccepted = 0
	msgDenied   = 1
)

// reject_stat.
const (
	rejectRPCMismatch = 0
	rejectAuthError   = 1
)

// A Flavor identifies an authentication flavor (auth_flavor).
type Flavor uint32

const (
	FlavorNone  Flavor = 0 // AUTH_NONE
	FlavorSys   Flavor = 1 // AUTH_SYS (historically AUTH_UNIX)
	FlavorShort Flavor = 2 // AUTH_SHORT
	FlavorDH    Flavor = 3 // AUTH_DH
	FlavorGSS   Flavor = 6 // RPCSEC_GSS (RFC 2203)
)

func (f Flavor) String() string {
	switch f {
	case FlavorNone:
		return "AUTH_NONE"
	case FlavorSys:
		return "AUTH_SYS"
	case FlavorShort:
		return "AUTH_SHORT"
	case FlavorDH:
		return "AUTH_DH"
	case FlavorGSS:
		return "RPCSEC_GSS"
	}
	return "flavor " + strconv.FormatUint(uint64(f), 10)
}

// OpaqueAuth is an opaque_auth: a credential or verifier. Body is at most
// MaxAuthBytes long. In a Call passed to a server, Body aliases the received
// record and is valid only until the call returns.
type OpaqueAuth struct {
	Flavor Flavor
	Body   []byte
}

func (a OpaqueAuth) MarshalXDR(e *Encoder) {
	e.Uint32(uint32(a.Flavor))
	e.Opaque(a.Body)
}

// decodeOpaqueAuth decodes an opaque_auth whose body aliases d's input.
func decodeOpaqueAuth(d *Decoder) (OpaqueAuth, error) {
	f, err := d.Uint32()
	if err != nil {
		return OpaqueAuth{}, err
	}
	b, err := d.OpaqueView(MaxAuthBytes)
	return OpaqueAuth{Flavor: Flavor(f), Body: b}, err
}

// AcceptStat is the status of an accepted reply (accept_stat). Its non-zero
// values are errors: a handler returns them to reply with that status, and
// a Client returns them when a server does.
type AcceptStat uint32

const (
	Success      AcceptStat = 0 // RPC executed successfully
	ProgUnavail  AcceptStat = 1 // program not served
	ProgMismatch AcceptStat = 2 // version not served; see ProgMismatchError
	ProcUnavail  AcceptStat = 3 // procedure not served
	GarbageArgs  AcceptStat = 4 // arguments could not be decoded
	SystemErr    AcceptStat = 5 // server-side failure, e.g. out of memory
)

func (s AcceptStat) Error() string {
	switch s {
	case Success:
		return "oncrpc: success"
	case ProgUnavail:
		return "oncrpc: program unavailable"
	case ProgMismatch:
		return "oncrpc: program version mismatch"
	case ProcUnavail:
		return "oncrpc: procedure unavailable"
	case GarbageArgs:
		return "oncrpc: server could not decode the arguments"
	case SystemErr:
		return "oncrpc: system error on the server"
	}
	return "oncrpc: accept status " + strconv.FormatUint(uint64(s), 10)
}

// AuthStat is why a server rejected a call's authentication (auth_stat). Its
// non-zero values are errors, used both ways as AcceptStat's are.
type AuthStat uint32

const (
	AuthOK               AuthStat = 0
	AuthBadCred          AuthStat = 1  // bad credential (seal broken)
	AuthRejectedCred     AuthStat = 2  // client must begin a new session
	AuthBadVerf          AuthStat = 3  // bad verifier (seal broken)
	AuthRejectedVerf     AuthStat = 4  // verifier expired or replayed
	AuthTooWeak          AuthStat = 5  // rejected for security reasons
	AuthInvalidResp      AuthStat = 6  // bogus response verifier
	AuthFailed           AuthStat = 7  // reason unknown
	AuthKerbGeneric      AuthStat = 8  // kerberos generic error
	AuthTimeExpire       AuthStat = 9  // time of credential expired
	AuthTktFile          AuthStat = 10 // problem with ticket file
	AuthDecode           AuthStat = 11 // can't decode authenticator
	AuthNetAddr          AuthStat = 12 // wrong net address in ticket
	RPCSECGSSCredProblem AuthStat = 13 // RPCSEC_GSS_CREDPROBLEM: no credentials for user
	RPCSECGSSCtxProblem  AuthStat = 14 // RPCSEC_GSS_CTXPROBLEM: problem with context
)

var authStatText = [...]string{
	AuthOK:               "authentication OK",
	AuthBadCred:          "bad credential (seal broken)",
	AuthRejectedCred:     "credential rejected: client must begin a new session",
	AuthBadVerf:          "bad verifier (seal broken)",
	AuthRejectedVerf:     "verifier expired or replayed",
	AuthTooWeak:          "credential rejected for security reasons (too weak)",
	AuthInvalidResp:      "bogus response verifier",
	AuthFailed:           "authentication failed (reason unknown)",
	AuthKerbGeneric:      "kerberos generic error",
	AuthTimeExpire:       "credential expired",
	AuthTktFile:          "problem with ticket file",
	AuthDecode:           "cannot decode authenticator",
	AuthNetAddr:          "wrong net address in ticket",
	RPCSECGSSCredProblem: "RPCSEC_GSS_CREDPROBLEM: no credentials for user",
	RPCSECGSSCtxProblem:  "RPCSEC_GSS_CTXPROBLEM: problem with context",
}

func (s AuthStat) Error() string {
	if int(s) < len(authStatText) {
		return "oncrpc: " + authStatText[s]
	}
	return "oncrpc: auth status " + strconv.FormatUint(uint64(s), 10)
}

// ProgMismatchError is a PROG_MISMATCH reply: the server has the program but
// only versions Low through High. errors.Is(err, ProgMismatch) is true.
type ProgMismatchError struct{ Low, High uint32 }

func (e *ProgMismatchError) Error() string {
	return fmt.Sprintf("oncrpc: program version mismatch (server supports %d to %d)", e.Low, e.High)
}

func (e *ProgMismatchError) Is(target error) bool { return target == ProgMismatch }

// RPCMismatchError is an RPC_MISMATCH rejection: the server speaks rpc_msg
// versions Low through High only.
type RPCMismatchError struct{ Low, High uint32 }

func (e *RPCMismatchError) Error() string {
	return fmt.Sprintf("oncrpc: RPC version mismatch (server supports %d to %d)", e.Low, e.High)
}

// ErrMalformedMessage is returned for an rpc_msg that does not decode.
var ErrMalformedMessage = errors.New("oncrpc: malformed RPC message")

// CallHeader is the header of a CALL message: everything before the
// procedure arguments. rpcvers is always RPCVersion.
type CallHeader struct {
	Xid  uint32
	Prog uint32
	Vers uint32
	Proc uint32
	Cred OpaqueAuth
	Verf OpaqueAuth
}

// MarshalXDR encodes the whole call header.
func (h *CallHeader) MarshalXDR(e *Encoder) {
	appendCallPrefix(e, h.Xid, h.Prog, h.Vers, h.Proc)
	h.Cred.MarshalXDR(e)
	h.Verf.MarshalXDR(e)
}

// appendCallPrefix encodes a call header up to and including proc.
func appendCallPrefix(e *Encoder, xid, prog, vers, proc uint32) {
	e.Uint32(xid)
	e.Uint32(msgCall)
	e.Uint32(RPCVersion)
	e.Uint32(prog)
	e.Uint32(vers)
	e.Uint32(proc)
}

// callError says how far a call message decoded before it failed, which
// decides how a server answers it.
type callError int

const (
	callOK          callError = iota
	callMalformed             // not a decodable CALL: no reply is possible
	callRPCMismatch           // rpcvers != 2: reply RPC_MISMATCH
	callBadCred               // credential does not decode: AUTH_BADCRED
	callBadVerf               // verifier does not decode: AUTH_BADVERF
)

// parseCall decodes a CALL message. The header's auth bodies and the
// returned slices alias msg: credEnd is the length of the header from xid
// through the credential (what RPCSEC_GSS's verifier covers), and args is
// what follows the verifier. On failure h.Xid is set whenever it was read.
func parseCall(msg []byte) (h CallHeader, credEnd int, args []byte, ce callError) {
	d := Decoder{b: msg}
	var w [6]uint32
	for i := range w {
		v, err := d.Uint32()
		if err != nil {
			return h, 0, nil, callMalformed
		}
		w[i] = v
		if i == 1 && v != msgCall {
			return h, 0, nil, callMalformed
		}
	}
	h.Xid, h.Prog, h.Vers, h.Proc = w[0], w[3], w[4], w[5]
	if w[2] != RPCVersion {
		return h, 0, nil, callRPCMismatch
	}
	var err error
	if h.Cred, err = decodeOpaqueAuth(&d); err != nil {
		return h, 0, nil, callBadCred
	}
	credEnd = d.off
	if h.Verf, err = decodeOpaqueAuth(&d); err != nil {
		return h, 0, nil, callBadVerf
	}
	return h, credEnd, d.Rest(), callOK
}

// replyHeader is a decoded REPLY up to the results.
type replyHeader struct {
	xid    uint32
	stat   uint32 // reply_stat
	verf   OpaqueAuth
	accept AcceptStat
	reject uint32 // reject_stat
	auth   AuthStat
	low    uint32 // mismatch_info
	high   uint32
}

// encode writes the reply header; for an accepted Success reply the results
// follow.
func (r *replyHeader) encode(e *Encoder) {
	e.Uint32(r.xid)
	e.Uint32(msgReply)
	e.Uint32(r.stat)
	if r.stat == msgAccepted {
		r.verf.MarshalXDR(e)
		e.Uint32(uint32(r.accept))
		if r.accept == ProgMismatch {
			e.Uint32(r.low)
			e.Uint32(r.high)
		}
		return
	}
	e.Uint32(r.reject)
	if r.reject == rejectRPCMismatch {
		e.Uint32(r.low)
		e.Uint32(r.high)
	} else {
		e.Uint32(uint32(r.auth))
	}
}

// decodeReply decodes a reply header, leaving d at the results. The verifier
// body aliases d's input.
func decodeReply(d *Decoder) (r replyHeader, err error) {
	if r.xid, err = d.Uint32(); err != nil {
		return r, ErrMalformedMessage
	}
	if mt, err := d.Uint32(); err != nil || mt != msgReply {
		return r, ErrMalformedMessage
	}
	if r.stat, err = d.Uint32(); err != nil {
		return r, ErrMalformedMessage
	}
	switch r.stat {
	case msgAccepted:
		if r.verf, err = decodeOpaqueAuth(d); err != nil {
			return r, ErrMalformedMessage
		}
		a, err := d.Uint32()
		if err != nil {
			return r, ErrMalformedMessage
		}
		r.accept = AcceptStat(a)
		if r.accept == ProgMismatch {
			if r.low, err = d.Uint32(); err != nil {
				return r, ErrMalformedMessage
			}
			if r.high, err = d.Uint32(); err != nil {
				return r, ErrMalformedMessage
			}
		}
	case msgDenied:
		if r.reject, err = d.Uint32(); err != nil {
			return r, ErrMalformedMessage
		}
		switch r.reject {
		case rejectRPCMismatch:
			if r.low, err = d.Uint32(); err != nil {
				return r, ErrMalformedMessage
			}
			if r.high, err = d.Uint32(); err != nil {
				return r, ErrMalformedMessage
			}
		case rejectAuthError:
			a, err := d.Uint32()
			if err != nil {
				return r, ErrMalformedMessage
			}
			r.auth = AuthStat(a)
		default:
			return r, ErrMalformedMessage
		}
	default:
		return r, ErrMalformedMessage
	}
	return r, nil
}

// err is the error a caller sees for a reply other than accepted Success.
func (r *replyHeader) err() error {
	if r.stat == msgDenied {
		if r.reject == rejectRPCMismatch {
			return &RPCMismatchError{Low: r.low, High: r.high}
		}
		if r.auth == AuthOK {
			// A denial must say why; AUTH_OK here is a broken server.
			return AuthFailed
		}
		return r.auth
	}
	switch r.accept {
	case Success:
		return nil
	case ProgMismatch:
		return &ProgMismatchError{Low: r.low, High: r.high}
	}
	return r.accept
}
