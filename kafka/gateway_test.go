package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/sasl"
	"github.com/gsskit/gsskit/sasl/sasltest"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bad input over TCP, against a running gateway: what the client reads
// back, and that the gateway then closes. The sasltest mechanism stands in
// for Kerberos, which kcat_test.go covers.

func startTestGateway(t *testing.T, auth ServerConfig) (*Gateway, *harness) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h := newHarness(t, auth)
	auth.Registry = h.reg
	auth.Rules = h.a.rules
	gw, err := NewGateway(&GatewayConfig{
		Routes: []Route{{Listen: "127.0.0.1:0", Upstream: cluster.ListenAddrs()[0]}},
		Auth:   auth,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw, h
}

// exchange writes frames to a fresh connection and returns every byte the
// gateway sends until it closes the connection.
func exchange(t *testing.T, gw *Gateway, frames ...[]byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", gw.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, f := range frames {
		if _, err := c.Write(f); err != nil {
			break
		}
	}
	got, err := io.ReadAll(c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the gateway kept the connection open")
		}
	}
	return got
}

func TestGatewayBadInput(t *testing.T) {
	gw, h := startTestGateway(t, ServerConfig{})
	framed := func(r kmsg.Request) []byte { return AppendFrame(nil, h.req(r)) }

	t.Run("truncated frame", func(t *testing.T) {
		c, err := net.Dial("tcp", gw.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0, 0, 0, 100, 0, 18, 0, 3})
		c.(*net.TCPConn).CloseWrite()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || len(got) != 0 {
			t.Fatalf("%x %v", got, err)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		if got := exchange(t, gw, []byte{0, 8, 0, 1, 0, 18}); len(got) != 0 {
			t.Fatalf("answered %x", got)
		}
	})
	t.Run("negative size", func(t *testing.T) {
		if got := exchange(t, gw, []byte{0x80, 0, 0, 0}); len(got) != 0 {
			t.Fatalf("answered %x", got)
		}
	})
	t.Run("wrong API key before authentication", func(t *testing.T) {
		if got := exchange(t, gw, framed(kmsg.NewPtrProduceRequest())); len(got) != 0 {
			t.Fatalf("answered %x", got)
		}
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "x", "1"
		got := exchange(t, gw, framed(av), framed(kmsg.NewPtrMetadataRequest()))
		// The ApiVersions answer, then nothing for Metadata.
		if n := int(binary.BigEndian.Uint32(got)); n+4 != len(got) {
			t.Fatalf("%d bytes after ApiVersions", len(got)-n-4)
		}
	})
	t.Run("wrong mechanism", func(t *testing.T) {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
		got := exchange(t, gw, framed(hs))
		r := kmsg.NewPtrSASLHandshakeResponse()
		r.Version = 1
		h.resp(got, r)
		if r.ErrorCode != ErrUnsupportedSASLMechanism || strings.Join(r.SupportedMechanisms, ",") != "GSSAPI" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "GSSAPI"
		first := framed(hs)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 2, []byte("not a GSS-API token")
		got := exchange(t, gw, first, framed(au))
		n := int(binary.BigEndian.Uint32(got))
		rest := got[4+n:]
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = 2
		h.resp(rest, r)
		if r.ErrorCode != ErrSASLAuthenticationFailed || r.ErrorMessage == nil ||
			*r.ErrorMessage != "Authentication failed during authentication due to invalid credentials with SASL mechanism GSSAPI" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("bad legacy token", func(t *testing.T) {
		if got := exchange(t, gw, AppendFrame(nil, []byte{0x60, 0x80, 0x06, 0x09})); len(got) != 0 {
			t.Fatalf("answered %x", got)
		}
	})
	if s := gw.Stats(); s.Forwarded != 0 || s.Auth.Authentications != 0 {
		t.Fatalf("something got through: %+v", s)
	}
}

// TestGatewayForwards authenticates over TCP with the sasltest mechanism
// and checks what the gateway changes in the broker's answers.
func TestGatewayForwards(t *testing.T) {
	gw, h := startTestGateway(t, ServerConfig{SessionLifetime: time.Hour})
	c, err := net.Dial("tcp", gw.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	send := func(r kmsg.Request) {
		if _, err := c.Write(AppendFrame(nil, h.req(r))); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(r kmsg.Response) {
		t.Helper()
		f, err := ReadFrame(c, nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		h.resp(AppendFrame(nil, f), r)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "GSSAPI"
	send(hs)
	recv(kmsg.NewPtrSASLHandshakeResponse())
	cli := h.client(func(cc *sasl.ClientConfig) { cc.NoMutual = true })
	tok, _ := cli.Start(bg)
	for {
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 2, tok
		send(au)
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = 2
		recv(r)
		if r.ErrorCode != 0 {
			t.Fatalf("%+v", r)
		}
		if cli.Done() {
			if r.SessionLifetimeMillis != 3600000 {
				t.Fatalf("lifetime %d", r.SessionLifetimeMillis)
			}
			break
		}
		tok, _, _ = cli.Step(bg, r.SASLAuthBytes)
	}
	// Pipelined: Metadata, ApiVersions and FindCoordinator in one go.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "x", "1"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorKey = 3, "group"
	var batch []byte
	for _, r := range []kmsg.Request{md, av, fc} {
		batch = append(batch, AppendFrame(nil, h.req(r))...)
	}
	h.corr -= 3
	c.Write(batch)
	want, _, _ := splitHostPort(gw.Advertised()[0])
	h.corr++
	mr := kmsg.NewPtrMetadataResponse()
	mr.Version = 12
	recv(mr)
	if len(mr.Brokers) != 1 || mr.Brokers[0].Host != want {
		t.Fatalf("metadata brokers %+v, want %s", mr.Brokers, gw.Advertised()[0])
	}
	if _, port, _ := splitHostPort(gw.Advertised()[0]); mr.Brokers[0].Port != port {
		t.Fatalf("port %d", mr.Brokers[0].Port)
	}
	h.corr++
	ar := kmsg.NewPtrApiVersionsResponse()
	ar.Version = 3
	recv(ar)
	if lo, hi, ok := keyRange(ar, KeySASLAuthenticate); !ok || lo != 0 || hi != 2 {
		t.Fatal("SaslAuthenticate missing after authentication")
	}
	if lo, _, _ := keyRange(ar, KeyProduce); lo != 0 {
		t.Fatalf("Produce advertised from v%d; the gateway converts older ones", lo)
	}
	h.corr++
	fr := kmsg.NewPtrFindCoordinatorResponse()
	fr.Version = 3
	recv(fr)
	if fr.ErrorCode == 0 && fr.Host != want {
		t.Fatalf("coordinator %s:%d", fr.Host, fr.Port)
	}
	// Produce with acks=0 has no response: the next answer is Metadata's.
	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks = 7, 0
	batchBytes, _ := messageSetToBatch(appendMessage(nil, 0, 1, 1, nil, []byte("v")))
	pr.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batchBytes}}}}
	send(pr)
	send(md)
	mr2 := kmsg.NewPtrMetadataResponse()
	mr2.Version = 12
	recv(mr2)
	if !bytes.Equal([]byte(mr2.Brokers[0].Host), []byte(want)) {
		t.Fatal("second metadata not rewritten")
	}
	if s := gw.Stats(); s.Forwarded != 5 || s.Auth.Authentications != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestMessageConversion(t *testing.T) {
	var set []byte
	set = appendMessage(set, 0, 0, -1, nil, []byte("zero"))
	set = appendMessage(set, 1, 1, 1700000000000, []byte("k"), []byte("one"))
	batch, err := messageSetToBatch(set)
	if err != nil {
		t.Fatal(err)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil || rb.NumRecords != 2 || rb.Magic != 2 {
		t.Fatalf("%+v %v", rb, err)
	}
	back, err := batchesToMessageSet(batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := readMessageSet(back)
	if err != nil || len(recs) != 2 || string(recs[0].value) != "zero" || string(recs[1].key) != "k" || string(recs[1].value) != "one" {
		t.Fatalf("%+v %v", recs, err)
	}
	if _, err := messageSetToBatch([]byte{1, 2, 3}); err == nil {
		t.Fatal("garbage converted")
	}
}

// FuzzMessageConversion: the message-set and record-batch readers, and
// every codec's reader, on arbitrary bytes. Message CRCs keep mutations
// out of compressed wrappers, hence the codecs on the input as it is.
func FuzzMessageConversion(f *testing.F) {
	set := appendMessage(nil, 0, 1, 5, []byte("k"), []byte("v"))
	f.Add(set)
	b, _ := messageSetToBatch(set)
	f.Add(b)
	var inner []byte
	for _, magic := range []int8{0, 1} {
		inner = appendMessage(appendMessage(nil, 0, magic, 5, []byte("k"), []byte("v")), 1, magic, 6, nil, bytes.Repeat([]byte("value "), 50))
		for _, codec := range []byte{codecGzip, codecSnappy, codecLZ4} {
			value, _ := compress(codec, magic, inner)
			f.Add(value)
			w := appendMessageAttrs(nil, 1, magic, codec, 6, nil, value)
			f.Add(w)
			b, _ := messageSetToBatch(w)
			f.Add(b)
		}
	}
	f.Add(appendLZ4Frame(nil, inner, true))
	enc, _ := zstd.NewWriter(nil)
	f.Add(enc.EncodeAll(inner, nil))
	f.Add(snappy.Encode(nil, inner))
	// A zstd batch, which only the Fetch side sees.
	plain, _ := messageSetToBatch(inner)
	zb := append(bytes.Clone(plain[:61]), enc.EncodeAll(plain[61:], nil)...)
	binary.BigEndian.PutUint16(zb[21:], codecZstd)
	binary.BigEndian.PutUint32(zb[8:], uint32(len(zb)-12))
	f.Add(zb)
	f.Fuzz(func(t *testing.T, in []byte) {
		messageSetToBatch(in)
		batchesToMessageSet(in, 0)
		batchesToMessageSet(in, 1)
		for c := byte(1); c <= 4; c++ {
			for magic := int8(0); magic <= 2; magic++ {
				decompress(c, magic, in, 1<<20)
			}
		}
	})
}

// TestGatewayLargeFrames produces and fetches batches far above the size
// from which the gateway passes frames from socket to socket.
func TestGatewayLargeFrames(t *testing.T) {
	gw, h := startTestGateway(t, ServerConfig{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(gw.Advertised()[0]),
		kgo.SASL(FranzMechanism(&ClientConfig{Registry: h.reg, Mech: sasltest.OID, NoMutual: true})),
		kgo.DefaultProduceTopic("t"), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.FetchMaxBytes(8<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var want [][]byte
	for i := 0; i < 12; i++ {
		v := bytes.Repeat([]byte{byte('a' + i)}, 300<<10+i)
		want = append(want, v)
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, fe := range fs.Errors() {
			t.Fatal(fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	if len(got) != len(want) {
		t.Fatalf("fetched %d of %d records", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if s := gw.Stats(); s.Streamed < 2 {
		t.Fatalf("no frame went socket to socket: %+v", s)
	}
}
