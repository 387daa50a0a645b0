package gss

import (
	"context"
	"errors"
	"testing"
)

// toyImpMech is the toy mechanism with impersonation: the new credential
// names the user and remembers who asked.
type toyImpMech struct{ *toyMech }

type toyImpCred struct {
	*toyCred
	by MechName
}

func (c *toyImpCred) Impersonator() MechName { return c.by }

func (m toyImpMech) AcquireCredImpersonateName(ctx context.Context, imp MechCred, req *MechCredRequest) (MechCred, error) {
	ic, ok := imp.(*toyCred)
	if !ok {
		return nil, NewError(NoCred, 0, m.oid, "toy: not a toy credential")
	}
	c, err := m.AcquireCred(ctx, &MechCredRequest{Name: req.Name, Usage: req.Usage})
	if err != nil {
		return nil, err
	}
	return &toyImpCred{toyCred: c.(*toyCred), by: ic.name}, nil
}

func TestImpersonate(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry()
	if err := r.Register(toyImpMech{newToy()}); err != nil {
		t.Fatal(err)
	}
	svc, _ := r.ImportName("svc", NTUserName)
	imp, err := r.AcquireCredential(ctx, &CredentialConfig{Name: svc, Usage: CredBoth})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := r.ImportName("bob", NTUserName)
	c, err := AcquireCredentialImpersonateName(ctx, imp, &ImpersonateConfig{Name: bob, Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Inquire()
	if err != nil || info.Name.String() != "bob" || !info.Mechs.Contains(toyOID) {
		t.Fatalf("impersonated credential: %+v %v", info, err)
	}
	if by, err := c.Impersonator(toyOID); err != nil || by == nil || by.String() != "svc" {
		t.Errorf("Impersonator = %v, %v", by, err)
	}
	if by, err := imp.Impersonator(toyOID); err != nil || by != nil {
		t.Errorf("the impersonator's own credential: %v, %v", by, err)
	}
	if _, err := AcquireCredentialImpersonateName(ctx, imp, &ImpersonateConfig{Usage: CredInitiate}); !errors.Is(err, ErrBadName) {
		t.Errorf("no name: %v", err)
	}
	imp.Release()
	if _, err := AcquireCredentialImpersonateName(ctx, imp, &ImpersonateConfig{Name: bob, Usage: CredInitiate}); !errors.Is(err, ErrNoCred) {
		t.Errorf("released impersonator: %v", err)
	}
}

func TestImpersonateUnsupported(t *testing.T) {
	ctx := context.Background()
	r, _ := newToyRegistry(t)
	imp, err := r.AcquireCredential(ctx, &CredentialConfig{Usage: CredInitiate})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := r.ImportName("bob", NTUserName)
	_, err = r.AcquireCredentialImpersonateName(ctx, imp, &ImpersonateConfig{Name: bob, Usage: CredInitiate})
	var ge *Error
	if !errors.As(err, &ge) || ge.Major.RoutineError() != Unavailable {
		t.Fatalf("a mechanism without impersonation: %v", err)
	}
}
