package gss

import (
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Name is a GSS-API name: the mechglue's union name. It is either
// mechanism-neutral — a value and a name type, turned into a mechanism name
// (MN) on demand for each mechanism it is used with and cached — or already
// an MN of one mechanism (from Canonicalize, an exported name token, or a
// context's peer). A Name also carries RFC 6680 attributes: the mechanism's,
// and local ones set with SetAttribute.
//
// A Name is safe for concurrent use.
type Name struct {
	reg      *Registry
	value    []byte
	nameType OID

	// Set for an MN.
	key OID      // the OID the MN was made for (plain, claimed or special)
	mn  MechName // the mechanism's name
	mu  sync.Mutex
	mns map[OID]MechName // non-MN: canonical forms made so far, by key

	attrs   []nameAttr      // local attributes, in setting order
	deleted map[string]bool // mechanism attributes hidden by DeleteAttribute
}

type nameAttr struct {
	name          string
	values        [][]byte
	authenticated bool
	complete      bool
}

func isHostbased(t OID) bool { return t == NTHostbasedService || t == NTHostbasedServiceX }

// ImportName imports a name into the default registry (gss_import_name).
func ImportName(value string, nameType OID) (*Name, error) {
	return defaultRegistry.ImportName(value, nameType)
}

// ImportNameByMech imports a name directly as a mechanism name of mech.
func ImportNameByMech(mech OID, value string, nameType OID) (*Name, error) {
	return defaultRegistry.ImportNameByMech(mech, value, nameType)
}

// ImportName parses value as a name of nameType (gss_import_name). The value
// is checked against the syntax of its type here; the mechanism sees it when
// the name is first used with it. Export tokens (NTExportName and
// NTCompositeExport) are dispatched at once to the mechanism they name and
// yield an MN. An empty nameType means the mechanism's default syntax.
//
//   - NTHostbasedService, NTHostbasedServiceX: "service@host" or "service"
//   - NTUserName, NTKrb5Principal, NTKrb5Enterprise: a non-empty string
//   - NTMachineUIDName: the 4 bytes of a uid_t, in host order as C passes it
//   - NTStringUIDName: a decimal uid
//   - NTAnonymous: any value; the name is the anonymous identity
func (r *Registry) ImportName(value string, nameType OID) (*Name, error) {
	switch nameType {
	case NTExportName:
		mech, blob, err := ParseExportedName([]byte(value))
		if err != nil {
			return nil, err
		}
		return r.importExported(mech, blob)
	case NTCompositeExport:
		return r.importComposite([]byte(value))
	}
	if err := r.checkNameSyntax(value, nameType); err != nil {
		return nil, err
	}
	return &Name{reg: r, value: []byte(value), nameType: nameType}, nil
}

// ImportNameByMech imports value straight into an MN of mech, the way an
// interposer's gssi_import_name_by_mech is reached. For an export token, the
// token must be for mech.
func (r *Registry) ImportNameByMech(mech OID, value string, nameType OID) (*Name, error) {
	n, err := r.ImportName(value, nameType)
	if err != nil {
		return nil, err
	}
	if n.mn != nil {
		if n.key != mech {
			return nil, NewError(BadMech, 0, mech, "exported name is for mechanism "+n.key.String()+
				", not "+mech.String())
		}
		return n, nil
	}
	return n.Canonicalize(mech)
}

func (r *Registry) checkNameSyntax(value string, nameType OID) error {
	bad := func(msg string) error {
		return NewError(BadName, 0, "", msg)
	}
	switch {
	case isHostbased(nameType):
		service, host, hasHost := strings.Cut(value, "@")
		if service == "" {
			return bad("host-based service name " + strconv.Quote(value) + " has no service part")
		}
		if hasHost && host == "" {
			return bad("host-based service name " + strconv.Quote(value) + " has an empty host after '@'")
		}
	case nameType == NTUserName, nameType == NTKrb5Principal, nameType == NTKrb5Enterprise, nameType == "":
		if value == "" {
			return bad("empty name")
		}
	case nameType == NTMachineUIDName:
		if len(value) != 4 {
			return bad("machine uid name is " + strconv.Itoa(len(value)) + " bytes, want a 4-byte uid")
		}
	case nameType == NTStringUIDName:
		if _, err := strconv.ParseUint(value, 10, 32); err != nil || value[0] == '+' {
			return bad("string uid name " + strconv.Quote(value) + " is not a decimal uid")
		}
	case nameType == NTAnonymous:
	default:
		// A type no standard covers is fine if some mechanism takes it.
		for _, oid := range r.IndicateMechs() {
			if m, err := r.MechanismByOID(oid); err == nil && m.NameTypes().Contains(nameType) {
				if value == "" {
					return bad("empty name")
				}
				return nil
			}
		}
		return NewError(BadNameType, 0, "", "no registered mechanism accepts name type "+nameType.String())
	}
	return nil
}

func (r *Registry) importExported(mech OID, blob []byte) (*Name, error) {
	d, err := r.resolve(mech)
	if err != nil {
		return nil, err
	}
	mn, err := d.importExportedName(blob)
	if err != nil {
		return nil, mechError(err, BadName, d.key, "importing exported name for mechanism "+d.key.String())
	}
	if mn == nil {
		return nil, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no name")
	}
	return r.newMN(d.key, mn), nil
}

func (r *Registry) newMN(key OID, mn MechName) *Name {
	return &Name{reg: r, value: []byte(mn.String()), nameType: mn.NameType(), key: key, mn: mn}
}

// mechError passes a mechanism's *Error through unchanged and wraps anything
// else with the given major code, so that callers always get an *Error.
func mechError(err error, major MajorStatus, mech OID, msg string) error {
	var ge *Error
	if errors.As(err, &ge) {
		return err
	}
	return WrapError(major, 0, mech, msg, err)
}

// IsMN reports whether n is a mechanism name.
func (n *Name) IsMN() bool { return n != nil && n.mn != nil }

// Mech returns the mechanism of an MN, or "" for a mechanism-neutral name.
func (n *Name) Mech() OID {
	if n == nil {
		return ""
	}
	return n.key
}

// MechName returns the mechanism's own name of an MN, or nil. Interposers
// use it to hand a name made through the mechglue back through the SPI.
func (n *Name) MechName() MechName {
	if n == nil {
		return nil
	}
	return n.mn
}

// NewNameFromMech wraps a mechanism name in a Name of the default registry;
// an interposer uses it to turn a MechName it got through the SPI into a
// Name it can pass to the mechglue.
func NewNameFromMech(mn MechName) *Name { return defaultRegistry.NewNameFromMech(mn) }

// NewNameFromMech wraps a mechanism name in a Name of r.
func (r *Registry) NewNameFromMech(mn MechName) *Name {
	if mn == nil {
		return nil
	}
	return r.newMN(mn.Mech(), mn)
}

// Display returns the printable form and the name type (gss_display_name).
func (n *Name) Display() (string, OID) {
	if n == nil {
		return "", ""
	}
	if n.mn != nil {
		return n.mn.String(), n.mn.NameType()
	}
	return string(n.value), n.nameType
}

// String returns the printable form.
func (n *Name) String() string {
	s, _ := n.Display()
	return s
}

// IsAnonymous reports whether n is the anonymous name.
func (n *Name) IsAnonymous() bool {
	if n == nil {
		return false
	}
	if n.mn != nil {
		return n.mn.NameType() == NTAnonymous
	}
	return n.nameType == NTAnonymous
}

// Compare reports whether n and other name the same entity (gss_compare_name).
// If either is an MN, the other is canonicalized for that mechanism and the
// mechanism decides. Anonymous names never compare equal, as RFC 2743 says.
func (n *Name) Compare(other *Name) (bool, error) {
	if n == nil || other == nil {
		return false, NewError(CallInaccessibleRead|BadName, 0, "", "Compare called with a nil name")
	}
	if n.IsAnonymous() || other.IsAnonymous() {
		return false, nil
	}
	a, b := n, other
	if a.mn == nil && b.mn != nil {
		a, b = b, a
	}
	if a.mn == nil {
		ta, tb := a.nameType, b.nameType
		if isHostbased(ta) && isHostbased(tb) {
			ta, tb = NTHostbasedService, NTHostbasedService
		}
		return ta == tb && string(a.value) == string(b.value), nil
	}
	if b.mn != nil && a.reg.publicOID(a.key) != b.reg.publicOID(b.key) {
		return false, nil
	}
	bm, err := b.mechName(a.key)
	if err != nil {
		return false, err
	}
	return a.mn.Equal(bm), nil
}

// Canonicalize returns the MN of n for mech (gss_canonicalize_name). The
// result keeps n's local attributes.
func (n *Name) Canonicalize(mech OID) (*Name, error) {
	if n == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "Canonicalize called with a nil name")
	}
	mn, err := n.mechName(mech)
	if err != nil {
		return nil, err
	}
	out := n.reg.newMN(mech, mn)
	n.mu.Lock()
	out.attrs = cloneAttrs(n.attrs)
	out.deleted = cloneSet(n.deleted)
	n.mu.Unlock()
	return out, nil
}

