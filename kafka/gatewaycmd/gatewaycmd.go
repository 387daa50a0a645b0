// Package gatewaycmd is `gsskit kafka-gateway`: the gateway of package
// kafka run from the command line, and with --demo a self-contained run in
// front of an in-process kfake broker with a throwaway MIT realm, kcat
// producing and consuming through it.
package gatewaycmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/kafka"
	_ "github.com/gsskit/gsskit/krb5" // the Kerberos mechanism
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Main runs the subcommand with its arguments.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--demo" || args[0] == "-demo") {
		if err := Demo(ctx, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	return kafka.GatewayMain(ctx, args, stdout, stderr)
}

const (
	demoUser  = "alice"
	demoSPN   = "kafka/localhost"
	demoTopic = "gsskit-demo"
)

// Demo starts a realm, a kfake broker and the gateway in front of it, then
// has kcat produce and consume through the gateway in the modern flow and
// in KIP-43's legacy one, and a franz-go client with gsskit's mechanism
// read back what kcat wrote. Like `gsskit demo`, it points this process's
// Kerberos environment at the throwaway realm.
func Demo(ctx context.Context, out io.Writer) error {
	kcat, err := krbtest.LookPath("kcat")
	if err != nil {
		return fmt.Errorf("kafka demo: %w", err)
	}
	fmt.Fprintf(out, "== starting a throwaway MIT realm\n")
	realm, err := krbtest.Start(ctx, krbtest.Config{
		Users:    map[string]string{demoUser: randomPassword()},
		Services: []krbtest.Service{{Principal: demoSPN}},
	})
	if err != nil {
		return fmt.Errorf("kafka demo: starting the realm: %w", err)
	}
	defer realm.Close()
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if err := realm.Kinit(ctx, demoUser, ""); err != nil {
		return fmt.Errorf("kafka demo: %w", err)
	}
	fmt.Fprintf(out, "realm %s, KDC %s; %s has a TGT; the gateway's key for %s is in %s\n",
		realm.Name(), realm.KDCAddr(), realm.Principal(demoUser), realm.Principal(demoSPN), realm.Keytab(demoSPN))

	fmt.Fprintf(out, "\n== starting an in-process kfake broker (plaintext)\n")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, demoTopic, demoTopic+"-legacy"))
	if err != nil {
		return fmt.Errorf("kafka demo: kfake: %w", err)
	}
	defer cluster.Close()
	upstream := cluster.ListenAddrs()[0]
	fmt.Fprintf(out, "broker on %s\n", upstream)

	rules := "RULE:[1:$1@$0](.*@" + realm.Name() + ")s/@.*//L,DEFAULT"
	args := []string{"--listen", "127.0.0.1:0", "--upstream", upstream,
		"--keytab", realm.Keytab(demoSPN), "--principal", realm.Principal(demoSPN), "--rules", rules}
	fmt.Fprintf(out, "\n== gsskit kafka-gateway %s\n", strings.Join(args, " "))
	f, err := kafka.ParseGatewayFlags(args, io.Discard)
	if err != nil {
		return err
	}
	gw, err := kafka.NewGatewayFromFlags(ctx, f, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("kafka demo: %w", err)
	}
	if err := gw.Start(ctx); err != nil {
		return fmt.Errorf("kafka demo: %w", err)
	}
	defer gw.Close()
	addr := gw.Advertised()[0]
	fmt.Fprintf(out, "gateway listening on %s, advertised as %s\n", gw.Addrs()[0], addr)

	sasl := []string{"-b", addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=GSSAPI",
		"-X", "sasl.kerberos.service.name=kafka", "-X", "sasl.kerberos.min.time.before.relogin=0"}
	run := func(stdin string, extra ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, kcat, append(append([]string{}, sasl...), extra...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("kcat %s: %v\n%s", strings.Join(extra, " "), err, e.String())
		}
		return o.String(), nil
	}
	msgs := "first message through Kerberos\nsecond message\nthird message\n"
	for _, part := range []struct {
		title, topic string
		extra        []string
	}{
		{"kcat (librdkafka 2.0, Cyrus GSSAPI): ApiVersions, SaslHandshake v1, SaslAuthenticate", demoTopic, nil},
		{"kcat with broker.version.fallback=0.9.0: KIP-43's raw GSSAPI token first, old Produce/Fetch converted", demoTopic + "-legacy",
			[]string{"-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0"}},
	} {
		fmt.Fprintf(out, "\n== %s\n", part.title)
		if _, err := run(msgs, append([]string{"-P", "-t", part.topic}, part.extra...)...); err != nil {
			return fmt.Errorf("kafka demo: produce: %w", err)
		}
		fmt.Fprintf(out, "produced 3 messages to %s\n", part.topic)
		got, err := run("", append([]string{"-C", "-t", part.topic, "-o", "beginning", "-e", "-q"}, part.extra...)...)
		if err != nil {
			return fmt.Errorf("kafka demo: consume: %w", err)
		}
		if got != msgs {
			return fmt.Errorf("kafka demo: consumed %q, produced %q", got, msgs)
		}
		for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
			fmt.Fprintf(out, "  consumed: %s\n", l)
		}
	}

	fmt.Fprintf(out, "\n== franz-go with gsskit's GSSAPI mechanism reads what kcat wrote\n")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(kafka.FranzMechanism(&kafka.ClientConfig{})),
		kgo.ConsumeTopics(demoTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("kafka demo: franz-go: %w", err)
	}
	defer cl.Close()
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var read []string
	for len(read) < 3 {
		fs := cl.PollFetches(fctx)
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("kafka demo: franz-go fetch: %v", errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) { read = append(read, string(r.Value)) })
	}
	for _, v := range read {
		fmt.Fprintf(out, "  franz-go read: %s\n", v)
	}

	s := gw.Stats()
	fmt.Fprintf(out, "\ngateway: %d connections, %d authentications (%d SaslAuthenticate, %d legacy), %d failures, %d requests forwarded\n",
		s.Connections, s.Auth.Authentications, s.Auth.ByFlow[kafka.FlowAuthenticate], s.Auth.ByFlow[kafka.FlowLegacy],
		s.Auth.Failures, s.Forwarded)
	if s.Auth.Failures != 0 {
		return errors.New("kafka demo: the gateway saw failed authentications")
	}
	fmt.Fprintf(out, "kafka demo: OK\n")
	return nil
}

func randomPassword() string {
	return fmt.Sprintf("demo-%d", time.Now().UnixNano())
}
