package gssproxy

import (
	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// This file is the whole of gss_proxy.x (program 400112, version 1) as Go
// types, each with hand-written MarshalXDR and UnmarshalXDR methods. Field
// order is the wire order. Decoded byte slices are copies the caller owns.
//
// Conventions shared by every type:
//   - gssx_buffer and octet_string are []byte; utf8string is string (the
//     bytes are kept as they arrived, NUL terminators included).
//   - gssx_OID is gss.OID (DER content bytes, "" is GSS_C_NO_OID) and
//     gssx_OID_set is gss.OIDSet (empty is GSS_C_NO_OID_SET), as in the .x.
//   - XDR optional data ("*" in the .x) is a Go pointer; nil is absent.
//     For an optional buffer that means *[]byte, because present-but-empty
//     and absent are different on the wire and round trips must keep them.
//   - Enumerations keep whatever number arrived, so that a decoded message
//     re-encodes to the same bytes; judging values is the caller's job.

// Program and Version identify GSS-PROXY in ONC RPC.
const (
	Program uint32 = 400112
	Version uint32 = 1
)

// Procedure numbers of GSS-PROXY version 1.
const (
	ProcIndicateMechs      uint32 = 1
	ProcGetCallContext     uint32 = 2
	ProcImportAndCanonName uint32 = 3
	ProcExportCred         uint32 = 4
	ProcImportCred         uint32 = 5
	ProcAcquireCred        uint32 = 6
	ProcStoreCred          uint32 = 7
	ProcInitSecContext     uint32 = 8
	ProcAcceptSecContext   uint32 = 9
	ProcReleaseHandle      uint32 = 10
	ProcGetMIC             uint32 = 11
	ProcVerify             uint32 = 12
	ProcWrap               uint32 = 13
	ProcUnwrap             uint32 = 14
	ProcWrapSizeLimit      uint32 = 15
)

var procNames = [...]string{
	ProcIndicateMechs:      "GSSX_INDICATE_MECHS",
	ProcGetCallContext:     "GSSX_GET_CALL_CONTEXT",
	ProcImportAndCanonName: "GSSX_IMPORT_AND_CANON_NAME",
	ProcExportCred:         "GSSX_EXPORT_CRED",
	ProcImportCred:         "GSSX_IMPORT_CRED",
	ProcAcquireCred:        "GSSX_ACQUIRE_CRED",
	ProcStoreCred:          "GSSX_STORE_CRED",
	ProcInitSecContext:     "GSSX_INIT_SEC_CONTEXT",
	ProcAcceptSecContext:   "GSSX_ACCEPT_SEC_CONTEXT",
	ProcReleaseHandle:      "GSSX_RELEASE_HANDLE",
	ProcGetMIC:             "GSSX_GET_MIC",
	ProcVerify:             "GSSX_VERIFY",
	ProcWrap:               "GSSX_WRAP",
	ProcUnwrap:             "GSSX_UNWRAP",
	ProcWrapSizeLimit:      "GSSX_WRAP_SIZE_LIMIT",
}

// ProcName is the gss_proxy.x name of a procedure, "" for numbers the
// protocol does not define.
func ProcName(proc uint32) string {
	if proc < uint32(len(procNames)) {
		return procNames[proc]
	}
	return ""
}

// Decoding bounds. The .x leaves every length unbounded, and the reference
// relies on its 1 MiB record limit alone; these caps stop a hostile record
// from describing huge arrays of tiny elements while staying far above what
// any real mechanism sends (an MIT-exported krb5 context is a few KiB).
const (
	maxBuffer   = oncrpc.DefaultMaxRecordSize // tokens, handles, exported contexts
	maxOID      = 256                         // DER content bytes; special OIDs are ~20
	maxText     = 64 << 10                    // status strings, locale
	maxOIDs     = 1024                        // members of an OID set
	maxOptions  = 1024                        // options or extensions of one item
	maxAttrs    = 1024                        // name attributes, mech attribute descriptions
	maxMechs    = 256                         // gssx_mech_info entries
	maxElements = 256                         // credential elements
	maxBuffers  = 1024                        // wrap/unwrap buffer arrays
)

// CredUsage is gssx_cred_usage. Its numbers differ from gss.CredUsage (the
// C GSS_C_BOTH is 0, GSSX_C_BOTH is 3); see ToGSS and CredUsageFromGSS.
type CredUsage uint32

const (
	CredInitiate CredUsage = 1 // GSSX_C_INITIATE
	CredAccept   CredUsage = 2 // GSSX_C_ACCEPT
	CredBoth     CredUsage = 3 // GSSX_C_BOTH
)

// ToGSS maps a wire usage onto the C usage; unknown values become CredBoth,
// the daemon's own reading of anything it does not recognise.
func (u CredUsage) ToGSS() gss.CredUsage {
	switch u {
	case CredInitiate:
		return gss.CredInitiate
	case CredAccept:
		return gss.CredAccept
	}
	return gss.CredBoth
}

// CredUsageFromGSS maps a C usage onto the wire usage.
func CredUsageFromGSS(u gss.CredUsage) CredUsage {
	switch u {
	case gss.CredInitiate:
		return CredInitiate
	case gss.CredAccept:
		return CredAccept
	}
	return CredBoth
}

// HandleType is gssx_handle_type, the discriminant of gssx_handle.
type HandleType uint32

const (
	HandleSecCtx HandleType = 0 // GSSX_C_HANDLE_SEC_CTX
	HandleCred   HandleType = 1 // GSSX_C_HANDLE_CRED
)

// reader wraps an oncrpc.Decoder with a sticky error, so that a structure
// of twenty fields reads as twenty lines and is checked once.
type reader struct {
	d   *oncrpc.Decoder
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, err := r.d.Uint32()
	r.fail(err)
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := r.d.Uint64()
	r.fail(err)
	return v
}

func (r *reader) boolean() bool {
	if r.err != nil {
		return false
	}
	v, err := r.d.Bool()
	r.fail(err)
	return v
}

func (r *reader) buf(max int) []byte {
	if r.err != nil {
		return nil
	}
	v, err := r.d.Opaque(max)
	r.fail(err)
	return v
}

func (r *reader) text() string {
	if r.err != nil {
		return ""
	}
	v, err := r.d.String(maxText)
	r.fail(err)
	return v
}

func (r *reader) oid() gss.OID {
	if r.err != nil {
		return ""
	}
	v, err := r.d.OpaqueView(maxOID)
	r.fail(err)
	return gss.OID(v) // the conversion copies
}

func (r *reader) count(max int) int {
	if r.err != nil {
		return 0
	}
	n, err := r.d.ArrayLen(max)
	r.fail(err)
	return n
}

func (r *reader) oidSet() gss.OIDSet {
	n := r.count(maxOIDs)
	if n == 0 {
		return nil
	}
	s := make(gss.OIDSet, n)
	for i := range s {
		s[i] = r.oid()
	}
	return s
}

func (r *reader) options() []Option { return decodeArray[Option](r, maxOptions) }

func (r *reader) optBuf(max int) *[]byte {
	if !r.boolean() {
		return nil
	}
	b := r.buf(max)
	return &b
}

func (r *reader) optBool() *bool {
	if !r.boolean() {
		return nil
	}
	v := r.boolean()
	return &v
}

func (r *reader) optU64() *uint64 {
	if !r.boolean() {
		return nil
	}
	v := r.u64()
	return &v
}

// decoder is implemented by every pointer to a type in this file.
type decoder interface{ decode(r *reader) }

func decodeOptional[T any, P interface {
	*T
	decoder
}](r *reader) *T {
	if !r.boolean() {
		return nil
	}
	v := P(new(T))
	v.decode(r)
	return (*T)(v)
}

func decodeArray[T any, P interface {
	*T
	decoder
}](r *reader, max int) []T {
	n := r.count(max)
	if n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		P(&s[i]).decode(r)
		if r.err != nil {
			return nil
		}
	}
	return s
}