// mechName returns n as a MechName for the mechanism reached through key,
// importing (and caching) it if need be.
func (n *Name) mechName(key OID) (MechName, error) {
	if n.mn != nil && n.key == key {
		return n.mn, nil
	}
	n.mu.Lock()
	if mn, ok := n.mns[key]; ok {
		n.mu.Unlock()
		return mn, nil
	}
	n.mu.Unlock()
	d, err := n.reg.resolve(key)
	if err != nil {
		return nil, err
	}
	value, nameType := n.value, n.nameType
	if n.mn != nil {
		if mn, ok, err := n.convertMN(d); ok {
			return mn, err
		}
		// An MN of another mechanism goes over by its display form.
		value, nameType = []byte(n.mn.String()), n.mn.NameType()
	}
	types := d.mech.NameTypes()
	if isHostbased(nameType) && !types.Contains(nameType) {
		// The two host-based OIDs name the same syntax.
		if nameType == NTHostbasedService {
			nameType = NTHostbasedServiceX
		} else {
			nameType = NTHostbasedService
		}
	}
	if !nameType.IsZero() && !types.Contains(nameType) {
		return nil, NewError(BadNameType, 0, key, "mechanism "+d.mech.Name()+" does not accept name type "+
			nameType.String()+" (name "+strconv.Quote(string(value))+")")
	}
	mn, err := d.importName(value, nameType)
	if err != nil {
		return nil, mechError(err, BadName, key, "mechanism "+d.mech.Name()+" rejected name "+
			strconv.Quote(string(value)))
	}
	if mn == nil {
		return nil, NewError(Failure, 0, key, "mechanism "+d.mech.Name()+" returned no name")
	}
	n.mu.Lock()
	if n.mns == nil {
		n.mns = make(map[OID]MechName)
	}
	n.mns[key] = mn
	n.mu.Unlock()
	return mn, nil
}

