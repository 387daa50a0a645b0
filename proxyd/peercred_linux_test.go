package proxyd

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// socketPair returns both ends of a connected AF_UNIX stream pair.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func TestPeerCredentialsSocketPair(t *testing.T) {
	a, _ := socketPair(t)
	pc, err := PeerCredentials(a)
	if err != nil {
		t.Fatal(err)
	}
	if int(pc.PID) != os.Getpid() || int(pc.UID) != os.Geteuid() || int(pc.GID) != os.Getegid() {
		t.Errorf("peer %+v, want pid %d uid %d gid %d", pc, os.Getpid(), os.Geteuid(), os.Getegid())
	}
	exe, err := ExePath(pc.PID)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if self, _ = filepath.EvalSymlinks(self); exe != self {
		t.Errorf("ExePath = %q, want %q", exe, self)
	}
	if _, err := PeerSELinuxContext(a); err != nil {
		t.Errorf("PeerSELinuxContext: %v", err)
	}
}

func TestExePathFailures(t *testing.T) {
	for _, pid := range []int32{0, -1, 1 << 30} {
		if p, err := ExePath(pid); err == nil {
			t.Errorf("ExePath(%d) = %q", pid, p)
		}
	}
}

// TestCallerFromConnOtherProcess has another program connect to a
// listening socket and checks what the daemon learns about it, then
// selects a service by that program. Run as root, it also connects as
// nobody.
func TestCallerFromConnOtherProcess(t *testing.T) {
	const python = "/usr/bin/python3"
	exe, err := filepath.EvalSymlinks(python)
	if err != nil {
		t.Skip("no " + python)
	}
	t.Run("self", func(t *testing.T) { connectFrom(t, python, exe, nil) })
	if os.Geteuid() == 0 {
		t.Run("nobody", func(t *testing.T) {
			connectFrom(t, python, exe, &syscall.Credential{Uid: 65534, Gid: 65534})
		})
	}
}

func connectFrom(t *testing.T, python, exe string, cred *syscall.Credential) {
	// Not t.TempDir: its parent is private to us, and the client may
	// run as another user.
	dir, err := os.MkdirTemp("", "proxyd-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "gp.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}

	// The client connects and waits for the daemon to close the socket.
	cmd := exec.Command(python, "-c",
		"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)", sock)
	cmd.Stderr = os.Stderr
	wantUID, wantGID := uint32(os.Geteuid()), uint32(os.Getegid())
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		wantUID, wantGID = cred.Uid, cred.Gid
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	type accepted struct {
		conn *net.UnixConn
		err  error
	}
	acc := make(chan accepted, 1)
	go func() { c, err := l.AcceptUnix(); acc <- accepted{c, err} }()
	var conn *net.UnixConn
	select {
	case a := <-acc:
		if a.err != nil {
			cmd.Process.Kill()
			<-exited
			t.Fatal(a.err)
		}
		conn = a.conn
	case err := <-exited:
		t.Fatalf("client exited before connecting: %v", err)
	}
	caller, err := CallerFromConn(conn, sock)
	conn.Close()
	<-exited
	if err != nil {
		t.Fatal(err)
	}
	if int(caller.PID) != cmd.Process.Pid || caller.UID != wantUID || caller.GID != wantGID ||
		caller.Program != exe || caller.Socket != sock {
		t.Errorf("caller %+v; want pid %d uid %d gid %d program %s", caller, cmd.Process.Pid, wantUID, wantGID, exe)
	}

	c := loadText(t, "[service/py]\nmechs = krb5\neuid = "+strconv.FormatUint(uint64(wantUID), 10)+
		"\nprogram = "+exe+"\nsocket = "+sock+"\n")
	if s, err := c.SelectService(caller); err != nil || s.Name != "py" {
		t.Errorf("SelectService = %v, %v", s, err)
	}
	other := *caller
	other.Program = "/usr/bin/other"
	if s, err := c.SelectService(&other); err == nil {
		t.Errorf("another program selected %s", s.Name)
	}
}
