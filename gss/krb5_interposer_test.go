package gss_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/krb5"
)

// An interposer in Go around the real Kerberos mechanism, built only on the
// gss package's public SPI, as MIT's interposer-module documentation
// describes one: it claims the krb5 OID, and reaches the original mechanism
// through the OID made of its own OID bytes followed by krb5's. Every call
// it serves is counted, so the test can tell dispatch went through it.

// krbInterposerOID is a private-arc OID for the test interposer.
var krbInterposerOID = gss.MustParseOID("1.3.6.1.4.1.99999.50")

type krbInterposer struct {
	reg *gss.Registry

	mu    sync.Mutex
	calls map[string]int
	// reentry records the mechglue tokens the interposer built to re-enter
	// the original mechanism, by kind ("name", "context", "cred").
	reentry map[string][][]byte
}

func newKrbInterposer(reg *gss.Registry) *krbInterposer {
	return &krbInterposer{reg: reg, calls: map[string]int{}, reentry: map[string][][]byte{}}
}

func (p *krbInterposer) count(call string) {
	p.mu.Lock()
	p.calls[call]++
	p.mu.Unlock()
}

func (p *krbInterposer) called(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[call]
}

func (p *krbInterposer) record(kind string, tok []byte) {
	p.mu.Lock()
	p.reentry[kind] = append(p.reentry[kind], bytes.Clone(tok))
	p.mu.Unlock()
}

func (p *krbInterposer) lastReentry(kind string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.reentry[kind]; len(l) > 0 {
		return l[len(l)-1]
	}
	return nil
}

func (p *krbInterposer) special(mech gss.OID) gss.OID { return gss.SpecialOID(krbInterposerOID, mech) }

func (p *krbInterposer) OID() gss.OID { return krbInterposerOID }
func (p *krbInterposer) Name() string { return "krb5-interposer-test" }
func (p *krbInterposer) NameTypes() gss.OIDSet {
	m, err := p.reg.MechanismByOID(p.special(gss.MechKrb5))
	if err != nil {
		return nil
	}
	return m.NameTypes()
}
func (p *krbInterposer) DisplayMinor(minor uint32) string {
	m, err := p.reg.MechanismByOID(p.special(gss.MechKrb5))
	if err != nil {
		return ""
	}
	return m.DisplayMinor(minor)
}

// ipName marks a name that came through the interposer.
type ipName struct{ gss.MechName }

// Equal unwraps the other side too: the krb5 name compares only with krb5
// names, not with another wrapper around one.
func (n *ipName) Equal(o gss.MechName) bool { return n.MechName.Equal(innerName(o)) }

func innerName(n gss.MechName) gss.MechName {
	if w, ok := n.(*ipName); ok {
		return w.MechName
	}
	return n
}

func (p *krbInterposer) ImportName(value []byte, nt gss.OID) (gss.MechName, error) {
	return p.ImportNameByMech(gss.MechKrb5, value, nt)
}

func (p *krbInterposer) ImportNameByMech(mech gss.OID, value []byte, nt gss.OID) (gss.MechName, error) {
	p.count("ImportNameByMech")
	n, err := p.reg.ImportNameByMech(p.special(mech), string(value), nt)
	if err != nil {
		return nil, err
	}
	return &ipName{n.MechName()}, nil
}

func (p *krbInterposer) ImportExportedName(blob []byte) (gss.MechName, error) {
	return p.ImportExportedNameByMech(gss.MechKrb5, blob)
}

// ImportExportedNameByMech re-enters the original with the gss_import_name
// token format over the concatenated OID, as the interposer documentation
// prescribes.
func (p *krbInterposer) ImportExportedNameByMech(mech gss.OID, blob []byte) (gss.MechName, error) {
	p.count("ImportExportedNameByMech")
	tok := gss.AppendExportedName(nil, p.special(mech), blob)
	p.record("name", tok)
	n, err := p.reg.ImportName(string(tok), gss.NTExportName)
	if err != nil {
		return nil, err
	}
	return &ipName{n.MechName()}, nil
}

type ipCred struct {
	mech  gss.OID
	inner *gss.Credential
}

