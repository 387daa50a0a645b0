package krb5

import (
	"strconv"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// Minor status codes. MIT reports a Kerberos protocol error as the minor
// status ERROR_TABLE_BASE_krb5 + code (com_err's krb5 table), and C callers
// and gss-proxy pass the number through, so gsskit uses the same numbers:
// a minor status from gsskit means the same thing to klist's error texts.
const (
	errorTableBaseKrb5 uint32 = 0x96c73a00 // -1765328384 as a uint32
	// krbErrMax is the last code of the krb5 table that maps to a
	// protocol error number; larger table entries are library errors.
	krbErrMax = 127
)

// Kerberos error codes used by the context code (RFC 4120 §7.5.9).
const (
	krbAPErrBadIntegrity = errorcode.KRB_AP_ERR_BAD_INTEGRITY // 31
	krbAPErrTktExpired   = errorcode.KRB_AP_ERR_TKT_EXPIRED   // 32
	krbAPErrTktNYV       = errorcode.KRB_AP_ERR_TKT_NYV       // 33
	krbAPErrRepeat       = errorcode.KRB_AP_ERR_REPEAT        // 34
	krbAPErrNotUs        = errorcode.KRB_AP_ERR_NOT_US        // 35
	krbAPErrBadMatch     = errorcode.KRB_AP_ERR_BADMATCH      // 36
	krbAPErrSkew         = errorcode.KRB_AP_ERR_SKEW          // 37
	krbAPErrBadAddr      = errorcode.KRB_AP_ERR_BADADDR       // 38
	krbAPErrBadVersion   = errorcode.KRB_AP_ERR_BADVERSION    // 39
	krbAPErrMsgType      = errorcode.KRB_AP_ERR_MSG_TYPE      // 40
	krbAPErrModified     = errorcode.KRB_AP_ERR_MODIFIED      // 41
	krbAPErrBadKeyVer    = errorcode.KRB_AP_ERR_BADKEYVER     // 44
	krbAPErrNoKey        = errorcode.KRB_AP_ERR_NOKEY         // 45
	krbAPErrMutFail      = errorcode.KRB_AP_ERR_MUT_FAIL      // 46
	krbAPErrInapp        = errorcode.KRB_AP_ERR_INAPP_CKSUM   // 50
	krbErrGeneric        = errorcode.KRB_ERR_GENERIC          // 60
	kdcErrEtypeNoSupp    = errorcode.KDC_ERR_ETYPE_NOSUPP     // 14
)

// krbMinor is the MIT minor status for Kerberos error code.
func krbMinor(code int32) uint32 { return errorTableBaseKrb5 + uint32(code) }

// krbCodeFromMinor recovers the Kerberos error code from a minor status for
// the KRB-ERROR an acceptor sends back; anything that is not a protocol
// error becomes KRB_ERR_GENERIC, as in MIT.
func krbCodeFromMinor(minor uint32) int32 {
	d := minor - errorTableBaseKrb5
	if minor < errorTableBaseKrb5 || d > krbErrMax {
		return krbErrGeneric
	}
	return int32(d)
}

// majorForKrbError chooses the GSS major status for a Kerberos error.
//
// MIT's acceptor reports every krb5_rd_req failure as GSS_S_FAILURE and
// leaves the detail to the minor status; its initiator maps an expired ticket
// to GSS_S_CREDENTIALS_EXPIRED. gsskit keeps GSS_S_FAILURE as the routine
// error where MIT has it, so C callers that test for GSS_S_FAILURE see the
// same thing, and adds what RFC 2743 has a word for:
//   - a replayed authenticator is GSS_S_FAILURE with the supplementary
//     GSS_S_DUPLICATE_TOKEN bit (fatal: the context is not established, yet
//     errors.Is(err, gss.ErrDuplicateToken) holds);
//   - an expired or not-yet-valid ticket is GSS_S_CREDENTIALS_EXPIRED, the
//     initiator's credentials being what has expired (MIT's initiator
//     mapping, used on both sides so both report the same thing);
//   - a message that is not the one expected is GSS_S_DEFECTIVE_TOKEN;
//   - failed integrity of the authenticator checksum is GSS_S_BAD_SIG.
func majorForKrbError(code int32) gss.MajorStatus {
	switch code {
	case krbAPErrRepeat:
		return gss.Failure | gss.DuplicateToken
	case krbAPErrTktExpired, krbAPErrTktNYV:
		return gss.CredentialsExpired
	case krbAPErrMsgType, krbAPErrBadVersion:
		return gss.DefectiveToken
	case krbAPErrInapp:
		return gss.BadMIC
	default:
		return gss.Failure
	}
}

// krbError builds the *gss.Error for a Kerberos error detected locally.
func krbError(code int32, msg string) *gss.Error {
	return gss.NewError(majorForKrbError(code), krbMinor(code), gss.MechKrb5, msg)
}

// krbErrorName is a readable name for a Kerberos error code.
func krbErrorName(code int32) string { return errorcode.Lookup(code) }

// appendErrorToken appends the RFC 1964 token (ID 03 00) carrying a
// KRB-ERROR with code, sent by an acceptor whose context failed so that the
// initiator learns why. server is the ticket's server when known.
func appendErrorToken(dst []byte, mech gss.OID, code int32, sname types.PrincipalName, realm, etext string) ([]byte, error) {
	if sname.NameString == nil {
		// KRB-ERROR requires sname; an unknown server is still named.
		sname = types.PrincipalName{NameType: 0, NameString: []string{}}
	}
	ke := messages.NewKRBError(sname, realm, code, etext)
	now := time.Now().UTC()
	ke.STime = now.Truncate(time.Second)
	ke.Susec = now.Nanosecond() / 1000
	b, err := ke.Marshal()
	if err != nil {
		return dst, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "cannot encode KRB-ERROR "+krbErrorName(code), err)
	}
	return appendContextToken(dst, mech, tokKRBError, b), nil
}

