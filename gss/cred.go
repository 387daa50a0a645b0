package gss

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credential is the mechglue's union credential: a set of elements, at most
// one per mechanism OID. An element acquired through a special OID (an
// interposer calling through) is filed under that OID, so that
// passing the credential back to the mechglue reaches the original
// mechanism.
//
// A Credential is safe for concurrent use. Release it when done; a released
// Credential reports NoCred.
type Credential struct {
	reg      *Registry
	mu       sync.Mutex
	elems    []credElem
	released bool
}

type credElem struct {
	d  dispatch
	mc MechCred
}

// CredentialConfig asks for a credential (gss_acquire_cred_from).
type CredentialConfig struct {
	// Name is the principal; nil means the default initiator principal, or
	// any key in the keytab for an acceptor.
	Name  *Name
	Usage CredUsage
	// Mechs lists the mechanisms wanted; nil means every available one, and
	// then mechanisms that cannot provide a credential are skipped.
	Mechs OIDSet
	// Lifetime is the wanted lifetime; 0 means the mechanism's default.
	Lifetime time.Duration
	// Store is MIT's credential store (keytab, ccache, ...); nil means the
	// environment's defaults.
	Store CredStore
}

// AddCredentialConfig asks for one more element (gss_add_cred_from).
type AddCredentialConfig struct {
	Name     *Name
	Mech     OID
	Usage    CredUsage
	Lifetime time.Duration
	Store    CredStore
}

// AcquireCredential acquires a credential from the default registry.
func AcquireCredential(ctx context.Context, cfg *CredentialConfig) (*Credential, error) {
	return defaultRegistry.AcquireCredential(ctx, cfg)
}

// AcquireCredential acquires a credential element from each requested
// mechanism. It succeeds if at least one mechanism does, as MIT's does; if
// none does, the error says what each one lacked.
func (r *Registry) AcquireCredential(ctx context.Context, cfg *CredentialConfig) (*Credential, error) {
	if cfg == nil {
		cfg = &CredentialConfig{}
	}
	if err := checkUsage(cfg.Usage); err != nil {
		return nil, err
	}
	mechs := cfg.Mechs
	if mechs == nil {
		mechs = r.IndicateMechs()
		if cfg.Name != nil && cfg.Name.mn != nil {
			mechs = OIDSet{cfg.Name.key}
		}
	}
	if len(mechs) == 0 {
		return nil, NewError(BadMech, 0, "", "no mechanisms to acquire a credential from (registered: "+
			r.registeredNames()+")")
	}
	c := &Credential{reg: r}
	failed, err := c.addEach(ctx, mechs, "acquiring credential", func(oid OID) (credElem, error) {
		return r.acquireElem(ctx, oid, cfg.Name, cfg.Usage, cfg.Lifetime, cfg.Store)
	})
	if err != nil {
		return nil, err
	}
	if len(c.elems) == 0 {
		if len(failed) == 1 {
			return nil, failed[0]
		}
		return nil, noCredError("no mechanism could provide a "+usageText(cfg.Usage)+
			" credential"+forName(cfg.Name), failed)
	}
	return c, nil
}

// addEach adds to c an element made by elem for each distinct mechanism of
// mechs. A mechanism that fails is skipped, its error kept in failed so
// that the caller can say why each one could not help; err is only for a
// cancelled ctx, which releases c.
func (c *Credential) addEach(ctx context.Context, mechs []OID, what string, elem func(OID) (credElem, error)) (failed []error, err error) {
	for i, oid := range mechs {
		if OIDSet(mechs[:i]).Contains(oid) {
			continue
		}
		if err := ctx.Err(); err != nil {
			c.Release()
			return nil, WrapError(Failure, 0, "", what, err)
		}
		e, err := elem(oid)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		c.elems = append(c.elems, e)
	}
	return failed, nil
}

// noCredError reports that no mechanism could make an element. The first
// failure's codes stand for the whole, so that DisplayStatus can explain
// its minor status; the message lists every mechanism's reason.
func noCredError(msg string, failed []error) *Error {
	reasons := make([]string, len(failed))
	for i, err := range failed {
		reasons[i] = err.Error()
	}
	out := &Error{Major: NoCred, Message: msg + ": " + strings.Join(reasons, "; ")}
	if len(failed) > 0 {
		if ge, ok := failed[0].(*Error); ok && ge.Major.IsError() {
			out.Major = ge.Major.RoutineError() | ge.Major.CallingError()
			out.Minor, out.Mech = ge.Minor, ge.Mech
		}
	}
	return out
}

