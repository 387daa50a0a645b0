package oncrpc

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

// peerUID reads the uid of a Unix-socket peer (SO_PEERCRED).
func peerUID(conn net.Conn) (uint32, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return cred.Uid, nil
}

func currentUID() uint32 { return uint32(os.Getuid()) }

func TestPeerCredentials(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "unix", nil)
	var uid u32
	if err := c.Call(context.Background(), testProg, 1, procPeerCreds, nil, &uid); err != nil {
		t.Fatal(err)
	}
	if want := currentUID(); uint32(uid) != want {
		t.Fatalf("peer uid %d, want %d", uid, want)
	}
}
