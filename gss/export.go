package gss

import (
	"encoding/binary"
	"strconv"
)

// The mechglue's interprocess token formats (RFC 2743 §3.2 for names, MIT's
// mechglue for credentials and contexts). An interposer re-enters
// the original mechanism by building these with the concatenated OID, so
// they are exported.

const (
	exportNameTokID      = 0x0401
	exportCompositeTokID = 0x0402
)

// AppendExportedName appends an RFC 2743 §3.2 exported name token:
// 04 01, the 2-byte length of the DER-encoded OID, the DER OID (06 len
// bytes), the 4-byte length of the name, and the mechanism's name blob.
func AppendExportedName(dst []byte, mech OID, blob []byte) []byte {
	return appendNameHeader(dst, exportNameTokID, mech, blob)
}

// nameHeaderLen is how many bytes appendNameHeader appends.
func nameHeaderLen(mech OID, blob []byte) int {
	return 2 + 2 + 1 + derLengthSize(len(mech)) + len(mech) + 4 + len(blob)
}

func appendNameHeader(dst []byte, tokID uint16, mech OID, blob []byte) []byte {
	derLen := 1 + derLengthSize(len(mech)) + len(mech)
	dst = binary.BigEndian.AppendUint16(dst, tokID)
	dst = binary.BigEndian.AppendUint16(dst, uint16(derLen))
	dst = append(dst, tagOID)
	dst = appendDERLength(dst, len(mech))
	dst = append(dst, mech...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(blob)))
	return append(dst, blob...)
}

// ParseExportedName parses an exported name token made by AppendExportedName.
// blob aliases tok. Malformed tokens are DefectiveToken errors, as MIT's
// mechglue reports them; NUL padding after the name is ignored, as MIT does.
func ParseExportedName(tok []byte) (mech OID, blob []byte, err error) {
	mech, blob, rest, err := parseNameHeader(tok, exportNameTokID)
	if err != nil {
		return "", nil, err
	}
	// MIT tolerates trailing bytes because some RPCSEC_GSS code pads
	// exported names with NULs to a 4-byte boundary; accept that padding and
	// nothing else.
	for _, b := range rest {
		if b != 0 {
			return "", nil, nameError(strconv.Itoa(len(rest)) + " bytes follow the exported name")
		}
	}
	return mech, blob, nil
}

// parseNameHeader parses the common part of the 04 01 and 04 02 tokens and
// returns what follows the name.
func parseNameHeader(tok []byte, tokID uint16) (mech OID, blob, rest []byte, err error) {
	what := "exported name"
	if tokID == exportCompositeTokID {
		what = "exported composite name"
	}
	if len(tok) < 4 {
		return "", nil, nil, nameError(what + " token is " + strconv.Itoa(len(tok)) + " bytes, too short for a header")
	}
	if id := binary.BigEndian.Uint16(tok); id != tokID {
		return "", nil, nil, nameError(what + " token has ID 0x" + hexString(tok[:2]) + ", want 0x" +
			strconv.FormatUint(uint64(tokID), 16))
	}
	oidLen := int(binary.BigEndian.Uint16(tok[2:]))
	tok = tok[4:]
	if oidLen > len(tok) {
		return "", nil, nil, nameError(what + " OID length " + strconv.Itoa(oidLen) + " runs past the token")
	}
	der := tok[:oidLen]
	tok = tok[oidLen:]
	if len(der) == 0 || der[0] != tagOID {
		return "", nil, nil, nameError(what + " token does not carry a DER mechanism OID")
	}
	n, body, err := parseDERLength(der[1:], what+" OID")
	if err != nil {
		return "", nil, nil, nameError(err.(*Error).Message)
	}
	if n == 0 || n != len(body) {
		return "", nil, nil, nameError(what + " OID length does not match its 2-byte length field")
	}
	mech = OID(body)
	if len(tok) < 4 {
		return "", nil, nil, nameError(what + " token is truncated before the name length")
	}
	nameLen := binary.BigEndian.Uint32(tok)
	tok = tok[4:]
	if uint64(nameLen) > uint64(len(tok)) {
		return "", nil, nil, nameError(what + " name length " + strconv.FormatUint(uint64(nameLen), 10) +
			" runs past the token")
	}
	return mech, tok[:nameLen], tok[nameLen:], nil
}

func nameError(msg string) *Error { return NewError(DefectiveToken, 0, "", msg) }

// AppendExportedContext appends the mechglue framing of an exported security
// context: the 4-byte big-endian OID length, the OID, the mechanism token.
func AppendExportedContext(dst []byte, mech OID, token []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(mech)))
	dst = append(dst, mech...)
	return append(dst, token...)
}

// ParseExportedContext splits a token made by AppendExportedContext. token
// aliases tok. Malformed framing is a DefectiveToken error.
func ParseExportedContext(tok []byte) (mech OID, token []byte, err error) {
	if len(tok) < 4 {
		return "", nil, tokenError("exported context token is " + strconv.Itoa(len(tok)) +
			" bytes, too short for its OID length")
	}
	n := binary.BigEndian.Uint32(tok)
	tok = tok[4:]
	if n == 0 {
		return "", nil, tokenError("exported context token has an empty mechanism OID")
	}
	if uint64(n) > uint64(len(tok)) {
		return "", nil, tokenError("exported context OID length " + strconv.FormatUint(uint64(n), 10) +
			" runs past the token")
	}
	return OID(tok[:n]), tok[n:], nil
}

// CredElementToken is one element of an exported credential.
type CredElementToken struct {
	Mech  OID
	Token []byte
}

// AppendExportedCred appends one element of the mechglue's exported
// credential format: 4-byte OID length, OID, 4-byte token length, token. A
// credential token is the concatenation of its elements.
func AppendExportedCred(dst []byte, mech OID, token []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(mech)))
	dst = append(dst, mech...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(token)))
	return append(dst, token...)
}

// ParseExportedCred splits an exported credential token into its elements.
// The tokens alias tok. Malformed framing, or no element at all, is a
// DefectiveToken error.
func ParseExportedCred(tok []byte) ([]CredElementToken, error) {
	if len(tok) == 0 {
		return nil, tokenError("exported credential token is empty")
	}
	var out []CredElementToken
	for i := 1; len(tok) > 0; i++ {
		elem := "exported credential element " + strconv.Itoa(i)
		if len(tok) < 4 {
			return nil, tokenError(elem + " is truncated in its OID length")
		}
		n := binary.BigEndian.Uint32(tok)
		tok = tok[4:]
		if n == 0 {
			return nil, tokenError(elem + " has an empty mechanism OID")
		}
		if uint64(n) > uint64(len(tok)) {
			return nil, tokenError(elem + " OID length " + strconv.FormatUint(uint64(n), 10) + " runs past the token")
		}
		mech := OID(tok[:n])
		tok = tok[n:]
		if len(tok) < 4 {
			return nil, tokenError(elem + " is truncated in its token length")
		}
		m := binary.BigEndian.Uint32(tok)
		tok = tok[4:]
		if uint64(m) > uint64(len(tok)) {
			return nil, tokenError(elem + " token length " + strconv.FormatUint(uint64(m), 10) + " runs past the token")
		}
		out = append(out, CredElementToken{Mech: mech, Token: tok[:m]})
		tok = tok[m:]
	}
	return out, nil
}
