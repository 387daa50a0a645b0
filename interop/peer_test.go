package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// systemPython is Debian's interpreter, the one python3-gssapi is installed
// for; the python3 first on PATH may be another one without it.
const systemPython = "/usr/bin/python3"

var (
	pythonOnce sync.Once
	pythonErr  error
)

// needPythonGSSAPI applies the CI rule to python3-gssapi.
func needPythonGSSAPI(t testing.TB) {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command(systemPython, "-c", "import gssapi.raw.ext_krb5, gssapi.raw.ext_cred_store").CombinedOutput()
		if err != nil {
			pythonErr = fmt.Errorf("%w: %s", &krbtest.MissingToolError{Program: "python3-gssapi for " + systemPython, Package: "python3-gssapi"}, bytes.TrimSpace(out))
		}
	})
	if pythonErr != nil {
		krbtest.Missing(t, pythonErr)
	}
}

// mitPeer is one running testdata/mitpeer.py: MIT's GSS-API library on the
// other end of a pipe.
type mitPeer struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// peerError is an "err" answer: MIT's major and minor status, or major -1
// for a usage error inside the helper.
type peerError struct {
	Major int64
	Minor uint32
	Token []byte
	Text  string
}

func (e *peerError) Error() string {
	return fmt.Sprintf("MIT major 0x%x minor %d (%s): %s", e.Major, e.Minor,
		strings.Join(gss.MajorStatus(e.Major).MajorText(), "; "), e.Text)
}

// major is the status word as gsskit's type, for comparisons.
func (e *peerError) major() gss.MajorStatus { return gss.MajorStatus(e.Major) }

// startPeer runs the helper with the realm's environment plus extra
// variables.
func startPeer(t testing.TB, realm *krbtest.Realm, name string, extraEnv ...string) *mitPeer {
	t.Helper()
	needPythonGSSAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &mitPeer{t: t, name: name}
	p.cmd = realm.Cmd(ctx, systemPython, filepath.Join("testdata", "mitpeer.py"))
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting MIT peer: %v", err)
	}
	t.Cleanup(func() {
		p.in.Close()
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() && p.stderr.Len() > 0 {
			t.Logf("MIT peer %s stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// call sends one command and returns the answer's fields, or the MIT error.
func (p *mitPeer) call(cmd string, args ...string) ([]string, *peerError) {
	p.t.Helper()
	line := strings.Join(append([]string{cmd}, args...), " ")
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatalf("MIT peer %s: writing %q: %v (stderr: %s)", p.name, cmd, err, p.stderr.String())
	}
	ans, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("MIT peer %s: reading the answer to %q: %v (stderr: %s)", p.name, cmd, err, p.stderr.String())
	}
	f := strings.Fields(ans)
	switch {
	case len(f) >= 1 && f[0] == "ok":
		return f[1:], nil
	case len(f) == 5 && f[0] == "err":
		maj, err1 := strconv.ParseInt(f[1], 10, 64)
		min, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			break
		}
		e := &peerError{Major: maj, Minor: uint32(min), Token: unb64(p.t, f[3]), Text: string(unb64(p.t, f[4]))}
		if maj < 0 {
			p.t.Fatalf("MIT peer %s: helper usage error on %q: %s", p.name, cmd, e.Text)
		}
		return nil, e
	}
	p.t.Fatalf("MIT peer %s: malformed answer to %q: %q", p.name, cmd, ans)
	return nil, nil
}

// must is call failing the test on an MIT error.
func (p *mitPeer) must(cmd string, args ...string) []string {
	p.t.Helper()
	f, err := p.call(cmd, args...)
	if err != nil {
		p.t.Fatalf("MIT %s %s: %v", p.name, cmd, err)
	}
	return f
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 from MIT peer: %q", s)
	}
	return b
}

// keyValues parses "k=v" fields.
func keyValues(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// mitInfo is the peer's inquire_context.
type mitInfo struct {
	Flags             gss.Flags
	Initiator, Target string
	Mech              string
	Local, Open       bool
}

func (p *mitPeer) info() mitInfo {
	p.t.Helper()
	kv := keyValues(p.must("info"))
	fl, _ := strconv.ParseUint(kv["flags"], 10, 32)
	return mitInfo{
		Flags:     gss.Flags(fl),
		Initiator: string(unb64(p.t, kv["initiator"])),
		Target:    string(unb64(p.t, kv["target"])),
		Mech:      kv["mech"],
		Local:     kv["local"] == "1",
		Open:      kv["open"] == "1",
	}
}

// wrap asks MIT to wrap msg.
func (p *mitPeer) wrap(msg []byte, conf bool) []byte {
	p.t.Helper()
	c := "0"
	if conf {
		c = "1"
	}
	f := p.must("wrap", c, b64(msg))
	if conf && f[1] != "1" {
		p.t.Fatalf("MIT did not apply confidentiality")
	}
	return unb64(p.t, f[0])
}

// unwrap asks MIT to unwrap tok.
func (p *mitPeer) unwrap(tok []byte) ([]byte, bool, *peerError) {
	p.t.Helper()
	f, err := p.call("unwrap", b64(tok))
	if err != nil {
		return nil, false, err
	}
	return unb64(p.t, f[0]), f[1] == "1", nil
}

func (p *mitPeer) mic(msg []byte) []byte {
	p.t.Helper()
	return unb64(p.t, p.must("mic", b64(msg))[0])
}

func (p *mitPeer) verify(msg, tok []byte) *peerError {
	p.t.Helper()
	_, err := p.call("verify", b64(msg), b64(tok))
	return err
}

// lucid returns the krb5 lucid context's protocol (1 for RFC 4121) and the
// enctype of the key that protects messages; the MIT context is gone after.
func (p *mitPeer) lucid() (protocol, enctype int) {
	p.t.Helper()
	f := p.must("lucid")
	protocol, _ = strconv.Atoi(f[0])
	enctype, _ = strconv.Atoi(f[1])
	return
}
