package kafka

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxyrun"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franz-go and sarama with gsskit's GSSAPI through the gateway: produce,
// consume, and re-authentication when the session lifetime runs out, with
// the initiator's credential from a keytab, a ccache, or a gss-proxy daemon
// with no key in this process.

// initiatorCred acquires alice's credential the named way.
func initiatorCred(t *testing.T, e *kafkaEnv, from string) *ClientConfig {
	t.Helper()
	ctx := context.Background()
	switch from {
	case "ccache":
		cc := filepath.Join(t.TempDir(), "cc_alice")
		e.realm.KinitT(t, "alice", cc)
		cred, err := gss.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate,
			Mechs: gss.OIDSet{gss.MechKrb5}, Store: gss.CredStore{"ccache": "FILE:" + cc}})
		if err != nil {
			t.Fatal(err)
		}
		return &ClientConfig{Credential: cred}
	case "keytab":
		name, _ := gss.ImportName(e.realm.Principal("alice"), gss.NTKrb5Principal)
		cred, err := gss.AcquireCredential(ctx, &gss.CredentialConfig{Name: name, Usage: gss.CredInitiate,
			Mechs: gss.OIDSet{gss.MechKrb5}, Store: gss.CredStore{
				"client_keytab": e.realm.ClientKeytab("alice"),
				// MEMORY caches live as long as the process: named
				// after the realm, no later realm loads this one's
				// tickets.
				"ccache": "MEMORY:" + e.realm.Name() + "/" + t.Name(),
			}})
		if err != nil {
			t.Fatal(err)
		}
		return &ClientConfig{Credential: cred}
	case "gss-proxy":
		// The daemon holds alice's keys; this process has a registry
		// whose Kerberos mechanism sees no keytab and no ccache.
		dir := t.TempDir()
		d, err := proxyrun.LaunchGsskit(dir, e.realm, proxyrun.Config{DebugLevel: 2, Services: []proxyrun.Service{{
			Name: "kafka", ClientKeytab: e.realm.ClientKeytab("alice"), CredUsage: "initiate",
			// A ccache of its own: otherwise the in-process daemon keeps
			// tickets where the next test's daemon finds them.
			CCache: "FILE:" + filepath.Join(dir, "daemon.ccache"),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop() })
		none := filepath.Join(dir, "none")
		reg, err := proxyrun.GsskitRegistry([]string{
			"KRB5_CONFIG=" + e.realm.Krb5Conf(),
			"KRB5CCNAME=FILE:" + none, "KRB5_KTNAME=FILE:" + none, "KRB5_CLIENT_KTNAME=FILE:" + none,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gssproxy.RegisterInterposer(reg, &gssproxy.InterposerConfig{
			Client:   gssproxy.NewClient(&gssproxy.Config{Socket: d.Socket("kafka")}),
			Behavior: gssproxy.RemoteOnly,
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// The contexts were made by the daemon, not in this process.
			if !t.Failed() && !strings.Contains(d.Log(), "proc=GSSX_INIT_SEC_CONTEXT") {
				t.Errorf("the gss-proxy daemon saw no GSSX_INIT_SEC_CONTEXT:\n%s", d.Log())
			}
		})
		return &ClientConfig{Registry: reg}
	}
	t.Fatalf("unknown credential source %s", from)
	return nil
}

func franzClient(t *testing.T, e *kafkaEnv, cfg *ClientConfig, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.SASL(FranzMechanism(cfg)),
		kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// franzTimeout bounds a franz-go test's producing and consuming. It is no
// measure of speed: franz-go retries a refused authentication for ever, so
// without a bound a client whose tickets the gateway keeps refusing would
// hang the test instead of failing it.
const franzTimeout = 2 * time.Minute

// franzContext is the bounded context of a franz-go test's client calls.
func franzContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), franzTimeout)
	t.Cleanup(cancel)
	return ctx
}

// franzGaveUp fails the test after a client call ran out of time, with what
// the gateway saw: most likely it kept refusing the client's tickets, and
// its log above says why.
func franzGaveUp(t *testing.T, e *kafkaEnv, what string, err error) {
	t.Helper()
	s := e.gw.Stats().Auth
	t.Fatalf("%s: %v; the gateway authenticated %d connections and refused %d (see its log above)",
		what, err, s.Authentications, s.Failures)
}