// unmarshal runs a decode method over d and returns its first error.
func unmarshal(d *oncrpc.Decoder, v decoder) error {
	r := reader{d: d}
	v.decode(&r)
	return r.err
}

// Encoding helpers.

func putOID(e *oncrpc.Encoder, o gss.OID) { e.String(string(o)) }

func putOIDSet(e *oncrpc.Encoder, s gss.OIDSet) {
	e.Uint32(uint32(len(s)))
	for _, o := range s {
		putOID(e, o)
	}
}

func putOptions(e *oncrpc.Encoder, opts []Option) {
	e.Uint32(uint32(len(opts)))
	for i := range opts {
		opts[i].MarshalXDR(e)
	}
}

func putOptBuf(e *oncrpc.Encoder, b *[]byte) {
	e.Bool(b != nil)
	if b != nil {
		e.Opaque(*b)
	}
}

func putOptBool(e *oncrpc.Encoder, v *bool) {
	e.Bool(v != nil)
	if v != nil {
		e.Bool(*v)
	}
}

func putOptU64(e *oncrpc.Encoder, v *uint64) {
	e.Bool(v != nil)
	if v != nil {
		e.Uint64(*v)
	}
}

func putOptional(e *oncrpc.Encoder, m oncrpc.Marshaler, present bool) {
	e.Bool(present)
	if present {
		m.MarshalXDR(e)
	}
}

// Option is gssx_option: a name and a value, both buffers. The reference and
// the kernel write names and string values with their C terminator and
// compare with it; see the Opt* constants.
type Option struct {
	Name  []byte // "option" in the .x
	Value []byte
}

func (o *Option) MarshalXDR(e *oncrpc.Encoder) {
	e.Opaque(o.Name)
	e.Opaque(o.Value)
}

func (o *Option) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, o) }

func (o *Option) decode(r *reader) {
	o.Name = r.buf(maxBuffer)
	o.Value = r.buf(maxBuffer)
}

// MechAttr is gssx_mech_attr, the description of one mechanism attribute.
type MechAttr struct {
	Attr       gss.OID
	Name       []byte
	ShortDesc  []byte
	LongDesc   []byte
	Extensions []Option
}

func (a *MechAttr) MarshalXDR(e *oncrpc.Encoder) {
	putOID(e, a.Attr)
	e.Opaque(a.Name)
	e.Opaque(a.ShortDesc)
	e.Opaque(a.LongDesc)
	putOptions(e, a.Extensions)
}

func (a *MechAttr) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *MechAttr) decode(r *reader) {
	a.Attr = r.oid()
	a.Name = r.buf(maxBuffer)
	a.ShortDesc = r.buf(maxBuffer)
	a.LongDesc = r.buf(maxBuffer)
	a.Extensions = r.options()
}

// MechInfo is gssx_mech_info, what INDICATE_MECHS says about one mechanism.
type MechInfo struct {
	Mech           gss.OID
	NameTypes      gss.OIDSet
	MechAttrs      gss.OIDSet
	KnownMechAttrs gss.OIDSet
	CredOptions    gss.OIDSet
	SecCtxOptions  gss.OIDSet
	SASLMechName   []byte // saslname_sasl_mech_name
	MechName       []byte // saslname_mech_name
	MechDesc       []byte // saslname_mech_desc
	Extensions     []Option
}

func (m *MechInfo) MarshalXDR(e *oncrpc.Encoder) {
	putOID(e, m.Mech)
	putOIDSet(e, m.NameTypes)
	putOIDSet(e, m.MechAttrs)
	putOIDSet(e, m.KnownMechAttrs)
	putOIDSet(e, m.CredOptions)
	putOIDSet(e, m.SecCtxOptions)
	e.Opaque(m.SASLMechName)
	e.Opaque(m.MechName)
	e.Opaque(m.MechDesc)
	putOptions(e, m.Extensions)
}

