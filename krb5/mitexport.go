package krb5

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// MIT krb5's own serialized security context, as its gss_export_sec_context
// writes it and its gss_import_sec_context reads it (MIT 1.20: the
// krb5_gss_ctx_id_rec externalizer and the krb5 object serializers it
// calls). The reference gss-proxy interposer plugin hands whatever the
// daemon returns to MIT's gss_import_sec_context, so a gss-proxy daemon
// built on gsskit must speak this format for Kerberos contexts; gsskit's own
// format (export.go) stays the default everywhere else.
//
// The format is a tree of objects, each framed by the same 32-bit magic
// number before and after (the KV5M_* codes of MIT's error tables); an
// optional object is simply absent, which the reader notices because the
// next word is not its magic. Integers are big-endian, except the replay
// window, which MIT copies out of memory as it lies (host byte order).
//
//	KG_CONTEXT
//	  i32 initiate, established, have_acceptor_subkey, seed_init, gss_flags
//	  16  seed (RFC 1964 only; zero for RFC 4121)
//	  i32 signalg, cksum_size, sealalg (RFC 1964 only; -1, 0, -1)
//	  i32 authtime, starttime, endtime, renew_till, ticket flags
//	  i64 seq_send (the next number to send), seq_recv (the peer's initial number)
//	  [OID]        mech_used
//	  [PRINCIPAL]  here (the local name), [PRINCIPAL] there (the peer)
//	  [KEYBLOCK]   subkey (the initiator subkey, or the session key)
//	  [KEYBLOCK]   enc, [KEYBLOCK] seq (RFC 1964 only)
//	  [QUEUE]      the replay window
//	  CONTEXT      the krb5_context (realm, clock skew, options, profile files)
//	  AUTH_CONTEXT the krb5_auth_context of the AP exchange
//	  i32 proto (1: RFC 4121), cksumtype
//	  [KEYBLOCK]   acceptor_subkey
//	  i32 acceptor_subkey_cksumtype, cred_rcache, authdata count
//	  AUTHDATA…
//	  [AUTHDATA_CONTEXT] the initiator name's attributes (PAC, indicators)
//	KG_CONTEXT
//
// MIT ignores anything after the trailer; gsskit's reader refuses it.
const (
	mitKGContext       int32 = 39756040 // KG_CONTEXT, code 8 of the "k5g" table
	mitKV5MPrincipal   int32 = -1760647423
	mitKV5MKeyblock    int32 = -1760647421
	mitKV5MChecksum    int32 = -1760647420
	mitKV5MAuthdata    int32 = -1760647414
	mitKV5MAuthent     int32 = -1760647410
	mitKV5MAddress     int32 = -1760647390
	mitKV5MContext     int32 = -1760647388
	mitKV5MOSContext   int32 = -1760647387
	mitKV5MAuthContext int32 = -1760647383
	mitKV5MGSSOID      int32 = -1760647369
	mitKV5MGSSQueue    int32 = -1760647368
	mitKV5MADContext   int32 = -1760647364
	mitProfMagic       int32 = -1429577710 // PROF_MAGIC_PROFILE

	// Tags in front of the optional members of an auth context.
	mitTokRAddr    int32 = 950916
	mitTokRPort    int32 = 950917
	mitTokLAddr    int32 = 950918
	mitTokLPort    int32 = 950919
	mitTokKeyblock int32 = 950920
	mitTokLSubkey  int32 = 950921
	mitTokRSubkey  int32 = 950922

	// mitSeqStateLen is sizeof(struct g_seqnum_state_st): two ints and
	// four uint64s, 40 bytes on every ABI MIT builds for.
	mitSeqStateLen = 40

	// MIT's fixed words for a fresh krb5_context.
	mitKDCOptRenewableOK = 0x10
	mitLibOptSyncKDCTime = 1
	mitFCCVersion4       = 0x0504
	// Auth context flags KRB5_AUTH_CONTEXT_DO_SEQUENCE and _USE_SUBKEY,
	// and the GSS checksum type 0x8003 an initiator's authenticator uses.
	mitAuthConDoSequence = 4
	mitAuthConUseSubkey  = 0x20
	mitCksumGSS          = 0x8003

	mitADModulePAC        = "mspac"
	mitADModuleIndicators = "authentication-indicators"
)

// mitKey is a krb5_keyblock.
type mitKey struct {
	Enctype  int32
	Contents []byte
}

// mitSeqState is MIT's g_seqnum_state: the same window gsskit keeps (cfx's
// seqWindow), plus the flags and the width mask.
type mitSeqState struct {
	DoReplay, DoSequence int32
	SeqMask              uint64 // all ones for RFC 4121's 64-bit numbers
	Base, Next, RecvMap  uint64
}

// mitK5Context is a serialized krb5_context.
type mitK5Context struct {
	DefaultRealm      string
	TGSEnctypes       []int32
	ClockSkew         int32
	KDCDefaultOptions int32
	LibraryOptions    int32
	ProfileSecure     int32
	FCCDefaultFormat  int32
	// OS is time_offset, usec_offset and os_flags, or nil when absent.
	OS *[3]int32
	// Profile lists the profile's files, or is nil when absent. MIT
	// re-opens them on import and fails the import if none exists.
	Profile []string
}

// mitAddress is a krb5_address.
type mitAddress struct {
	Type     int32
	Contents []byte
}

