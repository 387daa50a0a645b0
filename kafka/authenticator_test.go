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

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/sasl"
	"github.com/gsskit/gsskit/sasl/sasltest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The authenticator against hand-driven clients, with the sasltest
// mechanism so that every answer to bad input is reachable without a KDC.
// kcat_test.go and clients_test.go run real clients with Kerberos.

var bg = context.Background()

type harness struct {
	t    testing.TB
	mech *sasltest.Mech
	reg  *gss.Registry
	a    *Authenticator
	c    *ServerConn
	corr int32
}

func newHarness(t testing.TB, cfg ServerConfig) *harness {
	h := &harness{t: t, mech: &sasltest.Mech{}}
	h.reg = sasltest.NewRegistry(h.mech)
	cfg.Registry = h.reg
	if cfg.Rules == nil {
		cfg.Rules, _ = NewShortNamer("SASLTEST", nil)
	}
	a, err := NewAuthenticator(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.a, h.c = a, a.NewConn()
	return h
}

// req frames a request (without the size, as Handle takes it).
func (h *harness) req(r kmsg.Request) []byte {
	h.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test-client"))
	b := f.AppendRequest(nil, r, h.corr)
	return b[4:]
}

func (h *harness) handle(frame []byte) ([]byte, Verdict, error) {
	return h.c.Handle(bg, frame)
}

// resp parses a framed response to the request just sent.
func (h *harness) resp(framed []byte, r kmsg.Response) {
	h.t.Helper()
	if len(framed) < 8 {
		h.t.Fatalf("response of %d bytes", len(framed))
	}
	if n := binary.BigEndian.Uint32(framed); int(n) != len(framed)-4 {
		h.t.Fatalf("size field %d, frame %d", n, len(framed)-4)
	}
	corr, body, err := ParseResponse(framed[4:], r.Key(), r.GetVersion())
	if err != nil {
		h.t.Fatal(err)
	}
	if corr != h.corr {
		h.t.Fatalf("correlation ID %d, want %d", corr, h.corr)
	}
	if err := r.ReadFrom(body); err != nil {
		h.t.Fatalf("response does not parse: %v", err)
	}
}

func (h *harness) client(opts ...func(*sasl.ClientConfig)) *sasl.Client {
	cfg := &sasl.ClientConfig{Registry: h.reg, Mech: sasltest.OID, Service: "kafka", Host: "broker"}
	for _, o := range opts {
		o(cfg)
	}
	c, err := sasl.NewClient(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) apiVersions(v int16) *kmsg.ApiVersionsResponse {
	h.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = v
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gsskit-test", "1.0"
	out, verdict, err := h.handle(h.req(req))
	if verdict != Continue || err != nil {
		h.t.Fatalf("ApiVersions: %v %v", verdict, err)
	}
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = v
	if v > 4 {
		r.Version = 0
	}
	h.resp(out, r)
	return r
}

func (h *harness) handshake(v int16, mech string) (*kmsg.SASLHandshakeResponse, Verdict, error) {
	h.t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = v, mech
	out, verdict, err := h.handle(h.req(req))
	r := kmsg.NewPtrSASLHandshakeResponse()
	r.Version = v
	if out != nil {
		h.resp(out, r)
	}
	return r, verdict, err
}

// authenticate runs SaslAuthenticate requests of version v until done.
func (h *harness) authenticate(v int16, cli *sasl.Client) (*kmsg.SASLAuthenticateResponse, Verdict, error) {
	h.t.Helper()
	tok, err := cli.Start(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = v, tok
		out, verdict, err := h.handle(h.req(req))
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = v
		if out != nil {
			h.resp(out, r)
		}
		if verdict != Continue {
			return r, verdict, err
		}
		if tok, _, err = cli.Step(bg, r.SASLAuthBytes); err != nil {
			h.t.Fatal(err)
		}
	}
	h.t.Fatal("no end to the SaslAuthenticate exchange")
	return nil, 0, nil
}

// raw runs raw size-delimited tokens until done and returns the frames the
// server sent.
func (h *harness) raw(cli *sasl.Client) ([][]byte, Verdict, error) {
	h.t.Helper()
	tok, _ := cli.Start(bg)
	var sent [][]byte
	for i := 0; i < 6; i++ {
		out, verdict, err := h.handle(tok)
		if out != nil {
			if n := binary.BigEndian.Uint32(out); int(n) != len(out)-4 {
				h.t.Fatalf("raw token frame size %d for %d bytes", n, len(out)-4)
			}
			sent = append(sent, out[4:])
		}
		if verdict != Continue {
			return sent, verdict, err
		}
		var cerr error
		if tok, _, cerr = cli.Step(bg, out[4:]); cerr != nil {
			h.t.Fatal(cerr)
		}
	}
	h.t.Fatal("no end to the raw exchange")
	return nil, 0, nil
}

func keyRange(r *kmsg.ApiVersionsResponse, key int16) (int16, int16, bool) {
	for _, k := range r.ApiKeys {
		if k.ApiKey == key {
			return k.MinVersion, k.MaxVersion, true
		}
	}
	return 0, 0, false
}

func TestFlowSaslAuthenticate(t *testing.T) {
	for v := int16(0); v <= 2; v++ {
		h := newHarness(t, ServerConfig{SessionLifetime: 90 * time.Second})
		av := h.apiVersions(3)
		if lo, hi, ok := keyRange(av, KeySASLHandshake); !ok || lo != 0 || hi != 1 {
			t.Fatalf("SaslHandshake advertised %d..%d (%v)", lo, hi, ok)
		}
		if lo, hi, ok := keyRange(av, KeySASLAuthenticate); !ok || lo != 0 || hi != 2 {
			t.Fatalf("SaslAuthenticate advertised %d..%d (%v)", lo, hi, ok)
		}
		hs, verdict, err := h.handshake(1, "GSSAPI")
		if verdict != Continue || err != nil || hs.ErrorCode != 0 || strings.Join(hs.SupportedMechanisms, ",") != "GSSAPI" {
			t.Fatalf("handshake: %+v %v %v", hs, verdict, err)
		}
		r, verdict, err := h.authenticate(v, h.client())
		if verdict != Authenticated || err != nil || r.ErrorCode != 0 {
			t.Fatalf("v%d: %v %v %+v", v, verdict, err, r)
		}
		if len(r.SASLAuthBytes) != 0 {
			t.Fatalf("final SaslAuthenticate carries %d bytes; librdkafka needs none", len(r.SASLAuthBytes))
		}
		if v >= 1 && r.SessionLifetimeMillis != 90000 {
			t.Fatalf("v%d session lifetime %d", v, r.SessionLifetimeMillis)
		}
		if h.c.KafkaPrincipal() != "User:tester" || h.c.Principal() != sasltest.DefaultUser || h.c.Flow() != FlowAuthenticate {
			t.Fatalf("principal %q %q flow %v", h.c.KafkaPrincipal(), h.c.Principal(), h.c.Flow())
		}
		if h.c.ClientSoftware() != "gsskit-test 1.0" {
			t.Fatalf("client software %q", h.c.ClientSoftware())
		}
	}
}

func TestFlowHandshakeV0AndLegacy(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		h := newHarness(t, ServerConfig{})
		if !legacy {
			if hs, verdict, err := h.handshake(0, "GSSAPI"); verdict != Continue || err != nil || hs.ErrorCode != 0 {
				t.Fatalf("handshake v0: %v %v", verdict, err)
			}
		}
		sent, verdict, err := h.raw(h.client())
		if verdict != Authenticated || err != nil {
			t.Fatalf("legacy=%v: %v %v", legacy, verdict, err)
		}
		// AP-REP and the offer; nothing after the client's choice.
		if len(sent) != 2 {
			t.Fatalf("legacy=%v: the server sent %d raw tokens, want 2", legacy, len(sent))
		}
		want := FlowHandshakeV0
		if legacy {
			want = FlowLegacy
		}
		if h.c.Flow() != want || h.a.Stats().ByFlow[want] != 1 {
			t.Fatalf("flow %v, stats %+v", h.c.Flow(), h.a.Stats())
		}
	}
	h := newHarness(t, ServerConfig{DisableLegacy: true})
	if _, verdict, err := h.raw(h.client()); verdict != Close || err == nil {
		t.Fatal("legacy flow accepted with DisableLegacy")
	}
}

func TestBadInputBeforeAuthentication(t *testing.T) {
	t.Run("wrong API key first", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		out, verdict, err := h.handle(h.req(kmsg.NewPtrMetadataRequest()))
		if verdict != Close || out != nil || err == nil || !strings.Contains(err.Error(), "unexpected Kafka request of type Metadata during SASL handshake") {
			t.Fatalf("%x %v %v", out, verdict, err)
		}
	})
	t.Run("wrong API key after ApiVersions", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		h.apiVersions(3)
		if out, verdict, _ := h.handle(h.req(kmsg.NewPtrProduceRequest())); verdict != Close || out != nil {
			t.Fatalf("%x %v", out, verdict)
		}
	})
	t.Run("second ApiVersions", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		h.apiVersions(3)
		if out, verdict, _ := h.handle(h.req(kmsg.NewPtrApiVersionsRequest())); verdict != Close || out != nil {
			t.Fatalf("%x %v", out, verdict)
		}
	})
	t.Run("ApiVersions too new", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		r := h.apiVersions(99)
		if r.ErrorCode != ErrUnsupportedVersion || len(r.ApiKeys) != 1 || r.ApiKeys[0].ApiKey != KeyApiVersions {
			t.Fatalf("%+v", r)
		}
		h.apiVersions(3) // the client may try again
	})
	t.Run("ApiVersions bad software name", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "-bad-", "1"
		out, verdict, _ := h.handle(h.req(req))
		r := kmsg.NewPtrApiVersionsResponse()
		r.Version = 3
		h.resp(out, r)
		if verdict != Continue || r.ErrorCode != ErrInvalidRequest {
			t.Fatalf("%v %+v", verdict, r)
		}
	})
	t.Run("wrong mechanism", func(t *testing.T) {
		for v := int16(0); v <= 1; v++ {
			h := newHarness(t, ServerConfig{})
			r, verdict, err := h.handshake(v, "PLAIN")
			if verdict != Close || r.ErrorCode != ErrUnsupportedSASLMechanism || strings.Join(r.SupportedMechanisms, ",") != "GSSAPI" ||
				!strings.Contains(err.Error(), "unsupported SASL mechanism PLAIN") {
				t.Fatalf("v%d: %+v %v %v", v, r, verdict, err)
			}
		}
	})
	t.Run("SaslHandshake v2", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, "GSSAPI"
		frame := h.req(req)
		frame[3] = 2
		if out, verdict, _ := h.handle(frame); verdict != Close || out != nil {
			t.Fatal(verdict)
		}
	})
	t.Run("bad token in SaslAuthenticate", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		h.handshake(1, "GSSAPI")
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 1, []byte{0x60, 0x03, 0x06, 0x01, 0x00}
		out, verdict, err := h.handle(h.req(req))
		r := kmsg.NewPtrSASLAuthenticateResponse()
		r.Version = 1
		h.resp(out, r)
		want := "Authentication failed during authentication due to invalid credentials with SASL mechanism GSSAPI"
		if verdict != Close || err == nil || r.ErrorCode != ErrSASLAuthenticationFailed || r.ErrorMessage == nil || *r.ErrorMessage != want {
			t.Fatalf("%v %v %+v", verdict, err, r)
		}
		if h.a.Stats().Failures != 1 {
			t.Fatalf("stats %+v", h.a.Stats())
		}
	})
	t.Run("bad raw token", func(t *testing.T) {
		for _, v0 := range []bool{false, true} {
			h := newHarness(t, ServerConfig{})
			if v0 {
				h.handshake(0, "GSSAPI")
			}
			out, verdict, err := h.handle([]byte{0x60, 0x82, 0x00})
			if verdict != Close || out != nil || err == nil {
				t.Fatalf("v0=%v: %x %v %v", v0, out, verdict, err)
			}
		}
	})
	t.Run("other request during SaslAuthenticate", func(t *testing.T) {
		h := newHarness(t, ServerConfig{})
		h.handshake(1, "GSSAPI")
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version = 3
		out, verdict, _ := h.handle(h.req(fc))
		r := kmsg.NewPtrFindCoordinatorResponse()
		r.Version = 3
		h.resp(out, r)
		if verdict != Close || r.ErrorCode != ErrIllegalSASLState || r.ErrorMessage == nil ||
			*r.ErrorMessage != "Unexpected Kafka request of type FindCoordinator during SASL authentication." {
			t.Fatalf("%v %+v", verdict, r)
		}
	})
	t.Run("unmapped principal", func(t *testing.T) {
		rules, _ := NewShortNamer("ELSEWHERE", nil)
		h := newHarness(t, ServerConfig{Rules: rules})
		h.handshake(1, "GSSAPI")
		r, verdict, err := h.authenticate(1, h.client())
		if verdict != Close || !strings.Contains(err.Error(), "no rules apply to "+sasltest.DefaultUser) || r.ErrorCode != 0 {
			t.Fatalf("%v %v %+v", verdict, err, r)
		}
	})
}