func (m *MechInfo) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, m) }

func (m *MechInfo) decode(r *reader) {
	m.Mech = r.oid()
	m.NameTypes = r.oidSet()
	m.MechAttrs = r.oidSet()
	m.KnownMechAttrs = r.oidSet()
	m.CredOptions = r.oidSet()
	m.SecCtxOptions = r.oidSet()
	m.SASLMechName = r.buf(maxBuffer)
	m.MechName = r.buf(maxBuffer)
	m.MechDesc = r.buf(maxBuffer)
	m.Extensions = r.options()
}

// NameAttr is gssx_name_attr: one RFC 6680 attribute and one value.
type NameAttr struct {
	Attr       []byte
	Value      []byte
	Extensions []Option
}

func (a *NameAttr) MarshalXDR(e *oncrpc.Encoder) {
	e.Opaque(a.Attr)
	e.Opaque(a.Value)
	putOptions(e, a.Extensions)
}

func (a *NameAttr) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *NameAttr) decode(r *reader) {
	a.Attr = r.buf(maxBuffer)
	a.Value = r.buf(maxBuffer)
	a.Extensions = r.options()
}

// Status is gssx_status, the first field of every result.
type Status struct {
	Major     uint64 // RFC 2744 major status, the C value
	Mech      gss.OID
	Minor     uint64
	MajorText string // the reference includes the C string's NUL
	MinorText string
	ServerCtx []byte
	Options   []Option
}

func (s *Status) MarshalXDR(e *oncrpc.Encoder) {
	e.Uint64(s.Major)
	putOID(e, s.Mech)
	e.Uint64(s.Minor)
	e.String(s.MajorText)
	e.String(s.MinorText)
	e.Opaque(s.ServerCtx)
	putOptions(e, s.Options)
}

func (s *Status) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *Status) decode(r *reader) {
	s.Major = r.u64()
	s.Mech = r.oid()
	s.Minor = r.u64()
	s.MajorText = r.text()
	s.MinorText = r.text()
	s.ServerCtx = r.buf(maxBuffer)
	s.Options = r.options()
}

// Err turns a status into the error a GSS call returns: nil for success
// and for a bare CONTINUE_NEEDED (an incomplete establishment is not a
// failure), else a *gss.Error with the daemon's major code as is (C values
// travel unchanged), its minor code and mechanism, and its minor text as the
// message. The daemon's strings end in NUL; it is dropped.
func (s *Status) Err() error {
	if s.Major&^uint64(gss.ContinueNeeded) == 0 {
		return nil
	}
	msg := string(trimNUL([]byte(s.MinorText)))
	if msg == "" {
		msg = "the gss-proxy daemon gave no mechanism detail (minor status " + utoa(s.Minor) + ")"
	} else {
		msg = "gss-proxy daemon: " + msg
	}
	return gss.NewError(gss.MajorStatus(s.Major), uint32(s.Minor), s.Mech, msg)
}

func utoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// CallCtx is gssx_call_ctx, the first field of every argument.
type CallCtx struct {
	Locale    string
	ServerCtx []byte
	Options   []Option
}

func (c *CallCtx) MarshalXDR(e *oncrpc.Encoder) {
	e.String(c.Locale)
	e.Opaque(c.ServerCtx)
	putOptions(e, c.Options)
}

func (c *CallCtx) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, c) }

func (c *CallCtx) decode(r *reader) {
	c.Locale = r.text()
	c.ServerCtx = r.buf(maxBuffer)
	c.Options = r.options()
}

// Name is gssx_name. A mechanism-neutral name has Display and NameType; a
// mechanism name has at least Exported (an RFC 2743 §3.2 token).
type Name struct {
	Display           []byte
	NameType          gss.OID
	Exported          []byte
	ExportedComposite []byte
	Attributes        []NameAttr
	Extensions        []Option
}

func (n *Name) MarshalXDR(e *oncrpc.Encoder) {
	e.Opaque(n.Display)
	putOID(e, n.NameType)
	e.Opaque(n.Exported)
	e.Opaque(n.ExportedComposite)
	e.Uint32(uint32(len(n.Attributes)))
	for i := range n.Attributes {
		n.Attributes[i].MarshalXDR(e)
	}
	putOptions(e, n.Extensions)
}

func (n *Name) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, n) }

func (n *Name) decode(r *reader) {
	n.Display = r.buf(maxBuffer)
	n.NameType = r.oid()
	n.Exported = r.buf(maxBuffer)
	n.ExportedComposite = r.buf(maxBuffer)
	n.Attributes = decodeArray[NameAttr](r, maxAttrs)
	n.Extensions = r.options()
}

// CredElement is gssx_cred_element, one mechanism's part of a credential.
type CredElement struct {
	MN               Name
	Mech             gss.OID
	Usage            CredUsage
	InitiatorTimeRec uint64 // gssx_time
	AcceptorTimeRec  uint64
	Options          []Option
}

func (c *CredElement) MarshalXDR(e *oncrpc.Encoder) {
	c.MN.MarshalXDR(e)
	putOID(e, c.Mech)
	e.Uint32(uint32(c.Usage))
	e.Uint64(c.InitiatorTimeRec)
	e.Uint64(c.AcceptorTimeRec)
	putOptions(e, c.Options)
}

func (c *CredElement) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, c) }

func (c *CredElement) decode(r *reader) {
	c.MN.decode(r)
	c.Mech = r.oid()
	c.Usage = CredUsage(r.u32())
	c.InitiatorTimeRec = r.u64()
	c.AcceptorTimeRec = r.u64()
	c.Options = r.options()
}

