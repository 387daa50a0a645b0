// Package mitsample runs MIT's gss-sample programs (gss-server and
// gss-client, Debian package krb5-gss-samples) against a krbtest realm, for
// the demo and the interop tests.
package mitsample

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// Server is a running MIT gss-server.
type Server struct {
	Port   int
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan error
}

// StartServer starts MIT's gss-server for service (host-based form) on a
// free loopback port with the realm's environment, and waits until it
// listens. Extra arguments (such as -once or -export) go before the service.
func StartServer(ctx context.Context, realm *krbtest.Realm, service string, extra ...string) (*Server, error) {
	return StartServerEnv(ctx, append(os.Environ(), realm.Env()...), service, extra...)
}

// StartServerEnv is StartServer with the whole environment given, for a
// gss-server whose GSS-API calls go somewhere other than the realm's
// default keytab (through the gss-proxy interposer, for one).
func StartServerEnv(ctx context.Context, env []string, service string, extra ...string) (*Server, error) {
	path, err := krbtest.LookPath("gss-server")
	if err != nil {
		return nil, err
	}
	// gss-server cannot report the port it got, so a free one is picked
	// here; should another process take it first, the start is retried.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, done: make(chan error, 1)}
		args := append([]string{"-port", strconv.Itoa(port)}, extra...)
		args = append(args, service)
		s.cmd = exec.CommandContext(ctx, path, args...)
		s.cmd.Env = env
		s.cmd.Stdout = lockedWriter{&s.mu, &s.stdout}
		errPipe, err := s.cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting gss-server: %w", err)
		}
		started := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(errPipe)
			signalled := false
			for sc.Scan() {
				s.mu.Lock()
				s.stderr.WriteString(sc.Text() + "\n")
				s.mu.Unlock()
				if !signalled && strings.Contains(sc.Text(), "starting...") {
					signalled = true
					started <- true
				}
			}
			if !signalled {
				started <- false
			}
			s.done <- s.cmd.Wait()
		}()
		select {
		case ok := <-started:
			if ok {
				return s, nil
			}
			err := <-s.done
			lastErr = fmt.Errorf("gss-server exited before listening (%v): %s", err, strings.TrimSpace(s.Stderr()+s.Stdout()))
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("waiting for gss-server to listen: %w", ctx.Err())
		}
	}
	return nil, lastErr
}

// Wait waits for the server to exit (it does after one connection with
// -once) and returns its exit error.
func (s *Server) Wait() error {
	err := <-s.done
	s.done <- err
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(s.Stderr()))
	}
	return nil
}

// PID is the server's process id: the caller a gss-proxy daemon sees.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop kills the server if it is still running.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
}

// Stdout is what the server printed so far.
func (s *Server) Stdout() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stdout.String()
}

// Stderr is what the server printed on stderr so far.
func (s *Server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Output copies the server's stdout to w.
func (s *Server) Output(w io.Writer) { io.WriteString(w, s.Stdout()) }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitOutput waits until the server's stdout holds substr at least n times,
// or ctx ends. gss-server flushes its log after each connection, so this is
// how a caller knows a connection was fully served by a server that keeps
// running.
func (s *Server) WaitOutput(ctx context.Context, substr string, n int) bool {
	for {
		if strings.Count(s.Stdout(), substr) >= n {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