func (r *Registry) acquireElem(ctx context.Context, oid OID, name *Name, usage CredUsage,
	lifetime time.Duration, store CredStore) (credElem, error) {
	d, err := r.resolve(oid)
	if err != nil {
		return credElem{}, err
	}
	req := &MechCredRequest{Usage: usage, Lifetime: lifetime, Store: store}
	if name != nil {
		mn, err := name.mechName(d.key)
		if err != nil {
			return credElem{}, err
		}
		req.Name = mn
	}
	mc, err := d.acquireCred(ctx, req)
	if err != nil {
		return credElem{}, mechError(err, NoCred, d.key, "mechanism "+d.mech.Name()+" has no "+
			usageText(usage)+" credential"+forName(name))
	}
	if mc == nil {
		return credElem{}, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no credential")
	}
	return credElem{d: d, mc: mc}, nil
}

func checkUsage(u CredUsage) error {
	switch u {
	case CredBoth, CredInitiate, CredAccept:
		return nil
	}
	return NewError(CallBadStructure|Failure, 0, "", "credential usage "+strconv.Itoa(int(u))+" is not valid")
}

func usageText(u CredUsage) string {
	switch u {
	case CredInitiate:
		return "initiator"
	case CredAccept:
		return "acceptor"
	}
	return "initiator-and-acceptor"
}

func forName(n *Name) string {
	if n == nil {
		return " for the default principal"
	}
	return " for " + strconv.Quote(n.String())
}

// AddCredential adds an element for cfg.Mech to cred in place and returns
// cred (gss_add_cred_from with no output handle). With a nil cred a new
// credential holding just that element is returned. An element for the
// mechanism already present is a DuplicateElement error.
func AddCredential(ctx context.Context, cred *Credential, cfg *AddCredentialConfig) (*Credential, error) {
	r := defaultRegistry
	if cred != nil {
		r = cred.reg
	}
	return r.AddCredential(ctx, cred, cfg)
}

// AddCredential is the package-level AddCredential for r.
func (r *Registry) AddCredential(ctx context.Context, cred *Credential, cfg *AddCredentialConfig) (*Credential, error) {
	if cfg == nil || cfg.Mech.IsZero() {
		return nil, NewError(BadMech, 0, "", "AddCredential needs a mechanism")
	}
	if err := checkUsage(cfg.Usage); err != nil {
		return nil, err
	}
	if cred != nil {
		cred.mu.Lock()
		released, dup := cred.released, cred.findLocked(cfg.Mech) >= 0
		cred.mu.Unlock()
		if released {
			return nil, errReleasedCred()
		}
		if dup {
			return nil, NewError(DuplicateElement, 0, cfg.Mech, "credential already has an element for mechanism "+
				cfg.Mech.String())
		}
	}
	e, err := r.acquireElem(ctx, cfg.Mech, cfg.Name, cfg.Usage, cfg.Lifetime, cfg.Store)
	if err != nil {
		return nil, err
	}
	if cred == nil {
		return &Credential{reg: r, elems: []credElem{e}}, nil
	}
	cred.mu.Lock()
	defer cred.mu.Unlock()
	if cred.released || cred.findLocked(cfg.Mech) >= 0 {
		e.mc.Release()
		return nil, NewError(DuplicateElement, 0, cfg.Mech, "credential changed while adding an element for "+
			cfg.Mech.String())
	}
	cred.elems = append(cred.elems, e)
	return cred, nil
}

// NewCredentialFromMech wraps one mechanism credential element in a
// Credential of the default registry (for interposers, and mechanisms that
// hand out delegated credentials).
func NewCredentialFromMech(mc MechCred) *Credential { return defaultRegistry.NewCredentialFromMech(mc) }

// NewCredentialFromMech wraps mc in a Credential of r, filed under mc.Mech().
func (r *Registry) NewCredentialFromMech(mc MechCred) *Credential {
	if mc == nil {
		return nil
	}
	d, err := r.resolve(mc.Mech())
	if err != nil {
		// Not registered here: keep it usable by the holder, filed under
		// its own OID with no implementation to dispatch to.
		d = dispatch{key: mc.Mech()}
	}
	return &Credential{reg: r, elems: []credElem{{d: d, mc: mc}}}
}

