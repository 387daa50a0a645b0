package gatewaycmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
)

// TestDemo runs what `make demo` runs for Kafka. The demo points the
// process's Kerberos environment at its realm, so this package's tests
// run it alone.
func TestDemo(t *testing.T) {
	if err := krbtest.ServerToolsInstalled(); err != nil {
		krbtest.Missing(t, err)
	}
	krbtest.LookPathT(t, "kcat", "kcat")
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--demo"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"consumed: first message through Kerberos", "franz-go read: third message", "kafka demo: OK"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in\n%s", want, out.String())
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--listen", ":0"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: gsskit kafka-gateway") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
