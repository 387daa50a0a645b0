package gss

import (
	"sort"
	"strings"
	"sync"
)

// A Registry is a set of mechanisms and interposers, the Go form of MIT's
// mechglue mechanism list. Names, credentials and contexts remember the
// registry that made them, so that a test can build a private registry with
// NewRegistry without touching the process-wide one.
//
// Dispatch follows MIT's interposer-module rules: a call for a mechanism OID that an
// interposer claims goes to the interposer; the special OID formed by
// concatenating the interposer's OID bytes with the original mechanism's OID
// bytes reaches the original mechanism, which is how an interposer calls
// through.
type Registry struct {
	mu          sync.RWMutex
	mechs       map[OID]Mechanism // registered with Register
	order       []OID             // registration order
	interposers []*interposer     // registered with RegisterInterposer
	claims      map[OID]*interposer

	// From /etc/gss/mech, mech.d and /etc/gss/qop (config.go).
	entries []MechConfigEntry
	qops    []QOPEntry
}

type interposer struct {
	mech   Mechanism
	claims OIDSet
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		mechs:  make(map[OID]Mechanism),
		claims: make(map[OID]*interposer),
	}
}

var defaultRegistry = NewRegistry()

// DefaultRegistry returns the process-wide registry that the package-level
// functions use and that mechanisms register themselves into from init.
func DefaultRegistry() *Registry { return defaultRegistry }

// Register adds m to the default registry. Mechanisms call it from init.
func Register(m Mechanism) error { return defaultRegistry.Register(m) }

// RegisterInterposer adds interposer i to the default registry, claiming the
// mechanisms in claims.
func RegisterInterposer(i Mechanism, claims OIDSet) error {
	return defaultRegistry.RegisterInterposer(i, claims)
}

