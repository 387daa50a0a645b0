package sasl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/sasl"
)

// Interoperability with Cyrus SASL's GSSAPI plugin (libsasl2-modules-gssapi-mit)
// through its sample programs, in both roles. The sample protocol is lines
// on the programs' stdin and stdout: "S: " or "C: " and base64, the
// client's first line being the mechanism name, a NUL and the initial
// response. After authentication the server sends sasl_encode("srv message
// 1") and the client answers sasl_encode("client message 1"), both with
// their terminating NUL: so every negotiated layer carries real packets.

const (
	cyrusServerMsg = "srv message 1\x00"
	cyrusClientMsg = "client message 1\x00"
)

// samplePeer drives one sample program.
type samplePeer struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	mine   string // prefix of lines we write
	theirs string // prefix of lines we read
	log    bytes.Buffer
	stderr bytes.Buffer
}

func startSample(t *testing.T, r *krbtest.Realm, program, pkg string, programIsServer bool, args ...string) *samplePeer {
	t.Helper()
	bin := krbtest.LookPathT(t, program, pkg)
	// The programs printf without fflush: on a pipe their lines would sit
	// in stdio's buffer while they wait for ours.
	stdbuf := krbtest.LookPathT(t, "stdbuf", "coreutils")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	p := &samplePeer{t: t, cmd: r.Cmd(ctx, stdbuf, append([]string{"-oL", bin}, args...)...), mine: "S: ", theirs: "C: "}
	if programIsServer {
		p.mine, p.theirs = "C: ", "S: "
	}
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	p.out = bufio.NewScanner(stdout)
	p.out.Buffer(make([]byte, 64<<10), 1<<20)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.in.Close()
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s transcript:\n%s\nstderr:\n%s", program, p.log.String(), p.stderr.String())
		}
	})
	return p
}

func (p *samplePeer) send(b []byte) {
	p.t.Helper()
	line := p.mine + base64.StdEncoding.EncodeToString(b) + "\n"
	p.log.WriteString("> " + line)
	if _, err := io.WriteString(p.in, line); err != nil {
		p.t.Fatalf("writing to the sample program: %v", err)
	}
}

// recv returns the next protocol line's bytes, logging the program's
// commentary in between.
func (p *samplePeer) recv() []byte {
	p.t.Helper()
	for p.out.Scan() {
		line := p.out.Text()
		p.log.WriteString("< " + line + "\n")
		if rest, ok := strings.CutPrefix(line, p.theirs); ok {
			b, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				p.t.Fatalf("bad base64 from the sample program: %q", line)
			}
			return b
		}
	}
	p.t.Fatalf("the sample program ended without a %q line (%v)", p.theirs, p.out.Err())
	return nil
}

// finish waits for the program and returns everything it printed after the
// last protocol line.
func (p *samplePeer) finish() string {
	p.t.Helper()
	var rest strings.Builder
	for p.out.Scan() {
		p.log.WriteString("< " + p.out.Text() + "\n")
		rest.WriteString(p.out.Text() + "\n")
	}
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("sample program failed: %v", err)
	}
	return rest.String()
}

var ssfLine = regexp.MustCompile(`(?m)^< SSF: (\d+)$`)

func ssfOf(t *testing.T, text string) string {
	t.Helper()
	m := ssfLine.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no SSF line in %q", text)
	}
	return m[1]
}

// cyrusLayers are the security properties that make Cyrus settle on each
// layer, with the SSF it then reports: none is 0, integrity 1, and
// confidentiality the key strength MIT reports for the session key.
var cyrusLayers = []struct {
	layer sasl.Layer
	args  []string
	ssf   func(string) bool
}{
	{sasl.LayerNone, []string{"-b", "max=0"}, func(s string) bool { return s == "0" }},
	{sasl.LayerIntegrity, []string{"-b", "min=1,max=1"}, func(s string) bool { return s == "1" }},
	{sasl.LayerConfidentiality, []string{"-b", "min=2"}, func(s string) bool { return s != "0" && s != "1" }},
}

