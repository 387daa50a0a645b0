package kafka

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcat (librdkafka 2.0 with Cyrus SASL's GSSAPI) through the gateway, in
// front of an in-process kfake broker, with tickets from a real MIT KDC.

const (
	kafkaService  = "kafka/localhost"
	alicePassword = "alice-kafka-secret"
)

type kafkaEnv struct {
	realm   *krbtest.Realm
	cluster *kfake.Cluster
	cred    *gss.Credential
	gw      *Gateway
	addr    string // the gateway's advertised address
}

// startKafka brings up a realm (alice, kafka/localhost), a one-broker kfake
// cluster with the given topics, and a gateway in front of it.
func startKafka(t testing.TB, lifetime time.Duration, topics ...string) *kafkaEnv {
	t.Helper()
	// A realm name of its own per realm started: in-process MEMORY ccaches
	// (the gss-proxy daemon's among them) outlive a test, and a later realm
	// of the same name would be handed tickets under another realm's keys.
	r := krbtest.StartT(t, krbtest.Config{
		Realm:    realmFor(t),
		Users:    map[string]string{"alice": alicePassword},
		Services: []krbtest.Service{{Principal: kafkaService}},
	})
	r.Setenv(t)
	r.KinitT(t, "alice", "")
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(1, topics...))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	e := &kafkaEnv{realm: r, cluster: cluster, cred: serviceCred(t, r)}
	e.gw = e.gateway(t, ServerConfig{SessionLifetime: lifetime})
	e.addr = e.gw.Advertised()[0]
	return e
}

