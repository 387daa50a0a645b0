package gss

import (
	"context"
	"time"
)

// Impersonation is MIT's gss_acquire_cred_impersonate_name (RFC 2743 has no
// such call): a service holding its own credential gets one that names
// another principal, for whom the mechanism obtains evidence (for
// Kerberos, an S4U2Self ticket) without that principal's keys. Initiating
// with the result reaches other services on the principal's behalf where
// the mechanism and its KDC allow it (Kerberos S4U2Proxy).

// CredImpersonator is the SPI of impersonation, implemented by the
// mechanisms that have it (MIT's gssspi_acquire_cred_impersonate_name).
// req.Name is the principal to impersonate; impersonator is the
// mechanism's own element of the caller's credential.
type CredImpersonator interface {
	AcquireCredImpersonateName(ctx context.Context, impersonator MechCred, req *MechCredRequest) (MechCred, error)
}

// CredByMechImpersonator is CredImpersonator for an interposer, told which
// claimed mechanism the call is for.
type CredByMechImpersonator interface {
	AcquireCredImpersonateNameByMech(ctx context.Context, mech OID, impersonator MechCred, req *MechCredRequest) (MechCred, error)
}

// ImpersonateConfig asks for a credential acting as Name.
type ImpersonateConfig struct {
	// Name is the principal to impersonate; it is required.
	Name *Name
	// Usage is what the new credential is for; MIT's Kerberos mechanism
	// allows only CredInitiate, and so does gsskit's.
	Usage CredUsage
	// Mechs lists the mechanisms wanted; nil means every element of the
	// impersonator's credential.
	Mechs OIDSet
	// Lifetime is the wanted lifetime; 0 means the mechanism's default.
	Lifetime time.Duration
}

// AcquireCredentialImpersonateName gets a credential for cfg.Name using the
// impersonator's credential (gss_acquire_cred_impersonate_name). As with
// AcquireCredential, it succeeds if at least one mechanism does.
func AcquireCredentialImpersonateName(ctx context.Context, impersonator *Credential, cfg *ImpersonateConfig) (*Credential, error) {
	if err := impersonator.check(); err != nil {
		return nil, err
	}
	return impersonator.reg.AcquireCredentialImpersonateName(ctx, impersonator, cfg)
}

// AcquireCredentialImpersonateName is the package-level function for
// mechanisms of r.
func (r *Registry) AcquireCredentialImpersonateName(ctx context.Context, impersonator *Credential, cfg *ImpersonateConfig) (*Credential, error) {
	if err := impersonator.check(); err != nil {
		return nil, NewError(CallInaccessibleRead|NoCred, 0, "", "impersonation needs the impersonator's credential: "+err.Error())
	}
	if cfg == nil || cfg.Name == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "impersonation needs the name of the principal to impersonate")
	}
	if err := checkUsage(cfg.Usage); err != nil {
		return nil, err
	}
	mechs := cfg.Mechs
	if mechs == nil {
		mechs = impersonator.Mechs()
		if cfg.Name.mn != nil {
			mechs = OIDSet{cfg.Name.key}
		}
	}
	out := &Credential{reg: r}
	failed, err := out.addEach(ctx, mechs, "impersonating "+cfg.Name.String(), func(oid OID) (credElem, error) {
		return r.impersonateElem(ctx, impersonator, oid, cfg)
	})
	if err != nil {
		return nil, err
	}
	if len(out.elems) == 0 {
		if len(failed) == 1 {
			return nil, failed[0]
		}
		if len(failed) == 0 {
			return nil, NewError(NoCred, 0, "", "the impersonator's credential has no elements")
		}
		return nil, noCredError("no mechanism could impersonate "+cfg.Name.String(), failed)
	}
	return out, nil
}

func (r *Registry) impersonateElem(ctx context.Context, impersonator *Credential, oid OID, cfg *ImpersonateConfig) (credElem, error) {
	d, err := r.resolve(oid)
	if err != nil {
		return credElem{}, err
	}
	imp, ok := impersonator.element(d.key)
	if !ok {
		return credElem{}, NewError(NoCred, 0, d.key, "the impersonator's credential has no element for mechanism "+d.key.String())
	}
	mn, err := cfg.Name.mechName(d.key)
	if err != nil {
		return credElem{}, err
	}
	req := &MechCredRequest{Name: mn, Usage: cfg.Usage, Lifetime: cfg.Lifetime}
	var mc MechCred
	if i, ok := d.mech.(CredByMechImpersonator); ok && d.via != "" {
		mc, err = i.AcquireCredImpersonateNameByMech(ctx, d.via, imp.mc, req)
	} else if i, ok := d.mech.(CredImpersonator); ok {
		mc, err = i.AcquireCredImpersonateName(ctx, imp.mc, req)
	} else {
		return credElem{}, NewError(Unavailable, 0, d.key, "mechanism "+d.mech.Name()+" cannot impersonate")
	}
	if err != nil {
		return credElem{}, mechError(err, Failure, d.key, "mechanism "+d.mech.Name()+" could not impersonate "+cfg.Name.String())
	}
	if mc == nil {
		return credElem{}, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no credential")
	}
	return credElem{d: d, mc: mc}, nil
}

// ImpersonatedCred is implemented by credential elements got by
// impersonation, to name the impersonator (MIT's
// GSS_KRB5_GET_CRED_IMPERSONATOR, which gss-proxy checks before letting an
// impersonated credential reach a service other than the impersonator).
// Impersonator returns nil for an element that was not.
type ImpersonatedCred interface {
	Impersonator() MechName
}

// Impersonator names the service that impersonated the principal of c's
// element for mech, or returns nil when that element was not got by
// impersonation (or its mechanism cannot tell).
func (c *Credential) Impersonator(mech OID) (*Name, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	e, ok := c.element(mech)
	if !ok {
		return nil, NewError(NoCred, 0, mech, "credential has no element for mechanism "+mech.String())
	}
	ic, ok := e.mc.(ImpersonatedCred)
	if !ok {
		return nil, nil
	}
	mn := ic.Impersonator()
	if mn == nil {
		return nil, nil
	}
	return c.reg.newMN(e.d.key, mn), nil
}
