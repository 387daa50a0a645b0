package zmtp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/zmtp"
)

const (
	python = "/usr/bin/python3"

	alice      = "alice"
	bob        = "bob"
	serviceSPN = "zmq/localhost"       // the server's principal
	otherSPN   = "other/localhost"     // in the KDC, but not in the server's keytab
	clientSPN  = "zmqclient/localhost" // a client with a host-based name
)

// fixture is a realm with alice (kinit'ed into the default ccache), bob,
// the service zmq/localhost, and this process pointed at it.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	realm *krbtest.Realm
	logs  *logBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	realm := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{alice: "alice-zmtp-pw-1", bob: "bob-zmtp-pw-2"},
		Services: []krbtest.Service{{Principal: serviceSPN}, {Principal: otherSPN}, {Principal: clientSPN}},
	})
	realm.Setenv(t)
	realm.KinitT(t, alice, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, realm: realm, logs: &logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Go sockets' log:\n%s", f.logs.String())
		}
	})
	return f
}

// name returns the form of a principal that a name type reads:
// "zmq/localhost" as "zmq@localhost", "zmq/localhost" and
// "zmq/localhost@REALM".
func (f *fixture) name(principal string, nt zmtp.NameType) string {
	switch nt {
	case zmtp.NameHostbased:
		svc, host, _ := strings.Cut(principal, "/")
		return svc + "@" + host
	case zmtp.NameUser:
		return principal
	}
	return f.realm.Principal(principal)
}

// logger collects the socket's log so tests can check a logged reason.
func (f *fixture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serverConfig is a GSSAPI server with zmq/localhost's keytab.
func (f *fixture) serverConfig(nt zmtp.NameType, plaintext bool) *zmtp.Config {
	return &zmtp.Config{
		GSSAPI: &zmtp.GSSAPIConfig{
			Server:            true,
			Principal:         f.name(serviceSPN, nt),
			PrincipalNameType: nt,
			Keytab:            f.realm.Keytab(serviceSPN),
			Plaintext:         plaintext,
		},
		Logger: f.logger(),
	}
}

// clientConfig is a GSSAPI client of zmq/localhost with alice's ccache.
func (f *fixture) clientConfig(nt zmtp.NameType, plaintext bool) *zmtp.Config {
	return &zmtp.Config{
		GSSAPI: &zmtp.GSSAPIConfig{
			ServicePrincipal:         f.name(serviceSPN, nt),
			ServicePrincipalNameType: nt,
			Plaintext:                plaintext,
		},
		Logger: f.logger(),
	}
}

// echoServer listens with a Go socket and echoes every message, all
// frames, until the test ends. It returns the endpoint and the socket.
func (f *fixture) echoServer(typ zmtp.SocketType, cfg *zmtp.Config) (string, *zmtp.Socket, <-chan *zmtp.Msg) {
	f.t.Helper()
	s, err := zmtp.NewSocket(typ, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	addr, err := s.Listen("tcp://127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	seen := make(chan *zmtp.Msg, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := s.Recv(ctx)
			if err != nil {
				return
			}
			select {
			case seen <- m:
			default:
			}
			if err := s.Send(ctx, m.Frames...); err != nil {
				return
			}
		}
	}()
	f.t.Cleanup(func() {
		cancel()
		s.Close()
		<-done
	})
	return "tcp://" + addr.String(), s, seen
}

// pyPeer is a running testdata/peer.py.
type pyPeer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
	all   []string
	done  chan struct{}
	err   error
}

// havePython applies the CI rule to the libzmq peer.
func havePython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		krbtest.Missing(t, fmt.Errorf("%s not found (apt-get install -y python3-zmq): %v", python, err))
	}
	out, err := exec.Command(python, "-c", "import zmq; print(zmq.zmq_version(), zmq.has('gssapi'))").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "True") {
		krbtest.Missing(t, fmt.Errorf("python3-zmq with GSSAPI not available (apt-get install -y python3-zmq): %v %s", err, out))
	}
}

// py starts the libzmq peer with the realm's environment plus env.
func (f *fixture) py(env []string, args ...string) *pyPeer {
	f.t.Helper()
	havePython(f.t)
	cmd := exec.Command(python, append([]string{"testdata/peer.py"}, args...)...)
	// Later entries win, so env overrides the realm's defaults.
	cmd.Env = append(append(os.Environ(), f.realm.Env()...), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &pyPeer{t: f.t, cmd: cmd, stdin: stdin, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.all = append(p.all, line)
			p.mu.Unlock()
			p.lines <- line
		}
		close(p.lines)
		p.err = cmd.Wait()
		if stderr.Len() > 0 {
			p.mu.Lock()
			p.all = append(p.all, "stderr: "+stderr.String())
			p.mu.Unlock()
		}
		close(p.done)
	}()
	f.t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		if f.t.Failed() {
			f.t.Logf("libzmq peer %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *pyPeer) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// expect reads lines until one starts with prefix and returns it; the
// peer exiting first fails the test.
func (p *pyPeer) expect(prefix string) string {
	p.t.Helper()
	for line := range p.lines {
		if strings.HasPrefix(line, prefix) {
			return line
		}
		if strings.HasPrefix(line, "FAIL") {
			p.t.Fatalf("libzmq peer: %s\n%s", line, p.output())
		}
	}
	<-p.done
	p.t.Fatalf("libzmq peer exited (%v) without %q:\n%s", p.err, prefix, p.output())
	return ""
}

// port waits for the server's PORT line.
func (p *pyPeer) endpoint() string {
	p.t.Helper()
	line := p.expect("PORT ")
	port, err := strconv.Atoi(strings.TrimPrefix(line, "PORT "))
	if err != nil {
		p.t.Fatalf("bad PORT line %q", line)
	}
	return "tcp://127.0.0.1:" + strconv.Itoa(port)
}

// stop tells the peer to finish (it watches its stdin).
func (p *pyPeer) stop() { p.stdin.Close() }

// wait waits for the peer to exit and returns its exit code.
func (p *pyPeer) wait() int {
	p.stdin.Close()
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("libzmq peer: %v", p.err)
	}
	return 0
}

// pyEnvFor is what a libzmq socket with ZMQ_GSSAPI_PRINCIPAL needs: it
// acquires that principal's credential for both roles (GSS_C_BOTH), so
// the principal's keys must be both its keytab and its client keytab,
// and it needs a ccache of its own. A user's keys are its client keytab.
func (f *fixture) pyEnvFor(principal string) []string {
	kt := f.realm.Keytab(principal)
	if principal == alice || principal == bob {
		kt = f.realm.ClientKeytab(principal)
	}
	return []string{
		"KRB5_KTNAME=FILE:" + kt,
		"KRB5_CLIENT_KTNAME=FILE:" + kt,
		"KRB5CCNAME=FILE:" + filepath.Join(f.t.TempDir(), "server.ccache"),
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits until the log contains s, or the context ends.
func (f *fixture) waitLog(s string) { f.waitLogAfter("", s) }

// waitLogAfter waits until the log past the prefix mark contains s.
func (f *fixture) waitLogAfter(mark, s string) {
	f.t.Helper()
	for !strings.Contains(strings.TrimPrefix(f.logs.String(), mark), s) {
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("log never said %q:\n%s", s, f.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
