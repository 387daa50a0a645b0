package krb5

import (
	"encoding/binary"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	ccfile "github.com/gsskit/gsskit/internal/ccache"
)

// Kerberos name types (RFC 4120 §6.2, RFC 6111 for the well-known ones).
const (
	ntUnknown    int32 = nametype.KRB_NT_UNKNOWN
	ntPrincipal  int32 = nametype.KRB_NT_PRINCIPAL
	ntSrvInst    int32 = nametype.KRB_NT_SRV_INST
	ntSrvHst     int32 = nametype.KRB_NT_SRV_HST
	ntEnterprise int32 = nametype.KRB_NT_ENTERPRISE
	ntWellknown  int32 = 11
)

// The anonymous principal of RFC 8062.
const (
	anonymousRealm = "WELLKNOWN:ANONYMOUS"
	anonymousName  = "WELLKNOWN/ANONYMOUS@" + anonymousRealm
)

// principal is a Kerberos principal name. realm "" means the realm is not
// known yet: MIT's "referral realm", which a hostbased name without a
// domain_realm mapping gets, and which the KDC (or the client's realm)
// resolves when a ticket is requested.
type principal struct {
	nameType   int32
	components []string
	realm      string
}

// parsePrincipal parses MIT's string syntax: components separated by '/',
// then '@' and the realm, with '\' escaping the separators and \n \t \b \0
// standing for their control characters. A missing realm gives realm "".
func parsePrincipal(s string) (principal, error) {
	p, _, err := parsePrincipalFlags(s, false)
	return p, err
}

// parsePrincipalFlags is parsePrincipal reporting whether the string named a
// realm (even an empty one: "user@" is MIT's way of writing the referral
// realm). With enterprise set the first unescaped '@' belongs to the single
// component and '/' is an ordinary character, as in MIT's enterprise parsing.
func parsePrincipalFlags(s string, enterprise bool) (p principal, hasRealm bool, err error) {
	cp, hasRealm, err := ccfile.ParsePrincipal(s, enterprise)
	if err != nil {
		return principal{}, false, gss.NewError(gss.BadName, krbMinor(krb5ParseMalformed), gss.MechKrb5,
			"malformed Kerberos principal "+strconv.Quote(s)+": "+err.Error())
	}
	p = principal{nameType: ntPrincipal, components: cp.Components, realm: cp.Realm}
	if enterprise {
		p.nameType = ntEnterprise
	}
	if p.isAnonymous() {
		p.nameType = ntWellknown
	}
	return p, hasRealm, nil
}

// krb5ParseMalformed is MIT's KRB5_PARSE_MALFORMED, as an offset into the
// krb5 error table (the minor status C callers see for a bad principal).
const krb5ParseMalformed = 134

// String unparses p in MIT's syntax. The realm separator is always written,
// so an unknown realm shows as a trailing '@' as MIT displays it.
func (p principal) String() string {
	// One allocation: the size without escapes, grown only when a
	// component needs them.
	n := len(p.realm) + 1
	for _, c := range p.components {
		n += len(c) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, c := range p.components {
		if i > 0 {
			sb.WriteByte('/')
		}
		quoteComponent(&sb, c)
	}
	sb.WriteByte('@')
	quoteComponent(&sb, p.realm)
	return sb.String()
}

// nameString is String without the realm (MIT's KRB5_PRINCIPAL_UNPARSE_NO_REALM).
func (p principal) nameString() string {
	s := p.String()
	return s[:len(s)-len(p.realmString())-1]
}

func (p principal) realmString() string {
	if !needsQuoting(p.realm) {
		return p.realm
	}
	var sb strings.Builder
	quoteComponent(&sb, p.realm)
	return sb.String()
}

func quoteComponent(sb *strings.Builder, c string) {
	if !needsQuoting(c) {
		sb.WriteString(c)
		return
	}
	for i := 0; i < len(c); i++ {
		switch b := c[i]; b {
		case '\\', '/', '@':
			sb.WriteByte('\\')
			sb.WriteByte(b)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case 0:
			sb.WriteString(`\0`)
		default:
			sb.WriteByte(b)
		}
	}
}

// needsQuoting reports whether quoteComponent would change c.
func needsQuoting(c string) bool {
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '\\', '/', '@', '\n', '\t', '\b', 0:
			return true
		}
	}
	return false
}

// equal compares components and realm; the name type is not significant
// (RFC 4120 §6.2), as krb5_principal_compare ignores it.
func (p principal) equal(q principal) bool {
	return p.realm == q.realm && slices.Equal(p.components, q.components)
}

