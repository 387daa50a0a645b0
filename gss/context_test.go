package gss

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// establish runs a context exchange to completion.
func establish(t testing.TB, ini, acc *SecContext) {
	t.Helper()
	ctx := context.Background()
	var tok []byte
	for i := 0; i < 10; i++ {
		out, err := ini.Step(ctx, tok)
		if err != nil {
			t.Fatalf("initiator step %d: %v", i, err)
		}
		if len(out) == 0 && ini.Done() && acc.Done() {
			return
		}
		if len(out) != 0 {
			tok, err = acc.Step(ctx, out)
			if err != nil {
				t.Fatalf("acceptor step %d: %v", i, err)
			}
		}
		if ini.Done() && acc.Done() && len(tok) == 0 {
			return
		}
	}
	t.Fatal("context not established after 10 rounds")
}

func newPair(t testing.TB, r *Registry, flags Flags) (*SecContext, *SecContext) {
	t.Helper()
	target, err := r.ImportName("nfs@h", NTHostbasedService)
	if err != nil {
		t.Fatal(err)
	}
	ini, err := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := r.NewAcceptor(nil)
	if err != nil {
		t.Fatal(err)
	}
	establish(t, ini, acc)
	return ini, acc
}

func TestContextExchange(t *testing.T) {
	r, toy := newToyRegistry(t)
	ini, acc := newPair(t, r, FlagMutual|FlagConf|FlagDeleg)
	if !ini.Done() || !acc.Done() || toy.accepts.Load() != 1 {
		t.Fatal("not established")
	}
	ii, err := ini.Inquire()
	if err != nil || !ii.Open || !ii.LocallyInitiated || ii.Mech != toyOID || ii.Target.String() != "nfs/h" ||
		ii.Source.String() != "alice" {
		t.Errorf("initiator Inquire = %+v %v", ii, err)
	}
	ai, err := acc.Inquire()
	if err != nil || ai.LocallyInitiated || ai.Source.String() != "alice" || !ai.Source.IsMN() ||
		ai.Flags&FlagMutual == 0 {
		t.Errorf("acceptor Inquire = %+v %v", ai, err)
	}
	if acc.Mech() != toyOID || acc.Flags() != ai.Flags || acc.Expiry().IsZero() {
		t.Errorf("accessors: %v %v %v", acc.Mech(), acc.Flags(), acc.Expiry())
	}
	// The peer name can be exported like any MN.
	if _, err := ai.Source.Export(); err != nil {
		t.Errorf("export peer name: %v", err)
	}
	d := acc.DelegatedCredential()
	if d == nil || d != acc.DelegatedCredential() {
		t.Fatal("no (stable) delegated credential")
	}
	if info, err := d.Inquire(); err != nil || info.Name.String() != "alice" {
		t.Errorf("delegated: %+v %v", info, err)
	}

	// Per-message: MIC and wrap both ways, into reused buffers.
	msg := []byte("hello, acceptor")
	mic, err := ini.GetMIC(nil, msg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.VerifyMIC(msg, mic); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.VerifyMIC([]byte("tampered"), mic); !errors.Is(err, ErrBadMIC) || !IsFatal(err) {
		t.Errorf("tampered MIC: %v", err)
	}
	// Replay: supplementary only, not fatal.
	_, err = acc.VerifyMIC(msg, mic)
	if !errors.Is(err, ErrDuplicateToken) || IsFatal(err) {
		t.Errorf("replayed MIC: %v", err)
	}
	wrapped, confApplied, err := acc.Wrap(nil, msg, true, 0)
	if err != nil || !confApplied || bytes.Contains(wrapped, msg) {
		t.Fatalf("Wrap: %v %v", confApplied, err)
	}
	plain, info, err := ini.Unwrap([]byte("pre:"), wrapped)
	if err != nil || !info.Conf || string(plain) != "pre:"+string(msg) {
		t.Fatalf("Unwrap = %q %+v %v", plain, info, err)
	}
	if n, err := ini.WrapSizeLimit(true, 0, 100); err != nil || n != 83 {
		t.Errorf("WrapSizeLimit = %d %v", n, err)
	}
	// A gap is reported with valid output.
	acc.Wrap(nil, msg, false, 0)
	w3, _, _ := acc.Wrap(nil, msg, false, 0)
	plain, _, err = ini.Unwrap(nil, w3)
	if !errors.Is(err, ErrGapToken) || IsFatal(err) || !bytes.Equal(plain, msg) {
		t.Errorf("gap: %q %v", plain, err)
	}
}

func TestContextOneLegAndBindings(t *testing.T) {
	r, _ := newToyRegistry(t)
	cb := &ChannelBindings{ApplicationData: []byte("tls-unique")}
	target, _ := r.ImportName("nfs@h", NTHostbasedService)
	ini, err := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID, ChannelBindings: cb})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ini.Step(context.Background(), nil)
	if err != nil || !ini.Done() {
		t.Fatalf("one-leg initiator: %v", err)
	}
	acc, _ := r.NewAcceptor(&AcceptorConfig{ChannelBindings: &ChannelBindings{ApplicationData: []byte("other")}})
	if _, err := acc.Step(context.Background(), tok); !errors.Is(err, ErrBadBindings) {
		t.Errorf("mismatched bindings: %v", err)
	}
	acc2, _ := r.NewAcceptor(&AcceptorConfig{ChannelBindings: cb})
	out, err := acc2.Step(context.Background(), tok)
	if err != nil || len(out) != 0 || !acc2.Done() {
		t.Errorf("matching bindings: %q %v", out, err)
	}
}

