package rpcsecgss

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"

	"github.com/gsskit/gsskit/gss"
)

// The installed-mechanism queries of the ONC+ guide. Solaris answers them
// from /etc/gss/mech and /etc/gss/qop; libtirpc from a table compiled in
// that knows only Kerberos. Here they go through the gss mechglue: the
// mechanisms configured in the mech file (and mech.d) that a Go
// implementation serves, then any registered mechanism the files do not
// name, and the QOPs of the qop file. Every mechanism also has the QOP
// GSS_C_QOP_DEFAULT (0), which is what libtirpc offers and what a file
// without entries for the mechanism leaves.

// DefaultQOPName is the name of QOP 0, every mechanism's default.
const DefaultQOPName = "GSS_C_QOP_DEFAULT"

// SystemConfigDir is read once, into gss's default registry, before the
// first package-level query needs the configuration.
var SystemConfigDir = "/etc/gss"

var (
	systemOnce sync.Once
	systemErr  error
)

func system() (Installed, error) {
	systemOnce.Do(func() {
		systemErr = gss.LoadConfigDir(SystemConfigDir)
	})
	return Installed{Registry: gss.DefaultRegistry(), Dir: SystemConfigDir}, systemErr
}

// Installed answers the queries from one gss registry, whose mech and qop
// configuration the caller has loaded (Registry.LoadConfigDir), and lists
// QOPs from Dir/qop. The package-level functions use gss's default
// registry with SystemConfigDir.
type Installed struct {
	Registry *gss.Registry // nil: gss.DefaultRegistry()
	Dir      string        // where the qop file is; "": SystemConfigDir
}

func (in Installed) reg() *gss.Registry {
	if in.Registry == nil {
		return gss.DefaultRegistry()
	}
	return in.Registry
}

// Mechanisms is rpc_gss_get_mechanisms: the names of the mechanisms that
// can be used, configured ones first in the files' order.
func (in Installed) Mechanisms() []string {
	r := in.reg()
	var names []string
	seen := map[gss.OID]bool{}
	for _, m := range r.ConfiguredMechs() {
		if m.Usable && !seen[m.OID] {
			names = append(names, m.Name)
			seen[m.OID] = true
		}
	}
	for _, oid := range r.IndicateMechs() {
		if seen[oid] {
			continue
		}
		if m, err := r.MechanismByOID(oid); err == nil {
			names = append(names, m.Name())
			seen[oid] = true
		}
	}
	return names
}

// MechToOID is rpc_gss_mech_to_oid: the OID of an installed mechanism
// named as in the mech file or by its implementation ("kerberos_v5"). A
// dotted OID of an installed mechanism is accepted too.
func (in Installed) MechToOID(mech string) (gss.OID, error) {
	r := in.reg()
	if mech == "" {
		return "", opError("mech_to_oid", syscall.EINVAL, errors.New("no mechanism named"))
	}
	for _, m := range r.ConfiguredMechs() {
		if m.Name == mech && m.Usable {
			return m.OID, nil
		}
	}
	if m, err := r.MechanismByName(mech); err == nil {
		return m.OID(), nil
	}
	if oid, err := gss.ParseOID(mech); err == nil {
		if _, err := r.MechanismByOID(oid); err == nil {
			return oid, nil
		}
	}
	return "", opError("mech_to_oid", syscall.ENOENT,
		errors.New("mechanism "+strconv.Quote(mech)+" is not installed (installed: "+quoteList(in.Mechanisms())+")"))
}

// OIDToMech names an installed mechanism: its configured name, else its
// implementation's.
func (in Installed) OIDToMech(oid gss.OID) (string, error) {
	r := in.reg()
	for _, m := range r.ConfiguredMechs() {
		if m.OID == oid && m.Usable {
			return m.Name, nil
		}
	}
	if m, err := r.MechanismByOID(oid); err == nil {
		return m.Name(), nil
	}
	return "", opError("oid_to_mech", syscall.ENOENT, errors.New("no installed mechanism has OID "+oid.String()))
}

// IsInstalled is rpc_gss_is_installed.
func (in Installed) IsInstalled(mech string) bool {
	_, err := in.MechToOID(mech)
	return err == nil
}