// gateway starts one more gateway in front of the cluster.
func (e *kafkaEnv) gateway(t testing.TB, auth ServerConfig) *Gateway {
	t.Helper()
	auth.Credential = e.cred
	gw, err := NewGateway(&GatewayConfig{
		Routes:        []Route{{Listen: "127.0.0.1:0", Upstream: e.cluster.ListenAddrs()[0]}},
		AdvertiseHost: "localhost",
		Auth:          auth,
		Logger:        slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

// realms numbers the realms this process starts.
var realms atomic.Int64

// realmFor names a new realm after the test, with a number that differs
// from every earlier realm's: the test's name alone repeats under
// go test -count=2, which handed the second run the first run's tickets
// (still in the keytab credential's MEMORY ccache, TGT and kafka ticket
// both), and the gateway, with the new realm's keys, refused them.
func realmFor(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(t.Name()) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return fmt.Sprintf("%s-%d.TEST", b.String(), realms.Add(1))
}

// testLog sends the gateway's log to the test's, shown when it fails.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func serviceCred(t testing.TB, r *krbtest.Realm) *gss.Credential {
	t.Helper()
	name, err := gss.ImportName(r.Principal(kafkaService), gss.NTKrb5Principal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := gss.AcquireCredential(context.Background(), &gss.CredentialConfig{
		Name: name, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"keytab": r.Keytab(kafkaService)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Release() })
	return cred
}

// kcatArgs are the SASL settings every kcat run uses: the ticket is
// already in KRB5CCNAME, so librdkafka's kinit refresh is off.
var kcatSASL = []string{
	"-X", "security.protocol=SASL_PLAINTEXT",
	"-X", "sasl.mechanisms=GSSAPI",
	"-X", "sasl.kerberos.service.name=kafka",
	"-X", "sasl.kerberos.min.time.before.relogin=0",
}

func kcat(t *testing.T, e *kafkaEnv, addr, stdin string, args ...string) (string, error) {
	t.Helper()
	bin := krbtest.LookPathT(t, "kcat", "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"-b", addr}, kcatSASL...)
	all = append(all, args...)
	cmd := e.realm.Cmd(ctx, bin, all...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(errb.String(), 40))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kcatRoundTrip produces 20 messages to a fresh topic and consumes them.
func kcatRoundTrip(t *testing.T, e *kafkaEnv, addr, topic string, extra ...string) {
	t.Helper()
	var msgs []string
	for i := 0; i < 20; i++ {
		msgs = append(msgs, fmt.Sprintf("%s message %d", topic, i))
	}
	args := append([]string{"-P", "-t", topic}, extra...)
	if _, err := kcat(t, e, addr, strings.Join(msgs, "\n")+"\n", args...); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-C", "-t", topic, "-o", "beginning", "-e", "-q"}, extra...)
	out, err := kcat(t, e, addr, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if strings.Join(got, "|") != strings.Join(msgs, "|") {
		t.Fatalf("consumed %q, want %q", got, msgs)
	}
}

func TestKcatThroughGateway(t *testing.T) {
	topics := []string{"kcat-modern", "kcat-legacy", "kcat-fallback-0-10", "kcat-v0", "kcat-v0-fallback"}
	e := startKafka(t, 0, topics...)
	// A gateway that advertises only SaslHandshake v0, as a 0.10 broker.
	v0 := e.gateway(t, ServerConfig{HandshakeV0: true})
	noQuery := []string{"-X", "api.version.request=false"}
	cases := []struct {
		name  string
		gw    *Gateway
		topic string
		extra []string
		flow  Flow
	}{
		{"ApiVersions then SaslHandshake v1 and SaslAuthenticate", e.gw, topics[0], nil, FlowAuthenticate},
		// No ApiVersions, no handshake: the first packet is the token;
		// Produce v1 and Fetch v1 with message sets, converted.
		{"fallback 0.9.0: legacy raw GSSAPI", e.gw, topics[1], append(noQuery, "-X", "broker.version.fallback=0.9.0"), FlowLegacy},
		// librdkafka 2.0 counts 0.10.0 as a version that answers
		// ApiVersions, so it asks anyway and takes the newest flow.
		{"fallback 0.10.0 against a current broker", e.gw, topics[2], append(noQuery, "-X", "broker.version.fallback=0.10.0"), FlowAuthenticate},
		{"SaslHandshake v0 broker", v0, topics[3], nil, FlowHandshakeV0},
		{"fallback 0.10.0 against a SaslHandshake v0 broker", v0, topics[4], append(noQuery, "-X", "broker.version.fallback=0.10.0"), FlowHandshakeV0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.gw.Stats().Auth.ByFlow
			kcatRoundTrip(t, e, tc.gw.Advertised()[0], tc.topic, tc.extra...)
			after := tc.gw.Stats().Auth.ByFlow
			for f := FlowLegacy; f <= FlowAuthenticate; f++ {
				n := after[f] - before[f]
				if f == tc.flow && n < 2 {
					t.Errorf("flow %v used %d times for a produce and a consume", f, n)
				}
				if f != tc.flow && n != 0 {
					t.Errorf("flow %v used %d times, want only %v", f, n, tc.flow)
				}
			}
		})
	}
	for _, gw := range []*Gateway{e.gw, v0} {
		if s := gw.Stats(); s.Auth.Failures != 0 {
			t.Errorf("failures: %+v", s)
		}
	}
}

// TestKcatSessionLifetime: librdkafka 2.0 predates its KIP-368 support, so
// when the session runs out the gateway closes the connection at the next
// request, as the broker does, and librdkafka connects and authenticates
// again; nothing produced is lost.
func TestKcatSessionLifetime(t *testing.T) {
	e := startKafka(t, time.Second, "kcat-lifetime")
	bin := krbtest.LookPathT(t, "kcat", "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-b", e.addr}, kcatSASL...)
	// -E: the moment between the gateway closing the expired
	// connection and librdkafka's reconnect is "all brokers down", which
	// kcat otherwise takes as fatal.
	args = append(args, "-P", "-E", "-t", "kcat-lifetime", "-X", "linger.ms=0")
	cmd := e.realm.Cmd(ctx, bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Keep producing until the gateway has closed an expired session and
	// the producer has authenticated again after that.
	var sent []string
	authsAtExpiry := int64(-1)
	for i := 0; ; i++ {
		st := e.gw.Stats().Auth
		if authsAtExpiry < 0 && st.Expirations > 0 {
			authsAtExpiry = st.Authentications
		}
		if authsAtExpiry >= 0 && st.Authentications > authsAtExpiry {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no second authentication: %+v\n%s", e.gw.Stats(), errb.String())
		}
		msg := fmt.Sprintf("lifetime message %d", i)
		if _, err := fmt.Fprintln(stdin, msg); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, msg)
		time.Sleep(100 * time.Millisecond)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kcat producer: %v\n%s", err, errb.String())
	}
	// The consumer's sessions expire too: -E for the same reason.
	out, err := kcat(t, e, e.addr, "", "-C", "-E", "-t", "kcat-lifetime", "-o", "beginning", "-e", "-q")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if strings.Join(got, "|") != strings.Join(sent, "|") {
		t.Fatalf("consumed %d messages %q, produced %d", len(got), got, len(sent))
	}
	st := e.gw.Stats().Auth
	t.Logf("%d messages over %d authentications, %d expired sessions", len(sent), st.Authentications, st.Expirations)
}

// TestKcatLegacyCodecs: librdkafka in the legacy flow (Produce v1 and
// Fetch v1, magic 0 message sets) produces with each codec and consumes
// what it produced. The broker keeps the producer's codec, so the consume
// turns a compressed batch back into a wrapper message of that codec:
// librdkafka's raw snappy and broken-HC lz4 are read, and it reads the
// gateway's snappy-java framing and broken-HC lz4.
func TestKcatLegacyCodecs(t *testing.T) {
	codecs := []struct {
		name string
		kgo  uint8 // franz-go's number for the stored batches' codec
	}{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}}
	var topics []string
	for _, c := range codecs {
		topics = append(topics, "kcat-legacy-"+c.name)
	}
	e := startKafka(t, 0, topics...)
	legacy := []string{"-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0"}
	for i, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := topics[i]
			var msgs []string
			for j := 0; j < 30; j++ {
				msgs = append(msgs, fmt.Sprintf("%s message %d %s", topic, j, strings.Repeat(strconv.Itoa(j), j*3)))
			}
			// Past a 64 KiB lz4 block and a 32 KiB snappy-java chunk.
			var big strings.Builder
			for j := 0; big.Len() < 150<<10; j++ {
				fmt.Fprintf(&big, "%d:%x,", j, j*j)
			}
			msgs = append(msgs[:10], append([]string{big.String()}, msgs[10:]...)...)
			before := e.gw.Stats().Auth.ByFlow[FlowLegacy]
			args := append([]string{"-P", "-t", topic, "-X", "compression.codec=" + c.name}, legacy...)
			if _, err := kcat(t, e, e.addr, strings.Join(msgs, "\n")+"\n", args...); err != nil {
				t.Fatal(err)
			}
			args = append([]string{"-C", "-t", topic, "-o", "beginning", "-e", "-q"}, legacy...)
			out, err := kcat(t, e, e.addr, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(got) != len(msgs) {
				t.Fatalf("consumed %d messages, produced %d", len(got), len(msgs))
			}
			for j := range msgs {
				if got[j] != msgs[j] {
					t.Fatalf("message %d: consumed %d bytes %.60q, produced %d bytes %.60q", j, len(got[j]), got[j], len(msgs[j]), msgs[j])
				}
			}
			if n := e.gw.Stats().Auth.ByFlow[FlowLegacy] - before; n < 2 {
				t.Fatalf("legacy flow used %d times", n)
			}
			// librdkafka sends a set uncompressed when compressing does
			// not pay, as for a lone short message.
			stored := storedCodecs(t, e, topic, len(msgs))
			delete(stored, 0)
			if len(stored) != 1 || !stored[c.kgo] {
				t.Fatalf("the broker holds compressed batches of codecs %v, want %d", stored, c.kgo)
			}
		})
	}
}

// storedCodecs reads the topic from the broker directly and returns the
// codecs of its batches.
func storedCodecs(t *testing.T, e *kafkaEnv, topic string, n int) map[uint8]bool {
	t.Helper()
	codecs := map[uint8]bool{}
	var mu sync.Mutex
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()[0]), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(batchHook(func(m kgo.FetchBatchMetrics) {
			mu.Lock()
			codecs[m.CompressionType] = true
			mu.Unlock()
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records from the broker", got, n)
		}
		for _, fe := range fs.Errors() {
			t.Fatal(fe.Err)
		}
		got += fs.NumRecords()
	}
	mu.Lock()
	defer mu.Unlock()
	return codecs
}

type batchHook func(kgo.FetchBatchMetrics)

func (h batchHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	h(m)
}