func (c *Credential) findLocked(key OID) int {
	for i, e := range c.elems {
		if e.d.key == key {
			return i
		}
	}
	return -1
}

func errReleasedCred() *Error {
	return NewError(NoCred, 0, "", "credential has been released")
}

func (c *Credential) check() error {
	if c == nil {
		return NewError(NoCred, 0, "", "no credential (nil)")
	}
	c.mu.Lock()
	released := c.released
	c.mu.Unlock()
	if released {
		return errReleasedCred()
	}
	return nil
}

// Mechs returns the OIDs of c's elements, in acquisition order.
func (c *Credential) Mechs() OIDSet {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(OIDSet, 0, len(c.elems))
	for _, e := range c.elems {
		out = append(out, e.d.key)
	}
	return out
}

// Element returns the mechanism's element for mech, or nil. Interposers use
// it to pass a credential acquired through the mechglue on through the SPI.
func (c *Credential) Element(mech OID) MechCred {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil
	}
	if i := c.findLocked(mech); i >= 0 {
		return c.elems[i].mc
	}
	return nil
}

// element returns the element filed under key.
func (c *Credential) element(key OID) (credElem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.findLocked(key); i >= 0 && !c.released {
		return c.elems[i], true
	}
	return credElem{}, false
}

// CredentialInfo is what gss_inquire_cred and gss_inquire_cred_by_mech
// report, with the name as a *Name.
type CredentialInfo struct {
	Name            *Name // nil for a default acceptor credential
	InitiatorExpiry time.Time
	AcceptorExpiry  time.Time
	Usage           CredUsage
	Mechs           OIDSet
}

