package gss

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// RFC 6680 exported composite names (TOK_ID 04 02) carry the RFC 2743 §3.2
// name followed by the name's attributes. The attribute part is a 4-byte
// length and that many bytes, absent when there are no attributes; this is
// the layout MIT's krb5 mechanism writes (its bytes there are a serialized
// authorization-data context). The bytes are either gsskit's own encoding,
// recognised by a leading magic, or a mechanism's, which only that mechanism
// can read (CompositeNameImporter).

// compositeMagic starts gsskit's attribute encoding:
//
//	"GSKA", 4-byte count, then per attribute: 4-byte name length, name,
//	1 flag byte (1 authenticated, 2 complete), 4-byte value count, then per
//	value a 4-byte length and the value.
const compositeMagic = "GSKA"

// CompositeAttributesExporter is implemented by a MechName whose mechanism
// serializes its attributes itself in composite name tokens.
type CompositeAttributesExporter interface {
	// ExportCompositeAttributes returns the attribute bytes, or nil if the
	// name has none.
	ExportCompositeAttributes() ([]byte, error)
}

// CompositeNameImporter is implemented by a Mechanism that reads composite
// name tokens whose attribute bytes are in its own format.
type CompositeNameImporter interface {
	ImportExportedCompositeName(name, attrs []byte) (MechName, error)
}

// ExportComposite returns an RFC 6680 exported composite name token of an MN
// (gss_export_name_composite). The mechanism's own attribute encoding is
// used when it has one and this Name has no local changes; otherwise
// gsskit's encoding carries every attribute with its flags.
//
// Authenticated flags survive the trip, so, like an exported context, the
// token must only travel between processes that trust each other.
func (n *Name) ExportComposite() ([]byte, error) {
	if n == nil {
		return nil, NewError(CallInaccessibleRead|BadName, 0, "", "ExportComposite called with a nil name")
	}
	if n.mn == nil {
		return nil, NewError(NameNotMN, 0, "", "name "+strconv.Quote(string(n.value))+
			" is not a mechanism name; Canonicalize it first")
	}
	blob := n.mn.Export()
	n.mu.Lock()
	local := len(n.attrs) != 0 || len(n.deleted) != 0
	var attrs []nameAttr
	var err error
	ex, isEx := n.mn.(CompositeAttributesExporter)
	if !local && !isEx {
		// What GetAttribute gives for each of Attributes, with the
		// mechanism's list asked for once rather than once per attribute.
		attrs, err = n.mechAttrsLocked()
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if isEx && !local {
		ablob, err := ex.ExportCompositeAttributes()
		if err != nil {
			return nil, mechError(err, Failure, n.key, "exporting the attributes of "+strconv.Quote(n.String()))
		}
		out := appendNameHeader(nil, exportCompositeTokID, n.key, blob)
		if len(ablob) == 0 {
			return out, nil
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(ablob)))
		return append(out, ablob...), nil
	}
	if local {
		for _, name := range n.Attributes() {
			v, auth, complete, err := n.GetAttribute(name)
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, nameAttr{name: name, values: v, authenticated: auth, complete: complete})
		}
	}
	if len(attrs) == 0 {
		return appendNameHeader(nil, exportCompositeTokID, n.key, blob), nil
	}
	slices.SortStableFunc(attrs, func(a, b nameAttr) int { return strings.Compare(a.name, b.name) })
	encLen := len(compositeMagic) + 4
	for _, a := range attrs {
		encLen += 4 + len(a.name) + 1 + 4
		for _, v := range a.values {
			encLen += 4 + len(v)
		}
	}
	out := make([]byte, 0, nameHeaderLen(n.key, blob)+4+encLen)
	out = appendNameHeader(out, exportCompositeTokID, n.key, blob)
	out = binary.BigEndian.AppendUint32(out, uint32(encLen))
	out = append(out, compositeMagic...)
	return appendAttrs(out, attrs), nil
}

// mechAttrsLocked is every attribute of the MN with its values, as
// GetAttribute gives them for a Name without local changes; n.mu is held.
func (n *Name) mechAttrsLocked() ([]nameAttr, error) {
	names := n.mn.Attributes()
	if len(names) == 0 {
		return nil, nil
	}
	attrs := make([]nameAttr, 0, len(names))
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue
		}
		v, auth, err := n.mn.Attribute(name)
		if err != nil {
			return nil, mechError(err, Unavailable, n.key, "reading attribute "+strconv.Quote(name))
		}
		attrs = append(attrs, nameAttr{name: name, values: v, authenticated: auth, complete: true})
	}
	return attrs, nil
}

func appendAttrs(out []byte, attrs []nameAttr) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(attrs)))
	for _, a := range attrs {
		out = binary.BigEndian.AppendUint32(out, uint32(len(a.name)))
		out = append(out, a.name...)
		var flags byte
		if a.authenticated {
			flags |= 1
		}
		if a.complete {
			flags |= 2
		}
		out = append(out, flags)
		out = binary.BigEndian.AppendUint32(out, uint32(len(a.values)))
		for _, v := range a.values {
			out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
			out = append(out, v...)
		}
	}
	return out
}

