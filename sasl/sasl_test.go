package sasl_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/sasl"
	"github.com/gsskit/gsskit/sasl/sasltest"
)

// The protocol rules, with the sasltest mechanism so that every corner is
// reachable without a KDC; krb5_test.go repeats the main paths with
// Kerberos and a real MIT KDC.

var bg = context.Background()

type pair struct {
	reg *gss.Registry
	m   *sasltest.Mech
}

func newPair() *pair {
	m := &sasltest.Mech{}
	return &pair{reg: sasltest.NewRegistry(m), m: m}
}

func (p *pair) client(t testing.TB, cfg sasl.ClientConfig) *sasl.Client {
	t.Helper()
	cfg.Registry, cfg.Mech = p.reg, sasltest.OID
	if cfg.Service == "" && cfg.Target == nil {
		cfg.Service, cfg.Host = "kafka", "broker"
	}
	c, err := sasl.NewClient(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *pair) server(t testing.TB, cfg sasl.ServerConfig) *sasl.Server {
	t.Helper()
	cfg.Registry = p.reg
	s, err := sasl.NewServer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run carries the exchange the way a protocol does and returns the tokens
// that crossed, client and server alternately, starting with the client.
func run(t testing.TB, c *sasl.Client, s *sasl.Server) ([][]byte, error) {
	t.Helper()
	var wire [][]byte
	tok, err := c.Start(bg)
	if err != nil {
		return wire, err
	}
	for i := 0; i < 10; i++ {
		wire = append(wire, tok)
		chal, done, err := s.Step(bg, tok)
		if err != nil {
			return wire, err
		}
		if done {
			if !c.Done() {
				t.Fatal("server done before the client's final response")
			}
			// Kafka's SaslAuthenticate ends with an empty challenge.
			if _, cdone, err := c.Step(bg, nil); err != nil || !cdone {
				t.Fatalf("empty final challenge: done=%v err=%v", cdone, err)
			}
			return wire, nil
		}
		wire = append(wire, chal)
		if tok, _, err = c.Step(bg, chal); err != nil {
			return wire, err
		}
	}
	t.Fatal("exchange did not finish in 10 rounds")
	return nil, nil
}

func TestLayerNegotiation(t *testing.T) {
	cases := []struct {
		client, server sasl.Layer
		drop           gss.Flags
		want           sasl.Layer
		err            string
	}{
		{0, 0, 0, sasl.LayerNone, ""},
		{sasl.LayerAll, 0, 0, sasl.LayerNone, ""},
		{sasl.LayerAll, sasl.LayerAll, 0, sasl.LayerConfidentiality, ""},
		{sasl.LayerNone | sasl.LayerIntegrity, sasl.LayerAll, 0, sasl.LayerIntegrity, ""},
		{sasl.LayerAll, sasl.LayerNone | sasl.LayerIntegrity, 0, sasl.LayerIntegrity, ""},
		{sasl.LayerIntegrity, sasl.LayerConfidentiality, 0, 0, "no layer in common"},
		{sasl.LayerNone, sasl.LayerIntegrity, 0, 0, "no layer in common"},
		// A context without confidentiality cannot carry that layer.
		{sasl.LayerAll, sasl.LayerAll, gss.FlagConf, sasl.LayerIntegrity, ""},
		{sasl.LayerConfidentiality, sasl.LayerConfidentiality, gss.FlagConf, 0, "requires confidentiality"},
	}
	for _, tc := range cases {
		t.Run(tc.client.String()+"/"+tc.server.String(), func(t *testing.T) {
			p := newPair()
			p.m.DropFlags = tc.drop
			c := p.client(t, sasl.ClientConfig{Layers: tc.client})
			s := p.server(t, sasl.ServerConfig{Layers: tc.server})
			_, err := run(t, c, s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cs, ss := c.Session(), s.Session(); cs.Layer != tc.want || ss.Layer != tc.want {
				t.Fatalf("layers client %v server %v, want %v", cs.Layer, ss.Layer, tc.want)
			}
			if got := s.Principal().String(); got != sasltest.DefaultUser {
				t.Fatalf("principal %q", got)
			}
		})
	}
}

func TestMutualAndNot(t *testing.T) {
	for _, noMutual := range []bool{false, true} {
		p := newPair()
		c := p.client(t, sasl.ClientConfig{NoMutual: noMutual, Layers: sasl.LayerAll})
		s := p.server(t, sasl.ServerConfig{Layers: sasl.LayerAll})
		wire, err := run(t, c, s)
		if err != nil {
			t.Fatal(err)
		}
		// Mutual: token, AP-REP, empty, offer, choice. Without: token,
		// offer, choice — the server sends the offer at once.
		want := 5
		if noMutual {
			want = 3
		}
		if len(wire) != want {
			t.Fatalf("noMutual=%v: %d tokens crossed, want %d", noMutual, len(wire), want)
		}
		if noMutual && len(wire[1]) == 0 {
			t.Fatal("no offer after a non-mutual token")
		}
		if !noMutual && len(wire[2]) != 0 {
			t.Fatalf("client answered the AP-REP with %d bytes, want an empty response", len(wire[2]))
		}
	}
}

// rawServer plays a server by hand with an acceptor of the same registry,
// to send offers the sasl package would never send.
func rawServerOffer(t *testing.T, p *pair, c *sasl.Client, offer []byte) (reply []byte, err error) {
	t.Helper()
	acc, err := p.reg.NewAcceptor(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Start(bg)
	if err != nil {
		t.Fatal(err)
	}
	aprep, err := acc.Step(bg, tok)
	if err != nil {
		t.Fatal(err)
	}
	empty, _, err := c.Step(bg, aprep)
	if err != nil || len(empty) != 0 {
		t.Fatalf("after AP-REP: %x, %v", empty, err)
	}
	w, _, err := acc.Wrap(nil, offer, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	choice, _, err := c.Step(bg, w)
	if err != nil {
		return nil, err
	}
	plain, _, err := acc.Unwrap(nil, choice)
	if err != nil {
		t.Fatal(err)
	}
	return plain, nil
}

func TestJDKOfferOfBufferWithNoLayer(t *testing.T) {
	// GssKrb5Server offers only "none" and still names 65536.
	p := newPair()
	c := p.client(t, sasl.ClientConfig{Layers: sasl.LayerAll})
	plain, err := rawServerOffer(t, p, c, []byte{1, 0x01, 0x00, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, []byte{1, 0, 0, 0}) {
		t.Fatalf("client chose %x, want none with buffer 0", plain)
	}
	if c.Session().Layer != sasl.LayerNone || c.Offered() != sasl.LayerNone {
		t.Fatalf("session %v offered %v", c.Session().Layer, c.Offered())
	}
}

func TestClientRejectsBadOffers(t *testing.T) {
	cases := []struct {
		offer []byte
		want  string
	}{
		{[]byte{1, 0, 0}, "3 bytes, not 4"},
		{[]byte{1, 0, 0, 0, 0}, "5 bytes, not 4"},
		{[]byte{2, 0, 0, 0}, "maximum buffer of 0"},
		{[]byte{0, 0, 0, 0}, "no layer in common"},
		{[]byte{8, 1, 0, 0}, "no layer in common"},
	}
	for _, tc := range cases {
		p := newPair()
		c := p.client(t, sasl.ClientConfig{Layers: sasl.LayerAll})
		_, err := rawServerOffer(t, p, c, tc.offer)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, sasl.ErrProtocol) {
			t.Errorf("offer %x: err = %v, want %q", tc.offer, err, tc.want)
		}
		if _, _, err := c.Step(bg, nil); err == nil {
			t.Errorf("offer %x: a failed client kept going", tc.offer)
		}
	}
}

func TestFinalChallenge(t *testing.T) {
	p := newPair()
	c := p.client(t, sasl.ClientConfig{})
	s := p.server(t, sasl.ServerConfig{})
	if _, err := run(t, c, s); err != nil {
		t.Fatal(err)
	}
	if _, done, err := c.Step(bg, []byte{}); err != nil || !done {
		t.Fatalf("second empty final: %v %v", done, err)
	}
	if _, _, err := c.Step(bg, []byte("x")); err == nil || !errors.Is(err, sasl.ErrProtocol) {
		t.Fatalf("non-empty after done: %v", err)
	}
}

// rawClient plays a client by hand: it establishes with mutual
// authentication, reads the offer and sends choice as its final response.
func rawClientChoice(t *testing.T, p *pair, s *sasl.Server, choice []byte) (offer []byte, err error) {
	t.Helper()
	target, _ := p.reg.ImportName("kafka@broker", gss.NTHostbasedService)
	ini, err := p.reg.NewInitiator(&gss.InitiatorConfig{Target: target, Mech: sasltest.OID,
		Flags: gss.FlagMutual | gss.FlagInteg | gss.FlagConf})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := ini.Step(bg, nil)
	aprep, _, err := s.Step(bg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.Step(bg, aprep); err != nil {
		t.Fatal(err)
	}
	w, _, err := s.Step(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	offer, _, err = ini.Unwrap(nil, w)
	if err != nil {
		t.Fatal(err)
	}
	reply, _, _ := ini.Wrap(nil, choice, false, 0)
	_, done, err := s.Step(bg, reply)
	if err == nil && !done {
		t.Fatal("server neither done nor failed after the choice")
	}
	return offer, err
}

func TestServerChecksChoice(t *testing.T) {
	all := sasl.ServerConfig{Layers: sasl.LayerAll, MaxBuffer: 4096}
	cases := []struct {
		cfg    sasl.ServerConfig
		choice []byte
		want   string // "" accepts
		layer  sasl.Layer
	}{
		{all, []byte{1, 0, 0, 0}, "", sasl.LayerNone},
		// JDK clients echo the server's buffer even for none.
		{all, []byte{1, 0, 0x10, 0}, "", sasl.LayerNone},
		{all, []byte{2, 0, 1, 0}, "", sasl.LayerIntegrity},
		{all, []byte{4, 0, 1, 0}, "", sasl.LayerConfidentiality},
		// Cyrus with ad_compat sends both bits for confidentiality.
		{all, []byte{6, 0, 1, 0}, "", sasl.LayerConfidentiality},
		{all, []byte{3, 0, 1, 0}, "exactly one layer", 0},
		{all, []byte{0, 0, 1, 0}, "exactly one layer", 0},
		{all, []byte{0x11, 0, 1, 0}, "unknown bits", 0},
		{all, []byte{2, 0, 0, 0}, "maximum buffer of 0", 0},
		{all, []byte{2, 0, 1}, "shorter than 4", 0},
		{sasl.ServerConfig{}, []byte{2, 0, 1, 0}, "did not offer", 0},
		{sasl.ServerConfig{Layers: sasl.LayerConfidentiality}, []byte{1, 0, 0, 0}, "did not offer", 0},
		{all, []byte{1, 0, 0, 0, 0xff, 0xfe}, "not UTF-8", 0},
	}
	for _, tc := range cases {
		p := newPair()
		s := p.server(t, tc.cfg)
		_, err := rawClientChoice(t, p, s, tc.choice)
		if tc.want == "" {
			if err != nil {
				t.Errorf("choice %x: %v", tc.choice, err)
			} else if s.Session().Layer != tc.layer {
				t.Errorf("choice %x: layer %v, want %v", tc.choice, s.Session().Layer, tc.layer)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("choice %x: err = %v, want %q", tc.choice, err, tc.want)
		}
	}
}

func TestServerOffer(t *testing.T) {
	cases := []struct {
		cfg  sasl.ServerConfig
		drop gss.Flags
		want []byte
	}{
		{sasl.ServerConfig{}, 0, []byte{1, 0, 0, 0}},
		// RFC 4752: no buffer when no layer is offered, whatever is set.
		{sasl.ServerConfig{MaxBuffer: 9999}, 0, []byte{1, 0, 0, 0}},
		{sasl.ServerConfig{Layers: sasl.LayerAll}, 0, []byte{7, 0x01, 0, 0}},
		{sasl.ServerConfig{Layers: sasl.LayerAll, MaxBuffer: sasl.MaxBufferLimit}, 0, []byte{7, 0xff, 0xff, 0xff}},
		{sasl.ServerConfig{Layers: sasl.LayerAll, MaxBuffer: 300}, gss.FlagConf, []byte{3, 0, 0x01, 0x2c}},
	}
	for _, tc := range cases {
		p := newPair()
		p.m.DropFlags = tc.drop
		s := p.server(t, tc.cfg)
		offer, _ := rawClientChoice(t, p, s, []byte{1, 0, 0, 0})
		if !bytes.Equal(offer, tc.want) {
			t.Errorf("%+v: offer %x, want %x", tc.cfg, offer, tc.want)
		}
	}
	if _, err := sasl.NewServer(&sasl.ServerConfig{MaxBuffer: sasl.MaxBufferLimit + 1}); err == nil {
		t.Error("a buffer beyond 3 bytes was accepted")
	}
}

func TestServerWantsEmptyAfterAPREP(t *testing.T) {
	p := newPair()
	c := p.client(t, sasl.ClientConfig{})
	s := p.server(t, sasl.ServerConfig{})
	tok, _ := c.Start(bg)
	aprep, _, err := s.Step(bg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step(bg, aprep); err == nil || !strings.Contains(err.Error(), "wants an empty response") {
		t.Fatalf("non-empty response after AP-REP: %v", err)
	}
}

func TestServerBadFirstToken(t *testing.T) {
	for _, tok := range [][]byte{nil, []byte("garbage"), {0x60, 0x01}, {0x60, 0x82, 0xff, 0xff, 0x06}} {
		p := newPair()
		s := p.server(t, sasl.ServerConfig{})
		_, _, err := s.Step(bg, tok)
		var se *sasl.Error
		if !errors.As(err, &se) || se.Side != "server" {
			t.Errorf("token %x: err = %v", tok, err)
		}
		if s.Principal() != nil || s.Done() {
			t.Errorf("token %x: server authenticated someone", tok)
		}
	}
}

func TestAuthzid(t *testing.T) {
	p := newPair()
	s := p.server(t, sasl.ServerConfig{})
	_, err := run(t, p.client(t, sasl.ClientConfig{Authzid: "bob"}), s)
	if !errors.Is(err, sasl.ErrUnauthorized) {
		t.Fatalf("default policy let %s act as bob: %v", sasltest.DefaultUser, err)
	}
	s = p.server(t, sasl.ServerConfig{})
	if _, err := run(t, p.client(t, sasl.ClientConfig{Authzid: sasltest.DefaultUser}), s); err != nil {
		t.Fatalf("authzid equal to the principal: %v", err)
	}
	var seen string
	s = p.server(t, sasl.ServerConfig{Authorize: func(n *gss.Name, authzid string) error {
		seen = n.String() + " as " + authzid
		return nil
	}})
	if _, err := run(t, p.client(t, sasl.ClientConfig{Authzid: "bob"}), s); err != nil {
		t.Fatal(err)
	}
	if seen != sasltest.DefaultUser+" as bob" || s.Session().Authzid != "bob" {
		t.Fatalf("Authorize saw %q, session authzid %q", seen, s.Session().Authzid)
	}
	if _, err := sasl.NewClient(&sasl.ClientConfig{Service: "a", Host: "b", Authzid: "a\x00b"}); err == nil {
		t.Fatal("an authzid with NUL was accepted")
	}
}

// framer records the packet lengths a conn writes.
type framer struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	lens []int
}

func (f *framer) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.buf = append(f.buf, p...)
	for len(f.buf) >= 4 {
		n := int(binary.BigEndian.Uint32(f.buf))
		if len(f.buf) < 4+n {
			break
		}
		f.lens = append(f.lens, n)
		f.buf = f.buf[4+n:]
	}
	f.mu.Unlock()
	return f.Conn.Write(p)
}

func established(t testing.TB, cl, sl sasl.Layer, cmax, smax int) (*sasl.Session, *sasl.Session) {
	t.Helper()
	p := newPair()
	c := p.client(t, sasl.ClientConfig{Layers: cl, MaxBuffer: cmax})
	s := p.server(t, sasl.ServerConfig{Layers: sl, MaxBuffer: smax})
	if _, err := run(t, c, s); err != nil {
		t.Fatal(err)
	}
	return c.Session(), s.Session()
}

func TestConnLayers(t *testing.T) {
	for _, layer := range []sasl.Layer{sasl.LayerNone, sasl.LayerIntegrity, sasl.LayerConfidentiality} {
		t.Run(layer.String(), func(t *testing.T) {
			cs, ss := established(t, layer, sasl.LayerAll, 500, 200)
			if cs.Layer != layer {
				t.Fatalf("layer %v", cs.Layer)
			}
			if layer != sasl.LayerNone && (cs.PeerMaxBuffer != 200 || ss.PeerMaxBuffer != 500 || cs.MaxMessage != 200-14) {
				t.Fatalf("buffers: client peer %d server peer %d max message %d", cs.PeerMaxBuffer, ss.PeerMaxBuffer, cs.MaxMessage)
			}
			a, b := net.Pipe()
			fa, fb := &framer{Conn: a}, &framer{Conn: b}
			ca, cb := cs.NewConn(fa), ss.NewConn(fb)
			msg := bytes.Repeat([]byte("0123456789abcdef"), 1000)
			var wg sync.WaitGroup
			wg.Add(2)
			var gotA, gotB []byte
			var errA, errB error
			go func() {
				defer wg.Done()
				if _, err := ca.Write(msg); err != nil {
					errA = err
					return
				}
				gotA, errA = io.ReadAll(io.LimitReader(ca, int64(len(msg))))
			}()
			go func() {
				defer wg.Done()
				gotB, errB = io.ReadAll(io.LimitReader(cb, int64(len(msg))))
				if errB == nil {
					_, errB = cb.Write(msg)
				}
			}()
			wg.Wait()
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if !bytes.Equal(gotA, msg) || !bytes.Equal(gotB, msg) {
				t.Fatal("data differs after the layer")
			}
			if layer == sasl.LayerNone {
				if ca != net.Conn(fa) {
					t.Fatal("LayerNone wrapped the conn")
				}
				return
			}
			check := func(who string, f *framer, limit int) {
				if len(f.lens) < len(msg)/limit {
					t.Fatalf("%s sent %d packets for %d bytes", who, len(f.lens), len(msg))
				}
				for _, n := range f.lens {
					if n > limit {
						t.Fatalf("%s sent a %d-byte token; the peer's buffer is %d", who, n, limit)
					}
				}
			}
			check("client", fa, 200)
			check("server", fb, 500)
		})
	}
}

func TestConnRefusesOversizedPacket(t *testing.T) {
	_, ss := established(t, sasl.LayerIntegrity, sasl.LayerAll, 0, 100)
	a, b := net.Pipe()
	cb := ss.NewConn(b)
	go func() {
		a.Write([]byte{0, 0, 0, 101})
		a.Close()
	}()
	_, err := cb.Read(make([]byte, 10))
	if !errors.Is(err, sasl.ErrTooBig) {
		t.Fatalf("101-byte packet against a 100-byte buffer: %v", err)
	}
	if _, err2 := cb.Read(make([]byte, 10)); err2 == nil {
		t.Fatal("the conn recovered after a refused packet")
	}
}

func TestSessionDecodeChecks(t *testing.T) {
	cs, ss := established(t, sasl.LayerConfidentiality, sasl.LayerAll, 0, 0)
	pkt, err := cs.Encode(nil, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := ss.Decode(nil, pkt); err != nil || string(out) != "hello" {
		t.Fatalf("decode: %q %v", out, err)
	}
	// The same packet again is a replay.
	if _, err := ss.Decode(nil, pkt); !errors.Is(err, gss.ErrDuplicateToken) {
		t.Fatalf("replay: %v", err)
	}
	// An integrity-only packet where confidentiality was agreed.
	w, _, _ := cs.Context().Wrap(nil, []byte("x"), false, 0)
	pkt2 := binary.BigEndian.AppendUint32(nil, uint32(len(w)))
	if _, err := ss.Decode(nil, append(pkt2, w...)); err == nil || !strings.Contains(err.Error(), "integrity-protected only") {
		t.Fatalf("downgraded packet: %v", err)
	}
	if _, err := ss.Decode(nil, []byte{0, 0, 0, 9, 1}); err == nil || !strings.Contains(err.Error(), "9 bytes, 1 follow") {
		t.Fatalf("length mismatch: %v", err)
	}
	if _, err := cs.Encode(nil, make([]byte, cs.MaxMessage+1)); err == nil {
		t.Fatal("Encode accepted more than MaxMessage")
	}
}

// FuzzSessionDecode feeds arbitrary bytes to the layer's reader and to
// Decode. They must fail cleanly and never panic; sasltest's checksum is not
// keyed, so a well-formed packet may legitimately decode.
func FuzzSessionDecode(f *testing.F) {
	cs, _ := established(f, sasl.LayerConfidentiality, sasl.LayerAll, 0, 0)
	good, _ := cs.Encode(nil, []byte("seed"))
	f.Add(good)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 20, 'A', 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, ss := established(t, sasl.LayerConfidentiality, sasl.LayerAll, 0, 1024)
		a, b := net.Pipe()
		go func() { a.Write(in); a.Close() }()
		got, _ := io.ReadAll(ss.NewConn(b))
		if len(got) > len(in) {
			t.Fatalf("%d bytes decoded from %d", len(got), len(in))
		}
		if out, err := ss.Decode(nil, in); err == nil && len(out) > len(in) {
			t.Fatalf("Decode made %d bytes of %d", len(out), len(in))
		}
	})
}

// FuzzServerChoice wraps arbitrary bytes as a client's final response: the
// server must accept only well-formed choices and never panic.
func FuzzServerChoice(f *testing.F) {
	for _, s := range [][]byte{{1, 0, 0, 0}, {2, 0, 1, 0}, {4, 0, 1, 0, 'b', 'o', 'b'}, {6, 0xff, 0xff, 0xff}, {}, {7}} {
		f.Add(s, false)
	}
	f.Add([]byte{0x60, 1, 2}, true)
	f.Fuzz(func(t *testing.T, choice []byte, raw bool) {
		p := newPair()
		s := p.server(t, sasl.ServerConfig{Layers: sasl.LayerAll})
		target, _ := p.reg.ImportName("kafka@broker", gss.NTHostbasedService)
		ini, _ := p.reg.NewInitiator(&gss.InitiatorConfig{Target: target, Mech: sasltest.OID,
			Flags: gss.FlagInteg | gss.FlagConf})
		tok, _ := ini.Step(bg, nil)
		if _, _, err := s.Step(bg, tok); err != nil {
			t.Fatal(err)
		}
		reply := choice
		if !raw {
			reply, _, _ = ini.Wrap(nil, choice, false, 0)
		}
		_, done, err := s.Step(bg, reply)
		if done != (err == nil) {
			t.Fatalf("done=%v err=%v", done, err)
		}
		if done {
			l := s.Session().Layer
			if len(choice) < 4 || (l != sasl.LayerNone && choice[1]|choice[2]|choice[3] == 0) {
				t.Fatalf("accepted %x as %v", choice, l)
			}
		}
	})
}

// FuzzClientOffer wraps arbitrary bytes as the server's offer.
func FuzzClientOffer(f *testing.F) {
	for _, s := range [][]byte{{1, 0, 0, 0}, {7, 0, 1, 0}, {1, 1, 0, 0}, {}, {2, 0, 0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, offer []byte) {
		p := newPair()
		c := p.client(t, sasl.ClientConfig{Layers: sasl.LayerAll, NoMutual: true})
		acc, _ := p.reg.NewAcceptor(nil)
		tok, _ := c.Start(bg)
		if _, err := acc.Step(bg, tok); err != nil {
			t.Fatal(err)
		}
		w, _, _ := acc.Wrap(nil, offer, false, 0)
		out, done, err := c.Step(bg, w)
		if done != (err == nil) {
			t.Fatalf("done=%v err=%v", done, err)
		}
		if done {
			plain, _, err := acc.Unwrap(nil, out)
			if err != nil || len(plain) != 4 || offer[0]&plain[0] == 0 {
				t.Fatalf("offer %x answered with %x (%v)", offer, plain, err)
			}
		}
	})
}