func (c *ipCred) Mech() gss.OID { return c.mech }
func (c *ipCred) Info() (gss.CredInfo, error) {
	info, err := c.inner.InquireByMech(c.inner.Mechs()[0])
	if err != nil {
		return gss.CredInfo{}, err
	}
	out := gss.CredInfo{InitiatorExpiry: info.InitiatorExpiry, AcceptorExpiry: info.AcceptorExpiry, Usage: info.Usage}
	if info.Name != nil {
		out.Name = &ipName{info.Name.MechName()}
	}
	return out, nil
}

// Export is the mechglue token of the inner credential: its element is
// filed under the concatenated OID, which is what ImportCredByMech needs.
func (c *ipCred) Export() ([]byte, error) { return c.inner.Export() }
func (c *ipCred) Store(store gss.CredStore, usage gss.CredUsage, overwrite, def bool) error {
	_, err := c.inner.Store(&gss.StoreConfig{Usage: usage, Overwrite: overwrite, Default: def, Store: store})
	return err
}
func (c *ipCred) Release() error { return c.inner.Release() }

func (p *krbInterposer) AcquireCred(ctx context.Context, req *gss.MechCredRequest) (gss.MechCred, error) {
	return p.AcquireCredByMech(ctx, gss.MechKrb5, req)
}

func (p *krbInterposer) AcquireCredByMech(ctx context.Context, mech gss.OID, req *gss.MechCredRequest) (gss.MechCred, error) {
	p.count("AcquireCredByMech")
	cfg := &gss.CredentialConfig{Usage: req.Usage, Mechs: gss.OIDSet{p.special(mech)}, Lifetime: req.Lifetime, Store: req.Store}
	if req.Name != nil {
		cfg.Name = p.reg.NewNameFromMech(innerName(req.Name))
	}
	c, err := p.reg.AcquireCredential(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &ipCred{mech: mech, inner: c}, nil
}

func (p *krbInterposer) ImportCred(tok []byte) (gss.MechCred, error) {
	return p.ImportCredByMech(gss.MechKrb5, tok)
}

func (p *krbInterposer) ImportCredByMech(mech gss.OID, tok []byte) (gss.MechCred, error) {
	p.count("ImportCredByMech")
	p.record("cred", tok)
	elems, err := gss.ParseExportedCred(tok)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		if e.Mech != p.special(mech) {
			return nil, gss.NewError(gss.DefectiveToken, 0, mech, "credential element for "+e.Mech.String()+
				" is not for "+p.special(mech).String())
		}
	}
	c, err := p.reg.ImportCredential(tok)
	if err != nil {
		return nil, err
	}
	return &ipCred{mech: mech, inner: c}, nil
}

type ipCtx struct {
	mech gss.OID
	sc   *gss.SecContext
}

func (c *ipCtx) Step(ctx context.Context, in []byte) ([]byte, error) { return c.sc.Step(ctx, in) }
func (c *ipCtx) Done() bool                                          { return c.sc.Done() }
func (c *ipCtx) Info() gss.ContextInfo {
	mc := c.sc.MechContext()
	if mc == nil {
		return gss.ContextInfo{}
	}
	info := mc.Info()
	if info.Source != nil {
		info.Source = &ipName{info.Source}
	}
	if info.Target != nil {
		info.Target = &ipName{info.Target}
	}
	return info
}
func (c *ipCtx) GetMIC(dst, msg []byte, qop gss.QOP) ([]byte, error) {
	return c.sc.GetMIC(dst, msg, qop)
}
func (c *ipCtx) VerifyMIC(msg, tok []byte) (gss.QOP, error) { return c.sc.VerifyMIC(msg, tok) }
func (c *ipCtx) Wrap(dst, msg []byte, conf bool, qop gss.QOP) ([]byte, bool, error) {
	return c.sc.Wrap(dst, msg, conf, qop)
}
func (c *ipCtx) Unwrap(dst, tok []byte) ([]byte, gss.MessageInfo, error) {
	return c.sc.Unwrap(dst, tok)
}
func (c *ipCtx) WrapSizeLimit(conf bool, qop gss.QOP, max int) (int, error) {
	return c.sc.WrapSizeLimit(conf, qop, max)
}
func (c *ipCtx) DelegatedCred() gss.MechCred {
	d := c.sc.DelegatedCredential()
	if d == nil {
		return nil
	}
	return &ipCred{mech: c.mech, inner: d}
}