// equalIgnoringRealm compares the components only.
func (p principal) equalIgnoringRealm(q principal) bool {
	return slices.Equal(p.components, q.components)
}

// matchesAcceptor reports whether a ticket's server principal srv is
// acceptable for the acceptor name p: a realm-less name (a hostbased name
// without a domain_realm mapping) matches the same components in any realm,
// and a name with no components matches anything.
func (p principal) matchesAcceptor(srv principal) bool {
	if len(p.components) == 0 {
		return true
	}
	if p.realm == "" {
		return p.equalIgnoringRealm(srv)
	}
	return p.equal(srv)
}

func (p principal) isAnonymous() bool {
	return p.realm == anonymousRealm && len(p.components) == 2 &&
		p.components[0] == "WELLKNOWN" && p.components[1] == "ANONYMOUS"
}

// isTGS reports whether p is a ticket-granting service krbtgt/REALM.
func (p principal) isTGS() bool {
	return len(p.components) == 2 && p.components[0] == "krbtgt"
}

func (p principal) clone() principal {
	p.components = slices.Clone(p.components)
	return p
}

// gokrb5 converts p to gokrb5's types.
func (p principal) gokrb5() (types.PrincipalName, string) {
	return types.PrincipalName{NameType: p.nameType, NameString: slices.Clone(p.components)}, p.realm
}

func principalFromGokrb5(pn types.PrincipalName, realm string) principal {
	return principal{nameType: pn.NameType, components: slices.Clone(pn.NameString), realm: realm}
}

func tgsPrincipal(server, client string) principal {
	return principal{nameType: ntSrvInst, components: []string{"krbtgt", server}, realm: client}
}

// krbName is the Kerberos mechanism name (an MN).
type krbName struct {
	p       principal
	gssType gss.OID // the name type reported by NameType
	mech    gss.OID // the OID the name was made through; "" = gss.MechKrb5

	mu    sync.Mutex
	attrs map[string]nameAttr
	order []string
	// pac lists the known buffers of the PAC attribute under their
	// attribute names, worked out at the first look after the PAC is set:
	// exporting a composite name asks for the attribute list once per
	// attribute, and each look used to parse the PAC again.
	pac     []pacAttr
	pacDone bool

	// str is p.String(), worked out at the first look: a name is shown,
	// exported and put in context tokens several times per context.
	str     string
	strOnce sync.Once
}

type pacAttr struct {
	name string
	data []byte
}

// pacAttrs is n.pac, worked out if need be; n.mu is held.
func (n *krbName) pacAttrs() []pacAttr {
	if !n.pacDone {
		n.pac, n.pacDone = nil, true
		if a, ok := n.attrs[attrMSPAC]; ok && len(a.values) > 0 {
			bufs := pacBuffers(a.values[0])
			n.pac = make([]pacAttr, 0, len(bufs))
			for _, b := range bufs {
				if name, ok := pacBufferAttrs[b.typ]; ok {
					n.pac = append(n.pac, pacAttr{name: name, data: b.data})
				}
			}
			if len(n.pac) == 0 {
				n.pac = nil
			}
		}
	}
	return n.pac
}

type nameAttr struct {
	values        [][]byte
	authenticated bool
}

// Name attributes (RFC 6680) the acceptor sets from a ticket.
const (
	attrMSPAC          = "urn:mspac:"
	attrAuthIndicators = "auth-indicators"
)

func newName(p principal, gssType gss.OID) *krbName {
	if gssType == "" {
		gssType = gss.NTKrb5Principal
	}
	return &krbName{p: p.clone(), gssType: gssType}
}

// newNameShared is newName for a principal whose slices nobody will modify
// (freshly decoded, or held by a cache that never does): the name shares
// them instead of copying.
func newNameShared(p principal) *krbName {
	return &krbName{p: p, gssType: gss.NTKrb5Principal}
}

func (n *krbName) principal() principal { return n.p.clone() }

// setAttribute records an attribute the mechanism vouches for (or not).
// Setting it again replaces the values.
func (n *krbName) setAttribute(attr string, values [][]byte, authenticated bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.attrs == nil {
		n.attrs = make(map[string]nameAttr)
	}
	if _, ok := n.attrs[attr]; !ok {
		n.order = append(n.order, attr)
	}
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = slices.Clone(v)
	}
	n.attrs[attr] = nameAttr{values: vs, authenticated: authenticated}
	n.pac, n.pacDone = nil, false
}

func (n *krbName) Mech() gss.OID {
	if n.mech != "" {
		return n.mech
	}
	return gss.MechKrb5
}
func (n *krbName) String() string {
	n.strOnce.Do(func() { n.str = n.p.String() })
	return n.str
}
func (n *krbName) NameType() gss.OID { return n.gssType }

