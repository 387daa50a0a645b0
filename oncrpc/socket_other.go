//go:build !linux

package oncrpc

import (
	"io"
	"net"
)

func socketIO(conn net.Conn) (io.Reader, recordSink) { return conn, writerSink{conn} }