// convertMN turns an MN into one for d when both are the same mechanism
// reached by different OIDs (plain, claimed by an interposer, or special):
// the very MechName if d's implementation made it, else through the
// mechanism's exported form, which every implementation of a mechanism
// shares. ok is false when the mechanisms differ.
func (n *Name) convertMN(d dispatch) (mn MechName, ok bool, err error) {
	if d.via == "" && d.mech.OID() == n.mn.Mech() {
		return n.mn, true, nil
	}
	if n.reg.publicOID(n.key) != n.reg.publicOID(d.key) {
		return nil, false, nil
	}
	mn, err = d.importExportedName(n.mn.Export())
	if err != nil {
		return nil, true, mechError(err, BadName, d.key, "mechanism "+d.mech.Name()+" rejected name "+
			strconv.Quote(n.mn.String()))
	}
	if mn == nil {
		return nil, true, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no name")
	}
	return mn, true, nil
}

// Export returns the RFC 2743 §3.2 exported name token of an MN
// (gss_export_name); a mechanism-neutral name is a NameNotMN error.
func (n *Name) Export() ([]byte, error) {
	if n == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "Export called with a nil name")
	}
	if n.mn == nil {
		return nil, NewError(NameNotMN, 0, "", "name "+strconv.Quote(string(n.value))+
			" is not a mechanism name; Canonicalize it first")
	}
	return AppendExportedName(nil, n.key, n.mn.Export()), nil
}