func TestAuthenticatedConnection(t *testing.T) {
	now := time.Now()
	h := newHarness(t, ServerConfig{SessionLifetime: time.Minute})
	h.a.now = func() time.Time { return now }
	h.apiVersions(3)
	h.handshake(1, "GSSAPI")
	if _, v, err := h.authenticate(2, h.client()); v != Authenticated {
		t.Fatal(v, err)
	}
	if _, v, _ := h.handle(h.req(kmsg.NewPtrMetadataRequest())); v != Forward {
		t.Fatalf("Metadata after authentication: %v", v)
	}
	// A stray SaslAuthenticate is answered in band, as KafkaApis does.
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version = 2
	out, v, _ := h.handle(h.req(req))
	r := kmsg.NewPtrSASLAuthenticateResponse()
	r.Version = 2
	h.resp(out, r)
	if v != Continue || r.ErrorCode != ErrIllegalSASLState {
		t.Fatalf("%v %+v", v, r)
	}
	// KIP-368: re-authentication within the session.
	for i := 1; i <= 2; i++ {
		now = now.Add(50 * time.Second)
		if _, v, err := h.handshake(1, "GSSAPI"); v != Continue || err != nil {
			t.Fatalf("re-auth handshake: %v %v", v, err)
		}
		r, v, err := h.authenticate(2, h.client())
		if v != Authenticated || r.SessionLifetimeMillis != 60000 {
			t.Fatalf("re-auth: %v %v %+v", v, err, r)
		}
		if h.c.Reauthentications() != i || !h.c.Expiry().Equal(now.Add(time.Minute)) {
			t.Fatalf("reauths %d expiry %v", h.c.Reauthentications(), h.c.Expiry())
		}
	}
	if s := h.a.Stats(); s.Authentications != 1 || s.Reauthentications != 2 {
		t.Fatalf("stats %+v", s)
	}
	// A different principal may not take over the connection.
	h.handshake(1, "GSSAPI")
	r2, v, err := h.authenticate(2, h.client(func(c *sasl.ClientConfig) {
		cred, _ := h.reg.AcquireCredential(bg, &gss.CredentialConfig{Usage: gss.CredInitiate, Store: gss.CredStore{"user": "mallory@SASLTEST"}})
		c.Credential = cred
	}))
	if v != Close || r2.ErrorCode != ErrSASLAuthenticationFailed || r2.ErrorMessage == nil ||
		*r2.ErrorMessage != "Cannot change principals during re-authentication from User.tester: User.mallory" {
		t.Fatalf("%v %v %+v", v, err, r2)
	}
}

