package gssproxy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/gsssample"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxytest"
)

// Whole programs: the test binary re-executed as gsskit's sample server or
// client, a Go program that uses the default registry and turns the
// interposer on exactly as an application would, from GSS_USE_PROXY,
// GSSPROXY_SOCKET and GSSPROXY_BEHAVIOR. Its peers are MIT's own sample
// programs, and its environment is the one proxytest.ClientEnv gives MIT
// programs that use the reference interposer: no keytab, no tickets.

const helperEnv = "GSSPROXY_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(helperMain(role, strings.Split(os.Getenv(helperEnv+"_ARGS"), "\x1f")))
	}
	os.Exit(m.Run())
}

// helperMain is the whole of a proxied Go application's GSS set-up.
func helperMain(role string, args []string) int {
	if Enabled() {
		if _, err := RegisterInterposer(gss.DefaultRegistry(), nil); err != nil {
			fmt.Fprintln(os.Stderr, "registering the gss-proxy interposer:", err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch role {
	case "server":
		return gsssample.ServerMain(ctx, args, os.Stdout, os.Stderr)
	case "client":
		return gsssample.ClientMain(ctx, args, os.Stdout, os.Stderr)
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", role)
	return 2
}

func helperCmd(t *testing.T, env []string, role string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(env, helperEnv+"="+role, helperEnv+"_ARGS="+strings.Join(args, "\x1f"))
	return cmd
}

// startHelperServer runs the Go sample server and returns its port and a
// function that waits for it and returns what it printed.
func startHelperServer(t *testing.T, env []string, service string) (int, func() (string, error)) {
	t.Helper()
	cmd := helperCmd(t, env, "server", "-port", "0", "-once", service)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	br := bufio.NewReader(stderr)
	var errText strings.Builder
	port := 0
	for port == 0 {
		line, err := br.ReadString('\n')
		errText.WriteString(line)
		if err != nil {
			cmd.Wait()
			t.Fatalf("Go sample server did not start: %v\n%s%s", err, errText.String(), stdout.String())
		}
		if _, addr, ok := strings.Cut(strings.TrimSpace(line), "listening on "); ok {
			_, p, _ := net.SplitHostPort(addr)
			port, _ = strconv.Atoi(p)
		}
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(br)
		rest <- string(b)
	}()
	return port, func() (string, error) {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return stdout.String() + errText.String() + <-rest, err
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			return stdout.String() + errText.String(), fmt.Errorf("Go sample server did not finish")
		}
	}
}

func TestProgramsThroughDaemon(t *testing.T) { forEachDaemon(t, testPrograms) }

func testPrograms(t *testing.T, realm *krbtest.Realm, d proxytest.Daemon) {
	user := "alice@" + realm.Name()

	// MIT's gss-client, with alice's tickets and no proxy, against a Go
	// server that has no keytab and accepts through the daemon.
	t.Run("MITClientToKeylessGoServer", func(t *testing.T) {
		rec := proxytest.RecordT(t, d.Socket("both"))
		port, wait := startHelperServer(t, proxytest.ClientEnv(t, realm, rec.Socket(), proxytest.RemoteOnly), "host@localhost")
		cc := filepath.Join(t.TempDir(), "alice.ccache")
		realm.KinitT(t, "alice", cc)
		out, err := proxytest.RunGSSClient(t, proxytest.LocalEnv(t, realm, cc), port, "host@localhost", "sealed for a keyless server")
		srvOut, srvErr := wait()
		if err != nil || srvErr != nil {
			t.Fatalf("gss-client: %v\n%s\nGo server: %v\n%s", err, out, srvErr, srvOut)
		}
		if !strings.Contains(out, "Signature verified.") {
			t.Errorf("gss-client did not verify the Go server's MIC:\n%s", out)
		}
		for _, want := range []string{user, "sealed for a keyless server"} {
			if !strings.Contains(srvOut, want) {
				t.Errorf("Go server output lacks %q:\n%s", want, srvOut)
			}
		}
		procs := strings.Join(rec.Transcript().Procs(), " ")
		if !strings.Contains(procs, "reply GSSX_ACCEPT_SEC_CONTEXT") || strings.Contains(procs, "WRAP") ||
			strings.Contains(procs, "GET_MIC") {
			t.Errorf("daemon traffic: %s", procs)
		}
	})

	// The Go client, with no tickets, initiating through the daemon (which
	// uses alice's client keytab) to MIT's gss-server with its own keytab.
	t.Run("TicketlessGoClientToMITServer", func(t *testing.T) {
		srv := proxytest.StartGSSServer(t, proxytest.LocalEnv(t, realm, ""), "host@localhost", "-keytab", realm.Keytab("host/localhost"))
		cmd := helperCmd(t, proxytest.ClientEnv(t, realm, d.Socket("both"), proxytest.RemoteFirst),
			"client", "-port", strconv.Itoa(srv.Port), "localhost", "host@localhost", "from a ticketless Go client")
		out, err := cmd.CombinedOutput()
		srvOut := srv.Wait()
		if err != nil {
			t.Fatalf("Go client: %v\n%s\ngss-server:\n%s", err, out, srvOut)
		}
		if !strings.Contains(string(out), "1 MICs verified") {
			t.Errorf("Go client output:\n%s", out)
		}
		for _, want := range []string{`Accepted connection: "` + user + `"`, `Received message: "from a ticketless Go client"`} {
			if !strings.Contains(srvOut, want) {
				t.Errorf("gss-server output lacks %q:\n%s", want, srvOut)
			}
		}
	})

	// Without GSS_USE_PROXY the same keyless program cannot start: the
	// proof that the runs above used the daemon.
	t.Run("NotEnabled", func(t *testing.T) {
		env := append(proxytest.ClientEnv(t, realm, d.Socket("both"), proxytest.RemoteOnly), "GSS_USE_PROXY=no")
		cmd := helperCmd(t, env, "server", "-port", "0", "-once", "host@localhost")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("keyless server started without the proxy:\n%s", out)
		}
		t.Logf("without the proxy: %s", bytes.TrimSpace(out))
	})
}