// Cred is gssx_cred: a description plus the daemon's handle. The reference
// daemon's HandleRef is its encrypted, self-contained credential, and
// NeedsRelease is false.
type Cred struct {
	DesiredName  Name
	Elements     []CredElement
	HandleRef    []byte // cred_handle_reference
	NeedsRelease bool
}

func (c *Cred) MarshalXDR(e *oncrpc.Encoder) {
	c.DesiredName.MarshalXDR(e)
	e.Uint32(uint32(len(c.Elements)))
	for i := range c.Elements {
		c.Elements[i].MarshalXDR(e)
	}
	e.Opaque(c.HandleRef)
	e.Bool(c.NeedsRelease)
}

func (c *Cred) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, c) }

func (c *Cred) decode(r *reader) {
	c.DesiredName.decode(r)
	c.Elements = decodeArray[CredElement](r, maxElements)
	c.HandleRef = r.buf(maxBuffer)
	c.NeedsRelease = r.boolean()
}

// Ctx is gssx_ctx: a security context as GSS_Inquire_context describes it,
// plus an exported context token (or daemon state) to carry it.
type Ctx struct {
	ExportedToken    []byte // exported_context_token
	State            []byte
	NeedsRelease     bool
	Mech             gss.OID
	SrcName          Name
	TargName         Name
	Lifetime         uint64 // gssx_time; the reference sends seconds left
	Flags            uint64
	LocallyInitiated bool
	Open             bool
	Options          []Option
}

func (c *Ctx) MarshalXDR(e *oncrpc.Encoder) {
	e.Opaque(c.ExportedToken)
	e.Opaque(c.State)
	e.Bool(c.NeedsRelease)
	putOID(e, c.Mech)
	c.SrcName.MarshalXDR(e)
	c.TargName.MarshalXDR(e)
	e.Uint64(c.Lifetime)
	e.Uint64(c.Flags)
	e.Bool(c.LocallyInitiated)
	e.Bool(c.Open)
	putOptions(e, c.Options)
}

func (c *Ctx) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, c) }

func (c *Ctx) decode(r *reader) {
	c.ExportedToken = r.buf(maxBuffer)
	c.State = r.buf(maxBuffer)
	c.NeedsRelease = r.boolean()
	c.Mech = r.oid()
	c.SrcName.decode(r)
	c.TargName.decode(r)
	c.Lifetime = r.u64()
	c.Flags = r.u64()
	c.LocallyInitiated = r.boolean()
	c.Open = r.boolean()
	c.Options = r.options()
}

// Handle is the union gssx_handle: a credential, a context, or (for a type
// this version does not define) opaque extension bytes.
type Handle struct {
	Type       HandleType
	Cred       *Cred  // Type == HandleCred; nil encodes an empty gssx_cred
	Ctx        *Ctx   // Type == HandleSecCtx; nil encodes an empty gssx_ctx
	Extensions []byte // any other Type
}

func (h *Handle) MarshalXDR(e *oncrpc.Encoder) {
	e.Uint32(uint32(h.Type))
	switch h.Type {
	case HandleCred:
		c := h.Cred
		if c == nil {
			c = new(Cred)
		}
		c.MarshalXDR(e)
	case HandleSecCtx:
		c := h.Ctx
		if c == nil {
			c = new(Ctx)
		}
		c.MarshalXDR(e)
	default:
		e.Opaque(h.Extensions)
	}
}

func (h *Handle) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, h) }

func (h *Handle) decode(r *reader) {
	h.Type = HandleType(r.u32())
	if r.err != nil {
		return
	}
	switch h.Type {
	case HandleCred:
		h.Cred = new(Cred)
		h.Cred.decode(r)
	case HandleSecCtx:
		h.Ctx = new(Ctx)
		h.Ctx.decode(r)
	default:
		h.Extensions = r.buf(maxBuffer)
	}
}

// CB is gssx_cb, channel bindings. The address fields are deprecated by RFC
// 5056 and carried for completeness.
type CB struct {
	InitiatorAddrType uint64
	InitiatorAddress  []byte
	AcceptorAddrType  uint64
	AcceptorAddress   []byte
	ApplicationData   []byte
}

func (c *CB) MarshalXDR(e *oncrpc.Encoder) {
	e.Uint64(c.InitiatorAddrType)
	e.Opaque(c.InitiatorAddress)
	e.Uint64(c.AcceptorAddrType)
	e.Opaque(c.AcceptorAddress)
	e.Opaque(c.ApplicationData)
}

func (c *CB) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, c) }

func (c *CB) decode(r *reader) {
	c.InitiatorAddrType = r.u64()
	c.InitiatorAddress = r.buf(maxBuffer)
	c.AcceptorAddrType = r.u64()
	c.AcceptorAddress = r.buf(maxBuffer)
	c.ApplicationData = r.buf(maxBuffer)
}

// ReleaseHandleArg is gssx_arg_release_handle.
type ReleaseHandleArg struct {
	CallCtx CallCtx
	Handle  Handle // cred_handle in the .x, though it may hold a context
}

func (a *ReleaseHandleArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Handle.MarshalXDR(e)
}

func (a *ReleaseHandleArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *ReleaseHandleArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Handle.decode(r)
}

// ReleaseHandleRes is gssx_res_release_handle.
type ReleaseHandleRes struct {
	Status Status
}

func (s *ReleaseHandleRes) MarshalXDR(e *oncrpc.Encoder) { s.Status.MarshalXDR(e) }

func (s *ReleaseHandleRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *ReleaseHandleRes) decode(r *reader) { s.Status.decode(r) }

// IndicateMechsArg is gssx_arg_indicate_mechs.
type IndicateMechsArg struct {
	CallCtx CallCtx
}

func (a *IndicateMechsArg) MarshalXDR(e *oncrpc.Encoder) { a.CallCtx.MarshalXDR(e) }