func TestAcceptorMechSelection(t *testing.T) {
	r, toy := newToyRegistry(t)
	two := &toyMech{oid: toyOID2, name: "two"}
	r.Register(two)
	ctx := context.Background()
	target, _ := r.ImportName("nfs@h", NTHostbasedService)
	ini, _ := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID2})
	tok, _ := ini.Step(ctx, nil)

	acc, _ := r.NewAcceptor(nil)
	if _, err := acc.Step(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if acc.Mech() != toyOID2 || two.accepts.Load() != 1 || toy.accepts.Load() != 0 {
		t.Errorf("acceptor chose %v", acc.Mech())
	}

	// A credential without an element for the token's mechanism.
	cred, _ := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredAccept, Mechs: OIDSet{toyOID}})
	acc, _ = r.NewAcceptor(&AcceptorConfig{Credential: cred})
	_, err := acc.Step(ctx, tok)
	if !errors.Is(err, ErrNoCred) || !strings.Contains(err.Error(), toyOID2.String()) {
		t.Errorf("cred without element: %v", err)
	}
	// An acceptor credential for a different name: the toy refuses, with its minor code.
	svc, _ := r.ImportName("ftp@h", NTHostbasedService)
	cred2, _ := r.AcquireCredential(ctx, &CredentialConfig{Name: svc, Usage: CredAccept, Mechs: OIDSet{toyOID2}})
	acc, _ = r.NewAcceptor(&AcceptorConfig{Credential: cred2})
	_, err = acc.Step(ctx, tok)
	var ge *Error
	if !errors.As(err, &ge) || ge.Minor != toyMinorTargetMismatch ||
		!strings.Contains(strings.Join(r.DisplayStatus(err), "|"), "names another target") {
		t.Errorf("target mismatch: %v", err)
	}
	if acc.MechContext() != nil || acc.Mech() != "" {
		t.Error("a failed first step left a half-made context behind")
	}

	// Bad first tokens: defective, and the acceptor stays usable.
	acc, _ = r.NewAcceptor(nil)
	if _, err := acc.Step(ctx, []byte("garbage")); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := acc.Step(ctx, AppendInitialToken(nil, MechKrb5, nil)); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mech: %v", err)
	}
	if _, err := acc.Step(ctx, tok); err != nil || !acc.Done() {
		t.Errorf("good token after bad ones: %v", err)
	}
}

func TestInitiatorErrors(t *testing.T) {
	r, _ := newToyRegistry(t)
	ctx := context.Background()
	target, _ := r.ImportName("nfs@h", NTHostbasedService)
	if _, err := r.NewInitiator(&InitiatorConfig{Mech: toyOID}); !errors.Is(err, &Error{Major: CallInaccessibleRead | BadName}) {
		t.Errorf("no target: %v", err)
	}
	if _, err := r.NewInitiator(&InitiatorConfig{Target: target}); !errors.Is(err, ErrBadMech) {
		t.Errorf("default krb5 not registered: %v", err)
	}
	acc, _ := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredAccept})
	if _, err := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID, Credential: acc}); !errors.Is(err, ErrNoCred) {
		t.Errorf("accept-only cred: %v", err)
	}
	r.Register(&toyMech{oid: toyOID2, name: "two"})
	if _, err := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID2, Credential: acc}); !errors.Is(err, ErrNoCred) ||
		!strings.Contains(err.Error(), "no element") {
		t.Errorf("cred for another mech: %v", err)
	}
	bad, _ := r.ImportName("x!y", NTUserName)
	if _, err := r.NewInitiator(&InitiatorConfig{Target: bad, Mech: toyOID}); !errors.Is(err, ErrBadName) {
		t.Errorf("bad target: %v", err)
	}
}

