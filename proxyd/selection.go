package proxyd

import (
	"errors"
	"fmt"
)

// Caller is who is on the other end of a connection: the peer credentials
// the kernel recorded when it connected, the executable of that process,
// and which of the daemon's sockets it came in on.
type Caller struct {
	PID int32
	UID uint32 // effective uid at connect time
	GID uint32
	// Program is the canonical path of the caller's executable, "" when
	// it could not be resolved (a kernel thread, an exited process, no
	// /proc). A service with a program option never matches "".
	Program string
	// Socket is the listening socket's path exactly as the configuration
	// (or the default) spells it: the reference compares strings.
	Socket string
	// SELinuxContext is the peer's security context ("" without one);
	// only the deprecated selinux_context option looks at it.
	SELinuxContext string
}

// ErrNoService is returned when no service accepts the caller. The
// reference then closes the connection without a reply.
var ErrNoService = errors.New("proxyd: no service matches the caller")

// NoServiceError says which caller found no service.
type NoServiceError struct {
	Caller Caller
}

func (e *NoServiceError) Error() string {
	prog := e.Caller.Program
	if prog == "" {
		prog = "unknown program"
	}
	return fmt.Sprintf("proxyd: no service for uid %d (pid %d, %s) on socket %s",
		e.Caller.UID, e.Caller.PID, prog, e.Caller.Socket)
}

func (e *NoServiceError) Is(target error) bool { return target == ErrNoService }

// SelectService returns the first service, in configuration order, that
// takes the caller, following the reference's gp_creds_match_conn:
//
//   - its euid equals the caller's uid, or it sets allow_any_uid;
//   - its selinux_context, if any, matches the caller's context;
//   - its program, if any, equals the caller's executable path;
//   - its socket, if any, is the one the caller used; a service without
//     a socket option is reached only through the default socket.
//
// The reference matches on every request rather than once per
// connection, so a reloaded configuration applies to open connections;
// calling this per request keeps that.
func (c *Config) SelectService(caller *Caller) (*Service, error) {
	var peerCtx *SELinuxContext
	if caller.SELinuxContext != "" {
		// An unparsable peer context matches no selinux_context service,
		// as a failed context_new leaves the reference without one.
		peerCtx, _ = ParseSELinuxContext(caller.SELinuxContext)
	}
	for _, s := range c.Services {
		if s.unreachable {
			continue
		}
		if !s.AllowAnyUID && s.Euid != caller.UID {
			continue
		}
		if s.SELinuxContext != nil && (peerCtx == nil || !s.SELinuxContext.Equal(peerCtx)) {
			continue
		}
		if s.Program != "" && s.Program != caller.Program {
			continue
		}
		if caller.Socket != c.effectiveSocket(s) {
			continue
		}
		return s, nil
	}
	return nil, &NoServiceError{Caller: *caller}
}

// TrustedFor reports whether the service's trusted flag applies to this
// caller. The reference lets a trusted service act for another uid (a
// desired name of uid type) only when the caller runs as the service's
// configured euid; an allow_any_uid caller with another uid is not
// trusted.
func (s *Service) TrustedFor(caller *Caller) bool {
	return s.Trusted && s.Euid == caller.UID
}