func (a *IndicateMechsArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *IndicateMechsArg) decode(r *reader) { a.CallCtx.decode(r) }

// IndicateMechsRes is gssx_res_indicate_mechs.
type IndicateMechsRes struct {
	Status              Status
	Mechs               []MechInfo
	MechAttrDescs       []MechAttr
	SupportedExtensions [][]byte
	Extensions          []Option
}

func (s *IndicateMechsRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	e.Uint32(uint32(len(s.Mechs)))
	for i := range s.Mechs {
		s.Mechs[i].MarshalXDR(e)
	}
	e.Uint32(uint32(len(s.MechAttrDescs)))
	for i := range s.MechAttrDescs {
		s.MechAttrDescs[i].MarshalXDR(e)
	}
	putBuffers(e, s.SupportedExtensions)
	putOptions(e, s.Extensions)
}

func (s *IndicateMechsRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *IndicateMechsRes) decode(r *reader) {
	s.Status.decode(r)
	s.Mechs = decodeArray[MechInfo](r, maxMechs)
	s.MechAttrDescs = decodeArray[MechAttr](r, maxAttrs)
	s.SupportedExtensions = r.buffers()
	s.Extensions = r.options()
}

func putBuffers(e *oncrpc.Encoder, bs [][]byte) {
	e.Uint32(uint32(len(bs)))
	for _, b := range bs {
		e.Opaque(b)
	}
}

func (r *reader) buffers() [][]byte {
	n := r.count(maxBuffers)
	if n == 0 {
		return nil
	}
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = r.buf(maxBuffer)
	}
	if r.err != nil {
		return nil
	}
	return bs
}

// ImportAndCanonNameArg is gssx_arg_import_and_canon_name.
type ImportAndCanonNameArg struct {
	CallCtx    CallCtx
	InputName  Name
	Mech       gss.OID
	Attributes []NameAttr
	Options    []Option
}

func (a *ImportAndCanonNameArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.InputName.MarshalXDR(e)
	putOID(e, a.Mech)
	e.Uint32(uint32(len(a.Attributes)))
	for i := range a.Attributes {
		a.Attributes[i].MarshalXDR(e)
	}
	putOptions(e, a.Options)
}

func (a *ImportAndCanonNameArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *ImportAndCanonNameArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.InputName.decode(r)
	a.Mech = r.oid()
	a.Attributes = decodeArray[NameAttr](r, maxAttrs)
	a.Options = r.options()
}

// ImportAndCanonNameRes is gssx_res_import_and_canon_name.
type ImportAndCanonNameRes struct {
	Status     Status
	OutputName *Name
	Options    []Option
}

func (s *ImportAndCanonNameRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.OutputName, s.OutputName != nil)
	putOptions(e, s.Options)
}

func (s *ImportAndCanonNameRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *ImportAndCanonNameRes) decode(r *reader) {
	s.Status.decode(r)
	s.OutputName = decodeOptional[Name](r)
	s.Options = r.options()
}

// GetCallContextArg is gssx_arg_get_call_context.
type GetCallContextArg struct {
	CallCtx CallCtx
	Options []Option
}

func (a *GetCallContextArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	putOptions(e, a.Options)
}

func (a *GetCallContextArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *GetCallContextArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Options = r.options()
}

// GetCallContextRes is gssx_res_get_call_context.
type GetCallContextRes struct {
	Status        Status
	ServerCallCtx []byte
	Options       []Option
}

func (s *GetCallContextRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	e.Opaque(s.ServerCallCtx)
	putOptions(e, s.Options)
}

func (s *GetCallContextRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *GetCallContextRes) decode(r *reader) {
	s.Status.decode(r)
	s.ServerCallCtx = r.buf(maxBuffer)
	s.Options = r.options()
}

// AcquireCredArg is gssx_arg_acquire_cred.
type AcquireCredArg struct {
	CallCtx          CallCtx
	InputCredHandle  *Cred
	AddCredToInput   bool // add_cred_to_input_handle
	DesiredName      *Name
	TimeReq          uint64
	DesiredMechs     gss.OIDSet
	Usage            CredUsage
	InitiatorTimeReq uint64
	AcceptorTimeReq  uint64
	Options          []Option
}

func (a *AcquireCredArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	putOptional(e, a.InputCredHandle, a.InputCredHandle != nil)
	e.Bool(a.AddCredToInput)
	putOptional(e, a.DesiredName, a.DesiredName != nil)
	e.Uint64(a.TimeReq)
	putOIDSet(e, a.DesiredMechs)
	e.Uint32(uint32(a.Usage))
	e.Uint64(a.InitiatorTimeReq)
	e.Uint64(a.AcceptorTimeReq)
	putOptions(e, a.Options)
}

func (a *AcquireCredArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *AcquireCredArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.InputCredHandle = decodeOptional[Cred](r)
	a.AddCredToInput = r.boolean()
	a.DesiredName = decodeOptional[Name](r)
	a.TimeReq = r.u64()
	a.DesiredMechs = r.oidSet()
	a.Usage = CredUsage(r.u32())
	a.InitiatorTimeReq = r.u64()
	a.AcceptorTimeReq = r.u64()
	a.Options = r.options()
}

// AcquireCredRes is gssx_res_acquire_cred.
type AcquireCredRes struct {
	Status     Status
	OutputCred *Cred
	Options    []Option
}

func (s *AcquireCredRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.OutputCred, s.OutputCred != nil)
	putOptions(e, s.Options)
}

func (s *AcquireCredRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *AcquireCredRes) decode(r *reader) {
	s.Status.decode(r)
	s.OutputCred = decodeOptional[Cred](r)
	s.Options = r.options()
}

