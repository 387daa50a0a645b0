// Package demo is `gsskit demo`: it brings up a throwaway MIT realm and
// proves that gsskit's Kerberos mechanism interoperates with MIT's in both
// directions, using MIT's own sample programs as the other side, and that
// gsskit's gss-proxy daemon serves those programs through the reference
// interposer (gssproxy's proxymech.so) in both roles.
//
//  1. MIT gss-server accepts, the Go sample client initiates.
//  2. The Go sample server accepts, MIT gss-client initiates.
//  3. MIT gss-server, with no keytab it can read, accepts through gsskit's
//     daemon (GSSPROXY_BEHAVIOR=REMOTE_ONLY); MIT gss-client initiates
//     with a user's ticket.
//  4. MIT gss-client, with no ticket and no keys, initiates through the
//     daemon, which holds a client keytab; MIT gss-server accepts.
//
// Each part runs a full sample-protocol conversation: context establishment
// with mutual authentication, a wrapped (encrypted) message to the server and
// a MIC of it back to the client, which the client verifies.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/gsssample"
	"github.com/gsskit/gsskit/internal/gsssample/mitsample"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
	_ "github.com/gsskit/gsskit/krb5" // the mechanism under test
)

// Config tunes the demo.
type Config struct {
	// Out receives the narrative; nil means os.Stdout.
	Out io.Writer
	// Message is sent in both parts; empty means a default sentence.
	Message string
	// Timeout bounds each part; zero means 60 seconds.
	Timeout time.Duration
}

const (
	user    = "alice"
	keyUser = "bob"            // the daemon holds its client keytab in part 4
	service = "host@localhost" // host-based form of host/localhost@REALM
	spn     = "host/localhost"
)

// Run runs the demo. It returns nil only if every part worked, and a
// report of what the gss-proxy parts observed in any case. It points this
// process's Kerberos environment (KRB5_CONFIG, KRB5CCNAME, ...) at the
// throwaway realm and leaves it so: the demo is meant to be the whole of
// the process.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{}
	err := run(ctx, cfg, rep)
	return rep, err
}

