//go:build linux && !386

package oncrpc

import (
	"syscall"
	"unsafe"
)

// rawRead reads into p, which is not empty, without waiting.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno, bool) {
	return rawCall(syscall.SYS_RECVFROM, fd, unsafe.Pointer(&p[0]), uintptr(len(p)), syscall.MSG_DONTWAIT)
}

// rawWritev writes s.iov, which is not empty, without waiting.
func (s *rawSocket) rawWritev(fd uintptr) (int, syscall.Errno, bool) {
	s.msg.Iov = &s.iov[0]
	setLen(&s.msg.Iovlen, len(s.iov))
	n, errno, ready := rawCall(syscall.SYS_SENDMSG, fd, unsafe.Pointer(&s.msg), syscall.MSG_DONTWAIT, 0)
	s.msg.Iov = nil
	return n, errno, ready
}

// setLen sets a length field as wide as the port makes it.
func setLen[T uint32 | uint64](f *T, n int) { *f = T(n) }
