package krb5

import (
	"crypto/md5"
	"encoding/binary"
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// The krb5 mechanism does not put a real checksum in the authenticator: RFC
// 4121 §4.1.1 reuses the checksum field, under the private type 0x8003, as a
// little structure that carries the channel-binding hash, the context flags
// the initiator asked for and, optionally, a delegated credential. Its
// integers are little-endian, unlike everything else in Kerberos, because
// that is what the first implementation wrote and everybody followed.
const (
	gssChecksumType = 0x8003

	// channelBindingLen is the length of the MD5 channel-binding hash (Lgth).
	channelBindingLen = 16
	// minGSSChecksumLen covers Lgth, Bnd and Flags: the part every
	// initiator sends.
	minGSSChecksumLen = 4 + channelBindingLen + 4
	// delegOption is the DlgOpt value that marks a KRB-CRED.
	delegOption = 1
)

// gssChecksum is the decoded 0x8003 checksum.
type gssChecksum struct {
	Bindings [channelBindingLen]byte
	Flags    gss.Flags
	// Deleg is the KRB-CRED message, nil when nothing was delegated.
	Deleg []byte
	// Exts are the extensions MIT appends after the delegation option
	// (4-byte big-endian type and length each, e.g. IAKERB's finished
	// message); they are kept so a caller can see them, and ignored.
	Exts []checksumExt
}

type checksumExt struct {
	Type uint32
	Data []byte
}

// channelBindingHash is the Bnd field: the MD5 of the bindings laid out as
// RFC 4121 §4.1.1.2 describes (each address and the application data
// prefixed by its 32-bit little-endian length, address types as 32-bit
// little-endian integers), or sixteen zero bytes when there are none. The
// all-zero value is how an acceptor tells "no bindings" from "bindings".
func channelBindingHash(cb *gss.ChannelBindings) [channelBindingLen]byte {
	var sum [channelBindingLen]byte
	if cb == nil {
		return sum
	}
	h := md5.New()
	var n [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(n[:], v)
		h.Write(n[:])
	}
	put(cb.InitiatorAddrType)
	put(uint32(len(cb.InitiatorAddress)))
	h.Write(cb.InitiatorAddress)
	put(cb.AcceptorAddrType)
	put(uint32(len(cb.AcceptorAddress)))
	h.Write(cb.AcceptorAddress)
	put(uint32(len(cb.ApplicationData)))
	h.Write(cb.ApplicationData)
	h.Sum(sum[:0])
	return sum
}

// marshal encodes the checksum; Flags are written as given, so the caller
// sets GSS_C_DELEG_FLAG exactly when Deleg is present. A delegation that does not fit the 16-bit
// Dlgth field is a caller error (the KRB-CRED of one TGT is far smaller).
func (c *gssChecksum) marshal() ([]byte, error) {
	n := minGSSChecksumLen
	if c.Deleg != nil {
		if len(c.Deleg) > 0xffff {
			return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5,
				"delegated credential of "+strconv.Itoa(len(c.Deleg))+" bytes does not fit the 0x8003 checksum")
		}
		n += 4 + len(c.Deleg)
	}
	for _, e := range c.Exts {
		n += 8 + len(e.Data)
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, channelBindingLen)
	b = append(b, c.Bindings[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Flags))
	if c.Deleg != nil {
		b = binary.LittleEndian.AppendUint16(b, delegOption)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Deleg)))
		b = append(b, c.Deleg...)
	}
	for _, e := range c.Exts {
		b = binary.BigEndian.AppendUint32(b, e.Type)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b, nil
}

// parseGSSChecksum decodes a 0x8003 checksum. The slices in the result alias
// b. Every malformation is a DefectiveToken error: the checksum travels inside
// the encrypted authenticator, so a bad one is a broken peer, not an attack
// on the bindings. (MIT reports a checksum shorter than 24 bytes as
// GSS_S_BAD_BINDINGS and a bad Lgth as GSS_S_FAILURE; DefectiveToken says
// more precisely what is wrong.)
//
// As in MIT, the delegation option is read only when the Flags carry
// GSS_C_DELEG_FLAG and at least four bytes follow; everything after it is a
// list of big-endian extensions.
func parseGSSChecksum(b []byte) (gssChecksum, error) {
	var c gssChecksum
	if len(b) < minGSSChecksumLen {
		return c, checksumError("0x8003 checksum is " + strconv.Itoa(len(b)) +
			" bytes, shorter than the 24-byte minimum")
	}
	if l := binary.LittleEndian.Uint32(b); l != channelBindingLen {
		return c, checksumError("0x8003 checksum has a channel-binding length of " +
			strconv.FormatUint(uint64(l), 10) + ", not 16")
	}
	copy(c.Bindings[:], b[4:20])
	c.Flags = gss.Flags(binary.LittleEndian.Uint32(b[20:24]))
	rest := b[24:]
	if c.Flags&gss.FlagDeleg != 0 && len(rest) >= 4 {
		opt := binary.LittleEndian.Uint16(rest)
		n := int(binary.LittleEndian.Uint16(rest[2:]))
		if opt != delegOption {
			return c, checksumError("0x8003 checksum has delegation option " +
				strconv.Itoa(int(opt)) + ", not 1 (KRB-CRED)")
		}
		if n > len(rest)-4 {
			return c, checksumError("0x8003 checksum's delegated credential of " + strconv.Itoa(n) +
				" bytes runs past the " + strconv.Itoa(len(rest)-4) + " bytes left")
		}
		c.Deleg = rest[4 : 4+n : 4+n]
		rest = rest[4+n:]
	}
	for len(rest) > 0 {
		if len(rest) < 8 {
			return c, checksumError("0x8003 checksum ends with " + strconv.Itoa(len(rest)) +
				" stray bytes, too few for an extension header")
		}
		typ := binary.BigEndian.Uint32(rest)
		n := binary.BigEndian.Uint32(rest[4:])
		if uint64(n) > uint64(len(rest)-8) {
			return c, checksumError("0x8003 checksum extension " + strconv.FormatUint(uint64(typ), 10) +
				" of " + strconv.FormatUint(uint64(n), 10) + " bytes runs past the checksum")
		}
		c.Exts = append(c.Exts, checksumExt{Type: typ, Data: rest[8 : 8+n : 8+n]})
		rest = rest[8+n:]
	}
	// Flags are returned as sent: whether something was delegated is
	// Deleg != nil, as the flag alone proves nothing.
	return c, nil
}

func checksumError(msg string) *gss.Error {
	return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, msg)
}