// Export is the mechglue context token (concatenated OID, then the krb5
// token), which ImportSecContextByMech re-enters.
func (c *ipCtx) Export() ([]byte, error) { return c.sc.Export() }
func (c *ipCtx) Delete() error           { return c.sc.Delete() }

func (p *krbInterposer) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	return p.InitSecContextByMech(gss.MechKrb5, cfg)
}

func (p *krbInterposer) InitSecContextByMech(mech gss.OID, cfg *gss.MechInitConfig) (gss.MechContext, error) {
	p.count("InitSecContextByMech")
	icfg := &gss.InitiatorConfig{
		Target: p.reg.NewNameFromMech(innerName(cfg.Target)), Mech: p.special(mech),
		Flags: cfg.Flags, Lifetime: cfg.Lifetime, ChannelBindings: cfg.ChannelBindings,
	}
	if c, ok := cfg.Cred.(*ipCred); ok {
		icfg.Credential = c.inner
	}
	sc, err := p.reg.NewInitiator(icfg)
	if err != nil {
		return nil, err
	}
	return &ipCtx{mech: mech, sc: sc}, nil
}

func (p *krbInterposer) AcceptSecContext(cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	return p.AcceptSecContextByMech(gss.MechKrb5, cfg)
}

// AcceptSecContextByMech hands the mechglue acceptor a credential for the
// concatenated OID: gss_accept_sec_context has no mechanism argument, so
// that credential is the only route to the original mechanism.
func (p *krbInterposer) AcceptSecContextByMech(mech gss.OID, cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	p.count("AcceptSecContextByMech")
	var cred *gss.Credential
	if c, ok := cfg.Cred.(*ipCred); ok {
		cred = c.inner
	} else {
		var err error
		cred, err = p.reg.AcquireCredential(context.Background(), &gss.CredentialConfig{
			Usage: gss.CredAccept, Mechs: gss.OIDSet{p.special(mech)},
		})
		if err != nil {
			return nil, err
		}
	}
	sc, err := p.reg.NewAcceptor(&gss.AcceptorConfig{Credential: cred, ChannelBindings: cfg.ChannelBindings})
	if err != nil {
		return nil, err
	}
	return &ipCtx{mech: mech, sc: sc}, nil
}

func (p *krbInterposer) ImportSecContext(tok []byte) (gss.MechContext, error) {
	return p.ImportSecContextByMech(gss.MechKrb5, tok)
}

func (p *krbInterposer) ImportSecContextByMech(mech gss.OID, tok []byte) (gss.MechContext, error) {
	p.count("ImportSecContextByMech")
	p.record("context", tok)
	inner, _, err := gss.ParseExportedContext(tok)
	if err != nil {
		return nil, err
	}
	if inner != p.special(mech) {
		return nil, gss.NewError(gss.DefectiveToken, 0, mech, "context token is for "+inner.String()+
			", not "+p.special(mech).String())
	}
	sc, err := p.reg.ImportSecContext(tok)
	if err != nil {
		return nil, err
	}
	return &ipCtx{mech: mech, sc: sc}, nil
}

// krbInterposerFixture is a realm, and a private registry holding the real
// Kerberos mechanism with the interposer claiming it.
type krbInterposerFixture struct {
	ctx   context.Context
	realm *krbtest.Realm
	reg   *gss.Registry
	ip    *krbInterposer
}

func newKrbInterposerFixture(t *testing.T) *krbInterposerFixture {
	t.Helper()
	realm := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "interposer-alice-pw"},
		Services: []krbtest.Service{{Principal: "host/localhost"}},
	})
	realm.Setenv(t)
	realm.KinitT(t, "alice", "")
	reg := gss.NewRegistry()
	if err := reg.Register(krb5.NewMechanism(nil)); err != nil {
		t.Fatal(err)
	}
	ip := newKrbInterposer(reg)
	if err := reg.RegisterInterposer(ip, gss.OIDSet{gss.MechKrb5}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &krbInterposerFixture{ctx: ctx, realm: realm, reg: reg, ip: ip}
}