// MechInfo is rpc_gss_get_mech_info: the QOP names of a mechanism and the
// strongest service it offers. Every mechanism gsskit implements can
// encrypt, so that is privacy.
func (in Installed) MechInfo(mech string) (qops []string, service Service, err error) {
	oid, err := in.MechToOID(mech)
	if err != nil {
		err.(*Error).Op = "get_mech_info"
		return nil, 0, err
	}
	qops = []string{DefaultQOPName}
	names := in.mechNames(oid)
	entries, err := in.qopEntries()
	if err != nil {
		return nil, 0, opError("get_mech_info", syscall.EIO, err)
	}
	for _, q := range entries {
		if names[q.MechName] && q.Name != DefaultQOPName {
			qops = append(qops, q.Name)
		}
	}
	return qops, ServicePrivacy, nil
}

func (in Installed) mechNames(oid gss.OID) map[string]bool {
	r := in.reg()
	names := map[string]bool{}
	for _, m := range r.ConfiguredMechs() {
		if m.OID == oid {
			names[m.Name] = true
		}
	}
	if m, err := r.MechanismByOID(oid); err == nil {
		names[m.Name()] = true
	}
	return names
}

func (in Installed) qopEntries() ([]gss.QOPEntry, error) {
	dir := in.Dir
	if dir == "" {
		dir = SystemConfigDir
	}
	path := filepath.Join(dir, "qop")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return gss.ParseQOPConfig(path, data)
}

// QOPToNum is rpc_gss_qop_to_num: the number of a QOP named for an
// installed mechanism. "" and GSS_C_QOP_DEFAULT are 0.
func (in Installed) QOPToNum(qop, mech string) (gss.QOP, error) {
	oid, err := in.MechToOID(mech)
	if err != nil {
		err.(*Error).Op = "qop_to_num"
		return 0, err
	}
	return in.qopNum(oid, qop)
}

func (in Installed) qopNum(oid gss.OID, qop string) (gss.QOP, error) {
	if qop == "" || qop == DefaultQOPName {
		return 0, nil
	}
	n, err := in.reg().QOPByName(oid, qop)
	if err != nil {
		return 0, opError("qop_to_num", syscall.ENOENT, err)
	}
	return n, nil
}

// QOPName is the reverse of QOPToNum, for the raw credential a server
// reports: QOP 0 is GSS_C_QOP_DEFAULT, an unnamed one its number.
func (in Installed) QOPName(oid gss.OID, qop gss.QOP) string {
	if qop == 0 {
		return DefaultQOPName
	}
	if name, err := in.reg().QOPName(oid, qop); err == nil {
		return name
	}
	return strconv.FormatUint(uint64(qop), 10)
}

// Versions is rpc_gss_get_versions: the highest and lowest RPCSEC_GSS
// versions spoken.
func Versions() (high, low uint32) { return Version, Version }

// Mechanisms is rpc_gss_get_mechanisms for the system configuration.
func Mechanisms() ([]string, error) {
	in, err := system()
	if err != nil {
		return nil, opError("get_mechanisms", syscall.EIO, err)
	}
	return in.Mechanisms(), nil
}

// MechInfo is rpc_gss_get_mech_info for the system configuration.
func MechInfo(mech string) (qops []string, service Service, err error) {
	in, err := system()
	if err != nil {
		return nil, 0, opError("get_mech_info", syscall.EIO, err)
	}
	return in.MechInfo(mech)
}

// IsInstalled is rpc_gss_is_installed for the system configuration.
func IsInstalled(mech string) bool {
	in, err := system()
	return err == nil && in.IsInstalled(mech)
}

// MechToOID is rpc_gss_mech_to_oid for the system configuration.
func MechToOID(mech string) (gss.OID, error) {
	in, err := system()
	if err != nil {
		return "", opError("mech_to_oid", syscall.EIO, err)
	}
	return in.MechToOID(mech)
}

// QOPToNum is rpc_gss_qop_to_num for the system configuration.
func QOPToNum(qop, mech string) (gss.QOP, error) {
	in, err := system()
	if err != nil {
		return 0, opError("qop_to_num", syscall.EIO, err)
	}
	return in.QOPToNum(qop, mech)
}

func quoteList(names []string) string {
	names = append([]string(nil), names...)
	sort.Strings(names)
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	if s == "" {
		return "none"
	}
	return s
}