// mitChecksum is a krb5_checksum.
type mitChecksum struct {
	Type     int32
	Contents []byte
}

// mitAuthdata is one krb5_authdata element.
type mitAuthdata struct {
	Type     int32
	Contents []byte
}

// mitAuthenticator is a krb5_authenticator as MIT keeps it.
type mitAuthenticator struct {
	CTime, CUsec, SeqNumber int32
	Client                  *string
	Checksum                *mitChecksum
	Subkey                  *mitKey
	Authdata                []mitAuthdata
}

// mitAuthContext is a krb5_auth_context.
type mitAuthContext struct {
	Flags, RemoteSeq, LocalSeq, ReqCksumType, SafeCksumType int32
	CState                                                  []byte
	RemoteAddr, RemotePort, LocalAddr, LocalPort            *mitAddress
	Key, SendSubkey, RecvSubkey                             *mitKey
	Authenticator                                           *mitAuthenticator
}

// mitADContext is the initiator name's authdata context: one entry per
// MIT authdata module that serialized itself.
type mitADContext struct {
	Modules []mitADModule
}

// mitADModule is one module's serialized state. gsskit understands MIT's
// two built-in modules: the PAC (PAC bytes and whether the acceptor
// verified them) and the authentication indicators.
type mitADModule struct {
	Name        string
	PAC         []byte
	PACVerified int32 // MIT's flag: any nonzero value means verified
	Indicators  [][]byte
}

// mitContext is one serialized krb5_gss_ctx_id_rec, field by field.
type mitContext struct {
	Initiate, Established, HaveAcceptorSubkey, SeedInit int32
	GSSFlags                                            uint32
	Seed                                                [16]byte
	SignAlg, CksumSize, SealAlg                         int32
	AuthTime, StartTime, EndTime, RenewTill             uint32
	KrbFlags                                            uint32
	SeqSend, SeqRecv                                    uint64
	Mech                                                *gss.OID
	Here, There                                         *string
	Subkey, Enc, Seq                                    *mitKey
	SeqState                                            *mitSeqState
	K5                                                  mitK5Context
	Auth                                                mitAuthContext
	Proto, CksumType                                    int32
	AcceptorSubkey                                      *mitKey
	AcceptorSubkeyCksumType                             int32
	CredRcache                                          int32
	Authdata                                            []mitAuthdata
	ADContext                                           *mitADContext
}

// ---------------------------------------------------------------------------
// Writing

type mitWriter struct{ b []byte }

