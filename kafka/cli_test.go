package kafka

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

func TestParseGatewayFlags(t *testing.T) {
	var stderr bytes.Buffer
	f, err := ParseGatewayFlags([]string{"--listen", ":9093", "--upstream", "b:9092", "--principal", "kafka/gw",
		"--session-lifetime", "90000", "--listen", ":9094", "--upstream", "c:9092"}, &stderr)
	if err != nil || f.SessionLifetime != 90*time.Second || len(f.Listen) != 2 || f.Rules != "DEFAULT" {
		t.Fatalf("%+v %v", f, err)
	}
	if f, err = ParseGatewayFlags([]string{"--listen", ":1", "--upstream", "b:1", "--principal", "p", "--session-lifetime", "10m"}, &stderr); err != nil || f.SessionLifetime != 10*time.Minute {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range [][]string{
		{"--upstream", "b:1", "--principal", "p"},
		{"--listen", ":1", "--principal", "p"},
		{"--listen", ":1", "--upstream", "b:1"},
		{"--listen", ":1", "--listen", ":2", "--upstream", "b:1", "--principal", "p"},
		{"--listen", ":1", "--upstream", "b:1", "--principal", "p", "--session-lifetime", "-5"},
		{"--listen", ":1", "--upstream", "b:1", "--principal", "p", "--session-lifetime", "soon"},
		{"--listen", ":1", "--upstream", "b:1", "--principal", "p", "extra"},
	} {
		if _, err := ParseGatewayFlags(bad, &stderr); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A bad rule stops the gateway at start-up and names the rule.
func TestGatewayMainRejectsBadRule(t *testing.T) {
	r := krbtest.StartT(t, krbtest.Config{Services: []krbtest.Service{{Principal: kafkaService}}})
	r.Setenv(t)
	bad := `RULE:[1:$1](.*)s/(a)\1/x/`
	var stdout, stderr bytes.Buffer
	code := GatewayMain(context.Background(), []string{"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
		"--keytab", r.Keytab(kafkaService), "--principal", r.Principal(kafkaService),
		"--rules", "RULE:[1:$1@$0](.*@" + r.Name() + ")s/@.*//," + bad + ",DEFAULT"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "invalid principal-to-local rule `"+bad+"`") ||
		!strings.Contains(stderr.String(), `\1 is a backreference`) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("it started: %q", stdout.String())
	}
}
