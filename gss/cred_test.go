package gss

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAcquireCredential(t *testing.T) {
	r, toy := newToyRegistry(t)
	toy.keytab = []string{"nfs/h"}
	ctx := context.Background()

	c, err := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Mechs(); len(m) != 1 || m[0] != toyOID {
		t.Errorf("Mechs = %v", m)
	}
	info, err := c.Inquire()
	if err != nil || info.Name == nil || info.Name.String() != "alice" || info.Usage != CredInitiate {
		t.Fatalf("Inquire = %+v %v", info, err)
	}
	if !info.InitiatorExpiry.Equal(time.Unix(2000000000, 0)) || !info.AcceptorExpiry.IsZero() {
		t.Errorf("expiries %v %v", info.InitiatorExpiry, info.AcceptorExpiry)
	}
	if l := info.Lifetime(time.Unix(2000000000-60, 0)); l != time.Minute {
		t.Errorf("Lifetime = %v", l)
	}

	svc, _ := r.ImportName("nfs@h", NTHostbasedService)
	ac, err := r.AcquireCredential(ctx, &CredentialConfig{Name: svc, Usage: CredAccept, Mechs: OIDSet{toyOID}})
	if err != nil {
		t.Fatal(err)
	}
	bi, err := ac.InquireByMech(toyOID)
	if err != nil || bi.Name.String() != "nfs/h" || bi.Usage != CredAccept || bi.Name.Mech() != toyOID {
		t.Errorf("InquireByMech = %+v %v", bi, err)
	}
	if _, err := ac.InquireByMech(MechKrb5); !errors.Is(err, ErrNoCred) {
		t.Errorf("InquireByMech(krb5): %v", err)
	}

	// No key: the error names the principal and carries the toy's minor code.
	other, _ := r.ImportName("ftp@h", NTHostbasedService)
	_, err = r.AcquireCredential(ctx, &CredentialConfig{Name: other, Usage: CredAccept})
	var ge *Error
	if !errors.As(err, &ge) || ge.Major != NoCred || ge.Minor != toyMinorNoKey || !strings.Contains(err.Error(), "ftp/h") {
		t.Errorf("missing key: %v", err)
	}
	if lines := r.DisplayStatus(err); !strings.Contains(strings.Join(lines, "\n"), "no key for the principal") {
		t.Errorf("DisplayStatus = %q", lines)
	}
	if _, err := r.AcquireCredential(ctx, &CredentialConfig{Mechs: OIDSet{MechKrb5}}); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mech: %v", err)
	}
	if _, err := r.AcquireCredential(ctx, &CredentialConfig{Usage: 7}); err == nil {
		t.Error("bad usage accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.AcquireCredential(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestAcquireSkipsFailingMechs(t *testing.T) {
	r, _ := newToyRegistry(t)
	bad := &toyMech{oid: toyOID2, name: "broken", failAcquire: true}
	r.Register(bad)
	c, err := r.AcquireCredential(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Mechs(); len(m) != 1 || m[0] != toyOID {
		t.Errorf("Mechs = %v, want only the working toy", m)
	}
	_, err = r.AcquireCredential(context.Background(), &CredentialConfig{Mechs: OIDSet{toyOID2, MechKrb5}})
	if !errors.Is(err, ErrNoCred) || !strings.Contains(err.Error(), "no keys at all") ||
		!strings.Contains(err.Error(), "1.2.840.113554.1.2.2") {
		t.Errorf("all failing: %v", err)
	}
}

func TestAddCredential(t *testing.T) {
	r, _ := newToyRegistry(t)
	r.Register(&toyMech{oid: toyOID2, name: "two"})
	ctx := context.Background()
	c, err := r.AddCredential(ctx, nil, &AddCredentialConfig{Mech: toyOID, Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	same, err := r.AddCredential(ctx, c, &AddCredentialConfig{Mech: toyOID2, Usage: CredAccept,
		Store: CredStore{"toy_name": "from-store"}})
	if err != nil || same != c {
		t.Fatalf("AddCredential = %p %v", same, err)
	}
	if m := c.Mechs(); len(m) != 2 || m[1] != toyOID2 {
		t.Fatalf("Mechs = %v", m)
	}
	if i, _ := c.InquireByMech(toyOID2); i.Name.String() != "from-store" {
		t.Errorf("store not passed: %+v", i)
	}
	if info, _ := c.Inquire(); info.Usage != CredBoth || info.Name.String() != "alice" {
		t.Errorf("combined Inquire = %+v", info)
	}
	if _, err := r.AddCredential(ctx, c, &AddCredentialConfig{Mech: toyOID}); !errors.Is(err, ErrDuplicateElement) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := r.AddCredential(ctx, c, &AddCredentialConfig{}); !errors.Is(err, ErrBadMech) {
		t.Errorf("no mech: %v", err)
	}
}

func TestCredentialExportImport(t *testing.T) {
	r, _ := newToyRegistry(t)
	r.Register(&toyMech{oid: toyOID2, name: "two"})
	c, err := r.AcquireCredential(context.Background(), &CredentialConfig{Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Export()
	if err != nil {
		t.Fatal(err)
	}
	// Two elements, each [4-byte OID len][OID][4-byte len][token].
	elems, err := ParseExportedCred(tok)
	if err != nil || len(elems) != 2 || elems[0].Mech != toyOID || elems[1].Mech != toyOID2 {
		t.Fatalf("ParseExportedCred = %+v %v", elems, err)
	}
	if !bytes.HasPrefix(tok, append([]byte{0, 0, 0, byte(len(toyOID))}, toyOID...)) {
		t.Errorf("token starts %x", tok[:16])
	}
	back, err := r.ImportCredential(tok)
	if err != nil {
		t.Fatal(err)
	}
	info, err := back.InquireByMech(toyOID2)
	if err != nil || info.Name.String() != "alice" || info.Usage != CredInitiate {
		t.Errorf("imported: %+v %v", info, err)
	}

	// Repeated element, unknown mechanism, mechanism-rejected token.
	dup := AppendExportedCred(AppendExportedCred(nil, toyOID, elems[0].Token), toyOID, elems[0].Token)
	if _, err := r.ImportCredential(dup); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("duplicate element: %v", err)
	}
	if _, err := r.ImportCredential(AppendExportedCred(nil, MechKrb5, []byte("x"))); !errors.Is(err, ErrBadMech) {
		t.Errorf("unknown mech: %v", err)
	}
	if _, err := r.ImportCredential(AppendExportedCred(nil, toyOID, []byte("junk"))); !errors.Is(err, ErrDefectiveToken) {
		t.Errorf("junk element: %v", err)
	}
}

func TestCredentialStoreAndRelease(t *testing.T) {
	r, _ := newToyRegistry(t)
	c, err := r.AcquireCredential(context.Background(), &CredentialConfig{Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	store := CredStore{}
	got, err := c.Store(&StoreConfig{Usage: CredInitiate, Default: true, Store: store})
	if err != nil || len(got) != 1 || store["toy"] != "alice" || store["toy_default"] != "yes" {
		t.Fatalf("Store = %v %v %v", got, err, store)
	}
	if _, err := c.Store(&StoreConfig{Store: store}); !errors.Is(err, ErrDuplicateElement) {
		t.Errorf("store without overwrite: %v", err)
	}
	if _, err := c.Store(&StoreConfig{Store: store, Overwrite: true}); err != nil {
		t.Errorf("overwrite: %v", err)
	}
	if _, err := c.Store(&StoreConfig{Mech: toyOID2, Store: store}); !errors.Is(err, ErrNoCred) {
		t.Errorf("store of absent mech: %v", err)
	}
	tc := c.Element(toyOID).(*toyCred)
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if !tc.released.Load() {
		t.Error("element not released")
	}
	if err := c.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	for _, f := range []func() error{
		func() error { _, err := c.Inquire(); return err },
		func() error { _, err := c.Export(); return err },
		func() error { _, err := c.Store(nil); return err },
		func() error { _, err := r.NewAcceptor(&AcceptorConfig{Credential: c}); return err },
	} {
		if err := f(); !errors.Is(err, ErrNoCred) {
			t.Errorf("released credential: %v", err)
		}
	}
	var nilc *Credential
	if _, err := nilc.Inquire(); !errors.Is(err, ErrNoCred) || nilc.Mechs() != nil || nilc.Release() != nil {
		t.Errorf("nil credential: %v", err)
	}
}

func FuzzImportCredential(f *testing.F) {
	r, _ := newToyRegistry(f)
	c, _ := r.AcquireCredential(context.Background(), nil)
	tok, _ := c.Export()
	f.Add(tok)
	f.Add(AppendExportedCred(AppendExportedCred(nil, toyOID, []byte("1|2|x")), MechKrb5, nil))
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, tok []byte) {
		elems, perr := ParseExportedCred(tok)
		if perr == nil {
			var again []byte
			for _, e := range elems {
				again = AppendExportedCred(again, e.Mech, e.Token)
			}
			if !bytes.Equal(again, tok) {
				t.Fatalf("re-framing differs")
			}
		} else if !errors.Is(perr, ErrDefectiveToken) {
			t.Fatalf("parse error %v is not DefectiveToken", perr)
		}
		r, _ := newToyRegistry(t)
		c, err := r.ImportCredential(tok)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || !ge.Fatal() {
				t.Fatalf("error %v is not a fatal *Error", err)
			}
			return
		}
		if perr != nil {
			t.Fatal("import accepted what the parser rejected")
		}
		if _, err := c.Export(); err != nil {
			t.Fatalf("re-export: %v", err)
		}
	})
}