// Equal compares principals as MIT's gss_compare_name does: components and
// realm exactly, so a hostbased name whose realm is still unknown does not
// equal the same service in a named realm (acceptor matching, which does
// allow that, is matchesAcceptor). Anonymous names never compare equal.
func (n *krbName) Equal(other gss.MechName) bool {
	o, ok := other.(*krbName)
	if !ok || o == nil {
		return false
	}
	if n.p.isAnonymous() || o.p.isAnonymous() {
		return false
	}
	return n.p.equal(o.p)
}

// Export is the principal's display string, which is what MIT's krb5
// mechanism puts in an exported name token and parses back.
func (n *krbName) Export() []byte { return []byte(n.String()) }

// Attributes lists the attributes set, and for a PAC also one
// "urn:mspac:<buffer>" attribute per PAC buffer type gsskit knows, as MIT
// lists them.
func (n *krbName) Attributes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	pac := n.pacAttrs()
	if len(n.order)+len(pac) == 0 {
		return nil
	}
	out := append(make([]string, 0, len(n.order)+len(pac)), n.order...)
	for _, p := range pac {
		if !slices.Contains(out, p.name) {
			out = append(out, p.name)
		}
	}
	return out
}

func (n *krbName) Attribute(attr string) ([][]byte, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.attrs[attr]
	if !ok && strings.HasPrefix(attr, attrMSPAC) && attr != attrMSPAC {
		// A PAC buffer: its raw NDR bytes, vouched for as the PAC is.
		for _, p := range n.pacAttrs() {
			if p.name == attr {
				return [][]byte{slices.Clone(p.data)}, n.attrs[attrMSPAC].authenticated, nil
			}
		}
	}
	if !ok {
		return nil, false, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			"name "+n.p.String()+" has no attribute "+strconv.Quote(attr))
	}
	vs := make([][]byte, len(a.values))
	for i, v := range a.values {
		vs[i] = slices.Clone(v)
	}
	return vs, a.authenticated, nil
}

// attributeView is the values of a set attribute (not a PAC buffer) and
// whether they are authenticated, without copies: the caller must not
// modify them. setAttribute replaces values, never changes them in place.
func (n *krbName) attributeView(attr string) ([][]byte, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.attrs[attr]
	return a.values, a.authenticated
}

// importName turns a GSS name of any supported type into a principal.
func (m *mechanism) importName(value []byte, nameType gss.OID) (*krbName, error) {
	s := string(value)
	badName := func(msg string) error {
		return gss.NewError(gss.BadName, 0, gss.MechKrb5, msg)
	}
	switch nameType {
	case gss.NTHostbasedService, gss.NTHostbasedServiceX:
		p, err := m.hostbasedPrincipal(s)
		if err != nil {
			return nil, err
		}
		return newName(p, gss.NTKrb5Principal), nil
	case "", gss.NTKrb5Principal, gss.NTUserName, gss.NTKrb5Enterprise:
		if s == "" {
			return nil, badName("empty Kerberos name")
		}
		p, hasRealm, err := parsePrincipalFlags(s, nameType == gss.NTKrb5Enterprise)
		if err != nil {
			return nil, err
		}
		if !hasRealm {
			if p.realm, err = m.requireDefaultRealm("name " + strconv.Quote(s)); err != nil {
				return nil, err
			}
		}
		t := gss.NTKrb5Principal
		if p.isAnonymous() {
			t = gss.NTAnonymous
		}
		return newName(p, t), nil
	case gss.NTMachineUIDName:
		if len(value) != 4 {
			return nil, badName("machine uid name is " + strconv.Itoa(len(value)) + " bytes, want the 4 bytes of a uid")
		}
		return m.uidName(strconv.FormatUint(uint64(binary.NativeEndian.Uint32(value)), 10))
	case gss.NTStringUIDName:
		if _, err := strconv.ParseUint(s, 10, 32); err != nil {
			return nil, badName("string uid name " + strconv.Quote(s) + " is not a decimal uid")
		}
		return m.uidName(s)
	case gss.NTAnonymous:
		p, _ := parsePrincipal(anonymousName)
		return newName(p, gss.NTAnonymous), nil
	case gss.NTExportName:
		// The mechglue strips the RFC 2743 framing; a bare blob here is
		// the mechanism part.
		return m.importExportedName(value)
	}
	return nil, gss.NewError(gss.BadNameType, 0, gss.MechKrb5,
		"Kerberos cannot import a name of type "+nameType.String())
}

