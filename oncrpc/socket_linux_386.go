package oncrpc

import (
	"syscall"
	"unsafe"
)

// linux/386 reaches recvfrom and sendmsg only through socketcall, so it
// reads and writes with read and writev, which wait if the socket's open
// file was made blocking (see rawCall).

// rawRead reads into p, which is not empty.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno, bool) {
	return rawCall(syscall.SYS_READ, fd, unsafe.Pointer(&p[0]), uintptr(len(p)), 0)
}

// rawWritev writes s.iov, which is not empty.
func (s *rawSocket) rawWritev(fd uintptr) (int, syscall.Errno, bool) {
	return rawCall(syscall.SYS_WRITEV, fd, unsafe.Pointer(&s.iov[0]), uintptr(len(s.iov)), 0)
}
