package echo

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
)

// The example end to end with a real KDC: the server command, the client
// command with every service, and libtirpc's client against the same
// server.
func TestExample(t *testing.T) {
	r := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "echo-example-pw"},
		Services: []krbtest.Service{{Principal: "nfs/localhost"}},
	})
	r.Setenv(t)
	r.KinitT(t, "alice", "")

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var serverErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- RunServer(ctx, []string{"-addr", "127.0.0.1", "-keytab", r.Keytab("nfs/localhost"), "-principal", "nfs@localhost"}, pw, &serverErr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d: %s", code, serverErr.String())
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "listening" {
		t.Fatalf("server said %q, %v (%s)", line, err, serverErr.String())
	}
	go io.Copy(io.Discard, pr)
	port := f[1]

	for _, svc := range []string{"none", "integrity", "privacy", "authnone"} {
		var out, errb bytes.Buffer
		args := []string{"-host", "localhost", "-port", port, "-service", svc, "-size", "70000", "-count", "40", "-parallel", "4"}
		if svc != "authnone" {
			args = append(args, "-whoami")
		}
		if code := RunClient(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("client %s exited %d: %s", svc, code, errb.String())
		}
		t.Logf("%s: %s", svc, strings.TrimSpace(out.String()))
		if !strings.Contains(out.String(), "40 calls of 70000 bytes") ||
			(svc != "authnone" && !strings.Contains(out.String(), "server sees alice@"+r.Name()+" (service "+svc)) {
			t.Fatalf("client %s said:\n%s", svc, out.String())
		}
	}

	// libtirpc's client, built from rpcsecgss's test program.
	gcc := krbtest.LookPathT(t, "gcc", "gcc")
	src, _ := filepath.Abs("../../../rpcsecgss/testdata/gss_echo_client.c")
	bin := filepath.Join(t.TempDir(), "gss_echo_client")
	cflags := []string{"-I/usr/include/tirpc"}
	if out, err := exec.Command(gcc, append([]string{"-O2", "-o", bin, src}, append(cflags, "-ltirpc", "-lgssapi_krb5")...)...).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("rpc/rpc.h")) || bytes.Contains(out, []byte("gssapi")) {
			krbtest.Missing(t, &krbtest.MissingToolError{Program: "libtirpc and GSS-API headers", Package: "libtirpc-dev libkrb5-dev"})
		}
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := r.Cmd(ctx, bin, "check", port, "nfs@localhost", "privacy", "integrity", "none").CombinedOutput()
	if err != nil || !bytes.HasSuffix(out, []byte("all ok\n")) {
		t.Fatalf("libtirpc client: %v\n%s", err, out)
	}
	t.Logf("libtirpc client:\n%s", out)
}