// importExportedName parses the principal string of an exported name.
func (m *mechanism) importExportedName(blob []byte) (*krbName, error) {
	s := string(blob)
	if s == "" {
		return nil, gss.NewError(gss.BadName, 0, gss.MechKrb5, "exported Kerberos name is empty")
	}
	p, hasRealm, err := parsePrincipalFlags(s, false)
	if err != nil {
		return nil, err
	}
	if !hasRealm {
		if p.realm, err = m.requireDefaultRealm("exported name " + strconv.Quote(s)); err != nil {
			return nil, err
		}
	}
	t := gss.NTKrb5Principal
	if p.isAnonymous() {
		t = gss.NTAnonymous
	}
	return newName(p, t), nil
}

// uidName maps a local uid to the user's principal in the default realm, as
// MIT does for the uid name types.
func (m *mechanism) uidName(uid string) (*krbName, error) {
	u, err := user.LookupId(uid)
	if err != nil {
		return nil, gss.WrapError(gss.BadName, 0, gss.MechKrb5, "no local user has uid "+uid, err)
	}
	realm, err := m.requireDefaultRealm("user " + u.Username + " (uid " + uid + ")")
	if err != nil {
		return nil, err
	}
	return newName(principal{nameType: ntPrincipal, components: []string{u.Username}, realm: realm}, gss.NTKrb5Principal), nil
}

// hostbasedPrincipal turns "service@host" (or "service", meaning this host)
// into service/host@REALM. The host is lower-cased as MIT does, and its
// realm comes from [domain_realm]; without a mapping the realm stays unknown
// (""), which MIT calls the referral realm: the client's KDC resolves it.
func (m *mechanism) hostbasedPrincipal(s string) (principal, error) {
	service, host, hasHost := strings.Cut(s, "@")
	if service == "" {
		return principal{}, gss.NewError(gss.BadName, 0, gss.MechKrb5,
			"host-based service name "+strconv.Quote(s)+" has no service part")
	}
	if !hasHost {
		h, err := os.Hostname()
		if err != nil {
			return principal{}, gss.WrapError(gss.BadName, 0, gss.MechKrb5,
				"host-based service name "+strconv.Quote(s)+" names this host, whose name is unknown", err)
		}
		host = h
	} else if host == "" {
		return principal{}, gss.NewError(gss.BadName, 0, gss.MechKrb5,
			"host-based service name "+strconv.Quote(s)+" has an empty host after '@'")
	}
	cfg := m.config()
	host = cfg.canonicalHost(host)
	return principal{
		nameType:   ntSrvHst,
		components: []string{service, host},
		realm:      cfg.hostRealm(host),
	}, nil
}

// PAC buffer types ([MS-PAC] 2.4) and the attribute suffixes MIT uses.
var pacBufferNames = map[uint32]string{
	1:  "logon-info",
	2:  "credentials-info",
	6:  "server-checksum",
	7:  "privsvr-checksum",
	10: "client-info",
	11: "delegation-info",
	12: "upn-dns-info",
	13: "client-claims-info",
	14: "device-info",
	15: "device-claims-info",
	16: "ticket-checksum",
	17: "attributes-info",
	18: "requestor-sid",
	19: "full-checksum",
}

type pacBuffer struct {
	typ  uint32
	data []byte
}

// pacBuffers splits a raw PAC (PACTYPE: u32 count, u32 version, then
// {u32 type, u32 size, u64 offset} per buffer, little-endian) into its
// buffers. A malformed PAC yields the buffers before the defect; the PAC
// itself was already checked by the acceptor, so this never fails a call.
// pacBufferAttrs is pacBufferNames as attribute names.
var pacBufferAttrs = func() map[uint32]string {
	m := make(map[uint32]string, len(pacBufferNames))
	for typ, name := range pacBufferNames {
		m[typ] = attrMSPAC + name
	}
	return m
}()

func pacBuffers(pac []byte) []pacBuffer {
	if len(pac) < 8 {
		return nil
	}
	n := binary.LittleEndian.Uint32(pac)
	var out []pacBuffer
	for i := uint64(0); i < uint64(n); i++ {
		off := 8 + 16*i
		if off+16 > uint64(len(pac)) {
			break
		}
		typ := binary.LittleEndian.Uint32(pac[off:])
		size := uint64(binary.LittleEndian.Uint32(pac[off+4:]))
		at := binary.LittleEndian.Uint64(pac[off+8:])
		if at > uint64(len(pac)) || size > uint64(len(pac))-at {
			break
		}
		out = append(out, pacBuffer{typ: typ, data: pac[at : at+size]})
	}
	return out
}
