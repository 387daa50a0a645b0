package rpcsecgss

import (
	"errors"
	"syscall"
)

// ErrorCode is the rpc_gss_error field of rpc_gss_error_t.
type ErrorCode int

const (
	ErrorSuccess ErrorCode = 0 // RPC_GSS_ER_SUCCESS
	ErrorSystem  ErrorCode = 1 // RPC_GSS_ER_SYSTEMERROR: see the system error
)

// Error is the failure of one of the rpc_gss operations. Where C sets a
// thread-local error for rpc_gss_get_error to fetch, Go returns it: Errno
// is the system error libtirpc would report (EINVAL for a bad argument,
// ENOENT for an unknown mechanism, QOP or service, EPERM when the security
// context cannot be created or verified), and Err the cause, often a
// *gss.Error or an oncrpc error, reachable with errors.Is and errors.As.
type Error struct {
	Op    string // the operation: "seccreate", "set_defaults", "mech_to_oid", ...
	Errno syscall.Errno
	Err   error
}

func (e *Error) Error() string {
	msg := "rpcsecgss: " + e.Op
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg + ": " + e.Errno.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// GetError is rpc_gss_get_error for the error an operation returned: the
// RPCSEC_GSS error code and the system error. A nil error is success; an
// error that did not come from this package is a system error without an
// errno.
func GetError(err error) (ErrorCode, syscall.Errno) {
	if err == nil {
		return ErrorSuccess, 0
	}
	var e *Error
	if errors.As(err, &e) {
		return ErrorSystem, e.Errno
	}
	return ErrorSystem, 0
}

func opError(op string, errno syscall.Errno, err error) *Error {
	return &Error{Op: op, Errno: errno, Err: err}
}

// ErrDestroyed is returned for calls with a ClientAuth after Destroy.
var ErrDestroyed = errors.New("rpcsecgss: security context was destroyed")