func run(ctx context.Context, cfg Config, rep *Report) error {
	out := cfg.Out
	if out == nil {
		out = os.Stdout
	}
	msg := cfg.Message
	if msg == "" {
		msg = "Hello from the gsskit demo"
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	for _, p := range []string{"gss-server", "gss-client"} {
		if _, err := krbtest.LookPath(p); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if _, err := proxyrun.InterposerLibrary(); err != nil {
		return fmt.Errorf("demo: the gss-proxy interposer: %w", err)
	}

	password := randomPassword()
	fmt.Fprintf(out, "== starting a throwaway MIT realm\n")
	realm, err := krbtest.Start(ctx, krbtest.Config{
		Users:    map[string]string{user: password, keyUser: randomPassword()},
		Services: []krbtest.Service{{Principal: spn}},
	})
	if err != nil {
		return fmt.Errorf("demo: starting the realm: %w", err)
	}
	defer realm.Close()
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	fmt.Fprintf(out, "realm %s, KDC on %s, user %s, service %s\n", realm.Name(), realm.KDCAddr(), realm.Principal(user), realm.Principal(spn))
	if err := realm.Kinit(ctx, user, ""); err != nil {
		return fmt.Errorf("demo: kinit %s: %w", user, err)
	}
	fmt.Fprintf(out, "kinit %s: TGT in %s\n", realm.Principal(user), realm.DefaultCCache())

	var failures []string
	fmt.Fprintf(out, "\n== part 1: MIT gss-server accepts, Go initiator\n")
	if err := part1(ctx, realm, out, msg, timeout); err != nil {
		fmt.Fprintf(out, "FAILED: %v\n", err)
		failures = append(failures, "part 1 (MIT acceptor, Go initiator): "+err.Error())
	} else {
		fmt.Fprintf(out, "part 1 OK\n")
	}
	fmt.Fprintf(out, "\n== part 2: Go acceptor, MIT gss-client initiates\n")
	if err := part2(ctx, realm, out, msg, timeout); err != nil {
		fmt.Fprintf(out, "FAILED: %v\n", err)
		failures = append(failures, "part 2 (Go acceptor, MIT initiator): "+err.Error())
	} else {
		fmt.Fprintf(out, "part 2 OK\n")
	}
	failures = append(failures, proxyParts(ctx, realm, out, msg, timeout, rep)...)
	if len(failures) > 0 {
		return errors.New("demo failed:\n  " + strings.Join(failures, "\n  "))
	}
	fmt.Fprintf(out, "\ndemo: both directions interoperate, and gsskit's gss-proxy daemon serves MIT's programs in both roles\n")
	return nil
}

// proxyParts starts gsskit's gss-proxy daemon and runs parts 3 and 4
// against it, returning what failed.
func proxyParts(ctx context.Context, realm *krbtest.Realm, out io.Writer, msg string, timeout time.Duration, rep *Report) []string {
	fmt.Fprintf(out, "\n== starting gsskit's gss-proxy daemon\n")
	// A short path of its own: the daemon's socket path must fit in
	// sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "gsskit-demo")
	if err != nil {
		fmt.Fprintf(out, "FAILED: %v\n", err)
		return []string{"gss-proxy daemon: " + err.Error()}
	}
	defer os.RemoveAll(dir)
	d, calls, err := startDaemon(dir, realm, out, rep)
	if err != nil {
		fmt.Fprintf(out, "FAILED: %v\n", err)
		return []string{"gss-proxy daemon: " + err.Error()}
	}
	var failures []string
	for _, p := range []struct {
		heading, name string
		run           func(context.Context, string, *krbtest.Realm, *proxyrun.Gsskit, *callLog, io.Writer, string, *Report) error
	}{
		{"part 3: MIT gss-server with no keytab accepts through gsskit's gss-proxy daemon, MIT gss-client initiates",
			"part 3 (MIT acceptor through gsskit's daemon)", part3},
		{"part 4: MIT gss-client with no ticket initiates through gsskit's gss-proxy daemon, MIT gss-server accepts",
			"part 4 (MIT initiator through gsskit's daemon)", part4},
	} {
		fmt.Fprintf(out, "\n== %s\n", p.heading)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.run(pctx, dir, realm, d, calls, out, msg, rep)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "FAILED: %v\n", err)
			failures = append(failures, p.name+": "+err.Error())
		} else {
			fmt.Fprintf(out, "%s OK\n", strings.SplitN(p.heading, ":", 2)[0])
		}
	}
	if err := d.Stop(); err != nil {
		failures = append(failures, "stopping gsskit's gss-proxy daemon: "+err.Error())
	}
	return failures
}

// part1 runs MIT's gss-server and the Go sample client against it.
func part1(ctx context.Context, realm *krbtest.Realm, out io.Writer, msg string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	srv, err := mitsample.StartServer(ctx, realm, service, "-once")
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(out, "MIT gss-server listening on port %d\n", srv.Port)

	client := &gsssample.Client{
		Target: service,
		Flags:  gsssample.DefaultFlags | gss.FlagSequence | gss.FlagConf | gss.FlagInteg,
		Log:    prefix(out, "  go  "),
	}
	res, cerr := client.Call(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port)), []byte(msg))
	werr := srv.Wait()
	io.WriteString(prefix(out, "  mit "), readable(srv.Stdout()))
	if cerr != nil {
		return fmt.Errorf("Go client: %w", cerr)
	}
	if werr != nil {
		return fmt.Errorf("MIT gss-server: %w", werr)
	}
	fmt.Fprintf(out, "handshake: %s\n", describeTokens(res.ContextTokens, "Go sent", "MIT sent"))
	fmt.Fprintf(out, "context: %s -> %s, flags %s\n", res.Source, res.Target, gsssample.FlagString(res.Flags))
	stdout := srv.Stdout()
	if want := fmt.Sprintf("Accepted connection: %q", realm.Principal(user)); !strings.Contains(stdout, want) {
		return fmt.Errorf("MIT gss-server did not report %s", want)
	}
	if !strings.Contains(stdout, fmt.Sprintf("%q", msg)) {
		return errors.New("MIT gss-server did not print the unwrapped message")
	}
	if res.MICsVerified != 1 {
		return fmt.Errorf("Go client verified %d MICs from MIT, want 1", res.MICsVerified)
	}
	fmt.Fprintf(out, "round trip: Go wrapped %q, MIT unwrapped it and sent a MIC, Go verified the MIC\n", msg)
	return nil
}