// parseKRBError decodes the body of a 03 00 token and turns it into the
// error the initiator reports, with the acceptor's code and text.
func parseKRBError(body []byte) *gss.Error {
	var ke messages.KRBError
	if err := safeUnmarshal(func() error { return ke.Unmarshal(body) }); err != nil {
		return gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "acceptor sent an error token whose KRB-ERROR cannot be decoded", err)
	}
	msg := "acceptor rejected the context: " + krbErrorName(ke.ErrorCode)
	if ke.EText != "" {
		msg += ": " + ke.EText
	}
	if len(ke.SName.NameString) > 0 {
		msg += " (server " + ke.SName.PrincipalNameString() + "@" + ke.Realm + ")"
	}
	if ke.ErrorCode == 0 {
		return gss.NewError(gss.Failure, 0, gss.MechKrb5, msg)
	}
	return gss.NewError(majorForKrbError(ke.ErrorCode), krbMinor(ke.ErrorCode), gss.MechKrb5, msg)
}

// safeUnmarshal runs a decoder from gokrb5 (built on a fork of
// encoding/asn1) on untrusted bytes and turns a panic into an error: a
// crafted token must fail one call, never the process.
func safeUnmarshal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = decodePanic{r}
		}
	}()
	return f()
}

// decryptEncPart is gokrb5's crypto.DecryptEncPart made safe for input
// from the network: gokrb5 panics on a ciphertext shorter than the
// enctype's checksum, which here is a failed decryption.
func decryptEncPart(ed types.EncryptedData, key types.EncryptionKey, usage uint32) (plain []byte, err error) {
	err = safeUnmarshal(func() (err error) {
		plain, err = crypto.DecryptEncPart(ed, key, usage)
		return err
	})
	return plain, err
}

type decodePanic struct{ v any }

func (p decodePanic) Error() string {
	switch v := p.v.(type) {
	case error:
		return "malformed ASN.1: " + v.Error()
	case string:
		return "malformed ASN.1: " + v
	}
	return "malformed ASN.1"
}

func itoa(n int) string { return strconv.Itoa(n) }