// establish runs a context exchange between ini and acc to completion.
func establish(ctx context.Context, ini, acc *gss.SecContext) error {
	var in []byte
	for round := 0; round < 6; round++ {
		out, err := ini.Step(ctx, in)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			break
		}
		if in, err = acc.Step(ctx, out); err != nil {
			return err
		}
		if ini.Done() && len(in) == 0 {
			break
		}
	}
	if !ini.Done() || !acc.Done() {
		return errors.New("context not established on both sides")
	}
	return nil
}

func oidPrefixed(oid gss.OID) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(oid)))
	return append(b, oid...)
}

// TestKrb5InterposerDispatch: the claimed OID reaches the interposer and the
// concatenated OID reaches the real Kerberos mechanism.
func TestKrb5InterposerDispatch(t *testing.T) {
	reg := gss.NewRegistry()
	krb := krb5.NewMechanism(nil)
	if err := reg.Register(krb); err != nil {
		t.Fatal(err)
	}
	ip := newKrbInterposer(reg)
	if err := reg.RegisterInterposer(ip, gss.OIDSet{gss.MechKrb5}); err != nil {
		t.Fatal(err)
	}
	special := gss.SpecialOID(krbInterposerOID, gss.MechKrb5)
	if want := krbInterposerOID + gss.MechKrb5; special != want || len(special) != len(krbInterposerOID)+len(gss.MechKrb5) {
		t.Fatalf("special OID %x, want the interposer's OID bytes then krb5's: %x", []byte(special), []byte(want))
	}
	if m, err := reg.MechanismByOID(gss.MechKrb5); err != nil || m != gss.Mechanism(ip) {
		t.Errorf("krb5 OID reaches %v (%v), want the interposer", m, err)
	}
	if m, err := reg.MechanismByOID(special); err != nil || m != krb {
		t.Errorf("concatenated OID reaches %v (%v), want the Kerberos mechanism", m, err)
	}
	if got := reg.IndicateMechs(); len(got) != 1 || got[0] != gss.MechKrb5 {
		t.Errorf("IndicateMechs = %v, want only krb5 (neither the interposer nor the concatenated OID)", got)
	}
	// A second interposer may not claim krb5 as well.
	other := newKrbInterposer(reg)
	err := reg.RegisterInterposer(&renamed{other, gss.MustParseOID("1.3.6.1.4.1.99999.51")}, gss.OIDSet{gss.MechKrb5})
	if !errors.Is(err, gss.ErrDuplicateElement) {
		t.Errorf("second interposer for krb5: %v, want DUPLICATE_ELEMENT", err)
	}
}

type renamed struct {
	*krbInterposer
	oid gss.OID
}

func (r *renamed) OID() gss.OID { return r.oid }
func (r *renamed) Name() string { return "second-interposer" }

