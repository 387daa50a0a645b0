package krbtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// kdcProcess is a running krb5kdc.
type kdcProcess struct {
	cmd    *exec.Cmd
	out    *SyncBuffer // krb5kdc's own stdout/stderr
	exited chan struct{}
	err    error // set before exited is closed
}

// startAttempts bounds the retries when another KDC grabs our port.
const startAttempts = 8

// startKDC picks a free loopback port, writes it into both profiles and
// starts krb5kdc, retrying with another port on a collision.
func (r *Realm) startKDC(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("krbtest: no free loopback port: %w", err)
		}
		r.kdcAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := r.writeKDCConf(port); err != nil {
			return fmt.Errorf("krbtest: %w", err)
		}
		if err := r.writeKrb5Conf(); err != nil {
			return fmt.Errorf("krbtest: %w", err)
		}
		p, err := r.launch(ctx, port)
		if err == nil {
			r.kdc = p
			return nil
		}
		lastErr = err
		var pe *portError
		if !errors.As(err, &pe) {
			return err
		}
	}
	return fmt.Errorf("krbtest: gave up after %d ports: %w", startAttempts, lastErr)
}

// portError is a start-up failure worth retrying on another port.
type portError struct{ msg string }

func (e *portError) Error() string { return e.msg }

func (r *Realm) launch(ctx context.Context, port int) (*kdcProcess, error) {
	bin, err := LookPath("krb5kdc")
	if err != nil {
		return nil, err
	}
	logPath := r.path("kdc.log")
	// Each attempt gets a fresh log, so "commencing operation" below is
	// from this process.
	os.Remove(logPath)

	// -n keeps it in the foreground so it is our child and dies with us.
	c := exec.Command(bin, "-n", "-r", r.name, "-P", r.path("krb5kdc.pid"))
	c.Env = append(os.Environ(), r.Env()...)
	c.Dir = r.dir
	p := &kdcProcess{cmd: c, out: &SyncBuffer{}, exited: make(chan struct{})}
	c.Stdout, c.Stderr = p.out, p.out
	// If the test binary dies without Close, the KDC must not linger.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("krbtest: starting krb5kdc: %w", err)
	}
	go func() {
		p.err = c.Wait()
		close(p.exited)
	}()

	fail := func(format string, args ...any) error {
		p.stop()
		return fmt.Errorf("krbtest: krb5kdc for %s on port %d: %s%s", r.name, port,
			fmt.Sprintf(format, args...), r.diagnostics(p))
	}

	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			msg := fmt.Sprintf("exited during start-up (%v)", p.err)
			if bytes.Contains([]byte(r.KDCLog()+p.out.String()), []byte("in use")) {
				return nil, &portError{msg: msg + r.diagnostics(p)}
			}
			return nil, fail("%s", msg)
		case <-ctx.Done():
			return nil, fail("start-up interrupted: %v", ctx.Err())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return nil, fail("not serving after 15s")
		}
		if !strings.Contains(r.KDCLog(), "commencing operation") {
			continue
		}
		// MIT binds with SO_REUSEPORT, so a second KDC on the same port
		// starts happily and steals half the requests. Make sure ours is
		// the only listener; otherwise try another port.
		if tcp, udp, ok := loopbackSockets(port); ok && (tcp != 1 || udp != 1) {
			p.stop()
			return nil, &portError{msg: fmt.Sprintf("port %d shared with another process (%d tcp, %d udp sockets)", port, tcp, udp)}
		}
		conn, err := net.DialTimeout("tcp", r.kdcAddr, time.Second)
		if err != nil {
			continue
		}
		conn.Close()
		return p, nil
	}
}

// diagnostics is appended to start-up errors: what krb5kdc printed and
// the tail of its log.
func (r *Realm) diagnostics(p *kdcProcess) string {
	var b strings.Builder
	if out := strings.TrimSpace(p.out.String()); out != "" {
		b.WriteString("\nkrb5kdc output:\n" + out)
	}
	if tail := logTail(r.path("kdc.log"), 20); tail != "" {
		b.WriteString("\nkdc.log (last lines):\n" + tail)
	}
	return b.String()
}

// stop terminates the KDC: SIGTERM, then SIGKILL if it lingers.
func (p *kdcProcess) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	p.cmd.Process.Kill()
	<-p.exited
	return nil
}

// freePort returns a loopback port that is free for both TCP and UDP at
// the moment of the call.
func freePort() (int, error) {
	var lastErr error
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			lastErr = err
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, lastErr
}

// loopbackSockets counts the listening TCP sockets and the bound UDP
// sockets on 127.0.0.1:port, from /proc/net. ok is false where /proc/net
// is unavailable, and the check is skipped.
func loopbackSockets(port int) (tcp, udp int, ok bool) {
	tcp, err1 := countSockets("/proc/net/tcp", port, "0A") // TCP_LISTEN
	udp, err2 := countSockets("/proc/net/udp", port, "07") // TCP_CLOSE: an unconnected UDP socket
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return tcp, udp, true
}

func countSockets(file string, port int, state string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// 127.0.0.1 in /proc/net's host-order hex: little- or big-endian.
	wantLE := fmt.Sprintf("0100007F:%04X", port)
	wantBE := fmt.Sprintf("7F000001:%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		if (fields[1] == wantLE || fields[1] == wantBE) && fields[3] == state {
			n++
		}
	}
	return n, sc.Err()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a
// child's stdout and stderr, or a daemon's goroutines logging while a test
// reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
