package proxyd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
)

// Credentials travel to clients as gssx_cred whose cred_handle_reference is
// the gss_export_cred token sealed by the service's HandleSealer; the
// daemon keeps nothing.

const eacces = 13

// acquireType is how acquire_cred was asked to get a credential.
type acquireType int

const (
	acqNormal acquireType = iota
	acqImpersonateName
)

// credToProxy describes cred and seals it into a handle.
func (c *call) credToProxy(cred *gss.Credential) (*gssproxy.Cred, error) {
	info, err := cred.Inquire()
	if err != nil {
		return nil, err
	}
	name := info.Name
	if name == nil {
		name = c.defaultAcceptorName()
	}
	out := &gssproxy.Cred{DesiredName: nameToProxy(name)}
	for _, mech := range cred.Mechs() {
		ei, err := cred.InquireByMech(mech)
		if err != nil {
			c.log.Debug("skipping credential element", "mech", mech, "err", err)
			continue
		}
		mn := ei.Name
		if mn == nil {
			mn = name
		}
		el := gssproxy.CredElement{MN: nameToProxy(mn), Mech: mech, Usage: gssproxy.CredUsageFromGSS(ei.Usage)}
		if ei.Usage != gss.CredAccept {
			el.InitiatorTimeRec = secondsLeft(ei.InitiatorExpiry)
		}
		if ei.Usage != gss.CredInitiate {
			el.AcceptorTimeRec = secondsLeft(ei.AcceptorExpiry)
		}
		out.Elements = append(out.Elements, el)
	}
	tok, err := cred.Export()
	if err != nil {
		return nil, err
	}
	if out.HandleRef, err = c.sealer.Seal(nil, tok); err != nil {
		return nil, gss.WrapError(gss.Failure, 0, "", "sealing the credential handle", err)
	}
	return out, nil
}

// acquiredToProxy is credToProxy for a cached acquisition: the handle is
// sealed once and handed to every client that acquires the same
// credential, so that all of them use the one live credential.
func (c *call) acquiredToProxy(a *acquiredCred) (*gssproxy.Cred, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handle == nil {
		gc, err := c.credToProxy(a.cred)
		if err != nil {
			return nil, err
		}
		a.handle = gc
		c.creds.rememberHandle(gc.HandleRef, a.cred)
		return gc, nil
	}
	out := *a.handle
	out.Elements = slices.Clone(out.Elements)
	for i := range out.Elements {
		el := &out.Elements[i]
		ei, err := a.cred.InquireByMech(el.Mech)
		if err != nil {
			continue
		}
		if ei.Usage != gss.CredAccept {
			el.InitiatorTimeRec = secondsLeft(ei.InitiatorExpiry)
		}
		if ei.Usage != gss.CredInitiate {
			el.AcceptorTimeRec = secondsLeft(ei.AcceptorExpiry)
		}
	}
	return &out, nil
}

// openCred turns a client's gssx_cred back into a credential, which the
// daemon's cache lends to the call (the call must not release it). A
// handle that does not open (another service's, a previous secret's,
// altered) is treated as no credential at all, as the reference does so
// that clients holding handles from before a key change fall back to fresh
// ones.
func (c *call) openCred(gc *gssproxy.Cred) (*gss.Credential, CredElementOptions, error) {
	var eo CredElementOptions
	for _, el := range gc.Elements {
		o := ParseCredElementOptions(el.Options)
		if o.AllowedEnctypes != nil {
			eo.AllowedEnctypes = o.AllowedEnctypes
		}
		eo.NoCIFlags = eo.NoCIFlags || o.NoCIFlags
	}
	if len(gc.HandleRef) == 0 {
		return nil, eo, nil
	}
	cred, err := c.creds.openHandle(gc.HandleRef, func() (*gss.Credential, error) {
		tok, err := c.sealer.Open(nil, gc.HandleRef)
		if err != nil {
			c.log.Debug("credential handle rejected; treating it as no credential", "err", err)
			return nil, nil
		}
		return c.reg.ImportCredential(tok)
	})
	if err != nil || cred == nil {
		return nil, eo, err
	}
	if eo.NoCIFlags {
		c.log.Debug("krb5_set_no_ci_flags is not supported by gsskit's krb5; ignored")
	}
	return cred, eo, nil
}

