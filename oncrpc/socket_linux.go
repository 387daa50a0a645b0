package oncrpc

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawSocket reads and writes a connection's non-blocking socket with raw
// system calls, and waits in the network poller, as net.Conn does, only
// when the socket has nothing to read or no room to write.
//
// Why not net.Conn's own Read and Write: they enter the system call
// through the scheduler, and a goroutine doing so wakes the runtime's
// monitor thread (sysmon) whenever every processor was idle just before,
// which on a server answering a client that waits for each reply is every
// call. The woken thread then polls every 20 µs until the processors are
// idle again. Measured on the RPCSEC_GSS echo server with one libtirpc
// client, that thread took a quarter of the server's CPU time and one and
// a half context switches per call. A non-blocking read or write returns
// at once, so the scheduler need not know of it.
type rawSocket struct {
	rc  syscall.RawConn
	iov []syscall.Iovec
	msg syscall.Msghdr // the writes' message header, where the port has sendmsg

	// writeBlocked, if set, is called when a write finds no room and is
	// about to wait for it.
	writeBlocked func()
}

func (s *rawSocket) onWriteBlocked(f func()) { s.writeBlocked = f }

// socketIO returns what reads and writes conn: a rawSocket when conn is a
// socket, conn itself otherwise.
func socketIO(conn net.Conn) (io.Reader, recordSink) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn, writerSink{conn}
	}
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return conn, writerSink{conn}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return conn, writerSink{conn}
	}
	s := &rawSocket{rc: rc}
	return s, s
}

func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) (ready bool) {
		n, errno, ready = rawRead(fd, p)
		return ready
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// writeBuffers writes all of bufs, with writev.
func (s *rawSocket) writeBuffers(bufs [][]byte) error {
	for len(bufs) > 0 {
		s.iov = s.iov[:0]
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			if len(s.iov) == maxIovecs {
				break
			}
			iov := syscall.Iovec{Base: &b[0]}
			iov.SetLen(len(b)) // 32 bits wide on the 32-bit ports
			s.iov = append(s.iov, iov)
		}
		if len(s.iov) == 0 {
			return nil
		}
		var n int
		var errno syscall.Errno
		err := s.rc.Write(func(fd uintptr) (ready bool) {
			n, errno, ready = s.rawWritev(fd)
			if !ready && s.writeBlocked != nil {
				s.writeBlocked()
			}
			return ready
		})
		clear(s.iov) // drop the references to the caller's buffers
		if err != nil {
			return err
		}
		if errno != 0 {
			return os.NewSyscallError("writev", errno)
		}
		for n > 0 && len(bufs) > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
	}
	return nil
}

// rawCall makes the read or write trap on the socket fd, which must not
// wait, again if a signal interrupted it; ready is false when the socket
// has nothing to read or no room to write, and the poller must wait.
//
// A trap that waited would hold its processor, unknown to the scheduler,
// and stop the world's next stop (a garbage collection) from completing:
// the whole process would hang. So where the port has them, the traps
// are recvfrom and sendmsg with MSG_DONTWAIT, which do not wait even on a
// socket whose open file was made blocking behind the connection's back
// (os.File.Fd on the os.File of net.UnixConn.File, which exec.Cmd's
// ExtraFiles does, makes it so).
func rawCall(trap, fd uintptr, p unsafe.Pointer, a3, a4 uintptr) (r int, errno syscall.Errno, ready bool) {
	for {
		r, _, e := syscall.RawSyscall6(trap, fd, uintptr(p), a3, a4, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, 0, false
		}
		return int(r), e, true
	}
}

// maxIovecs is Linux's IOV_MAX.
const maxIovecs = 1024
