package proxyd

import (
	"errors"

	"github.com/gsskit/gsskit/gss"
)

// Impersonation, as the reference daemon does it (gp_creds.c):
//
//   - impersonate = yes: a caller whose uid is not the service's euid gets,
//     for initiating, a credential in its user's name got by S4U2Self with
//     the service's own credential (its keytab, krb5_principal), unless
//     that credential already names the user;
//   - acquire_cred with the impersonate_name option, for a service with
//     allow_protocol_transition or trusted: S4U2Self with the credential
//     the caller passes (the service's own, got through the daemon
//     earlier) for the desired name;
//   - initiating with an impersonated credential reaches services other
//     than the impersonator itself (S4U2Proxy) only for a service with
//     allow_constrained_delegation, trusted or impersonate (credAllowed,
//     checked by initSecContext before the KDC is asked).
//
// The KDC has the last word: S4U2Self needs the impersonator's TGT, and
// S4U2Proxy needs the realm to let the impersonator delegate to the target.

// impersonate gets an initiator credential for name by S4U2Self with
// impersonator's Kerberos element. The result belongs to the call.
//
// The reference then initiates a context from the new credential to the
// impersonator and accepts it with the impersonator's credential, keeping
// the delegated credential the acceptor makes from the S4U2Self ticket.
// gsskit's impersonated credential is already that: the user's name, the
// S4U2Self ticket as evidence and the impersonator's TGT for S4U2Proxy, so
// the round trip is left out.
func (c *call) impersonate(impersonator *gss.Credential, name *gss.Name) (*gss.Credential, error) {
	if name == nil {
		return nil, gss.NewError(gss.BadName, 0, gss.MechKrb5, "impersonation needs the name of the user to impersonate")
	}
	cred, err := c.reg.AcquireCredentialImpersonateName(c.ctx, impersonator, &gss.ImpersonateConfig{
		Name: name, Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5},
	})
	if err != nil {
		return nil, err
	}
	c.log.Debug("impersonated by S4U2Self", "user", name.String())
	return c.own(cred), nil
}

// credAllowed is the reference's gp_cred_allowed, checked before
// initiating: a credential got by impersonation may reach only its
// impersonator unless the service is trusted, impersonates, or allows
// constrained delegation. Any other credential is allowed.
func (c *call) credAllowed(cred *gss.Credential, target *gss.Name) error {
	if cred == nil || c.svc.Trusted || c.svc.Impersonate || c.svc.AllowConstrainedDelegation {
		return nil
	}
	imp, err := cred.Impersonator(gss.MechKrb5)
	if errors.Is(err, gss.ErrNoCred) {
		// No Kerberos element: nothing impersonated.
		return nil
	}
	if err != nil {
		return err
	}
	if imp == nil {
		return nil
	}
	if target != nil {
		if mn, err := target.Canonicalize(gss.MechKrb5); err == nil {
			if same, err := mn.Compare(imp); err == nil && same {
				return nil
			}
		}
	}
	who := "the target"
	if target != nil {
		who = target.String()
	}
	return gss.NewError(gss.Unauthorized, 0, gss.MechKrb5,
		"service "+c.svc.Name+" does not allow constrained delegation: a credential impersonated by "+imp.String()+
			" may reach only "+imp.String()+", not "+who)
}

// notImpersonated explains the failure of an impersonate_name acquisition
// on a service that may not impersonate, keeping err's status and text.
func (c *call) notImpersonated(err error) error {
	why := "service " + c.svc.Name + " has neither allow_protocol_transition nor trusted, so impersonate_name did not impersonate"
	var ge *gss.Error
	if !errors.As(err, &ge) {
		return gss.WrapError(gss.Failure, 0, gss.MechKrb5, why, err)
	}
	out := *ge
	if out.Message != "" {
		why += ": " + out.Message
	}
	out.Message = why
	return &out
}
