package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// The example against itself and against libzmq 4.3.4 (python3-zmq) in
// both roles, with a real MIT KDC.

const python = "/usr/bin/python3"

func TestExample(t *testing.T) {
	realm := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "alice-example-pw-4"},
		Services: []krbtest.Service{{Principal: "zmq/localhost"}},
	})
	realm.KinitT(t, "alice", "")
	bin := filepath.Join(t.TempDir(), "zmq-gssapi")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kt := realm.Keytab("zmq/localhost")
	serverEnv := []string{"KRB5_KTNAME=FILE:" + kt, "KRB5_CLIENT_KTNAME=FILE:" + kt,
		"KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "server.ccache")}

	goServer := func(t *testing.T, typ string, extra ...string) (string, *exec.Cmd) {
		args := append([]string{"-role", "server", "-type", typ, "-endpoint", "tcp://127.0.0.1:0",
			"-principal", "zmq@localhost", "-keytab", kt, "-count", "0"}, extra...)
		cmd := realm.Cmd(ctx, bin, args...)
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
		line, _ := bufio.NewReader(out).ReadString('\n')
		ep, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if !ok {
			t.Fatalf("server said %q", line)
		}
		return ep, cmd
	}
	goClient := func(t *testing.T, typ, ep string, extra ...string) string {
		args := append([]string{"-role", "client", "-type", typ, "-endpoint", ep,
			"-service-principal", "zmq@localhost", "-count", "20", "-size", "70000"}, extra...)
		out, err := realm.Cmd(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
		return string(out)
	}

	for _, plain := range []bool{false, true} {
		var pt []string
		if plain {
			pt = []string{"-plaintext"}
		}
		for _, pair := range [][2]string{{"REP", "REQ"}, {"ROUTER", "DEALER"}, {"REP", "DEALER"}} {
			t.Run(fmt.Sprintf("go-go/%s-%s/plaintext=%v", pair[1], pair[0], plain), func(t *testing.T) {
				ep, _ := goServer(t, pair[0], pt...)
				if out := goClient(t, pair[1], ep, pt...); !strings.HasPrefix(out, "ok: 20 messages") {
					t.Fatalf("client: %s", out)
				}
			})
		}
	}

	if _, err := os.Stat(python); err != nil {
		krbtest.Missing(t, fmt.Errorf("%s not found (apt-get install -y python3-zmq)", python))
	}
	peer := filepath.Join("..", "..", "zmtp", "testdata", "peer.py")
	t.Run("libzmq-client/REQ-REP", func(t *testing.T) {
		ep, _ := goServer(t, "REP")
		cmd := realm.Cmd(ctx, python, peer, "--role", "client", "--type", "REQ", "--endpoint", ep,
			"--service-principal", "zmq@localhost", "--count", "20", "--size", "70000")
		// peer.py stops when its stdin closes; keep it open until it exits.
		if _, err := cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK 20") {
			t.Fatalf("libzmq client: %v\n%s", err, out)
		}
	})
	t.Run("libzmq-server/DEALER-ROUTER", func(t *testing.T) {
		cmd := realm.Cmd(ctx, python, peer, "--role", "server", "--type", "ROUTER", "--endpoint", "tcp://127.0.0.1:0",
			"--principal", "zmq@localhost", "--count", "20")
		cmd.Env = append(cmd.Env, serverEnv...)
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { stdin.Close(); cmd.Wait() }()
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		port, ok := strings.CutPrefix(strings.TrimSpace(line), "PORT ")
		if !ok {
			rest, _ := io.ReadAll(br)
			t.Fatalf("libzmq server said %q %s", line, rest)
		}
		if out := goClient(t, "DEALER", "tcp://127.0.0.1:"+port); !strings.HasPrefix(out, "ok: 20 messages") {
			t.Fatalf("client: %s", out)
		}
	})
}