// defaultAcceptorName names a credential acquired without a name, which
// accepts for any key of the keytab, as MIT's gss_inquire_cred does: by the
// keytab's first principal. Clients show it; nothing depends on it.
func (c *call) defaultAcceptorName() *gss.Name {
	elems, err := c.svc.ExpandCredStore(c.caller.UID, c.username)
	if err != nil {
		return nil
	}
	for _, e := range elems {
		if e.Key != "keytab" {
			continue
		}
		path := e.Value
		if typ, rest, ok := strings.Cut(path, ":"); ok && (typ == "FILE" || typ == "WRFILE") {
			path = rest
		}
		kt, err := keytab.Load(path)
		if err != nil || len(kt.Entries) == 0 {
			return nil
		}
		n, err := c.reg.ImportName(kt.Entries[0].Principal.String(), gss.NTKrb5Principal)
		if err != nil {
			return nil
		}
		if mn, err := n.Canonicalize(gss.MechKrb5); err == nil {
			return mn
		}
		return n
	}
	return nil
}

func (c *call) username(uid uint32) (string, error) {
	if c.d.cfg.LookupUser != nil {
		return c.d.cfg.LookupUser(uid)
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// tryImpersonate is the reference's rule for when a credential is got by
// S4U2Self rather than directly (see impersonate.go).
func (c *call) tryImpersonate(usage gss.CredUsage, at acquireType) bool {
	if at == acqImpersonateName && (c.svc.AllowProtocolTransition || c.svc.Trusted) {
		return true
	}
	return c.svc.Impersonate && (usage == gss.CredInitiate || usage == gss.CredBoth)
}

// credEnv works out, as the reference's gp_get_cred_environment does, for
// whom the call acts, which name to acquire and from which credential
// store.
type credEnv struct {
	name  *gss.Name
	usage gss.CredUsage
	store gss.CredStore
	// impersonateUser is set when the call impersonates the calling
	// user (impersonate = yes).
	impersonateUser string
}

func (c *call) credEnvironment(desired *gssproxy.Name, usage gss.CredUsage) (*credEnv, error) {
	env := &credEnv{usage: usage}
	svc := c.svc
	targetUID := c.caller.UID
	if svc.CredUsage != gss.CredBoth {
		if usage == gss.CredBoth {
			env.usage = svc.CredUsage
		} else if svc.CredUsage != usage {
			return nil, gss.NewError(gss.Failure, eacces, "",
				"service "+svc.Name+" allows only "+usageName(svc.CredUsage)+" credentials, not "+usageName(usage))
		}
	}
	userRequested, useServiceKeytab := false, false
	if desired != nil {
		nt := desired.NameType
		if svc.Trusted && svc.Euid == targetUID && (nt == gss.NTStringUIDName || nt == gss.NTMachineUIDName) {
			uid, err := uidFromName(desired)
			if err != nil {
				return nil, err
			}
			targetUID = uid
			userRequested = true
		} else {
			if svc.Euid != targetUID {
				userRequested = true
			} else {
				useServiceKeytab = true
			}
			n, err := c.importName(desired)
			if err != nil {
				return nil, err
			}
			env.name = n
		}
	} else if svc.Trusted && svc.Euid == targetUID {
		useServiceKeytab = true
	} else if svc.Euid != targetUID {
		userRequested = true
	}
	if userRequested && c.tryImpersonate(env.usage, acqNormal) {
		useServiceKeytab = true
		u, err := c.username(targetUID)
		if err != nil {
			return nil, gss.NewError(gss.Failure, enoent, "", "no user name for uid "+strconv.FormatUint(uint64(targetUID), 10)+" to impersonate")
		}
		n, err := c.reg.ImportName(u, gss.NTUserName)
		if err != nil {
			return nil, err
		}
		env.name = n
		env.impersonateUser = u
	}
	if useServiceKeytab && env.name == nil && svc.Krb5Principal != "" {
		n, err := c.reg.ImportName(svc.Krb5Principal, gss.NTKrb5Principal)
		if err != nil {
			return nil, err
		}
		env.name = n
	}
	if len(svc.CredStore) == 0 {
		env.store = gss.CredStore{"rcache": c.d.rcache}
		return env, nil
	}
	elems, err := svc.ExpandCredStore(targetUID, c.username)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, einval, "", "expanding the cred_store of service "+svc.Name, err)
	}
	env.store = gss.CredStore{}
	for _, e := range elems {
		env.store[e.Key] = e.Value
	}
	if _, ok := env.store["rcache"]; !ok {
		env.store["rcache"] = c.d.rcache
	}
	if useServiceKeytab {
		kt, hasKT := env.store["keytab"]
		if !hasKT {
			if _, ok := env.store["client_keytab"]; !ok {
				return nil, gss.NewError(gss.Failure, einval, "", "service "+svc.Name+" acts with its own keys but its cred_store names no keytab")
			}
			return env, nil
		}
		env.store["client_keytab"] = kt
	}
	if _, ok := env.store["ccache"]; !ok {
		// Tickets must not land in the daemon's own default cache,
		// which every caller would share. The reference uses a
		// per-call memory cache; gsskit's memory caches cannot be
		// destroyed, so each service and user gets one, which bounds
		// them and keeps a user's tickets from another user's calls.
		env.store["ccache"] = "MEMORY:" + c.d.memPrefix + "/" + svc.Name + "/" + strconv.FormatUint(uint64(targetUID), 10)
	}
	return env, nil
}