// part2 runs the Go sample server and MIT's gss-client against it.
func part2(ctx context.Context, realm *krbtest.Realm, out io.Writer, msg string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cred, err := gsssample.AcceptorCredential(ctx, service, realm.Keytab(spn))
	if err != nil {
		return err
	}
	defer cred.Release()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(out, "Go sample server listening on port %d\n", port)
	var sess *gsssample.Session
	var serr error
	srv := &gsssample.Server{Credential: cred, Log: prefix(out, "  go  "),
		Handle: func(s *gsssample.Session, err error) { sess, serr = s, err }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, true) }()

	path, err := krbtest.LookPath("gss-client")
	if err != nil {
		return err
	}
	cmd := realm.Cmd(ctx, path, "-port", strconv.Itoa(port), "127.0.0.1", service, msg)
	var cout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cout, &cout
	cerr := cmd.Run()
	ln.Close()
	<-done
	clientOut := cout.String()
	io.WriteString(prefix(out, "  mit "), readable(clientOut))
	if cerr != nil {
		if serr != nil {
			return fmt.Errorf("MIT gss-client: %v; Go server: %w", cerr, serr)
		}
		return fmt.Errorf("MIT gss-client: %w", cerr)
	}
	if serr != nil {
		return fmt.Errorf("Go server: %w", serr)
	}
	if sess == nil || !sess.Authenticated {
		return errors.New("Go server saw no authenticated session")
	}
	fmt.Fprintf(out, "handshake: %s\n", describeTokens(sess.ContextTokens, "MIT sent", "Go sent"))
	fmt.Fprintf(out, "context: %s, flags %s\n", sess.Client, gsssample.FlagString(sess.Flags))
	if sess.Client != realm.Principal(user) {
		return fmt.Errorf("Go server authenticated %q, want %q", sess.Client, realm.Principal(user))
	}
	if len(sess.Messages) != 1 || string(sess.Messages[0]) != msg || !sess.Encrypted[0] {
		return fmt.Errorf("Go server read %q (encrypted %v), want %q encrypted", sess.Messages, sess.Encrypted, msg)
	}
	// The verdict on the MIC comes from gss-client's behaviour on the wire
	// and its exit status, not from its chatter: it sends the closing NOOP
	// only after gss_verify_mic returned GSS_S_COMPLETE for every MIC, and
	// exits 1 otherwise. Its "Signature verified." line is printed into
	// stdio's buffer (stdout is a pipe here), so it is only a narrative.
	if sess.MICsSent != 1 || !sess.Ended {
		return fmt.Errorf("MIT gss-client did not confirm the Go server's MIC: %d MICs sent, closing NOOP received: %v", sess.MICsSent, sess.Ended)
	}
	fmt.Fprintf(out, "round trip: MIT wrapped %q, Go unwrapped it and sent a MIC; MIT verified the MIC (gss-client sent its closing NOOP and exited 0)\n", msg)
	return nil
}

// describeTokens renders signed token sizes (positive: sent by the first
// party) as "Go sent 612 bytes, MIT sent 156 bytes".
func describeTokens(sizes []int, first, second string) string {
	var parts []string
	for _, n := range sizes {
		if n >= 0 {
			parts = append(parts, fmt.Sprintf("%s %d bytes", first, n))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d bytes", second, -n))
		}
	}
	if len(parts) == 0 {
		return "no context tokens"
	}
	return strings.Join(parts, ", ")
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// readable drops the blank lines and hex dumps (of PAC buffers, for one)
// from an MIT sample program's output, keeping what a reader follows.
func readable(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.Trim(t, "0123456789abcdef") == "" {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// prefix returns a writer that starts every line with p.
func prefix(w io.Writer, p string) io.Writer { return &prefixWriter{w: w, p: p, bol: true} }

type prefixWriter struct {
	w   io.Writer
	p   string
	bol bool
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	var buf []byte
	for _, c := range b {
		if pw.bol {
			buf = append(buf, pw.p...)
			pw.bol = false
		}
		buf = append(buf, c)
		if c == '\n' {
			pw.bol = true
		}
	}
	if _, err := pw.w.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
