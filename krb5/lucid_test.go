package krb5

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// testContext builds an established context without a KDC: keys and
// sequence numbers chosen by the test.
func testContext(t testing.TB, initiator, acceptorSubkey bool, etype int32) *secContext {
	t.Helper()
	sk, _ := randomKey(etype)
	sub, _ := randomKey(etype)
	c := &secContext{
		initiator:  initiator,
		wireMech:   gss.MechKrb5,
		flags:      gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg,
		source:     newName(principal{nameType: 1, components: []string{"alice"}, realm: "GSSKIT.TEST"}, gss.NTKrb5Principal),
		target:     newName(principal{nameType: 2, components: []string{"host", "localhost"}, realm: "GSSKIT.TEST"}, gss.NTKrb5Principal),
		sessionKey: sk,
		subkey:     sub,
		sendSeq:    100,
		recvSeq:    200,
		ticketEnd:  time.Unix(2000000000, 0),
		expiry:     time.Now().Add(time.Hour),
	}
	if acceptorSubkey {
		c.acceptorSubkey, _ = randomKey(etype)
		c.hasAcceptorSubkey = true
	}
	if err := c.establish(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLucidLayout(t *testing.T) {
	for _, tc := range []struct {
		initiator, accSubkey bool
		etype                int32
		flags                uint32
	}{
		{true, true, 18, 1 | 2 | 4},
		{false, true, 20, 2 | 4},
		{true, false, 17, 1 | 2},
		{false, false, 19, 2},
	} {
		c := testContext(t, tc.initiator, tc.accSubkey, tc.etype)
		key := c.subkey
		if tc.accSubkey {
			key = c.acceptorSubkey
		}
		b, err := c.ExportLucid(1)
		if err != nil {
			t.Fatal(err)
		}
		ne := binary.NativeEndian
		want := ne.AppendUint32(nil, tc.flags)
		end := uint32(2000000000)
		if tc.initiator {
			// testContext's initiator lifetime ends before its ticket.
			end = uint32(c.expiry.Unix())
		}
		want = ne.AppendUint32(want, end)
		want = ne.AppendUint64(want, 100)
		want = ne.AppendUint32(want, uint32(tc.etype))
		want = append(want, key.KeyValue...)
		if !bytes.Equal(b, want) {
			t.Fatalf("lucid %x\nwant  %x", b, want)
		}
		// send_seq is the live one: after two tokens it has moved on.
		c.GetMIC(nil, []byte("a"), 0)
		c.Wrap(nil, []byte("b"), true, 0)
		b, _ = c.ExportLucid(1)
		if got := ne.Uint64(b[8:]); got != 102 {
			t.Fatalf("send_seq %d after two tokens from 100", got)
		}
	}
	c := testContext(t, true, true, 18)
	if _, err := c.ExportLucid(2); !errors.Is(err, gss.ErrUnavailable) {
		t.Fatalf("version 2: %v", err)
	}
	c.Delete()
	if _, err := c.ExportLucid(1); !errors.Is(err, gss.ErrNoContext) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	a := testContext(t, true, true, 18)
	b := testContext(t, false, true, 18)
	// Make b a peer of a.
	b.sessionKey, b.subkey, b.acceptorSubkey = a.sessionKey, a.subkey, a.acceptorSubkey
	b.sendSeq, b.recvSeq = a.recvSeq, a.sendSeq
	if err := b.establish(); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := a.Wrap(nil, []byte("before"), true, 0)
	if _, _, err := b.Unwrap(nil, tok); err != nil {
		t.Fatal(err)
	}
	exp, err := a.Export()
	if err != nil {
		t.Fatal(err)
	}
	a2, err := importSecContext(nil, exp)
	if err != nil {
		t.Fatal(err)
	}
	if a2.flags != a.flags || a2.initiator != true || !a2.hasAcceptorSubkey ||
		a2.source.String() != "alice@GSSKIT.TEST" || a2.target.String() != "host/localhost@GSSKIT.TEST" ||
		!a2.ticketEnd.Equal(time.Unix(2000000000, 0)) {
		t.Fatalf("imported %+v", a2)
	}
	tok, _, _ = a2.Wrap(nil, []byte("after"), true, 0)
	if out, _, err := b.Unwrap(nil, tok); err != nil || string(out) != "after" {
		t.Fatalf("after import: %q %v", out, err)
	}
	// Every truncation is a defective token.
	for i := 0; i < len(exp); i++ {
		if _, err := importSecContext(nil, exp[:i]); !errors.Is(err, gss.ErrDefectiveToken) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

func FuzzImportSecContext(f *testing.F) {
	for _, acc := range []bool{true, false} {
		c := testContext(f, !acc, acc, 18)
		tok, err := c.Export()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := importSecContext(nil, b)
		if err != nil {
			wantMajor(t, err, gss.DefectiveToken)
			return
		}
		// What imports must work.
		c.GetMIC(nil, []byte("x"), 0)
	})
}

// The context adds no allocation to what the Protector does.
func TestPerMessageNoExtraAllocs(t *testing.T) {
	c := testContext(t, true, true, 18)
	msg := make([]byte, 1024)
	buf := make([]byte, 0, 4096)
	direct := testing.AllocsPerRun(100, func() { c.prot.Wrap(buf[:0], msg, true) })
	viaCtx := testing.AllocsPerRun(100, func() { c.Wrap(buf[:0], msg, true, 0) })
	if viaCtx > direct {
		t.Errorf("Wrap through the context: %v allocs, Protector alone %v", viaCtx, direct)
	}
	direct = testing.AllocsPerRun(100, func() { c.prot.GetMIC(buf[:0], msg) })
	viaCtx = testing.AllocsPerRun(100, func() { c.GetMIC(buf[:0], msg, 0) })
	if viaCtx > direct {
		t.Errorf("GetMIC through the context: %v allocs, Protector alone %v", viaCtx, direct)
	}
}

func BenchmarkContextWrap(b *testing.B) {
	c := testContext(b, true, true, 18)
	msg := make([]byte, 1024)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		buf, _, _ = c.Wrap(buf[:0], msg, true, 0)
	}
}

func TestPerMessageChecks(t *testing.T) {
	c := testContext(t, true, true, 17)
	if _, err := c.GetMIC(nil, []byte("x"), 1); !errors.Is(err, gss.ErrBadQOP) {
		t.Errorf("QOP 1: %v", err)
	}
	if _, err := c.Step(context.Background(), nil); !gss.IsFatal(err) {
		t.Errorf("Step on an established context: %v", err)
	}
	// The context expires with its ticket; it is then refused, not broken.
	c.expiry = time.Now().Add(-time.Second)
	if _, _, err := c.Wrap(nil, []byte("x"), true, 0); !errors.Is(err, gss.ErrContextExpired) {
		t.Errorf("expired Wrap: %v", err)
	}
	if _, err := c.VerifyMIC([]byte("x"), []byte("y")); !errors.Is(err, gss.ErrContextExpired) {
		t.Errorf("expired VerifyMIC: %v", err)
	}
	if _, err := c.WrapSizeLimit(true, 0, 1000); !errors.Is(err, gss.ErrContextExpired) {
		t.Errorf("expired WrapSizeLimit: %v", err)
	}
	fresh := &secContext{initiator: true}
	if _, _, err := fresh.Unwrap(nil, []byte("x")); !errors.Is(err, gss.ErrNoContext) {
		t.Errorf("Unwrap before establishment: %v", err)
	}
}

// An acceptor that chose its subkey builds its Protector at first use; its
// exports before and after describe the same state.
func TestLazyProtectorExports(t *testing.T) {
	for _, etype := range []int32{17, 18, 19, 20} {
		c := testContext(t, false, true, etype)
		if !c.protLazy || c.protBuilt.Load() {
			t.Fatalf("enctype %d: the acceptor built its Protector in establish", etype)
		}
		mc, err := c.mitState()
		if err != nil {
			t.Fatal(err)
		}
		before := mc.marshal()
		lucidBefore, err := c.ExportLucid(1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.protector(); err != nil || !c.protBuilt.Load() {
			t.Fatalf("enctype %d: building the Protector: %v", etype, err)
		}
		mc, err = c.mitState()
		if err != nil {
			t.Fatal(err)
		}
		if after := mc.marshal(); !bytes.Equal(before, after) {
			t.Errorf("enctype %d: MIT export changes once the Protector is built:\n %x\n %x", etype, before, after)
		}
		if lucidAfter, err := c.ExportLucid(1); err != nil || !bytes.Equal(lucidBefore, lucidAfter) {
			t.Errorf("enctype %d: lucid export changes once the Protector is built: %v", etype, err)
		}
	}
	// Initiators keep building theirs in establish.
	if c := testContext(t, true, true, 18); c.protLazy || c.prot == nil {
		t.Error("an initiator's Protector was left for later")
	}
}