func TestSessionExpiry(t *testing.T) {
	now := time.Now()
	for _, v := range []int16{0, 1} {
		h := newHarness(t, ServerConfig{SessionLifetime: time.Second})
		h.a.now = func() time.Time { return now }
		h.handshake(1, "GSSAPI")
		h.authenticate(v, h.client())
		if _, verdict, _ := h.handle(h.req(kmsg.NewPtrMetadataRequest())); verdict != Forward {
			t.Fatal(verdict)
		}
		// A v0 client cannot re-authenticate: its handshake is refused
		// in band, as KafkaApis does.
		if v == 0 {
			r, verdict, _ := h.handshake(1, "GSSAPI")
			if verdict != Continue || r.ErrorCode != ErrIllegalSASLState {
				t.Fatalf("%v %+v", verdict, r)
			}
		}
		now = now.Add(2 * time.Second)
		out, verdict, err := h.handle(h.req(kmsg.NewPtrMetadataRequest()))
		if verdict != Close || out != nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("after expiry: %v %v", verdict, err)
		}
	}
}

// pipeAuth runs Authenticate on one end of a pipe and a writer on the other.
func pipeAuth(t *testing.T, h *harness, write func(c net.Conn)) ([]byte, error) {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan []byte)
	go func() {
		defer close(done)
		write(a)
		got, _ := io.ReadAll(a)
		done <- got
	}()
	_, err := h.a.Authenticate(bg, b)
	b.Close()
	return <-done, err
}

