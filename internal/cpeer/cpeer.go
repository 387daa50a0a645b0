// Package cpeer builds and runs the C programs that tests use as peers:
// programs written against libtirpc, compiled with gcc.
//
// It imports only the standard library, so that any package's tests can
// use it. Finding gcc, and skipping or failing when it or a library's
// headers are missing, is left to each test's own rule for absent peers.
package cpeer

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles the C source src with gcc (the program's path) against
// libtirpc and the further libraries (such as "-lgssapi_krb5") into the
// program bin. On failure it returns gcc's output, in which the caller
// can look for a missing header.
func Build(gcc, src, bin string, libs ...string) ([]byte, error) {
	// pkg-config knows where libtirpc-dev put its headers; without it, use
	// Debian's location.
	cflags, tirpc := []string{"-I/usr/include/tirpc"}, []string{"-ltirpc"}
	if out, err := exec.Command("pkg-config", "--cflags", "--libs", "libtirpc").Output(); err == nil {
		cflags, tirpc = strings.Fields(string(out)), nil
	}
	args := append([]string{"-O2", "-Wall", "-o", bin, src}, cflags...)
	args = append(append(args, tirpc...), libs...)
	return exec.Command(gcc, args...).CombinedOutput()
}

// Start starts cmd, a peer that announces itself with a first line on its
// standard output, and returns that line. The peer is killed when the
// test ends, and its standard error logged if the test failed.
func Start(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	name := filepath.Base(cmd.Path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", name, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v (%s)", name, err, stderr.String())
	}
	return line
}