func TestContextExportImport(t *testing.T) {
	r, _ := newToyRegistry(t)
	ini, acc := newPair(t, r, FlagMutual)
	tok, err := acc.Export()
	if err != nil {
		t.Fatal(err)
	}
	mech, inner, err := ParseExportedContext(tok)
	if err != nil || mech != toyOID || !bytes.HasPrefix(tok, []byte{0, 0, 0, byte(len(toyOID))}) || len(inner) == 0 {
		t.Fatalf("framing: %v %v", mech, err)
	}
	if _, err := acc.GetMIC(nil, []byte("x"), 0); !errors.Is(err, ErrNoContext) ||
		!strings.Contains(err.Error(), "exported") {
		t.Errorf("exported context still usable: %v", err)
	}
	acc2, err := r.ImportSecContext(tok)
	if err != nil {
		t.Fatal(err)
	}
	mic, _ := ini.GetMIC(nil, []byte("m"), 0)
	if _, err := acc2.VerifyMIC([]byte("m"), mic); err != nil {
		t.Errorf("imported context: %v", err)
	}
	if i, _ := acc2.Inquire(); i.LocallyInitiated || i.Source.String() != "alice" {
		t.Errorf("imported Inquire: %+v", i)
	}
	for name, bad := range map[string][]byte{
		"short":       {0, 0, 0},
		"empty OID":   {0, 0, 0, 0, 1},
		"OID too big": {0, 0, 1, 0, 1},
		"unknown":     AppendExportedContext(nil, MechKrb5, []byte("x")),
		"mech junk":   AppendExportedContext(nil, toyOID, []byte("x")),
	} {
		_, err := r.ImportSecContext(bad)
		var ge *Error
		if !errors.As(err, &ge) || !ge.Fatal() {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDeletedAndNilContext(t *testing.T) {
	r, _ := newToyRegistry(t)
	ini, acc := newPair(t, r, 0)
	if err := ini.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := ini.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	var nilsc *SecContext
	fresh, _ := r.NewAcceptor(nil)
	for name, sc := range map[string]*SecContext{"deleted": ini, "nil": nilsc, "unstarted acceptor": fresh} {
		errs := []error{
			func() error { _, err := sc.GetMIC(nil, nil, 0); return err }(),
			func() error { _, err := sc.VerifyMIC(nil, nil); return err }(),
			func() error { _, _, err := sc.Wrap(nil, nil, false, 0); return err }(),
			func() error { _, _, err := sc.Unwrap(nil, nil); return err }(),
			func() error { _, err := sc.WrapSizeLimit(false, 0, 10); return err }(),
			func() error { _, err := sc.Export(); return err }(),
			func() error { _, err := sc.Inquire(); return err }(),
		}
		if sc != fresh {
			errs = append(errs, func() error { _, err := sc.Step(context.Background(), nil); return err }())
		}
		for i, err := range errs {
			if !errors.Is(err, ErrNoContext) {
				t.Errorf("%s call %d: %v", name, i, err)
			}
		}
		if sc.Done() || sc.Mech() != "" || sc.Flags() != 0 || sc.DelegatedCredential() != nil || sc.MechContext() != nil {
			t.Errorf("%s accessors", name)
		}
	}
	if nilsc.Delete() != nil {
		t.Error("nil Delete")
	}
	_ = acc
}

func TestPerMessageAllocations(t *testing.T) {
	r, _ := newToyRegistry(t)
	ini, acc := newPair(t, r, 0)
	msg := bytes.Repeat([]byte("m"), 64)
	buf := make([]byte, 0, 256)
	out := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		mic, err := ini.GetMIC(buf[:0], msg, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := acc.VerifyMIC(msg, mic); err != nil {
			t.Fatal(err)
		}
		w, _, err := ini.Wrap(buf[:0], msg, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := acc.Unwrap(out[:0], w); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("per-message round trip allocates %v times", allocs)
	}
}

func BenchmarkWrapUnwrap(b *testing.B) {
	r, _ := newToyRegistry(b)
	ini, acc := newPair(b, r, 0)
	msg := bytes.Repeat([]byte("m"), 1024)
	buf := make([]byte, 0, 2048)
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		w, _, _ := ini.Wrap(buf[:0], msg, true, 0)
		acc.Unwrap(out[:0], w)
	}
}

func FuzzImportSecContext(f *testing.F) {
	r, _ := newToyRegistry(f)
	_, acc := newPair(f, r, 0)
	tok, _ := acc.Export()
	f.Add(tok)
	f.Add(AppendExportedContext(nil, toyOID, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, tok []byte) {
		mech, inner, perr := ParseExportedContext(tok)
		if perr == nil {
			if again := AppendExportedContext(nil, mech, inner); !bytes.Equal(again, tok) {
				t.Fatal("re-framing differs")
			}
		} else if !errors.Is(perr, ErrDefectiveToken) {
			t.Fatalf("parse error %v is not DefectiveToken", perr)
		}
		r, _ := newToyRegistry(t)
		sc, err := r.ImportSecContext(tok)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || !ge.Fatal() {
				t.Fatalf("error %v is not a fatal *Error", err)
			}
			return
		}
		sc.Inquire()
		sc.Delete()
	})
}

func FuzzAcceptorFirstToken(f *testing.F) {
	f.Add(AppendInitialToken(nil, toyOID, []byte("INIT|nfs/h|alice|2|")))
	f.Add(AppendInitialToken(nil, SpecialOID(toyProxyOID, toyOID), []byte("x")))
	f.Add([]byte{0x60, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		r, _, _ := newProxyRegistry(t)
		acc, err := r.NewAcceptor(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = acc.Step(context.Background(), tok)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || !ge.Fatal() {
				t.Fatalf("error %v is not a fatal *Error", err)
			}
			if acc.MechContext() != nil {
				t.Fatal("failed first step kept a context")
			}
		}
	})
}
