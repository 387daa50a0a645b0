package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/krbtest"
)

// TestProxyFlags: the reference's command line, with its refusals.
func TestProxyFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := proxyMain(context.Background(), []string{"--version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "gsskit proxy") {
		t.Errorf("--version: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := proxyMain(context.Background(), []string{"-i", "-D"}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "not allowed") {
		t.Errorf("-i -D: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := proxyMain(context.Background(), []string{"--help"}, &out, &errb); code != 0 ||
		!strings.Contains(errb.String(), "--syslog-status") || !strings.Contains(errb.String(), "--idle-timeout") {
		t.Errorf("--help: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := proxyMain(context.Background(), []string{"--no-such-flag"}, &out, &errb); code == 0 {
		t.Errorf("an unknown flag was accepted: %q", errb.String())
	}
}

// TestProxyUserIdle: `gsskit proxy -u --idle-timeout 1` (with
// --syslog-status, which a failed call would use) serves the user's own
// calls, then returns 0 by itself once no client is connected.
func TestProxyUserIdle(t *testing.T) {
	dir, err := os.MkdirTemp("", "gpx")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("GSSKIT_PROXY_STATE_DIR", dir)
	sock := filepath.Join(dir, "user.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errb := &krbtest.SyncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- proxyMain(ctx, []string{"-u", "-s", sock, "--idle-timeout", "1", "--syslog-status"}, &bytes.Buffer{}, errb)
	}()
	var callErr error
	for i := 0; i < 500; i++ {
		c := gssproxy.NewClient(&gssproxy.Config{Socket: sock, MaxConns: 1})
		_, callErr = c.IndicateMechs(ctx)
		c.Close()
		if callErr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if callErr != nil {
		cancel()
		<-code
		t.Fatalf("INDICATE_MECHS through the user proxy: %v\n%s", callErr, errb)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("idle exit status %d\n%s", c, errb)
		}
	case <-ctx.Done():
		t.Fatalf("the user proxy did not exit when idle\n%s", errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "gsskit-handle.key")); err != nil {
		t.Errorf("handle secret not kept in the state directory: %v", err)
	}
}