// ExportCredArg is gssx_arg_export_cred.
type ExportCredArg struct {
	CallCtx   CallCtx
	InputCred Cred
	Usage     CredUsage
	Options   []Option
}

func (a *ExportCredArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.InputCred.MarshalXDR(e)
	e.Uint32(uint32(a.Usage))
	putOptions(e, a.Options)
}

func (a *ExportCredArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *ExportCredArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.InputCred.decode(r)
	a.Usage = CredUsage(r.u32())
	a.Options = r.options()
}

// ExportCredRes is gssx_res_export_cred.
type ExportCredRes struct {
	Status         Status
	UsageExported  CredUsage
	ExportedHandle *[]byte
	Options        []Option
}

func (s *ExportCredRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	e.Uint32(uint32(s.UsageExported))
	putOptBuf(e, s.ExportedHandle)
	putOptions(e, s.Options)
}

func (s *ExportCredRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *ExportCredRes) decode(r *reader) {
	s.Status.decode(r)
	s.UsageExported = CredUsage(r.u32())
	s.ExportedHandle = r.optBuf(maxBuffer)
	s.Options = r.options()
}

// ImportCredArg is gssx_arg_import_cred.
type ImportCredArg struct {
	CallCtx        CallCtx
	ExportedHandle []byte
	Options        []Option
}

func (a *ImportCredArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	e.Opaque(a.ExportedHandle)
	putOptions(e, a.Options)
}

func (a *ImportCredArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *ImportCredArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.ExportedHandle = r.buf(maxBuffer)
	a.Options = r.options()
}

// ImportCredRes is gssx_res_import_cred.
type ImportCredRes struct {
	Status     Status
	OutputCred *Cred
	Options    []Option
}

func (s *ImportCredRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.OutputCred, s.OutputCred != nil)
	putOptions(e, s.Options)
}

func (s *ImportCredRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *ImportCredRes) decode(r *reader) {
	s.Status.decode(r)
	s.OutputCred = decodeOptional[Cred](r)
	s.Options = r.options()
}

// StoreCredArg is gssx_arg_store_cred.
type StoreCredArg struct {
	CallCtx     CallCtx
	InputCred   Cred
	Usage       CredUsage
	DesiredMech gss.OID
	Overwrite   bool
	Default     bool
	Options     []Option
}

func (a *StoreCredArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.InputCred.MarshalXDR(e)
	e.Uint32(uint32(a.Usage))
	putOID(e, a.DesiredMech)
	e.Bool(a.Overwrite)
	e.Bool(a.Default)
	putOptions(e, a.Options)
}

func (a *StoreCredArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *StoreCredArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.InputCred.decode(r)
	a.Usage = CredUsage(r.u32())
	a.DesiredMech = r.oid()
	a.Overwrite = r.boolean()
	a.Default = r.boolean()
	a.Options = r.options()
}

// StoreCredRes is gssx_res_store_cred.
type StoreCredRes struct {
	Status         Status
	ElementsStored gss.OIDSet
	UsageStored    CredUsage
	Options        []Option
}

func (s *StoreCredRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOIDSet(e, s.ElementsStored)
	e.Uint32(uint32(s.UsageStored))
	putOptions(e, s.Options)
}

func (s *StoreCredRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *StoreCredRes) decode(r *reader) {
	s.Status.decode(r)
	s.ElementsStored = r.oidSet()
	s.UsageStored = CredUsage(r.u32())
	s.Options = r.options()
}

// InitSecContextArg is gssx_arg_init_sec_context.
type InitSecContextArg struct {
	CallCtx    CallCtx
	Context    *Ctx  // context_handle: absent on the first call
	Cred       *Cred // absent: GSS_C_NO_CREDENTIAL
	TargetName *Name
	Mech       gss.OID
	ReqFlags   uint64
	TimeReq    uint64
	InputCB    *CB
	InputToken *[]byte
	Options    []Option
}

func (a *InitSecContextArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	putOptional(e, a.Context, a.Context != nil)
	putOptional(e, a.Cred, a.Cred != nil)
	putOptional(e, a.TargetName, a.TargetName != nil)
	putOID(e, a.Mech)
	e.Uint64(a.ReqFlags)
	e.Uint64(a.TimeReq)
	putOptional(e, a.InputCB, a.InputCB != nil)
	putOptBuf(e, a.InputToken)
	putOptions(e, a.Options)
}

func (a *InitSecContextArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *InitSecContextArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context = decodeOptional[Ctx](r)
	a.Cred = decodeOptional[Cred](r)
	a.TargetName = decodeOptional[Name](r)
	a.Mech = r.oid()
	a.ReqFlags = r.u64()
	a.TimeReq = r.u64()
	a.InputCB = decodeOptional[CB](r)
	a.InputToken = r.optBuf(maxBuffer)
	a.Options = r.options()
}

// InitSecContextRes is gssx_res_init_sec_context.
type InitSecContextRes struct {
	Status      Status
	Context     *Ctx
	OutputToken *[]byte
	Options     []Option
}

func (s *InitSecContextRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	putOptBuf(e, s.OutputToken)
	putOptions(e, s.Options)
}

func (s *InitSecContextRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *InitSecContextRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.OutputToken = r.optBuf(maxBuffer)
	s.Options = r.options()
}

// AcceptSecContextArg is gssx_arg_accept_sec_context.
type AcceptSecContextArg struct {
	CallCtx      CallCtx
	Context      *Ctx
	Cred         *Cred
	InputToken   []byte
	InputCB      *CB
	RetDelegCred bool
	Options      []Option
}

func (a *AcceptSecContextArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	putOptional(e, a.Context, a.Context != nil)
	putOptional(e, a.Cred, a.Cred != nil)
	e.Opaque(a.InputToken)
	putOptional(e, a.InputCB, a.InputCB != nil)
	e.Bool(a.RetDelegCred)
	putOptions(e, a.Options)
}