// Lifetime returns the time left for the given use, 0 if expired, as
// gss_inquire_cred's lifetime does for the usage.
func (i CredentialInfo) Lifetime(now time.Time) time.Duration {
	var t time.Time
	switch i.Usage {
	case CredInitiate:
		t = i.InitiatorExpiry
	case CredAccept:
		t = i.AcceptorExpiry
	default:
		t = earlier(i.InitiatorExpiry, i.AcceptorExpiry)
	}
	if t.IsZero() {
		return Indefinite
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

func earlier(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	}
	return b
}

// Inquire describes the whole credential (gss_inquire_cred): the name of the
// first element, the earliest expiries, and the elements' usages combined:
// CredBoth if between them they can both initiate and accept.
func (c *Credential) Inquire() (CredentialInfo, error) {
	if err := c.check(); err != nil {
		return CredentialInfo{}, err
	}
	c.mu.Lock()
	elems := append([]credElem(nil), c.elems...)
	c.mu.Unlock()
	var out CredentialInfo
	var canInit, canAccept bool
	for i, e := range elems {
		info, err := e.mc.Info()
		if err != nil {
			return CredentialInfo{}, mechError(err, DefectiveCredential, e.d.key, "inquiring credential element "+
				e.d.key.String())
		}
		if i == 0 && info.Name != nil {
			out.Name = c.reg.newMN(e.d.key, info.Name)
		}
		out.InitiatorExpiry = earlier(out.InitiatorExpiry, info.InitiatorExpiry)
		out.AcceptorExpiry = earlier(out.AcceptorExpiry, info.AcceptorExpiry)
		canInit = canInit || info.Usage != CredAccept
		canAccept = canAccept || info.Usage != CredInitiate
		out.Mechs = append(out.Mechs, e.d.key)
	}
	switch {
	case canInit && canAccept:
		out.Usage = CredBoth
	case canInit:
		out.Usage = CredInitiate
	default:
		out.Usage = CredAccept
	}
	return out, nil
}

// InquireByMech describes the element for mech (gss_inquire_cred_by_mech).
func (c *Credential) InquireByMech(mech OID) (CredentialInfo, error) {
	if err := c.check(); err != nil {
		return CredentialInfo{}, err
	}
	e, ok := c.element(mech)
	if !ok {
		return CredentialInfo{}, NewError(NoCred, 0, mech, "credential has no element for mechanism "+
			mech.String()+" (it has "+oidList(c.Mechs())+")")
	}
	info, err := e.mc.Info()
	if err != nil {
		return CredentialInfo{}, mechError(err, DefectiveCredential, mech, "inquiring credential element "+mech.String())
	}
	out := CredentialInfo{
		InitiatorExpiry: info.InitiatorExpiry,
		AcceptorExpiry:  info.AcceptorExpiry,
		Usage:           info.Usage,
		Mechs:           OIDSet{mech},
	}
	if info.Name != nil {
		out.Name = c.reg.newMN(mech, info.Name)
	}
	return out, nil
}

func oidList(s OIDSet) string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, o := range s {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// StoreConfig says where and how to store a credential (gss_store_cred_into).
type StoreConfig struct {
	Mech      OID // "" stores every element
	Usage     CredUsage
	Overwrite bool
	Default   bool
	Store     CredStore
}

// Store writes c's elements into a credential store and returns the
// mechanisms stored (gss_store_cred_into). It stops at the first failure.
func (c *Credential) Store(cfg *StoreConfig) (OIDSet, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &StoreConfig{}
	}
	if err := checkUsage(cfg.Usage); err != nil {
		return nil, err
	}
	c.mu.Lock()
	elems := append([]credElem(nil), c.elems...)
	c.mu.Unlock()
	var stored OIDSet
	for _, e := range elems {
		if !cfg.Mech.IsZero() && e.d.key != cfg.Mech {
			continue
		}
		if err := e.mc.Store(cfg.Store, cfg.Usage, cfg.Overwrite, cfg.Default); err != nil {
			return stored, mechError(err, Failure, e.d.key, "storing credential element "+e.d.key.String())
		}
		stored = append(stored, e.d.key)
	}
	if len(stored) == 0 {
		return nil, NewError(NoCred, 0, cfg.Mech, "credential has no element for mechanism "+cfg.Mech.String())
	}
	return stored, nil
}

// Export serializes c (gss_export_cred): per element, the 4-byte OID
// length, the OID it is filed under, the 4-byte token length and the
// mechanism's token.
func (c *Credential) Export() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	elems := append([]credElem(nil), c.elems...)
	c.mu.Unlock()
	var out []byte
	for _, e := range elems {
		tok, err := e.mc.Export()
		if err != nil {
			return nil, mechError(err, Unavailable, e.d.key, "exporting credential element "+e.d.key.String())
		}
		out = AppendExportedCred(out, e.d.key, tok)
	}
	return out, nil
}

// ImportCredential imports a token made by Credential.Export into the
// default registry (gss_import_cred).
func ImportCredential(token []byte) (*Credential, error) {
	return defaultRegistry.ImportCredential(token)
}

// ImportCredential imports a token made by Credential.Export. Each element
// goes to the mechanism its OID reaches: a claimed OID to the interposer, a
// special OID to the original mechanism.
func (r *Registry) ImportCredential(token []byte) (*Credential, error) {
	elems, err := ParseExportedCred(token)
	if err != nil {
		return nil, err
	}
	c := &Credential{reg: r}
	for _, et := range elems {
		if c.findLocked(et.Mech) >= 0 {
			c.Release()
			return nil, NewError(DefectiveToken, 0, et.Mech, "exported credential repeats mechanism "+
				et.Mech.String())
		}
		d, err := r.resolve(et.Mech)
		if err != nil {
			c.Release()
			return nil, err
		}
		mc, err := d.importCred(et.Token)
		if err != nil {
			c.Release()
			return nil, mechError(err, DefectiveToken, d.key, "mechanism "+d.mech.Name()+
				" rejected its exported credential element")
		}
		if mc == nil {
			c.Release()
			return nil, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no credential")
		}
		c.elems = append(c.elems, credElem{d: d, mc: mc})
	}
	return c, nil
}

// Release releases every element (gss_release_cred). Releasing twice, or a
// nil Credential, is harmless.
func (c *Credential) Release() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	elems := c.elems
	c.elems, c.released = nil, true
	c.mu.Unlock()
	var first error
	for _, e := range elems {
		if err := e.mc.Release(); err != nil && first == nil {
			first = mechError(err, Failure, e.d.key, "releasing credential element "+e.d.key.String())
		}
	}
	return first
}