func usageName(u gss.CredUsage) string {
	switch u {
	case gss.CredInitiate:
		return "initiate"
	case gss.CredAccept:
		return "accept"
	}
	return "both"
}

func uidFromName(n *gssproxy.Name) (uint32, error) {
	v := n.Display
	if n.NameType == gss.NTMachineUIDName && len(v) == 4 {
		return binary.NativeEndian.Uint32(v), nil
	}
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	uid, err := strconv.ParseUint(string(v), 10, 32)
	if err != nil {
		return 0, gss.NewError(gss.BadName, 0, "", "uid name "+strconv.Quote(string(v))+" is not a number")
	}
	return uint32(uid), nil
}

// checkCred is the reference's gp_check_cred: is an input credential still
// good for this use?
func (c *call) checkCred(cred *gss.Credential, desired *gssproxy.Name, usage gss.CredUsage) error {
	info, err := cred.InquireByMech(gss.MechKrb5)
	if err != nil {
		return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "the credential has no Kerberos element", err)
	}
	if desired != nil {
		want, err := c.importName(desired)
		if err != nil {
			return err
		}
		if eq, err := want.Compare(info.Name); err != nil || !eq {
			return gss.NewError(gss.Failure, 0, gss.MechKrb5, "the credential is not for the desired name")
		}
	}
	switch {
	case usage == gss.CredAccept && info.Usage == gss.CredInitiate,
		usage == gss.CredInitiate && info.Usage == gss.CredAccept,
		usage == gss.CredBoth && info.Usage != gss.CredBoth:
		return gss.NewError(gss.NoCred, 0, gss.MechKrb5, "the credential cannot be used to "+usageName(usage))
	}
	var left uint64
	switch usage {
	case gss.CredAccept:
		left = secondsLeft(info.AcceptorExpiry)
	case gss.CredInitiate:
		left = secondsLeft(info.InitiatorExpiry)
	default:
		left = min(secondsLeft(info.AcceptorExpiry), secondsLeft(info.InitiatorExpiry))
	}
	if left == 0 {
		return gss.NewError(gss.CredentialsExpired, 0, gss.MechKrb5, "the credential has expired")
	}
	if c.svc.MinLifetime > 0 && left < uint64(c.svc.MinLifetime) {
		return gss.NewError(gss.CredentialsExpired, 0, gss.MechKrb5,
			"the credential has "+strconv.FormatUint(left, 10)+"s left, less than min_lifetime "+strconv.FormatUint(uint64(c.svc.MinLifetime), 10)+"s")
	}
	return nil
}