func (a *AcceptSecContextArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *AcceptSecContextArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context = decodeOptional[Ctx](r)
	a.Cred = decodeOptional[Cred](r)
	a.InputToken = r.buf(maxBuffer)
	a.InputCB = decodeOptional[CB](r)
	a.RetDelegCred = r.boolean()
	a.Options = r.options()
}

// AcceptSecContextRes is gssx_res_accept_sec_context.
type AcceptSecContextRes struct {
	Status        Status
	Context       *Ctx
	OutputToken   *[]byte
	DelegatedCred *Cred
	Options       []Option
}

func (s *AcceptSecContextRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	putOptBuf(e, s.OutputToken)
	putOptional(e, s.DelegatedCred, s.DelegatedCred != nil)
	putOptions(e, s.Options)
}

func (s *AcceptSecContextRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *AcceptSecContextRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.OutputToken = r.optBuf(maxBuffer)
	s.DelegatedCred = decodeOptional[Cred](r)
	s.Options = r.options()
}

// GetMICArg is gssx_arg_get_mic.
type GetMICArg struct {
	CallCtx CallCtx
	Context Ctx
	QOPReq  uint64
	Message []byte
}

func (a *GetMICArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Context.MarshalXDR(e)
	e.Uint64(a.QOPReq)
	e.Opaque(a.Message)
}

func (a *GetMICArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *GetMICArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context.decode(r)
	a.QOPReq = r.u64()
	a.Message = r.buf(maxBuffer)
}

// GetMICRes is gssx_res_get_mic.
type GetMICRes struct {
	Status   Status
	Context  *Ctx
	Token    []byte // empty on error
	QOPState *uint64
}

func (s *GetMICRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	e.Opaque(s.Token)
	putOptU64(e, s.QOPState)
}

func (s *GetMICRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *GetMICRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.Token = r.buf(maxBuffer)
	s.QOPState = r.optU64()
}

// VerifyMICArg is gssx_arg_verify_mic (procedure GSSX_VERIFY).
type VerifyMICArg struct {
	CallCtx CallCtx
	Context Ctx
	Message []byte
	Token   []byte
}

func (a *VerifyMICArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Context.MarshalXDR(e)
	e.Opaque(a.Message)
	e.Opaque(a.Token)
}

func (a *VerifyMICArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *VerifyMICArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context.decode(r)
	a.Message = r.buf(maxBuffer)
	a.Token = r.buf(maxBuffer)
}

// VerifyMICRes is gssx_res_verify_mic.
type VerifyMICRes struct {
	Status   Status
	Context  *Ctx
	QOPState *uint64
}

func (s *VerifyMICRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	putOptU64(e, s.QOPState)
}

func (s *VerifyMICRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *VerifyMICRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.QOPState = r.optU64()
}

// WrapArg is gssx_arg_wrap. Messages is an array so that IOV variants fit;
// the reference wraps only the first element.
type WrapArg struct {
	CallCtx  CallCtx
	Context  Ctx
	ConfReq  bool
	Messages [][]byte
	QOPState uint64
}

func (a *WrapArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Context.MarshalXDR(e)
	e.Bool(a.ConfReq)
	putBuffers(e, a.Messages)
	e.Uint64(a.QOPState)
}

func (a *WrapArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *WrapArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context.decode(r)
	a.ConfReq = r.boolean()
	a.Messages = r.buffers()
	a.QOPState = r.u64()
}

// WrapRes is gssx_res_wrap.
type WrapRes struct {
	Status    Status
	Context   *Ctx
	Tokens    [][]byte
	ConfState *bool
	QOPState  *uint64
}

func (s *WrapRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	putBuffers(e, s.Tokens)
	putOptBool(e, s.ConfState)
	putOptU64(e, s.QOPState)
}

func (s *WrapRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *WrapRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.Tokens = r.buffers()
	s.ConfState = r.optBool()
	s.QOPState = r.optU64()
}

// UnwrapArg is gssx_arg_unwrap.
type UnwrapArg struct {
	CallCtx  CallCtx
	Context  Ctx
	Tokens   [][]byte
	QOPState uint64
}

func (a *UnwrapArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Context.MarshalXDR(e)
	putBuffers(e, a.Tokens)
	e.Uint64(a.QOPState)
}

func (a *UnwrapArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *UnwrapArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context.decode(r)
	a.Tokens = r.buffers()
	a.QOPState = r.u64()
}

// UnwrapRes is gssx_res_unwrap.
type UnwrapRes struct {
	Status    Status
	Context   *Ctx
	Messages  [][]byte
	ConfState *bool
	QOPState  *uint64
}

func (s *UnwrapRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	putOptional(e, s.Context, s.Context != nil)
	putBuffers(e, s.Messages)
	putOptBool(e, s.ConfState)
	putOptU64(e, s.QOPState)
}

func (s *UnwrapRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *UnwrapRes) decode(r *reader) {
	s.Status.decode(r)
	s.Context = decodeOptional[Ctx](r)
	s.Messages = r.buffers()
	s.ConfState = r.optBool()
	s.QOPState = r.optU64()
}

// WrapSizeLimitArg is gssx_arg_wrap_size_limit.
type WrapSizeLimitArg struct {
	CallCtx       CallCtx
	Context       Ctx
	ConfReq       bool
	QOPState      uint64
	ReqOutputSize uint64
}

func (a *WrapSizeLimitArg) MarshalXDR(e *oncrpc.Encoder) {
	a.CallCtx.MarshalXDR(e)
	a.Context.MarshalXDR(e)
	e.Bool(a.ConfReq)
	e.Uint64(a.QOPState)
	e.Uint64(a.ReqOutputSize)
}

func (a *WrapSizeLimitArg) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, a) }