// parseComposite splits a composite token into mechanism, name blob and
// attribute bytes (nil when absent).
func parseComposite(tok []byte) (mech OID, blob, attrBytes []byte, err error) {
	mech, blob, rest, err := parseNameHeader(tok, exportCompositeTokID)
	if err != nil {
		return "", nil, nil, err
	}
	if len(rest) == 0 {
		return mech, blob, nil, nil
	}
	if len(rest) < 4 {
		return "", nil, nil, nameError("exported composite name is truncated in the attribute length")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) != uint64(len(rest)) {
		return "", nil, nil, nameError("exported composite name attribute length " +
			strconv.FormatUint(uint64(n), 10) + " does not match the " + strconv.Itoa(len(rest)) + " bytes that follow")
	}
	return mech, blob, rest, nil
}

// parseAttrs decodes gsskit's attribute encoding (after the magic).
func parseAttrs(rest []byte) ([]nameAttr, error) {
	u32 := func(what string) (uint32, error) {
		if len(rest) < 4 {
			return 0, nameError("exported composite name is truncated in " + what)
		}
		v := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		return v, nil
	}
	count, err := u32("the attribute count")
	if err != nil {
		return nil, err
	}
	// Each attribute takes at least 9 bytes; the check bounds the allocation.
	if uint64(count)*9 > uint64(len(rest)) {
		return nil, nameError("exported composite name claims " + strconv.FormatUint(uint64(count), 10) +
			" attributes in " + strconv.Itoa(len(rest)) + " bytes")
	}
	var attrs []nameAttr
	seen := map[string]bool{}
	for i := uint32(0); i < count; i++ {
		nl, err := u32("an attribute name length")
		if err != nil {
			return nil, err
		}
		if uint64(nl) > uint64(len(rest)) || nl == 0 {
			return nil, nameError("exported composite name has a bad attribute name length")
		}
		a := nameAttr{name: string(rest[:nl])}
		rest = rest[nl:]
		if seen[a.name] {
			return nil, nameError("exported composite name repeats attribute " + strconv.Quote(a.name))
		}
		seen[a.name] = true
		if len(rest) < 1 {
			return nil, nameError("exported composite name is truncated in attribute flags")
		}
		flags := rest[0]
		rest = rest[1:]
		if flags&^3 != 0 {
			return nil, nameError("exported composite name has unknown attribute flags 0x" + hexString([]byte{flags}))
		}
		a.authenticated, a.complete = flags&1 != 0, flags&2 != 0
		nv, err := u32("a value count")
		if err != nil {
			return nil, err
		}
		if uint64(nv)*4 > uint64(len(rest)) {
			return nil, nameError("exported composite name claims more values than it holds")
		}
		a.values = make([][]byte, 0, nv)
		for j := uint32(0); j < nv; j++ {
			vl, err := u32("a value length")
			if err != nil {
				return nil, err
			}
			if uint64(vl) > uint64(len(rest)) {
				return nil, nameError("exported composite name attribute value runs past the token")
			}
			a.values = append(a.values, append([]byte(nil), rest[:vl]...))
			rest = rest[vl:]
		}
		attrs = append(attrs, a)
	}
	if len(rest) != 0 {
		return nil, nameError(strconv.Itoa(len(rest)) + " bytes follow the exported composite name's attributes")
	}
	return attrs, nil
}

func (r *Registry) importComposite(tok []byte) (*Name, error) {
	mech, blob, attrBytes, err := parseComposite(tok)
	if err != nil {
		return nil, err
	}
	var attrs []nameAttr
	mechFormat := attrBytes != nil && (len(attrBytes) < len(compositeMagic) ||
		string(attrBytes[:len(compositeMagic)]) != compositeMagic)
	if attrBytes != nil && !mechFormat {
		if attrs, err = parseAttrs(attrBytes[len(compositeMagic):]); err != nil {
			return nil, err
		}
	}
	if !mechFormat {
		n, err := r.importExported(mech, blob)
		if err != nil {
			return nil, err
		}
		n.attrs = attrs
		return n, nil
	}
	d, err := r.resolve(mech)
	if err != nil {
		return nil, err
	}
	ci, ok := d.mech.(CompositeNameImporter)
	if !ok {
		return nil, NewError(DefectiveToken, 0, d.key, "exported composite name carries attributes in a format "+
			"mechanism "+d.mech.Name()+" does not read")
	}
	mn, err := ci.ImportExportedCompositeName(blob, attrBytes)
	if err != nil {
		return nil, mechError(err, DefectiveToken, d.key, "mechanism "+d.mech.Name()+
			" rejected its exported composite name")
	}
	if mn == nil {
		return nil, NewError(Failure, 0, d.key, "mechanism "+d.mech.Name()+" returned no name")
	}
	return r.newMN(d.key, mn), nil
}