// addKrb5Creds is the reference's gp_add_krb5_creds: reuse an input
// credential that is still good, else acquire one from the service's
// credential store for whom the call acts. A credential from the daemon's
// cache comes back with its cache entry; any other new credential belongs
// to the call.
func (c *call) addKrb5Creds(at acquireType, in *gss.Credential, desired *gssproxy.Name, usage gss.CredUsage, lifetime uint64) (*gss.Credential, *acquiredCred, error) {
	if in != nil && at != acqImpersonateName {
		err := c.checkCred(in, desired, usage)
		switch {
		case err == nil:
			return in, nil, nil
		case errors.Is(err, gss.ErrCredentialsExpired), errors.Is(err, gss.ErrNoCred), errors.Is(err, gss.ErrDefectiveCredential):
			c.log.Debug("input credential unusable; acquiring a new one", "err", err)
		default:
			return nil, nil, err
		}
	}
	var env *credEnv
	if at == acqNormal {
		var err error
		if env, err = c.credEnvironment(desired, usage); err != nil {
			return nil, nil, err
		}
		usage = env.usage
	} else {
		env = &credEnv{usage: usage}
		if desired != nil {
			n, err := c.importName(desired)
			if err != nil {
				return nil, nil, err
			}
			env.name = n
		}
	}
	if !c.tryImpersonate(usage, at) {
		acquire := func() (*gss.Credential, error) {
			return c.reg.AcquireCredential(c.ctx, &gss.CredentialConfig{
				Name: env.name, Usage: usage, Mechs: gss.OIDSet{gss.MechKrb5}, Store: env.store,
			})
		}
		if key, files, ok := acquireKey(c.svc, env); ok {
			a, err := c.creds.acquire(key, files, acquire)
			if err != nil {
				return nil, nil, err
			}
			return a.cred, a, nil
		}
		cred, err := acquire()
		if err != nil {
			if at == acqImpersonateName {
				// As the reference: no protocol transition, so the
				// desired name is acquired the ordinary way, from the
				// daemon's own defaults.
				return nil, nil, c.notImpersonated(err)
			}
			return nil, nil, err
		}
		return c.own(cred), nil, nil
	}
	if at == acqImpersonateName {
		// The caller's credential, the service's own got through the
		// daemon, impersonates the desired name.
		if in == nil {
			return nil, nil, gss.NewError(gss.NoCred, 0, gss.MechKrb5,
				"impersonate_name needs the impersonator's credential, and the call passes none this service can open")
		}
		cred, err := c.impersonate(in, env.name)
		if err != nil {
			return nil, nil, err
		}
		return cred, nil, nil
	}
	// The reference first gets the service's own credential; when that is
	// already the requested user, no impersonation is needed.
	var host *gss.Name
	if c.svc.Krb5Principal != "" {
		n, err := c.reg.ImportName(c.svc.Krb5Principal, gss.NTKrb5Principal)
		if err != nil {
			return nil, nil, err
		}
		host = n
	}
	imp, err := c.reg.AcquireCredential(c.ctx, &gss.CredentialConfig{
		Name: host, Usage: gss.CredBoth, Mechs: gss.OIDSet{gss.MechKrb5}, Store: env.store,
	})
	if err != nil {
		return nil, nil, err
	}
	defer imp.Release()
	if env.name != nil {
		if info, err := imp.Inquire(); err == nil && info.Name != nil {
			if eq, err := info.Name.Compare(env.name); err == nil && eq {
				cred, err := c.reg.AcquireCredential(c.ctx, &gss.CredentialConfig{
					Name: env.name, Usage: usage, Mechs: gss.OIDSet{gss.MechKrb5}, Store: env.store,
				})
				if err == nil {
					return c.own(cred), nil, nil
				}
			}
		}
	}
	cred, err := c.impersonate(imp, env.name)
	if err != nil {
		return nil, nil, err
	}
	return cred, nil, nil
}