func (a *WrapSizeLimitArg) decode(r *reader) {
	a.CallCtx.decode(r)
	a.Context.decode(r)
	a.ConfReq = r.boolean()
	a.QOPState = r.u64()
	a.ReqOutputSize = r.u64()
}

// WrapSizeLimitRes is gssx_res_wrap_size_limit.
type WrapSizeLimitRes struct {
	Status       Status
	MaxInputSize uint64
}

func (s *WrapSizeLimitRes) MarshalXDR(e *oncrpc.Encoder) {
	s.Status.MarshalXDR(e)
	e.Uint64(s.MaxInputSize)
}

func (s *WrapSizeLimitRes) UnmarshalXDR(d *oncrpc.Decoder) error { return unmarshal(d, s) }

func (s *WrapSizeLimitRes) decode(r *reader) {
	s.Status.decode(r)
	s.MaxInputSize = r.u64()
}

// Message is implemented by every argument and result type: what the oncrpc
// client and server move.
type Message interface {
	oncrpc.Marshaler
	oncrpc.Unmarshaler
}

// NewArg returns a zero argument value for proc, or nil for a procedure the
// protocol does not define; NewRes likewise for results. A server
// dispatches with them, and tests and fuzzers walk every procedure.
func NewArg(proc uint32) Message {
	switch proc {
	case ProcIndicateMechs:
		return new(IndicateMechsArg)
	case ProcGetCallContext:
		return new(GetCallContextArg)
	case ProcImportAndCanonName:
		return new(ImportAndCanonNameArg)
	case ProcExportCred:
		return new(ExportCredArg)
	case ProcImportCred:
		return new(ImportCredArg)
	case ProcAcquireCred:
		return new(AcquireCredArg)
	case ProcStoreCred:
		return new(StoreCredArg)
	case ProcInitSecContext:
		return new(InitSecContextArg)
	case ProcAcceptSecContext:
		return new(AcceptSecContextArg)
	case ProcReleaseHandle:
		return new(ReleaseHandleArg)
	case ProcGetMIC:
		return new(GetMICArg)
	case ProcVerify:
		return new(VerifyMICArg)
	case ProcWrap:
		return new(WrapArg)
	case ProcUnwrap:
		return new(UnwrapArg)
	case ProcWrapSizeLimit:
		return new(WrapSizeLimitArg)
	}
	return nil
}

// NewRes: see NewArg.
func NewRes(proc uint32) Message {
	switch proc {
	case ProcIndicateMechs:
		return new(IndicateMechsRes)
	case ProcGetCallContext:
		return new(GetCallContextRes)
	case ProcImportAndCanonName:
		return new(ImportAndCanonNameRes)
	case ProcExportCred:
		return new(ExportCredRes)
	case ProcImportCred:
		return new(ImportCredRes)
	case ProcAcquireCred:
		return new(AcquireCredRes)
	case ProcStoreCred:
		return new(StoreCredRes)
	case ProcInitSecContext:
		return new(InitSecContextRes)
	case ProcAcceptSecContext:
		return new(AcceptSecContextRes)
	case ProcReleaseHandle:
		return new(ReleaseHandleRes)
	case ProcGetMIC:
		return new(GetMICRes)
	case ProcVerify:
		return new(VerifyMICRes)
	case ProcWrap:
		return new(WrapRes)
	case ProcUnwrap:
		return new(UnwrapRes)
	case ProcWrapSizeLimit:
		return new(WrapSizeLimitRes)
	}
	return nil
}

// Option names and values that the reference daemon, its interposer and the
// Linux kernel exchange. On the wire each is followed by its C terminator
// (the reference compares sizeof "name" bytes); COption builds that form.
const (
	// gssx_call_ctx options from the kernel: a linux_lucid_v1 context
	// instead of an exported one, and the initiator's Unix credentials as
	// a linux_creds_v1 result option.
	OptExportedContextType = "exported_context_type"
	ValLinuxLucidV1        = "linux_lucid_v1"
	OptExportedCredsType   = "exported_creds_type"
	ValLinuxCredsV1        = "linux_creds_v1"

	// INIT_SEC_CONTEXT option from the interposer: send the credential
	// back as a sync_creds result option (an XDR gssx_cred) if the
	// daemon's ticket cache changed.
	OptSyncModifiedCreds = "sync_modified_creds"
	ValSyncDefault       = "default"
	OptSyncCreds         = "sync_creds"

	// ACQUIRE_CRED option: impersonate the desired name (S4U2Self).
	OptAcquireType     = "acquire_type"
	ValImpersonateName = "impersonate_name"

	// IMPORT_AND_CANON_NAME name attribute for gss_localname; the result
	// carries the local name as the value of the same attribute.
	OptLocalName = "localname"

	// gssx_cred_element options from gss_set_cred_option: allowed
	// enctypes (host-order int32 array) and "no channel-binding flags".
	OptKrb5SetAllowedEnctypes = "krb5_set_allowed_enctype_values"
	OptKrb5SetNoCIFlags       = "krb5_set_no_ci_flags"
)

// COption is an option as the reference and the kernel write it: the name
// with its NUL terminator and value as given.
func COption(name string, value []byte) Option {
	return Option{Name: append([]byte(name), 0), Value: value}
}

// CStringOption is COption with a string value, also NUL-terminated.
func CStringOption(name, value string) Option {
	return COption(name, append([]byte(value), 0))
}

// FindOption returns the value of the first option named name. The name may
// arrive with or without its NUL: the reference insists on the NUL, but a
// reader loses nothing by accepting both.
func FindOption(opts []Option, name string) ([]byte, bool) {
	for _, o := range opts {
		if string(trimNUL(o.Name)) == name {
			return o.Value, true
		}
	}
	return nil, false
}

func trimNUL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == 0 {
		return b[:len(b)-1]
	}
	return b
}
