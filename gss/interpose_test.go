package gss

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// These tests run the toy interposer of toy_test.go, which claims the toy
// mechanism and reaches it through the concatenated OID, as MIT's
// documentation describes for interposer modules.

func TestInterposerNames(t *testing.T) {
	r, _, p := newProxyRegistry(t)
	n, err := r.ImportName("nfs@h", NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	mn, err := n.Canonicalize(toyOID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mn.MechName().(*proxyName); !ok {
		t.Fatalf("canonical name %T did not come through the interposer", mn.MechName())
	}
	if len(p.seen) == 0 || p.seen[0] != toyOID {
		t.Errorf("ImportNameByMech saw %v", p.seen)
	}
	if mn.String() != "nfs/h" || mn.Mech() != toyOID {
		t.Errorf("MN %q %v", mn.String(), mn.Mech())
	}

	// Export names the claimed OID; importing goes to the interposer, which
	// re-enters the toy with an exported name token for the special OID.
	tok, err := mn.Export()
	if err != nil {
		t.Fatal(err)
	}
	if m, _, _ := ParseExportedName(tok); m != toyOID {
		t.Errorf("exported under %v", m)
	}
	before := p.calls.Load()
	back, err := r.ImportName(string(tok), NTExportName)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.MechName().(*proxyName); !ok || p.calls.Load() == before || back.String() != "nfs/h" {
		t.Errorf("import of exported name: %T %q", back.MechName(), back.String())
	}
	if eq, err := back.Compare(n); err != nil || !eq {
		t.Errorf("Compare = %v %v", eq, err)
	}

	// The special OID reaches the toy directly, not the interposer.
	before = p.calls.Load()
	sn, err := n.Canonicalize(SpecialOID(toyProxyOID, toyOID))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sn.MechName().(*toyName); !ok || p.calls.Load() != before {
		t.Errorf("special OID went through the interposer: %T", sn.MechName())
	}
}

func TestInterposerCredentials(t *testing.T) {
	r, _, p := newProxyRegistry(t)
	ctx := context.Background()
	c, err := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredInitiate, Mechs: OIDSet{toyOID}})
	if err != nil {
		t.Fatal(err)
	}
	pc, ok := c.Element(toyOID).(*proxyCred)
	if !ok {
		t.Fatalf("element %T is not the interposer's", c.Element(toyOID))
	}
	special := SpecialOID(toyProxyOID, toyOID)
	if m := pc.inner.Mechs(); len(m) != 1 || m[0] != special {
		t.Errorf("inner credential filed under %v, want the special OID", m)
	}
	info, err := c.Inquire()
	if err != nil || info.Name.String() != "alice" {
		t.Errorf("Inquire = %+v %v", info, err)
	}

	// The exported token nests: the claimed OID outside, the mechglue token
	// with the concatenated OID inside (MIT's gss_import_cred format for interposers).
	tok, err := c.Export()
	if err != nil {
		t.Fatal(err)
	}
	outer, err := ParseExportedCred(tok)
	if err != nil || len(outer) != 1 || outer[0].Mech != toyOID {
		t.Fatalf("outer = %+v %v", outer, err)
	}
	inner, err := ParseExportedCred(outer[0].Token)
	if err != nil || len(inner) != 1 || inner[0].Mech != special {
		t.Fatalf("inner = %+v %v", inner, err)
	}
	want := binary.BigEndian.AppendUint32(nil, uint32(len(special)))
	if !bytes.HasPrefix(outer[0].Token, append(want, special...)) {
		t.Errorf("inner token %x", outer[0].Token)
	}
	before := p.calls.Load()
	back, err := r.ImportCredential(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Element(toyOID).(*proxyCred); !ok || p.calls.Load() == before {
		t.Errorf("imported element %T", back.Element(toyOID))
	}
	// A token that skips the interposer by naming the special OID reaches
	// the toy directly.
	direct, err := r.ImportCredential(outer[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := direct.Element(special).(*toyCred); !ok {
		t.Errorf("direct import %T", direct.Element(special))
	}
	orig := pc.inner.Element(special).(*toyCred)
	if err := c.Release(); err != nil || !orig.released.Load() {
		t.Errorf("release did not reach the original: %v", err)
	}
}

func TestInterposerContext(t *testing.T) {
	r, toy, p := newProxyRegistry(t)
	ctx := context.Background()
	target, _ := r.ImportName("nfs@h", NTHostbasedService)
	ini, err := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID, Flags: FlagMutual | FlagDeleg})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ini.MechContext().(*proxyCtx); !ok {
		t.Fatalf("initiator %T did not go through the interposer", ini.MechContext())
	}
	tok, err := ini.Step(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The wire token is the toy's own: the interposer is invisible to the peer.
	if m, _, err := ParseInitialToken(tok); err != nil || m != toyOID {
		t.Fatalf("first token for %v (%v)", m, err)
	}
	// The acceptor has no credential: the token's OID reaches the
	// interposer, which acquires a credential for the concatenated OID so
	// that its own call to the acceptor reaches the toy (not itself again).
	acc, _ := r.NewAcceptor(nil)
	reply, err := acc.Step(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	pctx, ok := acc.MechContext().(*proxyCtx)
	if !ok {
		t.Fatalf("acceptor %T did not go through the interposer", acc.MechContext())
	}
	if _, ok := pctx.sc.MechContext().(*toyCtx); !ok || toy.accepts.Load() != 1 {
		t.Fatalf("interposer's acceptor reached %T", pctx.sc.MechContext())
	}
	if _, err := ini.Step(ctx, reply); err != nil || !ini.Done() || !acc.Done() {
		t.Fatalf("finish: %v", err)
	}
	ai, err := acc.Inquire()
	if err != nil || ai.Mech != toyOID || ai.Source.String() != "alice" {
		t.Fatalf("acceptor Inquire = %+v %v", ai, err)
	}
	if _, ok := ai.Source.MechName().(*proxyName); !ok {
		t.Errorf("peer name %T is not the interposer's", ai.Source.MechName())
	}
	if d := acc.DelegatedCredential(); d == nil {
		t.Error("delegation lost through the interposer")
	} else if _, ok := d.Element(toyOID).(*proxyCred); !ok {
		t.Errorf("delegated element %T", d.Element(toyOID))
	}

	msg := []byte("through the interposer")
	w, _, err := ini.Wrap(nil, msg, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := acc.Unwrap(nil, w)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Unwrap = %q %v", got, err)
	}
	// Supplementary status passes through the interposer unchanged.
	if _, _, err := acc.Unwrap(nil, w); !errors.Is(err, ErrDuplicateToken) || IsFatal(err) {
		t.Errorf("replay through interposer: %v", err)
	}

	// Export: the claimed OID outside, the special OID and toy token inside.
	etok, err := acc.Export()
	if err != nil {
		t.Fatal(err)
	}
	m, innerTok, _ := ParseExportedContext(etok)
	im, _, _ := ParseExportedContext(innerTok)
	if m != toyOID || im != SpecialOID(toyProxyOID, toyOID) {
		t.Fatalf("export framing %v / %v", m, im)
	}
	acc2, err := r.ImportSecContext(etok)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := acc2.MechContext().(*proxyCtx); !ok {
		t.Errorf("imported %T", acc2.MechContext())
	}
	mic, _ := ini.GetMIC(nil, msg, 0)
	if _, err := acc2.VerifyMIC(msg, mic); err != nil {
		t.Errorf("imported context: %v", err)
	}
	if p.calls.Load() != 4 { // name import, init, accept, context import
		t.Errorf("interposer saw only %d calls", p.calls.Load())
	}
}

func TestAcceptorRefusesSpecialOIDFromPeer(t *testing.T) {
	r, toy, p := newProxyRegistry(t)
	ctx := context.Background()
	tok := AppendInitialToken(nil, SpecialOID(toyProxyOID, toyOID), []byte("INIT|nfs/h|alice|0|"))
	acc, _ := r.NewAcceptor(nil)
	if _, err := acc.Step(ctx, tok); !errors.Is(err, ErrBadMech) {
		t.Errorf("special OID from the wire: %v", err)
	}
	cred, _ := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredAccept, Mechs: OIDSet{SpecialOID(toyProxyOID, toyOID)}})
	acc, _ = r.NewAcceptor(&AcceptorConfig{Credential: cred})
	if _, err := acc.Step(ctx, tok); !errors.Is(err, ErrBadMech) {
		t.Errorf("special OID from the wire, with a special credential: %v", err)
	}
	if toy.accepts.Load() != 0 || p.calls.Load() != 0 {
		t.Error("a mechanism was reached")
	}
}

func TestInterposerAcceptorCredential(t *testing.T) {
	r, toy, _ := newProxyRegistry(t)
	toy.keytab = []string{"nfs/h"}
	ctx := context.Background()
	svc, _ := r.ImportName("nfs@h", NTHostbasedService)
	cred, err := r.AcquireCredential(ctx, &CredentialConfig{Name: svc, Usage: CredAccept, Mechs: OIDSet{toyOID}})
	if err != nil {
		t.Fatal(err)
	}
	ini, _ := r.NewInitiator(&InitiatorConfig{Target: svc, Mech: toyOID})
	tok, _ := ini.Step(ctx, nil)
	acc, _ := r.NewAcceptor(&AcceptorConfig{Credential: cred})
	if _, err := acc.Step(ctx, tok); err != nil || !acc.Done() {
		t.Fatalf("accept with interposed credential: %v", err)
	}
	inner := acc.MechContext().(*proxyCtx).sc.MechContext().(*toyCtx)
	if inner.cred == nil || inner.cred.name.s != "nfs/h" {
		t.Errorf("the toy did not get the acceptor credential: %+v", inner.cred)
	}
	// A credential whose name the toy has no key for fails inside, and the
	// error comes back out through the interposer with the toy's minor code.
	other, _ := r.ImportName("ftp@h", NTHostbasedService)
	_, err = r.AcquireCredential(ctx, &CredentialConfig{Name: other, Usage: CredAccept, Mechs: OIDSet{toyOID}})
	var ge *Error
	if !errors.As(err, &ge) || ge.Minor != toyMinorNoKey {
		t.Errorf("missing key through interposer: %v", err)
	}
}
