package krb5

import (
	"encoding/binary"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// gsskit's own context export (gss_export_sec_context between gsskit
// processes). It carries everything an established context needs to go on
// in another process: who initiated, the names, flags and expiry, the keys
// and whose subkey protects messages, and the live sequence state, which
// the Protector serializes itself. Delegated credentials and name
// attributes stay behind, as with MIT.
//
// Layout, all integers big-endian:
//
//	"gkx" version(1)
//	u8  bits: 1 initiator, 2 acceptor subkey
//	u32 GSS flags
//	i64 expiry, i64 ticket end time, Unix nanoseconds (0: none)
//	str wire mechanism OID
//	name source, name target   (i32 name type, u16 count, str components…, str realm)
//	key session, key subkey, key acceptor subkey   (i32 enctype, str bytes)
//	u32 initial send and receive sequence numbers
//	the Protector's state, to the end
//
// where str is a u16 length and bytes.
const exportMagic = "gkx\x01"

const (
	exportInitiator = 1 << iota
	exportAcceptorSubkey
)

// Export is gss_export_sec_context: the token, after which this context is
// no longer usable (its sequence state now lives in the token).
func (c *secContext) Export() ([]byte, error) {
	if err := c.ready(0); err != nil {
		return nil, err
	}
	b := []byte(exportMagic)
	var bits byte
	if c.initiator {
		bits |= exportInitiator
	}
	if c.hasAcceptorSubkey {
		bits |= exportAcceptorSubkey
	}
	b = append(b, bits)
	b = binary.BigEndian.AppendUint32(b, uint32(c.flags))
	var exp int64
	if !c.expiry.IsZero() {
		exp = c.expiry.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	var end int64
	if !c.ticketEnd.IsZero() {
		end = c.ticketEnd.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(end))
	b = appendStr(b, []byte(c.wireMech))
	b = appendPrincipal(b, c.source.principal())
	b = appendPrincipal(b, c.target.principal())
	b = appendKey(b, c.sessionKey)
	b = appendKey(b, c.subkey)
	b = appendKey(b, c.acceptorSubkey)
	b = binary.BigEndian.AppendUint32(b, c.sendSeq)
	b = binary.BigEndian.AppendUint32(b, c.recvSeq)
	p, err := c.protector()
	if err != nil {
		return nil, err
	}
	b = p.AppendState(b)
	c.wipe()
	c.state = stateDeleted
	return b, nil
}

// importSecContext rebuilds a context from Export's token, or from MIT's
// format (mitexport.go), which starts with a different magic word.
func importSecContext(m *mechanism, token []byte) (*secContext, error) {
	if isMITContextToken(token) {
		return importMITContext(m, token)
	}
	r := exportReader{b: token}
	if magic := r.bytes(len(exportMagic)); string(magic) != exportMagic {
		return nil, importError("not a gsskit Kerberos context token (or an unsupported version)")
	}
	c := &secContext{mech: m}
	bits := r.u8()
	c.initiator = bits&exportInitiator != 0
	c.hasAcceptorSubkey = bits&exportAcceptorSubkey != 0
	c.flags = gss.Flags(r.u32())
	if exp := int64(r.u64()); exp != 0 {
		c.expiry = time.Unix(0, exp)
	}
	if end := int64(r.u64()); end != 0 {
		c.ticketEnd = time.Unix(0, end)
	}
	c.wireMech = gss.OID(r.str())
	src, tgt := r.principal(), r.principal()
	c.sessionKey, c.subkey, c.acceptorSubkey = r.key(), r.key(), r.key()
	c.sendSeq, c.recvSeq = r.u32(), r.u32()
	if r.err != "" {
		return nil, importError("context token is " + r.err)
	}
	if !isKrb5Mech(c.wireMech) {
		return nil, importError("context token names mechanism " + c.wireMech.String())
	}
	if bits&^(exportInitiator|exportAcceptorSubkey) != 0 {
		return nil, importError("context token has unknown flag bits")
	}
	p, rest, err := cfx.ParseState(r.b)
	if err != nil {
		return nil, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "context token's sequence state is malformed", err)
	}
	if len(rest) != 0 {
		return nil, importError("context token has " + itoa(len(rest)) + " trailing bytes")
	}
	// The state must describe the same keys as the header, or the token
	// was spliced together.
	pc := p.Config()
	k := c.protectorKey()
	if pc.Initiator != c.initiator || pc.AcceptorSubkey != c.hasAcceptorSubkey || pc.Enctype != k.KeyType ||
		string(pc.Key) != string(k.KeyValue) {
		return nil, importError("context token's sequence state does not match its keys")
	}
	c.source = newName(src, gss.NTKrb5Principal)
	c.target = newName(tgt, gss.NTKrb5Principal)
	c.prot = p
	c.state = stateEstablished
	return c, nil
}

func importError(msg string) *gss.Error {
	return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, msg)
}

func appendStr(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendPrincipal(b []byte, p principal) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.nameType))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.components)))
	for _, s := range p.components {
		b = appendStr(b, []byte(s))
	}
	return appendStr(b, []byte(p.realm))
}

func appendKey(b []byte, k types.EncryptionKey) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(k.KeyType))
	return appendStr(b, k.KeyValue)
}

// exportReader reads the token; the first shortfall sticks in err and
// every later read returns zero values.
type exportReader struct {
	b   []byte
	err string
}

func (r *exportReader) bytes(n int) []byte {
	if r.err != "" {
		return nil
	}
	if n > len(r.b) {
		r.err = "truncated"
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *exportReader) u8() byte {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *exportReader) u16() uint16 {
	if v := r.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *exportReader) u32() uint32 {
	if v := r.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *exportReader) u64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *exportReader) str() []byte { return r.bytes(int(r.u16())) }

func (r *exportReader) principal() principal {
	var p principal
	p.nameType = int32(r.u32())
	n := int(r.u16())
	for i := 0; i < n && r.err == ""; i++ {
		p.components = append(p.components, string(r.str()))
	}
	p.realm = string(r.str())
	return p
}

func (r *exportReader) key() types.EncryptionKey {
	etype := int32(r.u32())
	v := r.str()
	return types.EncryptionKey{KeyType: etype, KeyValue: append([]byte(nil), v...)}
}