// TestKrb5Interposer runs a real Kerberos exchange against an MIT KDC with
// both ends going through the Go interposer, then per-message tokens, and
// the export formats the interposer documentation specifies.
func TestKrb5Interposer(t *testing.T) {
	f := newKrbInterposerFixture(t)
	ctx, reg, ip := f.ctx, f.reg, f.ip
	special := gss.SpecialOID(krbInterposerOID, gss.MechKrb5)
	alice, service := f.realm.Principal("alice"), f.realm.Principal("host/localhost")

	// Names: canonicalizing for krb5 goes through the interposer.
	target, err := reg.ImportName("host@localhost", gss.NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	mn, err := target.Canonicalize(gss.MechKrb5)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mn.MechName().(*ipName); !ok || mn.String() != service {
		t.Fatalf("canonical name %T %q, want the interposer's, %q", mn.MechName(), mn.String(), service)
	}
	if ip.called("ImportNameByMech") == 0 {
		t.Error("the interposer did not see the name import")
	}

	// Credentials: filed under krb5, holding an element for the
	// concatenated OID inside.
	icred, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{
		Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"ccache": f.realm.DefaultCCache()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer icred.Release()
	ic, ok := icred.Element(gss.MechKrb5).(*ipCred)
	if !ok {
		t.Fatalf("initiator credential element %T is not the interposer's", icred.Element(gss.MechKrb5))
	}
	if m := ic.inner.Mechs(); len(m) != 1 || m[0] != special {
		t.Errorf("inner credential filed under %v, want the concatenated OID", m)
	}
	if info, err := icred.Inquire(); err != nil || info.Name.String() != alice {
		t.Errorf("initiator credential Inquire = %v %v, want %s", info.Name, err, alice)
	}
	acred, err := reg.AcquireCredential(ctx, &gss.CredentialConfig{
		Name: target, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5},
		Store: gss.CredStore{"keytab": f.realm.Keytab("host/localhost")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer acred.Release()

	// Context establishment, both ends interposed.
	flags := gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg | gss.FlagDeleg
	ini, err := reg.NewInitiator(&gss.InitiatorConfig{Credential: icred, Target: target, Mech: gss.MechKrb5, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	defer ini.Delete()
	if _, ok := ini.MechContext().(*ipCtx); !ok {
		t.Fatalf("initiator %T did not go through the interposer", ini.MechContext())
	}
	first, err := ini.Step(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// On the wire the interposer is invisible: the token names krb5.
	if m, _, err := gss.ParseInitialToken(first); err != nil || m != gss.MechKrb5 {
		t.Fatalf("first context token is for %v (%v), want krb5", m, err)
	}
	acc, err := reg.NewAcceptor(&gss.AcceptorConfig{Credential: acred})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Delete()
	reply, err := acc.Step(ctx, first)
	if err != nil {
		t.Fatalf("interposed acceptor: %v", err)
	}
	if _, err := ini.Step(ctx, reply); err != nil || !ini.Done() || !acc.Done() {
		t.Fatalf("finishing the exchange: %v (initiator done %v, acceptor done %v)", err, ini.Done(), acc.Done())
	}
	actx, ok := acc.MechContext().(*ipCtx)
	if !ok {
		t.Fatalf("acceptor %T did not go through the interposer", acc.MechContext())
	}
	if _, nested := actx.sc.MechContext().(*ipCtx); nested || ip.called("AcceptSecContextByMech") != 1 {
		t.Errorf("the interposer's own acceptor came back to it (%T, %d calls)", actx.sc.MechContext(), ip.called("AcceptSecContextByMech"))
	}
	ai, err := acc.Inquire()
	if err != nil {
		t.Fatal(err)
	}
	if ai.Mech != gss.MechKrb5 || ai.Source.String() != alice || ai.Target.String() != service || ai.Flags&gss.FlagMutual == 0 {
		t.Errorf("acceptor Inquire: mech %v source %q target %q flags %#x", ai.Mech, ai.Source, ai.Target, ai.Flags)
	}
	if _, ok := ai.Source.MechName().(*ipName); !ok {
		t.Errorf("peer name %T is not the interposer's", ai.Source.MechName())
	}
	if ii, _ := ini.Inquire(); ii.Flags&gss.FlagMutual == 0 || ii.Target.String() != service {
		t.Errorf("initiator Inquire: flags %#x target %q", ii.Flags, ii.Target)
	}
	deleg := acc.DelegatedCredential()
	if deleg == nil {
		t.Fatal("the delegated credential was lost in the interposer")
	}
	defer deleg.Release()
	if _, ok := deleg.Element(gss.MechKrb5).(*ipCred); !ok {
		t.Errorf("delegated element %T is not the interposer's", deleg.Element(gss.MechKrb5))
	}
	if info, err := deleg.Inquire(); err != nil || info.Name.String() != alice {
		t.Errorf("delegated credential: %v %v", info.Name, err)
	}

	// Per-message tokens through the interposed contexts, both ways.
	for _, conf := range []bool{true, false} {
		msg := []byte("initiator to acceptor through the interposer")
		w, applied, err := ini.Wrap(nil, msg, conf, 0)
		if err != nil || applied != conf {
			t.Fatalf("Wrap(conf=%v) = %v %v", conf, applied, err)
		}
		if conf && bytes.Contains(w, msg) {
			t.Error("a sealed token carries the message in the clear")
		}
		got, mi, err := acc.Unwrap(nil, w)
		if err != nil || !bytes.Equal(got, msg) || mi.Conf != conf {
			t.Fatalf("Unwrap = %q conf=%v %v", got, mi.Conf, err)
		}
		back := []byte("acceptor to initiator through the interposer")
		w, _, err = acc.Wrap(nil, back, conf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := ini.Unwrap(nil, w); err != nil || !bytes.Equal(got, back) {
			t.Fatalf("initiator Unwrap = %q %v", got, err)
		}
	}
	mic, err := acc.GetMIC(nil, []byte("signed"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ini.VerifyMIC([]byte("signed"), mic); err != nil {
		t.Fatalf("VerifyMIC: %v", err)
	}
	// Status passes through the interposer unchanged: a replay is a
	// supplementary duplicate, a changed message a BAD_MIC.
	if _, err := ini.VerifyMIC([]byte("signed"), mic); !errors.Is(err, gss.ErrDuplicateToken) || gss.IsFatal(err) {
		t.Errorf("replayed MIC through the interposer: %v, want a duplicate token only", err)
	}
	mic2, _ := acc.GetMIC(nil, []byte("signed"), 0)
	if _, err := ini.VerifyMIC([]byte("signeD"), mic2); !errors.Is(err, gss.ErrBadMIC) {
		t.Errorf("MIC over a changed message through the interposer: %v, want BAD_MIC", err)
	}
	// A bad token does not consume its sequence number: the genuine
	// message still verifies, and keeps both sides in step for what follows.
	if _, err := ini.VerifyMIC([]byte("signed"), mic2); err != nil {
		t.Errorf("the genuine MIC after a BAD_MIC one: %v", err)
	}

	// Exported names: krb5's own token outside (so any krb5 implementation
	// can import it); importing it goes to the interposer, which re-enters
	// the original with 04 01, the 2-byte DER OID length, 06, the
	// concatenated OID, the 4-byte name length and the name.
	ntok, err := mn.Export()
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := gss.ImportName("host@localhost", gss.NTHostbasedService)
	plainMN, err := plain.Canonicalize(gss.MechKrb5)
	if err != nil {
		t.Fatal(err)
	}
	if ptok, _ := plainMN.Export(); !bytes.Equal(ntok, ptok) {
		t.Errorf("exported name through the interposer differs from krb5's own:\n % x\n % x", ntok, ptok)
	}
	back, err := reg.ImportName(string(ntok), gss.NTExportName)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.MechName().(*ipName); !ok || back.String() != service {
		t.Errorf("imported exported name %T %q", back.MechName(), back.String())
	}
	wantName := []byte{0x04, 0x01}
	wantName = binary.BigEndian.AppendUint16(wantName, uint16(2+len(special)))
	wantName = append(wantName, 0x06, byte(len(special)))
	wantName = append(wantName, special...)
	wantName = binary.BigEndian.AppendUint32(wantName, uint32(len(service)))
	wantName = append(wantName, service...)
	if got := ip.lastReentry("name"); !bytes.Equal(got, wantName) {
		t.Errorf("name re-entry token:\n got % x\nwant % x", got, wantName)
	}
	if eq, err := back.Compare(target); err != nil || !eq {
		t.Errorf("re-imported name does not compare equal to the target: %v %v", eq, err)
	}

	// Exported credential: krb5 outside, the concatenated OID inside.
	ctok, err := icred.Export()
	if err != nil {
		t.Fatal(err)
	}
	outer, err := gss.ParseExportedCred(ctok)
	if err != nil || len(outer) != 1 || outer[0].Mech != gss.MechKrb5 {
		t.Fatalf("exported credential elements %+v %v", outer, err)
	}
	if !bytes.HasPrefix(outer[0].Token, oidPrefixed(special)) {
		t.Errorf("credential element does not start with the 4-byte length and the concatenated OID: % x", outer[0].Token[:min(24, len(outer[0].Token))])
	}
	cback, err := reg.ImportCredential(ctok)
	if err != nil {
		t.Fatal(err)
	}
	defer cback.Release()
	if _, ok := cback.Element(gss.MechKrb5).(*ipCred); !ok || !bytes.Equal(ip.lastReentry("cred"), outer[0].Token) {
		t.Errorf("credential import did not re-enter through the interposer: %T", cback.Element(gss.MechKrb5))
	}
	if info, err := cback.Inquire(); err != nil || info.Name.String() != alice {
		t.Errorf("re-imported credential: %v %v", info.Name, err)
	}

	// Exported context: 4-byte length, krb5 OID, then the mechglue token
	// the interposer re-enters: 4-byte length, concatenated OID, krb5's
	// own context token.
	etok, err := acc.Export()
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := append(oidPrefixed(gss.MechKrb5), oidPrefixed(special)...)
	if !bytes.HasPrefix(etok, wantPrefix) || len(etok) == len(wantPrefix) {
		t.Fatalf("exported context token framing:\n got % x\nwant % x then the krb5 token", etok[:min(len(etok), len(wantPrefix))], wantPrefix)
	}
	if _, _, err := acc.Wrap(nil, []byte("x"), true, 0); !errors.Is(err, gss.ErrNoContext) {
		t.Errorf("Wrap on an exported context: %v, want NO_CONTEXT", err)
	}
	before := ip.called("ImportSecContextByMech")
	acc2, err := reg.ImportSecContext(etok)
	if err != nil {
		t.Fatal(err)
	}
	defer acc2.Delete()
	if ip.called("ImportSecContextByMech") != before+1 || !bytes.Equal(ip.lastReentry("context"), etok[len(oidPrefixed(gss.MechKrb5)):]) {
		t.Error("context import did not reach the interposer with the inner mechglue token")
	}
	if _, ok := acc2.MechContext().(*ipCtx); !ok {
		t.Errorf("imported context %T is not the interposer's", acc2.MechContext())
	}
	// The imported context carries on the sequence: the next token is
	// neither a gap nor a replay.
	msg := []byte("after the export")
	w, _, err := ini.Wrap(nil, msg, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := acc2.Unwrap(nil, w); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("imported acceptor Unwrap = %q %v", got, err)
	}
	w, _, _ = acc2.Wrap(nil, msg, true, 0)
	if got, _, err := ini.Unwrap(nil, w); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("initiator Unwrap from the imported acceptor = %q %v", got, err)
	}

	for _, call := range []string{"AcquireCredByMech", "InitSecContextByMech", "AcceptSecContextByMech",
		"ImportExportedNameByMech", "ImportCredByMech", "ImportSecContextByMech"} {
		if ip.called(call) == 0 {
			t.Errorf("the interposer's %s was never called", call)
		}
	}
}

// TestKrb5InterposerPlainPeers: a plain krb5 peer cannot tell the interposer
// is there, in either role, and an interposed acceptor with no credential
// reaches krb5 through a credential it acquires for the concatenated OID.
func TestKrb5InterposerPlainPeers(t *testing.T) {
	f := newKrbInterposerFixture(t)
	ctx, reg, ip := f.ctx, f.reg, f.ip
	alice := f.realm.Principal("alice")
	flags := gss.FlagMutual | gss.FlagReplay | gss.FlagSequence | gss.FlagConf | gss.FlagInteg
	plainTarget, _ := gss.ImportName("host@localhost", gss.NTHostbasedService)
	ipTarget, _ := reg.ImportName("host@localhost", gss.NTHostbasedService)

	t.Run("interposed initiator, plain acceptor", func(t *testing.T) {
		ini, err := reg.NewInitiator(&gss.InitiatorConfig{Target: ipTarget, Mech: gss.MechKrb5, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		defer ini.Delete()
		acc, _ := gss.NewAcceptor(nil)
		defer acc.Delete()
		if err := establish(ctx, ini, acc); err != nil {
			t.Fatal(err)
		}
		if _, ok := ini.MechContext().(*ipCtx); !ok {
			t.Errorf("initiator %T did not go through the interposer", ini.MechContext())
		}
		if _, ok := acc.MechContext().(*ipCtx); ok {
			t.Error("the default registry's acceptor went through the test interposer")
		}
		if info, _ := acc.Inquire(); info.Source.String() != alice {
			t.Errorf("plain acceptor sees %q", info.Source)
		}
		roundTrip(t, ini, acc)
	})
	t.Run("plain initiator, interposed acceptor without credential", func(t *testing.T) {
		ini, err := gss.NewInitiator(&gss.InitiatorConfig{Target: plainTarget, Mech: gss.MechKrb5, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		defer ini.Delete()
		before := ip.called("AcceptSecContextByMech")
		acc, _ := reg.NewAcceptor(nil)
		defer acc.Delete()
		if err := establish(ctx, ini, acc); err != nil {
			t.Fatal(err)
		}
		actx, ok := acc.MechContext().(*ipCtx)
		if !ok || ip.called("AcceptSecContextByMech") != before+1 {
			t.Fatalf("acceptor %T did not go through the interposer", acc.MechContext())
		}
		if _, nested := actx.sc.MechContext().(*ipCtx); nested {
			t.Error("the interposer's own acceptor came back to it")
		}
		if info, _ := acc.Inquire(); info.Source.String() != alice || info.Mech != gss.MechKrb5 {
			t.Errorf("interposed acceptor sees %q under %v", info.Source, info.Mech)
		}
		roundTrip(t, ini, acc)
	})
	t.Run("channel bindings pass through", func(t *testing.T) {
		a := &gss.ChannelBindings{ApplicationData: []byte("tls-unique:A")}
		b := &gss.ChannelBindings{ApplicationData: []byte("tls-unique:B")}
		for _, tc := range []struct {
			acceptorCB *gss.ChannelBindings
			ok         bool
		}{{a, true}, {b, false}} {
			ini, err := reg.NewInitiator(&gss.InitiatorConfig{Target: ipTarget, Mech: gss.MechKrb5, Flags: flags, ChannelBindings: a})
			if err != nil {
				t.Fatal(err)
			}
			acc, _ := reg.NewAcceptor(&gss.AcceptorConfig{ChannelBindings: tc.acceptorCB})
			err = establish(ctx, ini, acc)
			switch {
			case tc.ok && err != nil:
				t.Errorf("matching bindings through the interposer: %v", err)
			case !tc.ok && !errors.Is(err, gss.ErrBadBindings):
				t.Errorf("different bindings through the interposer: %v, want BAD_BINDINGS", err)
			}
			ini.Delete()
			acc.Delete()
		}
	})
	t.Run("peer naming the concatenated OID is refused", func(t *testing.T) {
		ini, err := gss.NewInitiator(&gss.InitiatorConfig{Target: plainTarget, Mech: gss.MechKrb5, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		defer ini.Delete()
		tok, err := ini.Step(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, inner, err := gss.ParseInitialToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		forged := gss.AppendInitialToken(nil, gss.SpecialOID(krbInterposerOID, gss.MechKrb5), inner)
		before := ip.called("AcceptSecContextByMech")
		acc, _ := reg.NewAcceptor(nil)
		defer acc.Delete()
		if _, err := acc.Step(ctx, forged); !errors.Is(err, gss.ErrBadMech) {
			t.Errorf("a first token naming the concatenated OID: %v, want BAD_MECH", err)
		}
		if ip.called("AcceptSecContextByMech") != before {
			t.Error("the forged token reached the interposer")
		}
	})
}

func roundTrip(t *testing.T, ini, acc *gss.SecContext) {
	t.Helper()
	msg := []byte("round trip")
	w, _, err := ini.Wrap(nil, msg, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := acc.Unwrap(nil, w); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("acceptor Unwrap = %q %v", got, err)
	}
	w, _, err = acc.Wrap(nil, msg, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := ini.Unwrap(nil, w); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("initiator Unwrap = %q %v", got, err)
	}
}