func (c *call) acquireCred(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.AcquireCredArg)
	res := &gssproxy.AcquireCredRes{}
	var mech gss.OID
	fail := func(err error) gssproxy.Message {
		res.Status = c.status(err, mech)
		return res
	}
	var in *gss.Credential
	at := acqNormal
	if a.InputCredHandle != nil {
		var err error
		if in, _, err = c.openCred(a.InputCredHandle); err != nil {
			return fail(err)
		}
		o, err := ParseAcquireCredOptions(a.Options)
		if err != nil {
			return fail(gss.WrapError(gss.Failure, einval, "", "acquire_cred options", err))
		}
		if o.ImpersonateName {
			at = acqImpersonateName
		}
	}
	mechs := gss.OIDSet{gss.MechKrb5}
	if len(a.DesiredMechs) > 0 {
		mechs = nil
		for _, m := range a.DesiredMechs {
			// Only the mechanisms the service has: krb5.
			if m == gss.MechKrb5 {
				mechs = append(mechs, m)
			}
		}
		if len(mechs) == 0 {
			return fail(gss.NewError(gss.NoCred, 0, "", "none of the desired mechanisms is served"))
		}
	}
	var out *gss.Credential
	var cached *acquiredCred
	for _, m := range mechs {
		mech = m
		cred, ac, err := c.addKrb5Creds(at, in, a.DesiredName, a.Usage.ToGSS(), a.TimeReq)
		if err != nil {
			return fail(err)
		}
		out, cached = cred, ac
	}
	if out == in && a.InputCredHandle != nil {
		// Still good: hand back the same handle, as the reference does.
		res.OutputCred = a.InputCredHandle
		res.Status = c.status(nil, mech)
		return res
	}
	var gc *gssproxy.Cred
	var err error
	if cached != nil {
		gc, err = c.acquiredToProxy(cached)
	} else {
		gc, err = c.credToProxy(out)
	}
	if err != nil {
		return fail(err)
	}
	res.OutputCred = gc
	res.Status = c.status(nil, mech)
	c.log.Debug("credential acquired", "name", string(gc.DesiredName.Display))
	return res
}

// exportCred hands out the credential's handle as an exported token.
// (The reference leaves this procedure unimplemented and answers an empty
// result; the sealed handle is the natural exported form here.)
func (c *call) exportCred(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.ExportCredArg)
	res := &gssproxy.ExportCredRes{}
	cred, _, err := c.openCred(&a.InputCred)
	if err == nil && cred == nil {
		err = gss.NewError(gss.NoCred, 0, "", "the credential handle is not valid for service "+c.svc.Name)
	}
	if err != nil {
		res.Status = c.status(err, "")
		return res
	}
	res.UsageExported = a.Usage
	res.ExportedHandle = optBuf(append([]byte(nil), a.InputCred.HandleRef...))
	res.Status = c.status(nil, "")
	return res
}

// importCred is exportCred's inverse: the handle becomes a gssx_cred again.
func (c *call) importCred(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.ImportCredArg)
	res := &gssproxy.ImportCredRes{}
	cred, _, err := c.openCred(&gssproxy.Cred{HandleRef: a.ExportedHandle})
	if err == nil && cred == nil {
		err = gss.NewError(gss.DefectiveToken, 0, "", "the exported credential is not a handle of service "+c.svc.Name)
	}
	if err != nil {
		res.Status = c.status(err, "")
		return res
	}
	gc, err := c.credToProxy(cred)
	if err != nil {
		res.Status = c.status(err, "")
		return res
	}
	res.OutputCred = gc
	res.Status = c.status(nil, "")
	return res
}

// storeCred writes the credential into the service's credential store for
// the caller (its ccache, after %U/%u expansion). The reference leaves this
// unimplemented.
func (c *call) storeCred(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.StoreCredArg)
	res := &gssproxy.StoreCredRes{}
	fail := func(err error) gssproxy.Message {
		res.Status = c.status(err, a.DesiredMech)
		return res
	}
	cred, _, err := c.openCred(&a.InputCred)
	if err == nil && cred == nil {
		err = gss.NewError(gss.NoCred, 0, "", "the credential handle is not valid for service "+c.svc.Name)
	}
	if err != nil {
		return fail(err)
	}
	elems, err := c.svc.ExpandCredStore(c.caller.UID, c.username)
	if err != nil {
		return fail(gss.WrapError(gss.Failure, einval, "", "expanding the cred_store", err))
	}
	store := gss.CredStore{}
	for _, e := range elems {
		store[e.Key] = e.Value
	}
	if store["ccache"] == "" {
		return fail(gss.NewError(gss.Unavailable, 0, "", "service "+c.svc.Name+" has no ccache in its cred_store to store into"))
	}
	stored, err := cred.Store(&gss.StoreConfig{Store: store, Usage: a.Usage.ToGSS(), Mech: a.DesiredMech, Overwrite: a.Overwrite, Default: a.Default})
	if err != nil {
		return fail(err)
	}
	res.ElementsStored = stored
	res.UsageStored = a.Usage
	res.Status = c.status(nil, a.DesiredMech)
	return res
}