func TestAuthenticateFrames(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	got, err := pipeAuth(t, h, func(c net.Conn) {
		c.Write([]byte{0, 8, 0, 1}) // 524289 bytes announced
	})
	if len(got) != 0 || err == nil || !strings.Contains(err.Error(), "invalid receive size") || !strings.Contains(err.Error(), "larger than 524288") {
		t.Fatalf("oversized: %v", err)
	}
	got, err = pipeAuth(t, h, func(c net.Conn) { c.Write([]byte{0xff, 0xff, 0xff, 0xfe}) })
	if err == nil || !strings.Contains(err.Error(), "size = -2") || len(got) != 0 {
		t.Fatalf("negative: %v %x", err, got)
	}
	got, err = pipeAuth(t, h, func(c net.Conn) {
		c.Write([]byte{0, 0, 0, 40, 0, 18, 0, 3})
		c.Close()
	})
	var ce *CloseError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "closed the connection") {
		t.Fatalf("truncated: %v", err)
	}
	// The whole flow over a connection, then nothing consumed beyond it.
	a, b := net.Pipe()
	after := []byte("after")
	go func() {
		cli := h.client()
		tok, _ := cli.Start(bg)
		for {
			a.Write(AppendFrame(nil, tok))
			if cli.Done() {
				break
			}
			f, err := ReadFrame(a, nil, 1<<20)
			if err != nil {
				return
			}
			if tok, _, err = cli.Step(bg, f); err != nil {
				return
			}
		}
		a.Write(after)
	}()
	sc, err := h.a.Authenticate(bg, b)
	if err != nil || sc.Flow() != FlowLegacy {
		t.Fatal(err)
	}
	rest := make([]byte, len(after))
	if _, err := io.ReadFull(b, rest); err != nil || !bytes.Equal(rest, after) {
		t.Fatalf("bytes after authentication: %q %v", rest, err)
	}
}