func consumeFranz(ctx context.Context, t *testing.T, e *kafkaEnv, cl *kgo.Client, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			franzGaveUp(t, e, fmt.Sprintf("consumed %d of %d records", len(got), n), err)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("fetch: %v", fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func TestFranzGo(t *testing.T) {
	e := startKafka(t, 0, "franz-keytab", "franz-ccache", "franz-gss-proxy")
	for _, from := range []string{"keytab", "ccache", "gss-proxy"} {
		t.Run(from, func(t *testing.T) {
			topic := "franz-" + from
			before := e.gw.Stats().Auth.Authentications
			cl := franzClient(t, e, initiatorCred(t, e, from), topic)
			ctx := franzContext(t)
			var want []string
			for i := 0; i < 10; i++ {
				v := fmt.Sprintf("%s record %d", from, i)
				want = append(want, v)
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					franzGaveUp(t, e, fmt.Sprintf("producing %q", v), err)
				}
			}
			if got := consumeFranz(ctx, t, e, cl, len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("consumed %q", got)
			}
			if e.gw.Stats().Auth.Authentications == before {
				t.Fatal("the gateway authenticated nobody")
			}
		})
	}
}

func TestFranzGoReauthenticates(t *testing.T) {
	e := startKafka(t, 1500*time.Millisecond, "franz-reauth")
	cl := franzClient(t, e, &ClientConfig{}, "franz-reauth")
	ctx := franzContext(t)
	var want []string
	for i := 0; e.gw.Stats().Auth.Reauthentications < 2; i++ {
		if ctx.Err() != nil {
			t.Fatalf("no re-authentication: %+v", e.gw.Stats())
		}
		v := fmt.Sprintf("record %d", i)
		want = append(want, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			franzGaveUp(t, e, fmt.Sprintf("producing %q", v), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := consumeFranz(ctx, t, e, cl, len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("consumed %d records, produced %d", len(got), len(want))
	}
	s := e.gw.Stats().Auth
	if s.Expirations != 0 || s.Failures != 0 {
		t.Fatalf("franz-go let a session expire or failed: %+v", s)
	}
	t.Logf("%d records, %d authentications, %d re-authentications", len(want), s.Authentications, s.Reauthentications)
}

func saramaConfig(d *SaramaDialer) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "gsskit-test"
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = d
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func consumeSarama(t *testing.T, e *kafkaEnv, d *SaramaDialer, topic string, n int) []string {
	t.Helper()
	return consumeSaramaWith(t, e, saramaConfig(d), topic, n)
}

func consumeSaramaWith(t *testing.T, e *kafkaEnv, cfg *sarama.Config, topic string, n int) []string {
	t.Helper()
	c, err := sarama.NewConsumer([]string{e.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(time.Minute)
	var got []string
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("consumed %d of %d", len(got), n)
		}
	}
	return got
}

func TestSarama(t *testing.T) {
	e := startKafka(t, 0, "sarama-keytab", "sarama-ccache", "sarama-gss-proxy")
	for _, from := range []string{"keytab", "ccache", "gss-proxy"} {
		t.Run(from, func(t *testing.T) {
			topic := "sarama-" + from
			d := &SaramaDialer{Config: initiatorCred(t, e, from)}
			p, err := sarama.NewSyncProducer([]string{e.addr}, saramaConfig(d))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var want []string
			for i := 0; i < 10; i++ {
				v := fmt.Sprintf("%s message %d", from, i)
				want = append(want, v)
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
					t.Fatal(err)
				}
			}
			if got := consumeSarama(t, e, d, topic, len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("consumed %q", got)
			}
		})
	}
}

func TestSaramaReauthenticates(t *testing.T) {
	e := startKafka(t, 2*time.Second, "sarama-reauth")
	d := &SaramaDialer{Config: &ClientConfig{}}
	p, err := sarama.NewSyncProducer([]string{e.addr}, saramaConfig(d))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	deadline := time.Now().Add(2 * time.Minute)
	var want []string
	for i := 0; d.Reauthentications() < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no re-authentication: %+v", e.gw.Stats())
		}
		v := fmt.Sprintf("message %d", i)
		want = append(want, v)
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-reauth", Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := consumeSarama(t, e, d, "sarama-reauth", len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("consumed %d messages, produced %d", len(got), len(want))
	}
	s := e.gw.Stats().Auth
	if s.Reauthentications < 2 || s.Expirations != 0 || s.Failures != 0 {
		t.Fatalf("gateway saw %+v", s)
	}
	t.Logf("%d messages, %d authentications, %d re-authentications", len(want), s.Authentications, s.Reauthentications)
}

// TestSaramaOwnGSSAPI: sarama's built-in GSSAPI (gokrb5, keytab) against
// the gateway. It is a peer the server side must tolerate: it asks for no
// mutual authentication, so the offer follows its AP-REQ at once, and it
// answers the offer by echoing it back, buffer size included. With
// SaslHandshake v0 and no ApiVersions it sends its token first, KIP-43's
// legacy flow.
func TestSaramaOwnGSSAPI(t *testing.T) {
	e := startKafka(t, 0, "sarama-own")
	for _, tc := range []struct {
		legacy bool
		flow   Flow
	}{{false, FlowAuthenticate}, {true, FlowLegacy}} {
		before := e.gw.Stats().Auth.ByFlow[tc.flow]
		cfg := sarama.NewConfig()
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypeGSSAPI
		cfg.Net.SASL.Version = sarama.SASLHandshakeV1
		if tc.legacy {
			cfg.Net.SASL.Version = sarama.SASLHandshakeV0
			cfg.ApiVersionsRequest = false
		}
		cfg.Net.SASL.GSSAPI = sarama.GSSAPIConfig{AuthType: sarama.KRB5_KEYTAB_AUTH, KeyTabPath: e.realm.ClientKeytab("alice"),
			KerberosConfigPath: e.realm.Krb5Conf(), ServiceName: "kafka", Username: "alice", Realm: e.realm.Name(),
			DisablePAFXFAST: true}
		cfg.Producer.Return.Successes = true
		p, err := sarama.NewSyncProducer([]string{e.addr}, cfg)
		if err != nil {
			t.Fatalf("legacy=%v: %v", tc.legacy, err)
		}
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-own", Value: sarama.StringEncoder("x")}); err != nil {
			t.Fatalf("legacy=%v: %v", tc.legacy, err)
		}
		p.Close()
		if e.gw.Stats().Auth.ByFlow[tc.flow] == before {
			t.Fatalf("legacy=%v: flow %v not used: %+v", tc.legacy, tc.flow, e.gw.Stats().Auth)
		}
	}
	if s := e.gw.Stats().Auth; s.Failures != 0 {
		t.Fatalf("%+v", s)
	}
}