// TestCyrusClientGoServer: sasl-sample-client authenticates to a Go server.
func TestCyrusClientGoServer(t *testing.T) {
	r := startRealm(t)
	cred := acceptorCred(t, r)
	for _, tc := range cyrusLayers {
		for _, authz := range []string{"", "alice"} {
			t.Run(fmt.Sprintf("%v/authzid=%q", tc.layer, authz), func(t *testing.T) {
				args := append([]string{"-s", "kafka", "-n", "localhost", "-m", "GSSAPI"}, tc.args...)
				if authz != "" {
					args = append(args, "-u", authz)
				}
				p := startSample(t, r, "sasl-sample-client", "sasl2-bin", false, args...)
				var gotAuthz string
				s, err := sasl.NewServer(&sasl.ServerConfig{Credential: cred, Layers: sasl.LayerAll, MaxBuffer: 8192,
					Authorize: func(_ *gss.Name, a string) error { gotAuthz = a; return nil }})
				if err != nil {
					t.Fatal(err)
				}
				p.send([]byte("GSSAPI"))
				first := p.recv()
				mech, tok, ok := bytes.Cut(first, []byte{0})
				if string(mech) != "GSSAPI" || !ok || len(tok) == 0 {
					t.Fatalf("first client line %q", first)
				}
				for {
					chal, done, err := s.Step(context.Background(), tok)
					if err != nil {
						t.Fatal(err)
					}
					if done {
						break
					}
					p.send(chal)
					tok = p.recv()
				}
				ss := s.Session()
				if ss.Layer != tc.layer {
					t.Fatalf("negotiated %v, want %v", ss.Layer, tc.layer)
				}
				if s.Principal().String() != r.Principal("alice") || gotAuthz != authz {
					t.Fatalf("principal %v authzid %q", s.Principal(), gotAuthz)
				}
				if tc.layer != sasl.LayerNone && ss.PeerMaxBuffer != 2048 {
					t.Fatalf("Cyrus's sample buffer is 2048, server saw %d", ss.PeerMaxBuffer)
				}
				pkt, err := ss.Encode(nil, []byte(cyrusServerMsg))
				if err != nil {
					t.Fatal(err)
				}
				p.send(pkt)
				msg, err := ss.Decode(nil, p.recv())
				if err != nil {
					t.Fatal(err)
				}
				if string(msg) != cyrusClientMsg {
					t.Fatalf("client message %q", msg)
				}
				p.finish()
				if ssf := ssfOf(t, p.log.String()); !tc.ssf(ssf) {
					t.Fatalf("Cyrus client reports SSF %s for %v", ssf, tc.layer)
				}
			})
		}
	}
}

// TestGoClientCyrusServer: a Go client authenticates to sasl-sample-server.
func TestGoClientCyrusServer(t *testing.T) {
	r := startRealm(t)
	for _, tc := range cyrusLayers {
		for _, noMutual := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/nomutual=%v", tc.layer, noMutual), func(t *testing.T) {
				args := append([]string{"-s", "kafka", "-d", "localhost", "-m", "GSSAPI"}, tc.args...)
				p := startSample(t, r, "sasl-sample-server", "sasl2-bin", true, args...)
				c, err := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost",
					Layers: sasl.LayerAll, NoMutual: noMutual, MaxBuffer: 4096})
				if err != nil {
					t.Fatal(err)
				}
				if mechs := p.recv(); !strings.Contains(string(mechs), "GSSAPI") {
					t.Fatalf("server offers %q", mechs)
				}
				tok, err := c.Start(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				p.send(append([]byte("GSSAPI\x00"), tok...))
				for !c.Done() {
					chal := p.recv()
					if tok, _, err = c.Step(context.Background(), chal); err != nil {
						t.Fatal(err)
					}
					p.send(tok)
				}
				cs := c.Session()
				if cs.Layer != tc.layer {
					t.Fatalf("negotiated %v, want %v", cs.Layer, tc.layer)
				}
				msg, err := cs.Decode(nil, p.recv())
				if err != nil {
					t.Fatal(err)
				}
				if string(msg) != cyrusServerMsg {
					t.Fatalf("server message %q", msg)
				}
				pkt, err := cs.Encode(nil, []byte(cyrusClientMsg))
				if err != nil {
					t.Fatal(err)
				}
				p.send(pkt)
				p.finish()
				log := p.log.String()
				if !strings.Contains(log, "Username: alice") {
					t.Fatalf("Cyrus server did not report alice:\n%s", log)
				}
				if ssf := ssfOf(t, log); !tc.ssf(ssf) {
					t.Fatalf("Cyrus server reports SSF %s for %v", ssf, tc.layer)
				}
				if !strings.Contains(log, "decoded message 'client message 1'") {
					t.Fatalf("Cyrus server did not decode our message:\n%s", log)
				}
			})
		}
	}
}