func TestParseRequestHeader(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 2, []byte("x")
	hd, body, err := ParseRequestHeader(h.req(req))
	if err != nil || !hd.Flexible || hd.Key != 36 || *hd.ClientID != "test-client" {
		t.Fatalf("%+v %v", hd, err)
	}
	back := kmsg.NewPtrSASLAuthenticateRequest()
	back.Version = 2
	if err := back.ReadFrom(body); err != nil || string(back.SASLAuthBytes) != "x" {
		t.Fatalf("body: %v", err)
	}
	for _, bad := range [][]byte{nil, {0, 18}, {0x60, 0x82, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 18, 0, 3, 0, 0, 0, 1, 0, 9, 'a'}, {0, 18, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff}} {
		if _, _, err := ParseRequestHeader(bad); !errors.Is(err, ErrHeader) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

// FuzzReadFrame: the frame decoder and header parser on arbitrary bytes.
func FuzzReadFrame(f *testing.F) {
	h := newHarness(f, ServerConfig{})
	f.Add(AppendFrame(nil, h.req(kmsg.NewPtrApiVersionsRequest())))
	f.Add([]byte{0, 0, 0, 2, 0x60, 0x82})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 10, 0, 36, 0, 2, 0, 0, 0, 1, 0xff, 0xff, 0x85})
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ReadFrame(bytes.NewReader(in), nil, 4096)
		if err != nil {
			return
		}
		if len(frame) > 4096 || len(frame) != int(binary.BigEndian.Uint32(in)) {
			t.Fatalf("frame of %d from %x", len(frame), in[:4])
		}
		hd, body, err := ParseRequestHeader(frame)
		if err == nil && len(body) > len(frame) {
			t.Fatalf("body longer than frame: %+v", hd)
		}
		produceAcks(hd, body)
		ParseResponse(frame, hd.Key, hd.Version)
	})
}

// FuzzServerConn feeds a connection's worth of frames (each input byte
// string split on a length prefix) to the authenticator: no panic, and no
// frame forwarded before authentication.
func FuzzServerConn(f *testing.F) {
	h := newHarness(f, ServerConfig{})
	av := h.req(kmsg.NewPtrApiVersionsRequest())
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "GSSAPI"
	f.Add(append(AppendFrame(nil, av), AppendFrame(nil, h.req(hs))...))
	cli := h.client(func(c *sasl.ClientConfig) { c.NoMutual = true })
	tok, _ := cli.Start(bg)
	f.Add(AppendFrame(nil, tok))
	hs.Version = 0
	f.Add(append(AppendFrame(nil, h.req(hs)), AppendFrame(nil, tok)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newHarness(t, ServerConfig{})
		r := bytes.NewReader(in)
		for {
			frame, err := ReadFrame(r, nil, 1<<16)
			if err != nil {
				return
			}
			out, v, err := h.c.Handle(bg, frame)
			if v == Forward && !h.c.Authenticated() {
				t.Fatal("forwarded before authentication")
			}
			if v == Close {
				if err == nil {
					t.Fatal("Close without a reason")
				}
				if _, v2, _ := h.c.Handle(bg, frame); v2 != Close {
					t.Fatal("a failed connection came back")
				}
				return
			}
			if len(out) >= 4 && int(binary.BigEndian.Uint32(out)) != len(out)-4 {
				t.Fatal("malformed response frame")
			}
		}
	})
}
