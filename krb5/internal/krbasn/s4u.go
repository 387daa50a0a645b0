package krbasn

import (
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The S4U padata of MS-SFU §2.2 as MIT 1.20 sends and checks them. gokrb5
// has none of these types. Only the KDC ever reads the requests, and only
// the S4U2Self reply's PA-S4U-X509-USER comes back, so that is the one
// decoder; it is strict DER like the rest of this package.

// S4UUserID ::= SEQUENCE {
//
//	nonce               [0] UInt32,
//	cname               [1] PrincipalName OPTIONAL,
//	crealm              [2] Realm,
//	subject-certificate [3] OCTET STRING OPTIONAL,
//	options             [4] BIT STRING OPTIONAL,
//	...
//
// }
type S4UUserID struct {
	Nonce int64
	// CName is absent (no components) when the user is named by the
	// certificate alone.
	CName       types.PrincipalName
	CRealm      string
	SubjectCert []byte
	// Options is a 32-bit KerberosFlags; zero is left out, as MIT does.
	Options uint32
}

// S4U user-id options (MS-SFU §2.2.2), as the 32-bit value MIT uses.
const (
	S4UOptCheckLogonHours   = 0x40000000
	S4UOptUseReplyKeyUsage  = 0x20000000
	PACOptionsRBCD          = 0x10000000 // PA-PAC-OPTIONS resource-based-constrained-delegation
	PACOptionsBranchAware   = 0x40000000
	PACOptionsForwardToFull = 0x20000000
)

func kflags32(v uint32) asn1.BitString {
	return asn1.BitString{Bytes: []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, BitLength: 32}
}

// AppendS4UUserID appends the DER of id: the bytes PA-S4U-X509-USER's
// checksum covers.
func AppendS4UUserID(dst []byte, id *S4UUserID) []byte {
	dst, s := begin(dst, tagSequence)
	dst = appendExplicitInt(dst, 0, id.Nonce)
	if len(id.CName.NameString) > 0 {
		dst = appendPrincipalName(dst, 1, id.CName)
	}
	dst = appendExplicitString(dst, 2, id.CRealm)
	if len(id.SubjectCert) > 0 {
		dst = appendExplicitOctets(dst, 3, id.SubjectCert)
	}
	if id.Options != 0 {
		dst = appendExplicitBitString(dst, 4, kflags32(id.Options))
	}
	return end(dst, s)
}

// PA-S4U-X509-USER ::= SEQUENCE { user-id [0] S4UUserID, checksum [1] Checksum }

// AppendPAS4UX509User appends PA-S4U-X509-USER with the user-id already
// encoded (userID is AppendS4UUserID's output).
func AppendPAS4UX509User(dst, userID []byte, ck types.Checksum) []byte {
	dst, s := begin(dst, tagSequence)
	dst, s0 := begin(dst, ctxTag(0))
	dst = append(dst, userID...)
	dst = end(dst, s0)
	dst = appendChecksum(dst, 1, ck)
	return end(dst, s)
}

// DecodePAS4UX509User decodes a PA-S4U-X509-USER. rawUserID is the user-id
// as received (aliasing b), which is what a checksum made by an encoder
// that is not strict DER covers.
func DecodePAS4UX509User(b []byte) (id S4UUserID, ck types.Checksum, rawUserID []byte, err error) {
	const what = "PA-S4U-X509-USER"
	seq, rest, err := element(b, tagSequence, what)
	if err != nil {
		return id, ck, nil, err
	}
	if err := done(rest, what); err != nil {
		return id, ck, nil, err
	}
	outer, seq, err := element(seq, ctxTag(0), "user-id")
	if err != nil {
		return id, ck, nil, within(err, what)
	}
	c, after, err := element(outer, tagSequence, "user-id")
	if err != nil {
		return id, ck, nil, within(err, what)
	}
	if len(after) != 0 {
		return id, ck, nil, fail(what, "trailing bytes in user-id")
	}
	rawUserID = outer
	if id, err = parseS4UUserID(c); err != nil {
		return id, ck, nil, within(err, what)
	}
	if ck, seq, err = explicitChecksum(seq, 1, "checksum"); err != nil {
		return id, ck, nil, within(err, what)
	}
	return id, ck, rawUserID, done(seq, what)
}

func parseS4UUserID(c []byte) (S4UUserID, error) {
	const what = "S4UUserID"
	var id S4UUserID
	var err error
	if id.Nonce, c, err = explicitInt(c, 0, "nonce"); err != nil {
		return id, within(err, what)
	}
	// MIT encodes the nonce as a signed 32-bit value, RFC 4120 as
	// unsigned: both readings of the same four bytes are accepted.
	if id.Nonce < -0x80000000 || id.Nonce > 0xffffffff {
		return id, fail(what, "nonce out of the 32-bit range")
	}
	id.Nonce &= 0xffffffff
	if has(c, 1) {
		if id.CName, c, err = explicitPrincipalName(c, 1, "cname"); err != nil {
			return id, within(err, what)
		}
	}
	if id.CRealm, c, err = explicitString(c, 2, "crealm"); err != nil {
		return id, within(err, what)
	}
	if has(c, 3) {
		var cert []byte
		if cert, c, err = explicitOctets(c, 3, "subject-certificate"); err != nil {
			return id, within(err, what)
		}
		id.SubjectCert = cert
	}
	if has(c, 4) {
		var bs asn1.BitString
		if bs, c, err = explicitBitString(c, 4, "options"); err != nil {
			return id, within(err, what)
		}
		for i := 0; i < 4 && i < len(bs.Bytes); i++ {
			id.Options |= uint32(bs.Bytes[i]) << (24 - 8*i)
		}
	}
	// The type is extensible: later fields are skipped, not refused.
	for len(c) > 0 {
		if c[0]&0xe0 != 0xa0 {
			return id, fail(what, "unexpected element with tag 0x"+hexByte(c[0]))
		}
		if _, c, err = element(c, c[0], "extension"); err != nil {
			return id, within(err, what)
		}
	}
	return id, nil
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// PA-FOR-USER ::= SEQUENCE {
//
//	userName     [0] PrincipalName,
//	userRealm    [1] Realm,
//	cksum        [2] Checksum,
//	auth-package [3] KerberosString
//
// }
func AppendPAForUser(dst []byte, user types.PrincipalName, realm string, ck types.Checksum, authPackage string) []byte {
	dst, s := begin(dst, tagSequence)
	dst = appendPrincipalName(dst, 0, user)
	dst = appendExplicitString(dst, 1, realm)
	dst = appendChecksum(dst, 2, ck)
	dst = appendExplicitString(dst, 3, authPackage)
	return end(dst, s)
}

// PA-PAC-OPTIONS ::= SEQUENCE { flags [0] PA-PAC-OPTIONSFlags }
func AppendPAPACOptions(dst []byte, options uint32) []byte {
	dst, s := begin(dst, tagSequence)
	dst = appendExplicitBitString(dst, 0, kflags32(options))
	return end(dst, s)
}
