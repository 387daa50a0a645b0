package proxyd

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

// PeerCred is what SO_PEERCRED reports: the peer's pid and its effective
// uid and gid at the time it called connect.
type PeerCred struct {
	PID int32
	UID uint32
	GID uint32
}

// PeerCredentials reads SO_PEERCRED from a connected Unix socket.
func PeerCredentials(conn *net.UnixConn) (PeerCred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var uc *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return PeerCred{}, err
	}
	if serr != nil {
		return PeerCred{}, fmt.Errorf("proxyd: SO_PEERCRED: %w", serr)
	}
	return PeerCred{PID: uc.Pid, UID: uc.Uid, GID: uc.Gid}, nil
}

// PeerSELinuxContext reads SO_PEERSEC, the peer's LSM context, as
// libselinux's getpeercon does. Without an LSM that provides one the
// kernel answers ENOPROTOOPT, returned here as ("", nil).
func PeerSELinuxContext(conn *net.UnixConn) (string, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	var n int
	var serr error
	ctl := func(fd uintptr) {
		for {
			l := uint32(len(buf))
			_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_PEERSEC,
				uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
			if e == syscall.ERANGE && int(l) > len(buf) && l <= 1<<16 {
				buf = make([]byte, l)
				continue
			}
			if e != 0 {
				serr = e
				return
			}
			n = int(l)
			return
		}
	}
	if err := raw.Control(ctl); err != nil {
		return "", err
	}
	if errors.Is(serr, syscall.ENOPROTOOPT) {
		return "", nil
	}
	if serr != nil {
		return "", fmt.Errorf("proxyd: SO_PEERSEC: %w", serr)
	}
	ctx := buf[:n]
	for len(ctx) > 0 && ctx[len(ctx)-1] == 0 {
		ctx = ctx[:len(ctx)-1]
	}
	return string(ctx), nil
}

// ExePath resolves /proc/PID/exe to a canonical path as the reference's
// realpath call does. It fails for a kernel thread, a process that has
// exited, and an executable that was deleted after it started.
//
// SO_PEERCRED's pid can be reused once the caller exits, and then this
// reads someone else's executable. The reference has the same window;
// closing it needs SO_PEERPIDFD (Linux 6.5).
func ExePath(pid int32) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("proxyd: no executable for pid %d", pid)
	}
	p, err := filepath.EvalSymlinks("/proc/" + strconv.Itoa(int(pid)) + "/exe")
	if err != nil {
		return "", fmt.Errorf("proxyd: executable of pid %d: %w", pid, err)
	}
	return p, nil
}

// CallerFromConn gathers the identity of the process on the other end of
// conn, which was accepted on the listening socket named socket. An
// executable or SELinux context that cannot be read leaves that field
// empty (the reference carries on without it); only a failed SO_PEERCRED
// is an error, and the reference drops such a connection.
func CallerFromConn(conn *net.UnixConn, socket string) (*Caller, error) {
	pc, err := PeerCredentials(conn)
	if err != nil {
		return nil, err
	}
	c := &Caller{PID: pc.PID, UID: pc.UID, GID: pc.GID, Socket: socket}
	if prog, err := ExePath(pc.PID); err == nil {
		c.Program = prog
	}
	if ctx, err := PeerSELinuxContext(conn); err == nil {
		c.SELinuxContext = ctx
	}
	return c, nil
}
