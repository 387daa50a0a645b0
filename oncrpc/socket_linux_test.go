package oncrpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// socketPair returns both ends of a loopback TCP connection.
func socketPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	l := mustListen(t)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSocketIOIsRawForSockets(t *testing.T) {
	a, _ := socketPair(t)
	if r, w := socketIO(a); r == io.Reader(a) || w == recordSink(writerSink{a}) {
		t.Fatalf("a TCP connection got %T and %T, want the raw socket", r, w)
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if r, w := socketIO(p); r != io.Reader(p) || w != recordSink(writerSink{p}) {
		t.Fatalf("a pipe got %T and %T, want itself", r, w)
	}
}

// A record far larger than the socket buffers makes writev stop short
// and wait for room several times; the reader must see every byte in
// order, across fragments.
func TestRawSocketLargeRecordRoundTrip(t *testing.T) {
	a, b := socketPair(t)
	_, wa := socketIO(a)
	rb, _ := socketIO(b)
	rec := make([]byte, 8<<20)
	for i := range rec {
		rec[i] = byte(i * 7 / 3)
	}
	errc := make(chan error, 1)
	go func() { errc <- newRecordWriter(wa, 1<<20).write(rec[:3<<20], rec[3<<20:]) }()
	got, err := NewRecordReader(rb, 16<<20).ReadRecord(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rec) {
		t.Fatal("the record came back changed")
	}
}

func TestRawSocketEndsAndErrors(t *testing.T) {
	t.Run("peer closes", func(t *testing.T) {
		a, b := socketPair(t)
		r, _ := socketIO(a)
		b.Close()
		if _, err := r.Read(make([]byte, 10)); err != io.EOF {
			t.Fatalf("read after the peer closed: %v, want io.EOF", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		a, _ := socketPair(t)
		r, _ := socketIO(a)
		a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("closed while reading", func(t *testing.T) {
		a, _ := socketPair(t)
		r, _ := socketIO(a)
		errc := make(chan error, 1)
		go func() {
			_, err := r.Read(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond) // let the read wait in the poller (either order passes)
		a.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
		}
	})
	t.Run("write to a reset peer", func(t *testing.T) {
		a, b := socketPair(t)
		_, w := socketIO(a)
		b.(*net.TCPConn).SetLinger(0)
		b.Close()
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = w.writeBuffers([][]byte{make([]byte, 64<<10)})
			time.Sleep(time.Millisecond)
		}
		if err == nil {
			t.Fatal("writes to a reset peer kept succeeding")
		}
	})
}

// The raw socket code builds for the 32-bit Linux ports too, whose iovec
// lengths are 32 bits wide.
func TestRawSocketBuildsOn32BitLinux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package for other ports")
	}
	for _, arch := range []string{"386", "arm"} {
		cmd := exec.Command("go", "build", ".")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOARCH=%s: %v\n%s", arch, err, out)
		}
	}
}

// A connection whose open file was made blocking behind its back, as
// os.File.Fd on the os.File from File does (exec.Cmd's ExtraFiles calls
// it): a reader waiting for a reply must still wait in the poller, not in
// a raw read that holds its processor and keeps a garbage collection from
// ever stopping the world (the whole process hangs).
func TestRawSocketMadeBlocking(t *testing.T) {
	if runtime.GOARCH == "386" {
		t.Skip("linux/386 reads with read, which waits on a blocking socket")
	}
	c, s := newScripted(t, unixPair)
	f, err := c.conn.(*net.UnixConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Fd() // makes the open file, which the connection shares, blocking
	for range 20 {
		r := echoAsync(context.Background(), c, "a")
		x, args := s.readCall()
		for range 20 {
			runtime.Gosched() // let the caller start reading
		}
		runtime.GC()
		s.write(record(echoReply(x, args)))
		wantEcho(t, <-r, "a")
	}
}