// Register adds mechanism m. Registering a second mechanism with the same OID
// or name is a DuplicateElement error: two implementations of one mechanism
// would make dispatch depend on init order.
func (r *Registry) Register(m Mechanism) error {
	if m == nil {
		return NewError(CallInaccessibleRead, 0, "", "Register called with a nil mechanism")
	}
	oid, name := m.OID(), m.Name()
	if oid.IsZero() {
		return NewError(BadMech, 0, "", "mechanism "+strquote(name)+" has an empty OID")
	}
	if name == "" {
		return NewError(BadMech, 0, oid, "mechanism "+oid.String()+" has an empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkFreeLocked(oid, name); err != nil {
		return err
	}
	r.mechs[oid] = m
	r.order = append(r.order, oid)
	return nil
}

// RegisterInterposer adds interposer i, which from now on receives the calls
// for every mechanism OID in claims (gss_mech_interposer's answer). The
// interposer reaches an original mechanism X through the OID i.OID()+X; see
// SpecialOID. An OID may be claimed by one interposer only.
//
// An interposer that claims more than one mechanism learns which one a call
// is for by implementing the optional *ByMech interfaces (NameByMechImporter
// and the others in interpose.go).
//
// Calls an interposer makes for a claimed OID come back to it, as in MIT:
// to reach the original it must use the special OID — in particular its
// acceptor must pass NewAcceptor a credential acquired for the special OID,
// since the first token names the claimed one. A credential-less acceptor
// inside an interposer would recurse into itself.
func (r *Registry) RegisterInterposer(i Mechanism, claims OIDSet) error {
	if i == nil {
		return NewError(CallInaccessibleRead, 0, "", "RegisterInterposer called with a nil mechanism")
	}
	oid, name := i.OID(), i.Name()
	if oid.IsZero() {
		return NewError(BadMech, 0, "", "interposer "+strquote(name)+" has an empty OID")
	}
	if name == "" {
		return NewError(BadMech, 0, oid, "interposer "+oid.String()+" has an empty name")
	}
	if len(claims) == 0 {
		return NewError(BadMech, 0, oid, "interposer "+strquote(name)+" claims no mechanisms")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkFreeLocked(oid, name); err != nil {
		return err
	}
	for _, c := range claims {
		if c == oid {
			return NewError(BadMech, 0, oid, "interposer "+strquote(name)+" claims its own OID")
		}
		if other, ok := r.claims[c]; ok {
			return NewError(DuplicateElement, 0, c, "mechanism "+c.String()+" is already interposed by "+
				strquote(other.mech.Name()))
		}
	}
	ip := &interposer{mech: i, claims: append(OIDSet(nil), claims...)}
	r.interposers = append(r.interposers, ip)
	for _, c := range claims {
		r.claims[c] = ip
	}
	return nil
}

func (r *Registry) checkFreeLocked(oid OID, name string) error {
	if _, ok := r.mechs[oid]; ok {
		return NewError(DuplicateElement, 0, oid, "mechanism "+oid.String()+" is already registered")
	}
	for _, ip := range r.interposers {
		if ip.mech.OID() == oid {
			return NewError(DuplicateElement, 0, oid, "OID "+oid.String()+" is already an interposer's")
		}
	}
	if m := r.byNameLocked(name); m != nil {
		return NewError(DuplicateElement, 0, oid, "mechanism name "+strquote(name)+" is already used by "+
			m.OID().String())
	}
	return nil
}

func (r *Registry) byNameLocked(name string) Mechanism {
	for _, m := range r.mechs {
		if m.Name() == name {
			return m
		}
	}
	for _, ip := range r.interposers {
		if ip.mech.Name() == name {
			return ip.mech
		}
	}
	return nil
}

// SpecialOID returns the OID through which interposer reaches the original
// mechanism orig: the concatenation of their OID bytes (MIT's interposer-module rules).
func SpecialOID(interposer, orig OID) OID { return interposer + orig }

// dispatch is the result of resolving an OID: the implementation to call and
// the OID the caller asked for (the key under which names, credential elements
// and exported tokens are filed).
type dispatch struct {
	key  OID       // the OID as requested: plain, claimed, or special
	mech Mechanism // the implementation that serves key
	// via is the mechanism OID to pass to an interposer's *ByMech methods:
	// the claimed OID when mech is an interposer, else "".
	via OID
}

// resolve maps a requested mechanism OID onto its implementation.
func (r *Registry) resolve(oid OID) (dispatch, error) {
	if oid.IsZero() {
		return dispatch{}, NewError(BadMech, 0, "", "no mechanism OID given")
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ip, ok := r.claims[oid]; ok {
		return dispatch{key: oid, mech: ip.mech, via: oid}, nil
	}
	if m, ok := r.mechs[oid]; ok {
		return dispatch{key: oid, mech: m}, nil
	}
	for _, ip := range r.interposers {
		iOID := ip.mech.OID()
		if len(oid) > len(iOID) && strings.HasPrefix(string(oid), string(iOID)) {
			orig := oid[len(iOID):]
			if !ip.claims.Contains(orig) {
				continue
			}
			if m, ok := r.mechs[orig]; ok {
				return dispatch{key: oid, mech: m}, nil
			}
			return dispatch{}, NewError(BadMech, 0, oid, "interposer "+strquote(ip.mech.Name())+
				" calls through to mechanism "+orig.String()+", which is not registered")
		}
	}
	if e := r.entryLocked(oid); e != nil {
		return dispatch{}, NewError(BadMech, 0, oid, "mechanism "+strquote(e.Name)+" ("+oid.String()+
			") is configured in "+e.File+" with module "+strquote(e.Path)+
			", but no Go implementation is registered")
	}
	return dispatch{}, NewError(BadMech, 0, oid, "mechanism "+oid.String()+" is not registered")
}

// publicOID maps a special OID onto the original mechanism's OID and leaves
// others alone (MIT's gssint_get_public_oid).
func (r *Registry) publicOID(oid OID) OID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ip := range r.interposers {
		iOID := ip.mech.OID()
		if len(oid) > len(iOID) && strings.HasPrefix(string(oid), string(iOID)) &&
			ip.claims.Contains(oid[len(iOID):]) {
			return oid[len(iOID):]
		}
	}
	return oid
}

// IndicateMechs returns the mechanisms of the default registry.
func IndicateMechs() OIDSet { return defaultRegistry.IndicateMechs() }

// IndicateMechs returns the usable mechanisms (gss_indicate_mechs): those
// configured in mech files first, in file order, then the other registered
// ones in registration order, then mechanisms only interposers provide.
// Interposers and special OIDs are not listed, as in MIT: a claimed
// mechanism is listed under its own OID.
func (r *Registry) IndicateMechs() OIDSet {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out OIDSet
	for _, e := range r.entries {
		if _, ok := r.mechs[e.OID]; ok {
			out = out.Add(e.OID)
		}
	}
	for _, oid := range r.order {
		out = out.Add(oid)
	}
	// A claimed mechanism is usable through its interposer even when no
	// original is registered (a proxy-only process).
	for _, ip := range r.interposers {
		for _, c := range ip.claims {
			out = out.Add(c)
		}
	}
	return out
}

// MechanismByOID returns the mechanism of the default registry registered
// under oid.
func MechanismByOID(oid OID) (Mechanism, error) { return defaultRegistry.MechanismByOID(oid) }

// MechanismByOID returns the implementation that calls for oid reach: the
// interposer for a claimed OID, the original for a special OID, else the
// mechanism registered under oid.
func (r *Registry) MechanismByOID(oid OID) (Mechanism, error) {
	d, err := r.resolve(oid)
	if err != nil {
		return nil, err
	}
	return d.mech, nil
}

// MechanismByName returns the mechanism of the default registry with the
// given name.
func MechanismByName(name string) (Mechanism, error) { return defaultRegistry.MechanismByName(name) }

// MechanismByName finds a mechanism by its own name (Mechanism.Name) or by
// the name a mech config file gives its OID.
func (r *Registry) MechanismByName(name string) (Mechanism, error) {
	r.mu.RLock()
	m := r.byNameLocked(name)
	var oid OID
	if m == nil {
		for _, e := range r.entries {
			if e.Name == name {
				oid = e.OID
				break
			}
		}
	}
	r.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	if oid != "" {
		return r.MechanismByOID(oid)
	}
	return nil, NewError(BadMech, 0, "", "no mechanism is named "+strquote(name))
}

// InquireNamesForMech returns the name types the default registry's
// mechanism mech accepts.
func InquireNamesForMech(mech OID) (OIDSet, error) { return defaultRegistry.InquireNamesForMech(mech) }

// InquireNamesForMech returns the name types mech accepts
// (gss_inquire_names_for_mech).
func (r *Registry) InquireNamesForMech(mech OID) (OIDSet, error) {
	d, err := r.resolve(mech)
	if err != nil {
		return nil, err
	}
	return append(OIDSet(nil), d.mech.NameTypes()...), nil
}

// InquireMechsForName returns the default registry's mechanisms that can
// handle name.
func InquireMechsForName(name *Name) (OIDSet, error) {
	return defaultRegistry.InquireMechsForName(name)
}

// InquireMechsForName returns the mechanisms that accept name's type
// (gss_inquire_mechs_for_name); for a mechanism name, just its mechanism.
func (r *Registry) InquireMechsForName(name *Name) (OIDSet, error) {
	if name == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "InquireMechsForName called with a nil name")
	}
	if name.mn != nil {
		return OIDSet{name.key}, nil
	}
	var out OIDSet
	for _, oid := range r.IndicateMechs() {
		d, err := r.resolve(oid)
		if err != nil {
			continue
		}
		if name.nameType.IsZero() || d.mech.NameTypes().Contains(name.nameType) ||
			(isHostbased(name.nameType) && (d.mech.NameTypes().Contains(NTHostbasedService) ||
				d.mech.NameTypes().Contains(NTHostbasedServiceX))) {
			out = append(out, oid)
		}
	}
	return out, nil
}

// registeredNames returns the sorted names of the registered mechanisms, for
// error messages.
func (r *Registry) registeredNames() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var names []string
	for _, m := range r.mechs {
		names = append(names, m.Name())
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func strquote(s string) string { return "\"" + s + "\"" }