// Duplicate returns an independent copy of n (gss_duplicate_name).
func (n *Name) Duplicate() *Name {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return &Name{
		reg:      n.reg,
		value:    append([]byte(nil), n.value...),
		nameType: n.nameType,
		key:      n.key,
		mn:       n.mn,
		attrs:    cloneAttrs(n.attrs),
		deleted:  cloneSet(n.deleted),
	}
}

func cloneAttrs(a []nameAttr) []nameAttr {
	out := make([]nameAttr, len(a))
	for i, x := range a {
		out[i] = x
		out[i].values = cloneValues(x.values)
	}
	return out
}

func cloneValues(v [][]byte) [][]byte {
	out := make([][]byte, len(v))
	for i, b := range v {
		out[i] = append([]byte(nil), b...)
	}
	return out
}

func cloneSet(m map[string]bool) map[string]bool {
	if m == nil {
		return nil
	}
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Attributes lists the names of n's RFC 6680 attributes: the mechanism's
// (for an MN) and the local ones (gss_inquire_name).
func (n *Name) Attributes() []string {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	if n.mn != nil {
		for _, a := range n.mn.Attributes() {
			if !n.deleted[a] && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	for _, a := range n.attrs {
		if !seen[a.name] {
			seen[a.name] = true
			out = append(out, a.name)
		}
	}
	return out
}

// GetAttribute returns the values of attr (gss_get_name_attribute).
// authenticated says whether the mechanism vouches for them; complete
// whether the values are all there are. Local attributes are never
// authenticated. A missing attribute is an Unavailable error.
func (n *Name) GetAttribute(attr string) (values [][]byte, authenticated, complete bool, err error) {
	if n == nil {
		return nil, false, false, NewError(CallInaccessibleRead|BadName, 0, "", "GetAttribute called with a nil name")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.attrs {
		if a.name == attr {
			return cloneValues(a.values), a.authenticated, a.complete, nil
		}
	}
	if n.mn != nil && !n.deleted[attr] {
		for _, name := range n.mn.Attributes() {
			if name == attr {
				v, auth, err := n.mn.Attribute(attr)
				if err != nil {
					return nil, false, false, mechError(err, Unavailable, n.key, "reading attribute "+strconv.Quote(attr))
				}
				return v, auth, true, nil
			}
		}
	}
	return nil, false, false, NewError(Unavailable, 0, n.key, "name "+strconv.Quote(n.String())+
		" has no attribute "+strconv.Quote(attr))
}

// SetAttribute sets a local attribute (gss_set_name_attribute). It is held
// by this Name only, is not authenticated, and travels in ExportComposite.
func (n *Name) SetAttribute(attr string, complete bool, values ...[]byte) error {
	if n == nil {
		return NewError(CallInaccessibleRead|BadName, 0, "", "SetAttribute called with a nil name")
	}
	if attr == "" {
		return NewError(BadName, 0, n.key, "empty attribute name")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := nameAttr{name: attr, values: cloneValues(values), complete: complete}
	for i := range n.attrs {
		if n.attrs[i].name == attr {
			n.attrs[i] = a
			return nil
		}
	}
	n.attrs = append(n.attrs, a)
	return nil
}

// DeleteAttribute removes attr from this Name (gss_delete_name_attribute);
// a mechanism attribute is hidden, not removed from the mechanism.
func (n *Name) DeleteAttribute(attr string) error {
	if n == nil {
		return NewError(CallInaccessibleRead|BadName, 0, "", "DeleteAttribute called with a nil name")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	found := false
	for i := range n.attrs {
		if n.attrs[i].name == attr {
			n.attrs = append(n.attrs[:i], n.attrs[i+1:]...)
			found = true
			break
		}
	}
	if n.mn != nil && !n.deleted[attr] {
		for _, a := range n.mn.Attributes() {
			if a == attr {
				if n.deleted == nil {
					n.deleted = make(map[string]bool)
				}
				n.deleted[attr] = true
				found = true
			}
		}
	}
	if !found {
		return NewError(Unavailable, 0, n.key, "name "+strconv.Quote(n.String())+" has no attribute "+
			strconv.Quote(attr))
	}
	return nil
}
