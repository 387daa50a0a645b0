package krb5

import (
	"context"
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// mechanism is the Kerberos V5 GSS mechanism. One is registered from init
// and reads the environment like MIT's library; NewMechanism builds others
// with explicit settings.
type mechanism struct {
	opts     Config
	cfgCache configCache
	oid      gss.OID
	name     string
}

// NewMechanism returns a Kerberos V5 mechanism using cfg (nil means the
// environment's settings, like the mechanism this package registers), for
// callers that register it in a registry of their own (gss.NewRegistry).
func NewMechanism(cfg *Config) gss.Mechanism {
	return newMechanism(cfg)
}

func init() {
	// MIT answers to the pre-RFC 1964 OID and to Microsoft's mis-encoded
	// one as well, and lists all three in gss_indicate_mechs; the gss
	// registry has no aliases, so each OID is registered as a mechanism of
	// its own (with its own name, as the registry wants names unique) that
	// shares the implementation. Names, credentials and contexts made
	// through an alias report the alias OID, so the mechglue files them
	// under the OID the caller used.
	if err := gss.Register(defaultMech); err != nil {
		panic("krb5: registering the Kerberos mechanism: " + err.Error())
	}
	for _, a := range []struct {
		oid  gss.OID
		name string
	}{{gss.MechKrb5Old, "kerberos_v5_old"}, {gss.MechKrb5Wrong, "kerberos_v5_wrong"}} {
		am := newMechanism(nil)
		am.oid, am.name = a.oid, a.name
		_ = gss.Register(am) // a registry that already has the OID keeps its own
	}
}

func newMechanism(cfg *Config) *mechanism {
	m := &mechanism{oid: gss.MechKrb5}
	if cfg != nil {
		m.opts = *cfg
		m.opts.Files = append([]string(nil), cfg.Files...)
		if cfg.Files == nil {
			m.opts.Files = nil
		}
	}
	return m
}

// defaultMech is the mechanism registered with the gss package.
var defaultMech = newMechanism(nil)

func (m *mechanism) OID() gss.OID { return m.oid }

// Name is the name MIT's /etc/gss/mech gives the mechanism.
func (m *mechanism) Name() string {
	if m.name != "" {
		return m.name
	}
	return "kerberos_v5"
}

func (m *mechanism) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	if cfg == nil {
		cfg = &gss.MechInitConfig{}
	}
	c, err := newInitiatorContext(m, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (m *mechanism) AcceptSecContext(cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	if cfg == nil {
		cfg = &gss.MechAcceptConfig{}
	}
	c, err := newAcceptorContext(m, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (m *mechanism) ImportSecContext(token []byte) (gss.MechContext, error) {
	c, err := importSecContext(m, token)
	if err != nil {
		return nil, err
	}
	return c, nil
}

var krbNameTypes = gss.OIDSet{
	gss.NTKrb5Principal, gss.NTKrb5Enterprise, gss.NTUserName, gss.NTMachineUIDName,
	gss.NTStringUIDName, gss.NTHostbasedService, gss.NTHostbasedServiceX, gss.NTAnonymous,
	gss.NTExportName,
}

func (m *mechanism) NameTypes() gss.OIDSet { return append(gss.OIDSet(nil), krbNameTypes...) }

func (m *mechanism) ImportName(value []byte, nameType gss.OID) (gss.MechName, error) {
	n, err := m.importName(value, nameType)
	if err != nil {
		return nil, err
	}
	n.mech = m.oid
	return n, nil
}

func (m *mechanism) ImportExportedName(blob []byte) (gss.MechName, error) {
	n, err := m.importExportedName(blob)
	if err != nil {
		return nil, err
	}
	n.mech = m.oid
	return n, nil
}

func (m *mechanism) AcquireCred(ctx context.Context, req *gss.MechCredRequest) (gss.MechCred, error) {
	if req == nil {
		req = &gss.MechCredRequest{}
	}
	c, err := m.acquire(ctx, req)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (m *mechanism) ImportCred(token []byte) (gss.MechCred, error) {
	c, err := m.importCred(token)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DisplayMinor explains a minor status: a Kerberos protocol error by its
// RFC 4120 name and MIT's text, a krb5 library error by MIT's meaning.
func (m *mechanism) DisplayMinor(minor uint32) string {
	if minor == 0 {
		return "Success"
	}
	d := minor - errorTableBaseKrb5
	if minor >= errorTableBaseKrb5 && d <= krbErrMax {
		return kdcErrorText(int32(d))
	}
	if minor >= errorTableBaseKrb5 && d < 256 {
		if s, ok := libErrorText[int(d)]; ok {
			return s
		}
		return "Kerberos library error " + strconv.Itoa(int(d)) + " (MIT krb5 error table)"
	}
	return "Unknown Kerberos minor status " + strconv.FormatUint(uint64(minor), 10)
}

// kdcErrorText is the meaning of a Kerberos protocol error code (RFC 4120
// §7.5.9), in the wording MIT's library reports, with the code's name.
func kdcErrorText(code int32) string {
	// gokrb5 gives "(7) KDC_ERR_S_PRINCIPAL_UNKNOWN Server not found ...";
	// keep the symbolic name only.
	name := "code " + strconv.Itoa(int(code))
	if l := krbErrorName(code); len(l) > 0 && l[0] == '(' {
		if i := indexByte(l, ' '); i > 0 {
			w := l[i+1:]
			if j := indexByte(w, ' '); j > 0 {
				w = w[:j]
			}
			name = w
		}
	}
	if t, ok := kdcErrorTexts[code]; ok {
		return t + " (" + name + ")"
	}
	return "Kerberos error " + strconv.Itoa(int(code)) + " (" + name + ")"
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

var kdcErrorTexts = map[int32]string{
	0:  "No error",
	1:  "Client's entry in database has expired",
	2:  "Server's entry in database has expired",
	3:  "Requested protocol version not supported",
	4:  "Client's key is encrypted in an old master key",
	5:  "Server's key is encrypted in an old master key",
	6:  "Client not found in Kerberos database",
	7:  "Server not found in Kerberos database",
	8:  "Principal has multiple entries in Kerberos database",
	9:  "Client or server has a null key",
	10: "Ticket is ineligible for postdating",
	11: "Requested effective lifetime is negative or too short",
	12: "KDC policy rejects request",
	13: "KDC can't fulfill requested option",
	14: "KDC has no support for encryption type",
	15: "KDC has no support for checksum type",
	16: "KDC has no support for padata type",
	17: "KDC has no support for transited type",
	18: "Client's credentials have been revoked",
	19: "Credentials for server have been revoked",
	20: "TGT has been revoked",
	21: "Client not yet valid - try again later",
	22: "Server not yet valid - try again later",
	23: "Password has expired",
	24: "Preauthentication failed",
	25: "Additional pre-authentication required",
	26: "Requested server and ticket don't match",
	31: "Decrypt integrity check failed",
	32: "Ticket expired",
	33: "Ticket not yet valid",
	34: "Request is a replay",
	35: "The ticket isn't for us",
	36: "Ticket/authenticator don't match",
	37: "Clock skew too great",
	38: "Incorrect net address",
	39: "Protocol version mismatch",
	40: "Invalid message type",
	41: "Message stream modified",
	42: "Message out of order",
	44: "Key version is not available",
	45: "Service key not available",
	46: "Mutual authentication failed",
	47: "Incorrect message direction",
	48: "Alternative authentication method required",
	49: "Incorrect sequence number in message",
	50: "Inappropriate type of checksum in message",
	52: "Response too big for UDP, retry with TCP",
	60: "Generic error (see e-text)",
	61: "Field is too long for this implementation",
	68: "Wrong realm",
}

var libErrorText = map[int]string{
	krb5ParseMalformed: "Malformed representation of principal",
	krb5CCBadName:      "Invalid format of Kerberos credential cache name",
	krb5CCUnknownType:  "Unknown credential cache type",
	krb5CCNotFound:     "Matching credential not found",
	krb5RealmUnknown:   "Cannot find KDC for requested realm",
	krb5KDCUnreach:     "Cannot contact any KDC for requested realm",
	krb5KTNotFound:     "Key table entry not found",
	krb5FCCNoFile:      "No credentials cache found",
	krb5CCFormat:       "Bad format in credentials cache",
	krb5CCBadVersion:   "Credentials cache file format version not supported",
	krb5NoDefRealm:     "Configuration file does not specify default realm",
	krb5KTKVNONotFound: "Key version number for principal in key table is incorrect",
	krb5KTFormat:       "Unsupported key table format version number",
}