func (w *mitWriter) i32(v int32)  { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *mitWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *mitWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// counted writes a 32-bit length and the bytes.
func (w *mitWriter) counted(b []byte) {
	w.i32(int32(len(b)))
	w.b = append(w.b, b...)
}

func (w *mitWriter) key(k *mitKey) {
	if k == nil {
		return
	}
	w.i32(mitKV5MKeyblock)
	w.i32(k.Enctype)
	w.counted(k.Contents)
	w.i32(mitKV5MKeyblock)
}

func (w *mitWriter) principal(s *string) {
	if s == nil {
		return
	}
	w.i32(mitKV5MPrincipal)
	w.counted([]byte(*s))
	w.i32(mitKV5MPrincipal)
}

func (w *mitWriter) address(a *mitAddress) {
	w.i32(mitKV5MAddress)
	w.i32(a.Type)
	w.counted(a.Contents)
	w.i32(mitKV5MAddress)
}

// writeTagged writes the optional member v, when there is one, after its
// tag.
func writeTagged[T any](w *mitWriter, tag int32, v *T, write func(*T)) {
	if v != nil {
		w.i32(tag)
		write(v)
	}
}

func (w *mitWriter) authdata(ad []mitAuthdata) {
	for _, a := range ad {
		w.i32(mitKV5MAuthdata)
		w.i32(a.Type)
		w.counted(a.Contents)
		w.i32(mitKV5MAuthdata)
	}
}

func (mc *mitContext) marshal() []byte {
	return mc.appendTo(make([]byte, 0, mc.sizeHint()))
}

// sizeHint is room enough for most marshaled contexts: the fixed part and
// the authorization data, which is most of the variable part.
func (mc *mitContext) sizeHint() int {
	n := 1024
	if ad := mc.ADContext; ad != nil {
		for _, m := range ad.Modules {
			n += 16 + len(m.PAC)
			for _, ind := range m.Indicators {
				n += 4 + len(ind)
			}
		}
	}
	return n
}

// appendTo appends the marshaled context to dst.
func (mc *mitContext) appendTo(dst []byte) []byte {
	w := &mitWriter{b: dst}
	w.i32(mitKGContext)
	w.i32(mc.Initiate)
	w.i32(mc.Established)
	w.i32(mc.HaveAcceptorSubkey)
	w.i32(mc.SeedInit)
	w.u32(mc.GSSFlags)
	w.b = append(w.b, mc.Seed[:]...)
	w.i32(mc.SignAlg)
	w.i32(mc.CksumSize)
	w.i32(mc.SealAlg)
	w.u32(mc.AuthTime)
	w.u32(mc.StartTime)
	w.u32(mc.EndTime)
	w.u32(mc.RenewTill)
	w.u32(mc.KrbFlags)
	w.u64(mc.SeqSend)
	w.u64(mc.SeqRecv)
	if mc.Mech != nil {
		w.i32(mitKV5MGSSOID)
		w.counted([]byte(*mc.Mech))
		w.i32(mitKV5MGSSOID)
	}
	w.principal(mc.Here)
	w.principal(mc.There)
	w.key(mc.Subkey)
	w.key(mc.Enc)
	w.key(mc.Seq)
	if s := mc.SeqState; s != nil {
		w.i32(mitKV5MGSSQueue)
		ne := binary.NativeEndian
		w.b = ne.AppendUint32(w.b, uint32(s.DoReplay))
		w.b = ne.AppendUint32(w.b, uint32(s.DoSequence))
		w.b = ne.AppendUint64(w.b, s.SeqMask)
		w.b = ne.AppendUint64(w.b, s.Base)
		w.b = ne.AppendUint64(w.b, s.Next)
		w.b = ne.AppendUint64(w.b, s.RecvMap)
		w.i32(mitKV5MGSSQueue)
	}

	k := &mc.K5
	w.i32(mitKV5MContext)
	w.counted([]byte(k.DefaultRealm))
	w.i32(int32(len(k.TGSEnctypes)))
	for _, e := range k.TGSEnctypes {
		w.i32(e)
	}
	w.i32(k.ClockSkew)
	w.i32(k.KDCDefaultOptions)
	w.i32(k.LibraryOptions)
	w.i32(k.ProfileSecure)
	w.i32(k.FCCDefaultFormat)
	if k.OS != nil {
		w.i32(mitKV5MOSContext)
		for _, v := range k.OS {
			w.i32(v)
		}
		w.i32(mitKV5MOSContext)
	}
	if k.Profile != nil {
		w.i32(mitProfMagic)
		w.i32(int32(len(k.Profile)))
		for _, f := range k.Profile {
			w.counted([]byte(f))
		}
		w.i32(mitProfMagic)
	}
	w.i32(mitKV5MContext)

	a := &mc.Auth
	w.i32(mitKV5MAuthContext)
	w.i32(a.Flags)
	w.i32(a.RemoteSeq)
	w.i32(a.LocalSeq)
	w.i32(a.ReqCksumType)
	w.i32(a.SafeCksumType)
	w.counted(a.CState)
	writeTagged(w, mitTokRAddr, a.RemoteAddr, w.address)
	writeTagged(w, mitTokRPort, a.RemotePort, w.address)
	writeTagged(w, mitTokLAddr, a.LocalAddr, w.address)
	writeTagged(w, mitTokLPort, a.LocalPort, w.address)
	writeTagged(w, mitTokKeyblock, a.Key, w.key)
	writeTagged(w, mitTokLSubkey, a.SendSubkey, w.key)
	writeTagged(w, mitTokRSubkey, a.RecvSubkey, w.key)
	if au := a.Authenticator; au != nil {
		w.i32(mitKV5MAuthent)
		w.i32(au.CTime)
		w.i32(au.CUsec)
		w.i32(au.SeqNumber)
		w.principal(au.Client)
		if c := au.Checksum; c != nil {
			w.i32(mitKV5MChecksum)
			w.i32(c.Type)
			w.counted(c.Contents)
			w.i32(mitKV5MChecksum)
		}
		w.key(au.Subkey)
		w.i32(int32(len(au.Authdata)))
		w.authdata(au.Authdata)
		w.i32(mitKV5MAuthent)
	}
	w.i32(mitKV5MAuthContext)

	w.i32(mc.Proto)
	w.i32(mc.CksumType)
	w.key(mc.AcceptorSubkey)
	w.i32(mc.AcceptorSubkeyCksumType)
	w.i32(mc.CredRcache)
	w.i32(int32(len(mc.Authdata)))
	w.authdata(mc.Authdata)
	if ad := mc.ADContext; ad != nil {
		w.i32(mitKV5MADContext)
		w.i32(int32(len(ad.Modules)))
		for _, m := range ad.Modules {
			w.counted([]byte(m.Name))
			switch m.Name {
			case mitADModulePAC:
				w.counted(m.PAC)
				w.i32(m.PACVerified)
			case mitADModuleIndicators:
				w.i32(int32(len(m.Indicators)))
				for _, ind := range m.Indicators {
					w.counted(ind)
				}
			}
		}
		w.i32(mitKV5MADContext)
	}
	w.i32(mitKGContext)
	return w.b
}

// ---------------------------------------------------------------------------
// Reading

// mitReader reads the format. The first failure sticks in err, naming what
// was being read; later reads return zero values.
type mitReader struct {
	b   []byte
	off int
	err string
}

func (r *mitReader) fail(what string) {
	if r.err == "" {
		r.err = what + " at byte " + strconv.Itoa(r.off)
	}
}

func (r *mitReader) ok() bool { return r.err == "" }

func (r *mitReader) bytes(n int, what string) []byte {
	if r.err != "" {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(what + " is truncated")
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *mitReader) i32(what string) int32 {
	if v := r.bytes(4, what); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (r *mitReader) u64(what string) uint64 {
	if v := r.bytes(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// peek reports whether the next word is magic, without consuming it: how
// MIT tells an optional object from whatever follows.
func (r *mitReader) peek(magic int32) bool {
	return r.err == "" && len(r.b)-r.off >= 4 && int32(binary.BigEndian.Uint32(r.b[r.off:])) == magic
}

// take reads the next value when it is magic and reports whether it was.
func (r *mitReader) take(magic int32) bool {
	if !r.peek(magic) {
		return false
	}
	r.off += 4
	return true
}

// readTagged reads the optional member named what, which is there when
// tag comes next; nil when it is not.
func readTagged[T any](r *mitReader, tag int32, read func(string) *T, what string) *T {
	if !r.take(tag) {
		return nil
	}
	return read(what)
}

func (r *mitReader) expect(magic int32, what string) {
	if r.err != "" {
		return
	}
	if !r.peek(magic) {
		if len(r.b)-r.off < 4 {
			r.fail(what + " is truncated")
		} else {
			r.fail(what + " has a bad magic number 0x" +
				strconv.FormatUint(uint64(binary.BigEndian.Uint32(r.b[r.off:])), 16))
		}
		return
	}
	r.off += 4
}

// counted reads a 32-bit length and that many bytes, copied.
func (r *mitReader) counted(what string) []byte {
	n := r.i32(what + " length")
	if r.err != "" {
		return nil
	}
	if n < 0 {
		r.fail(what + " has a negative length")
		return nil
	}
	v := r.bytes(int(n), what)
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

// count reads an element count, refusing counts that could not fit in what
// is left at minSize bytes per element.
func (r *mitReader) count(what string, minSize int) int {
	n := r.i32(what)
	if r.err != "" {
		return 0
	}
	if n < 0 || int(n) > (len(r.b)-r.off)/minSize {
		r.fail(what + " " + strconv.Itoa(int(n)) + " is impossible")
		return 0
	}
	return int(n)
}

func (r *mitReader) optKey(what string) *mitKey {
	if !r.peek(mitKV5MKeyblock) {
		return nil
	}
	return r.key(what)
}

func (r *mitReader) key(what string) *mitKey {
	r.expect(mitKV5MKeyblock, what)
	k := &mitKey{Enctype: r.i32(what + " enctype")}
	k.Contents = r.counted(what)
	r.expect(mitKV5MKeyblock, what+" trailer")
	return k
}

func (r *mitReader) optPrincipal(what string) *string {
	if !r.take(mitKV5MPrincipal) {
		return nil
	}
	s := string(r.counted(what))
	r.expect(mitKV5MPrincipal, what+" trailer")
	return &s
}

func (r *mitReader) address(what string) *mitAddress {
	r.expect(mitKV5MAddress, what)
	a := &mitAddress{Type: r.i32(what + " type")}
	a.Contents = r.counted(what)
	r.expect(mitKV5MAddress, what+" trailer")
	return a
}

func (r *mitReader) authdata(n int, what string) []mitAuthdata {
	var out []mitAuthdata
	for i := 0; i < n && r.ok(); i++ {
		r.expect(mitKV5MAuthdata, what)
		a := mitAuthdata{Type: r.i32(what + " type")}
		a.Contents = r.counted(what)
		r.expect(mitKV5MAuthdata, what+" trailer")
		out = append(out, a)
	}
	return out
}

func (r *mitReader) k5Context(k *mitK5Context) {
	r.expect(mitKV5MContext, "krb5 context")
	k.DefaultRealm = string(r.counted("krb5 context default realm"))
	n := r.count("krb5 context TGS enctype count", 4)
	for i := 0; i < n && r.ok(); i++ {
		k.TGSEnctypes = append(k.TGSEnctypes, r.i32("krb5 context TGS enctype"))
	}
	k.ClockSkew = r.i32("krb5 context clock skew")
	k.KDCDefaultOptions = r.i32("krb5 context KDC options")
	k.LibraryOptions = r.i32("krb5 context library options")
	k.ProfileSecure = r.i32("krb5 context profile_secure")
	k.FCCDefaultFormat = r.i32("krb5 context ccache format")
	if r.take(mitKV5MOSContext) {
		var os [3]int32
		for i := range os {
			os[i] = r.i32("krb5 OS context")
		}
		r.expect(mitKV5MOSContext, "krb5 OS context trailer")
		k.OS = &os
	}
	if r.take(mitProfMagic) {
		n := r.count("profile file count", 4)
		k.Profile = []string{}
		for i := 0; i < n && r.ok(); i++ {
			k.Profile = append(k.Profile, string(r.counted("profile file name")))
		}
		r.expect(mitProfMagic, "profile trailer")
	}
	r.expect(mitKV5MContext, "krb5 context trailer")
}

func (r *mitReader) authContext(a *mitAuthContext) {
	r.expect(mitKV5MAuthContext, "auth context")
	a.Flags = r.i32("auth context flags")
	a.RemoteSeq = r.i32("auth context remote sequence number")
	a.LocalSeq = r.i32("auth context local sequence number")
	a.ReqCksumType = r.i32("auth context checksum type")
	a.SafeCksumType = r.i32("auth context KRB-SAFE checksum type")
	a.CState = r.counted("auth context cipher state")
	// The tagged members come in a fixed order, each optional.
	a.RemoteAddr = readTagged(r, mitTokRAddr, r.address, "auth context remote address")
	a.RemotePort = readTagged(r, mitTokRPort, r.address, "auth context remote port")
	a.LocalAddr = readTagged(r, mitTokLAddr, r.address, "auth context local address")
	a.LocalPort = readTagged(r, mitTokLPort, r.address, "auth context local port")
	a.Key = readTagged(r, mitTokKeyblock, r.key, "auth context key")
	a.SendSubkey = readTagged(r, mitTokLSubkey, r.key, "auth context send subkey")
	a.RecvSubkey = readTagged(r, mitTokRSubkey, r.key, "auth context receive subkey")
	if r.take(mitKV5MAuthent) {
		au := &mitAuthenticator{
			CTime:     r.i32("authenticator ctime"),
			CUsec:     r.i32("authenticator cusec"),
			SeqNumber: r.i32("authenticator sequence number"),
		}
		au.Client = r.optPrincipal("authenticator client")
		if r.take(mitKV5MChecksum) {
			c := &mitChecksum{Type: r.i32("authenticator checksum type")}
			c.Contents = r.counted("authenticator checksum")
			r.expect(mitKV5MChecksum, "authenticator checksum trailer")
			au.Checksum = c
		}
		au.Subkey = r.optKey("authenticator subkey")
		au.Authdata = r.authdata(r.count("authenticator authdata count", 16), "authenticator authdata")
		r.expect(mitKV5MAuthent, "authenticator trailer")
		a.Authenticator = au
	}
	r.expect(mitKV5MAuthContext, "auth context trailer")
}

func (r *mitReader) adContext() *mitADContext {
	r.expect(mitKV5MADContext, "authdata context")
	ad := &mitADContext{}
	n := r.count("authdata module count", 4)
	for i := 0; i < n && r.ok(); i++ {
		m := mitADModule{Name: string(r.counted("authdata module name"))}
		switch m.Name {
		case mitADModulePAC:
			m.PAC = r.counted("PAC")
			m.PACVerified = r.i32("PAC verified flag")
		case mitADModuleIndicators:
			k := r.count("authentication indicator count", 4)
			for j := 0; j < k && r.ok(); j++ {
				m.Indicators = append(m.Indicators, r.counted("authentication indicator"))
			}
		default:
			// Each module has its own layout; as in MIT, one that this
			// library does not have cannot be read past.
			r.fail("authdata module " + strconv.Quote(m.Name) + " is unknown")
		}
		ad.Modules = append(ad.Modules, m)
	}
	r.expect(mitKV5MADContext, "authdata context trailer")
	return ad
}

// parseMITContext parses MIT's serialized context (the mechanism token,
// without the mechglue's OID framing).
func parseMITContext(b []byte) (*mitContext, error) {
	r := &mitReader{b: b}
	mc := &mitContext{}
	r.expect(mitKGContext, "context")
	mc.Initiate = r.i32("initiate")
	mc.Established = r.i32("established")
	mc.HaveAcceptorSubkey = r.i32("have_acceptor_subkey")
	mc.SeedInit = r.i32("seed_init")
	mc.GSSFlags = uint32(r.i32("gss_flags"))
	copy(mc.Seed[:], r.bytes(16, "seed"))
	mc.SignAlg = r.i32("signalg")
	mc.CksumSize = r.i32("cksum_size")
	mc.SealAlg = r.i32("sealalg")
	mc.AuthTime = uint32(r.i32("authtime"))
	mc.StartTime = uint32(r.i32("starttime"))
	mc.EndTime = uint32(r.i32("endtime"))
	mc.RenewTill = uint32(r.i32("renew_till"))
	mc.KrbFlags = uint32(r.i32("ticket flags"))
	mc.SeqSend = r.u64("seq_send")
	mc.SeqRecv = r.u64("seq_recv")
	if r.take(mitKV5MGSSOID) {
		oid := gss.OID(r.counted("mechanism OID"))
		r.expect(mitKV5MGSSOID, "mechanism OID trailer")
		mc.Mech = &oid
	}
	mc.Here = r.optPrincipal("local name")
	mc.There = r.optPrincipal("peer name")
	mc.Subkey = r.optKey("subkey")
	mc.Enc = r.optKey("RFC 1964 encryption key")
	mc.Seq = r.optKey("RFC 1964 sequence key")
	if r.take(mitKV5MGSSQueue) {
		if v := r.bytes(mitSeqStateLen, "replay window"); v != nil {
			ne := binary.NativeEndian
			mc.SeqState = &mitSeqState{
				DoReplay:   int32(ne.Uint32(v[0:])),
				DoSequence: int32(ne.Uint32(v[4:])),
				SeqMask:    ne.Uint64(v[8:]),
				Base:       ne.Uint64(v[16:]),
				Next:       ne.Uint64(v[24:]),
				RecvMap:    ne.Uint64(v[32:]),
			}
		}
		r.expect(mitKV5MGSSQueue, "replay window trailer")
	}
	r.k5Context(&mc.K5)
	r.authContext(&mc.Auth)
	mc.Proto = r.i32("proto")
	mc.CksumType = r.i32("cksumtype")
	mc.AcceptorSubkey = r.optKey("acceptor subkey")
	mc.AcceptorSubkeyCksumType = r.i32("acceptor subkey cksumtype")
	mc.CredRcache = r.i32("cred_rcache")
	mc.Authdata = r.authdata(r.count("authdata count", 16), "authdata")
	if r.peek(mitKV5MADContext) {
		mc.ADContext = r.adContext()
	}
	r.expect(mitKGContext, "context trailer")
	if r.err == "" && r.off != len(b) {
		r.err = strconv.Itoa(len(b)-r.off) + " bytes follow the context trailer"
	}
	if r.err != "" {
		return nil, mitImportError("MIT krb5 context token: " + r.err)
	}
	return mc, nil
}

func mitImportError(msg string) *gss.Error {
	return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, msg)
}

// isMITContextToken reports whether a mechanism token is in MIT's format
// rather than gsskit's: the two start with different magic words.
func isMITContextToken(tok []byte) bool {
	return len(tok) >= 4 && int32(binary.BigEndian.Uint32(tok)) == mitKGContext
}

// ---------------------------------------------------------------------------
// gsskit context <-> MIT context

// mitMandatoryCksum is MIT's checksum type for an RFC 4121 key: the one
// RFC 3961/8009 make mandatory for its enctype.
var mitMandatoryCksum = map[int32]int32{
	17: 15, // aes128-cts-hmac-sha1-96: hmac-sha1-96-aes128
	18: 16, // aes256-cts-hmac-sha1-96: hmac-sha1-96-aes256
	19: 19, // aes128-cts-hmac-sha256-128: hmac-sha256-128-aes128
	20: 20, // aes256-cts-hmac-sha384-192: hmac-sha384-192-aes256
}

func mitKeyOf(k types.EncryptionKey) *mitKey {
	return &mitKey{Enctype: k.KeyType, Contents: append([]byte(nil), k.KeyValue...)}
}

func mitTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

// mitState describes the established context c as MIT would have it. What
// gsskit does not keep (the ticket's auth and start times, renew-till and
// flags, the authenticator, addresses) is written as MIT writes an absent
// value; none of it is used by MIT's per-message calls.
func (c *secContext) mitState() (*mitContext, error) {
	k := c.protectorKey()
	if !cfxEnctype(k.KeyType) || !cfxEnctype(c.subkey.KeyType) {
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			"only RFC 4121 (AES) contexts can be exported in MIT's format, not enctype "+itoa(int(k.KeyType)))
	}
	pc, base, next, recvmap := c.seqState()
	mech := c.wireMech
	if !isKrb5Mech(mech) {
		mech = gss.MechKrb5
	}
	src, tgt := c.source.String(), c.target.String()
	here, there := &src, &tgt
	if !c.initiator {
		here, there = there, here
	}
	// MIT consults the clock skew only for an acceptor, as grace past the
	// ticket's end; gsskit's acceptor grace is expiry - ticket end.
	skew := 5 * time.Minute
	if !c.initiator {
		switch {
		case !c.expiry.IsZero() && !c.ticketEnd.IsZero() && c.expiry.After(c.ticketEnd):
			skew = c.expiry.Sub(c.ticketEnd)
		case c.mech != nil:
			skew = c.mech.clockSkew()
		}
	}
	mc := &mitContext{
		Established: 1,
		GSSFlags:    uint32(c.flags),
		SignAlg:     -1,
		SealAlg:     -1,
		EndTime:     mitTime(c.endTime()),
		SeqSend:     pc.SendSeq,
		SeqRecv:     uint64(c.recvSeq),
		Mech:        &mech,
		Here:        here,
		There:       there,
		Subkey:      mitKeyOf(c.subkey),
		SeqState: &mitSeqState{
			DoReplay: b2i(pc.Replay), DoSequence: b2i(pc.Sequence),
			SeqMask: ^uint64(0), Base: base, Next: next, RecvMap: recvmap,
		},
		K5: mitK5Context{
			ClockSkew:         int32(skew / time.Second),
			KDCDefaultOptions: mitKDCOptRenewableOK,
			LibraryOptions:    mitLibOptSyncKDCTime,
			FCCDefaultFormat:  mitFCCVersion4,
			OS:                &[3]int32{},
		},
		Proto:     1,
		CksumType: mitMandatoryCksum[c.subkey.KeyType],
	}
	if c.initiator {
		mc.Initiate = 1
	}
	// The AP exchange's auth context as MIT leaves it: both initial
	// sequence numbers, the ticket session key, and as both send and
	// receive subkey the last subkey exchanged (krb5_mk_req, krb5_rd_req,
	// krb5_mk_rep and krb5_rd_rep each set both to the subkey they see).
	mc.Auth = mitAuthContext{
		Flags:     mitAuthConDoSequence,
		RemoteSeq: int32(c.recvSeq),
		LocalSeq:  int32(c.sendSeq),
	}
	if c.initiator {
		mc.Auth.ReqCksumType = mitCksumGSS
	}
	if len(c.sessionKey.KeyValue) > 0 {
		mc.Auth.Key = mitKeyOf(c.sessionKey)
	}
	if c.hasAcceptorSubkey {
		mc.HaveAcceptorSubkey = 1
		mc.AcceptorSubkey = mitKeyOf(c.acceptorSubkey)
		mc.AcceptorSubkeyCksumType = mitMandatoryCksum[c.acceptorSubkey.KeyType]
		mc.Auth.SendSubkey, mc.Auth.RecvSubkey = mitKeyOf(c.acceptorSubkey), mitKeyOf(c.acceptorSubkey)
		if !c.initiator {
			mc.Auth.Flags |= mitAuthConUseSubkey
		}
	} else if string(c.subkey.KeyValue) != string(c.sessionKey.KeyValue) {
		mc.Auth.SendSubkey, mc.Auth.RecvSubkey = mitKeyOf(c.subkey), mitKeyOf(c.subkey)
	}
	mc.ADContext = mitADContextOf(c.source)
	return mc, nil
}

// endTime is the one end time MIT's context and the kernel's lucid context
// have: the ticket's, or an initiator's requested lifetime when that ends
// first. An acceptor's expiry adds the clock skew as grace, which both
// MIT and the kernel add themselves (MIT from the clock skew it is given).
func (c *secContext) endTime() time.Time {
	end := c.ticketEnd
	if (end.IsZero() || c.initiator) && !c.expiry.IsZero() && (end.IsZero() || c.expiry.Before(end)) {
		end = c.expiry
	}
	return end
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// mitADContextOf carries the initiator name's PAC and verified indicators
// in MIT's two built-in authdata modules, in MIT's module order. A name
// with neither gets no authdata context, as MIT's initiator names have.
func mitADContextOf(n *krbName) *mitADContext {
	if n == nil {
		return nil
	}
	// The values are only copied into the token: no copies of them here.
	pac, pacOK := n.attributeView(attrMSPAC)
	inds, indsAuth := n.attributeView(attrAuthIndicators)
	if len(pac) == 0 && (len(inds) == 0 || !indsAuth) {
		return nil
	}
	pm := mitADModule{Name: mitADModulePAC}
	if len(pac) > 0 {
		pm.PAC, pm.PACVerified = pac[0], b2i(pacOK)
	}
	im := mitADModule{Name: mitADModuleIndicators}
	if indsAuth {
		// MIT's module holds only indicators from a verified CAMMAC.
		im.Indicators = inds
	}
	return &mitADContext{Modules: []mitADModule{pm, im}}
}

// ExportMIT is gss_export_sec_context in MIT krb5 1.20's serialized format:
// the mechanism token that MIT's krb5 mechanism imports, without the
// mechglue's OID framing (the package-level ExportMIT adds it). Like
// Export, it ends this context: its sequence state now lives in the token.
func (c *secContext) ExportMIT() ([]byte, error) {
	return c.exportMIT("")
}

// exportMIT is ExportMIT with, unless mech is "", the mechglue's framing
// for mech in front, in the same buffer.
func (c *secContext) exportMIT(mech gss.OID) ([]byte, error) {
	if err := c.ready(0); err != nil {
		return nil, err
	}
	mc, err := c.mitState()
	if err != nil {
		return nil, err
	}
	var b []byte
	if mech != "" {
		b = gss.AppendExportedContext(make([]byte, 0, 4+len(mech)+mc.sizeHint()), mech, nil)
	} else {
		b = make([]byte, 0, mc.sizeHint())
	}
	b = mc.appendTo(b)
	mc.wipe()
	c.wipe()
	c.state = stateDeleted
	return b, nil
}

// wipe clears the key bytes the description holds.
func (mc *mitContext) wipe() {
	for _, k := range []*mitKey{mc.Subkey, mc.Enc, mc.Seq, mc.AcceptorSubkey, mc.Auth.Key, mc.Auth.SendSubkey, mc.Auth.RecvSubkey} {
		if k != nil {
			clear(k.Contents)
		}
	}
	if mc.Auth.Authenticator != nil && mc.Auth.Authenticator.Subkey != nil {
		clear(mc.Auth.Authenticator.Subkey.Contents)
	}
}

// importMITContext rebuilds a context from MIT's mechanism token. Only what
// RFC 4121 per-message calls need is taken; every malformed or unusable
// token is a DefectiveToken error, as MIT fails such an import.
func importMITContext(m *mechanism, token []byte) (*secContext, error) {
	mc, err := parseMITContext(token)
	if err != nil {
		return nil, err
	}
	defer mc.wipe()
	return mc.secContext(m)
}

func (mc *mitContext) secContext(m *mechanism) (*secContext, error) {
	bad := func(msg string) (*secContext, error) { return nil, mitImportError("MIT krb5 context token: " + msg) }
	switch {
	case mc.Established != 1:
		return bad("the context is not established (MIT exports only established contexts)")
	case mc.Initiate != 0 && mc.Initiate != 1, mc.HaveAcceptorSubkey != 0 && mc.HaveAcceptorSubkey != 1:
		return bad("initiate or have_acceptor_subkey is not a boolean")
	case mc.Proto != 1:
		// 0 is RFC 1964 (DES3 and RC4 tokens), which gsskit does not speak.
		return bad("protocol " + itoa(int(mc.Proto)) + " is not RFC 4121 (1)")
	case mc.Here == nil || mc.There == nil:
		return bad("a name is missing")
	case mc.Subkey == nil:
		return bad("the context key is missing")
	case mc.HaveAcceptorSubkey == 1 && mc.AcceptorSubkey == nil:
		return bad("have_acceptor_subkey is set but there is no acceptor subkey")
	case mc.SeqState == nil:
		return bad("the replay window is missing")
	case mc.SeqState.SeqMask != ^uint64(0):
		return bad("the replay window is not 64-bit, so not RFC 4121")
	}
	c := &secContext{
		mech:              m,
		initiator:         mc.Initiate == 1,
		wireMech:          gss.MechKrb5,
		flags:             gss.Flags(mc.GSSFlags) | gss.FlagProtReady | gss.FlagTrans,
		hasAcceptorSubkey: mc.HaveAcceptorSubkey == 1,
		subkey:            types.EncryptionKey{KeyType: mc.Subkey.Enctype, KeyValue: append([]byte(nil), mc.Subkey.Contents...)},
		sendSeq:           uint32(mc.Auth.LocalSeq),
		recvSeq:           uint32(mc.SeqRecv),
	}
	if mc.Mech != nil {
		if !isKrb5Mech(*mc.Mech) {
			return bad("mechanism " + mc.Mech.String() + " is not Kerberos V5")
		}
		c.wireMech = *mc.Mech
	}
	if c.hasAcceptorSubkey {
		c.acceptorSubkey = types.EncryptionKey{KeyType: mc.AcceptorSubkey.Enctype, KeyValue: append([]byte(nil), mc.AcceptorSubkey.Contents...)}
	}
	if k := mc.Auth.Key; k != nil {
		c.sessionKey = types.EncryptionKey{KeyType: k.Enctype, KeyValue: append([]byte(nil), k.Contents...)}
	}
	here, err := parsePrincipal(*mc.Here)
	if err != nil {
		return bad("local name " + strconv.Quote(*mc.Here) + " does not parse")
	}
	there, err := parsePrincipal(*mc.There)
	if err != nil {
		return bad("peer name " + strconv.Quote(*mc.There) + " does not parse")
	}
	if c.initiator {
		c.source, c.target = newName(here, gss.NTKrb5Principal), newName(there, gss.NTKrb5Principal)
	} else {
		c.source, c.target = newName(there, gss.NTKrb5Principal), newName(here, gss.NTKrb5Principal)
	}
	if ad := mc.ADContext; ad != nil {
		for _, mod := range ad.Modules {
			switch {
			case mod.Name == mitADModulePAC && len(mod.PAC) > 0:
				c.source.setAttribute(attrMSPAC, [][]byte{mod.PAC}, mod.PACVerified != 0)
			case mod.Name == mitADModuleIndicators && len(mod.Indicators) > 0:
				c.source.setAttribute(attrAuthIndicators, mod.Indicators, true)
			}
		}
	}
	if mc.EndTime != 0 {
		c.ticketEnd = time.Unix(int64(mc.EndTime), 0)
		c.expiry = c.ticketEnd
		if !c.initiator && mc.K5.ClockSkew > 0 {
			c.expiry = c.expiry.Add(time.Duration(mc.K5.ClockSkew) * time.Second)
		}
	}
	k := c.protectorKey()
	p, err := cfx.New(cfx.Config{
		Enctype:        k.KeyType,
		Key:            k.KeyValue,
		Initiator:      c.initiator,
		AcceptorSubkey: c.hasAcceptorSubkey,
		SendSeq:        mc.SeqSend,
		RecvSeq:        mc.SeqState.Base,
		Replay:         mc.SeqState.DoReplay != 0,
		Sequence:       mc.SeqState.DoSequence != 0,
	})
	if err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "MIT krb5 context token: its key is unusable", err)
	}
	p.SetRecvWindow(mc.SeqState.Base, mc.SeqState.Next, mc.SeqState.RecvMap)
	c.prot = p
	c.state = stateEstablished
	return c, nil
}

// ---------------------------------------------------------------------------
// Through the gss package

// mitExporter is what the mechanism's contexts offer beyond gss.MechContext.
type mitExporter interface {
	ExportMIT() ([]byte, error)
}

// ExportMIT exports an established Kerberos context in MIT krb5's format,
// framed as MIT's mechglue frames it (4-byte big-endian OID length, the
// OID, the mechanism token): what MIT's gss_import_sec_context, and so the
// reference gss-proxy interposer, imports. gss.SecContext.Export keeps
// writing gsskit's own format. On success sc is deleted, since its state
// now lives in the token; on failure it is left as it was.
func ExportMIT(sc *gss.SecContext) ([]byte, error) {
	mc := sc.MechContext()
	if mc == nil {
		return nil, gss.NewError(gss.NoContext, 0, gss.MechKrb5, "ExportMIT: no security context")
	}
	e, ok := mc.(mitExporter)
	if !ok {
		return nil, gss.NewError(gss.BadMech, 0, sc.Mech(),
			"ExportMIT: the context's mechanism "+sc.Mech().String()+" is not gsskit's Kerberos V5")
	}
	mech := sc.Mech()
	if !isKrb5Mech(mech) {
		mech = gss.MechKrb5
	}
	if c, ok := e.(*secContext); ok {
		// The framing first, then the token after it: one buffer.
		tok, err := c.exportMIT(mech)
		if err != nil {
			return nil, err
		}
		sc.Delete()
		return tok, nil
	}
	tok, err := e.ExportMIT()
	if err != nil {
		return nil, err
	}
	sc.Delete()
	return gss.AppendExportedContext(nil, mech, tok), nil
}

// ImportMIT imports a context that MIT krb5 exported (gss_export_sec_context
// with its mechglue framing) into the default registry. gss.ImportSecContext
// takes such tokens as well, since the Kerberos mechanism recognises either
// format; ImportMIT only refuses anything else.
func ImportMIT(token []byte) (*gss.SecContext, error) {
	mech, inner, err := gss.ParseExportedContext(token)
	if err != nil {
		return nil, err
	}
	if !isKrb5Mech(mech) {
		return nil, gss.NewError(gss.BadMech, 0, mech, "exported context is for mechanism "+mech.String()+", not Kerberos V5")
	}
	if !isMITContextToken(inner) {
		return nil, mitImportError("exported context is not in MIT krb5's format")
	}
	return gss.ImportSecContext(token)
}
