package gss

import (
	"errors"
	"strconv"
	"strings"
)

// OID is an ASN.1 object identifier held as its DER content bytes (no tag, no
// length). Keeping the bytes in a string makes OIDs comparable and usable as
// map keys, and the concatenated-OID rule for interposers (seed 004) is plain
// string concatenation.
type OID string

// OIDFromBytes returns the OID whose DER content bytes are b.
func OIDFromBytes(b []byte) OID { return OID(b) }

// Bytes returns the DER content bytes.
func (o OID) Bytes() []byte { return []byte(o) }

// IsZero reports whether o is the empty OID (GSS_C_NO_OID).
func (o OID) IsZero() bool { return len(o) == 0 }

// String returns the dotted-decimal form, or a hex dump for malformed bytes.
func (o OID) String() string {
	if len(o) == 0 {
		return ""
	}
	var sb strings.Builder
	var v uint64
	first := true
	for i := 0; i < len(o); i++ {
		b := o[i]
		if v > (1<<57) || (v == 0 && b == 0x80) {
			return "oid-hex:" + hexString([]byte(o))
		}
		v = v<<7 | uint64(b&0x7f)
		if b&0x80 != 0 {
			if i == len(o)-1 {
				return "oid-hex:" + hexString([]byte(o))
			}
			continue
		}
		if first {
			first = false
			switch {
			case v < 40:
				sb.WriteString("0.")
			case v < 80:
				sb.WriteString("1.")
				v -= 40
			default:
				sb.WriteString("2.")
				v -= 80
			}
		} else {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.FormatUint(v, 10))
		v = 0
	}
	return sb.String()
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// ParseOID parses a dotted-decimal OID such as "1.2.840.113554.1.2.2". It also
// accepts MIT's "{ 1 2 840 113554 1 2 2 }" form used by gss_str_to_oid.
func ParseOID(s string) (OID, error) {
	t := strings.TrimSpace(s)
	var arcs []string
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		arcs = strings.Fields(t[1 : len(t)-1])
	} else {
		arcs = strings.Split(t, ".")
	}
	if len(arcs) < 2 {
		return "", errors.New("gss: OID " + strconv.Quote(s) + " needs at least two arcs")
	}
	nums := make([]uint64, len(arcs))
	for i, a := range arcs {
		n, err := strconv.ParseUint(a, 10, 63)
		if err != nil {
			return "", errors.New("gss: OID " + strconv.Quote(s) + ": bad arc " + strconv.Quote(a))
		}
		nums[i] = n
	}
	if nums[0] > 2 || (nums[0] < 2 && nums[1] >= 40) {
		return "", errors.New("gss: OID " + strconv.Quote(s) + ": first arcs out of range")
	}
	out := appendBase128(nil, nums[0]*40+nums[1])
	for _, n := range nums[2:] {
		out = appendBase128(out, n)
	}
	return OID(out), nil
}

func appendBase128(dst []byte, n uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(n & 0x7f)
	for n >>= 7; n > 0; n >>= 7 {
		i--
		tmp[i] = byte(n&0x7f) | 0x80
	}
	return append(dst, tmp[i:]...)
}

// MustParseOID is ParseOID for package-level constants; it panics on error.
func MustParseOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// Well-known mechanism OIDs.
var (
	MechKrb5        = MustParseOID("1.2.840.113554.1.2.2")       // RFC 1964 / RFC 4121
	MechKrb5Old     = MustParseOID("1.3.5.1.5.2")                // pre-RFC 1964 Kerberos
	MechKrb5Wrong   = MustParseOID("1.2.840.48018.1.2.2")        // Microsoft's mistaken encoding
	MechIAKerb      = MustParseOID("1.3.6.1.5.2.5")              // IAKERB
	MechSPNEGO      = MustParseOID("1.3.6.1.5.5.2")              // RFC 4178
	MechGSSProxyMIT = MustParseOID("2.16.840.1.113730.3.8.15.1") // gssproxy's interposer OID
)

// Name types of RFC 2743, RFC 2744 and RFC 1964.
var (
	NTUserName          = MustParseOID("1.2.840.113554.1.2.1.1")
	NTMachineUIDName    = MustParseOID("1.2.840.113554.1.2.1.2")
	NTStringUIDName     = MustParseOID("1.2.840.113554.1.2.1.3")
	NTHostbasedService  = MustParseOID("1.2.840.113554.1.2.1.4")
	NTHostbasedServiceX = MustParseOID("1.3.6.1.5.6.2")
	NTAnonymous         = MustParseOID("1.3.6.1.5.6.3")
	NTExportName        = MustParseOID("1.3.6.1.5.6.4")
	NTCompositeExport   = MustParseOID("1.3.6.1.5.6.6")
	NTKrb5Principal     = MustParseOID("1.2.840.113554.1.2.2.1")
	NTKrb5Enterprise    = MustParseOID("1.2.840.113554.1.2.2.6")
)

// OIDSet is an ordered set of OIDs.
type OIDSet []OID

// Contains reports whether o is a member of s.
func (s OIDSet) Contains(o OID) bool {
	for _, m := range s {
		if m == o {
			return true
		}
	}
	return false
}

// Add returns s with o appended if it is not already a member.
func (s OIDSet) Add(o OID) OIDSet {
	if s.Contains(o) {
		return s
	}
	return append(s, o)
}
