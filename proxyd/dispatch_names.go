package proxyd

import (
	"bytes"
	"strings"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
)

// GSS_C_MA_* (RFC 5587) mechanism attributes, 1.3.6.1.5.5.13.N.
func maOID(n byte) gss.OID { return gss.OIDFromBytes([]byte{0x2b, 6, 1, 5, 5, 13, n}) }

var maNames = map[byte][2]string{
	1: {"GSS_C_MA_MECH_CONCRETE", "concrete-mech"}, 2: {"GSS_C_MA_MECH_PSEUDO", "pseudo-mech"},
	3: {"GSS_C_MA_MECH_COMPOSITE", "composite-mech"}, 4: {"GSS_C_MA_MECH_NEGO", "mech-negotiation-mech"},
	5: {"GSS_C_MA_MECH_GLUE", "mech-glue"}, 6: {"GSS_C_MA_NOT_MECH", "not-mech"},
	7: {"GSS_C_MA_DEPRECATED", "mech-deprecated"}, 8: {"GSS_C_MA_NOT_DFLT_MECH", "mech-not-default"},
	9: {"GSS_C_MA_ITOK_FRAMED", "initial-is-framed"}, 10: {"GSS_C_MA_AUTH_INIT", "auth-init-princ"},
	11: {"GSS_C_MA_AUTH_TARG", "auth-targ-princ"}, 12: {"GSS_C_MA_AUTH_INIT_INIT", "auth-init-princ-initial"},
	13: {"GSS_C_MA_AUTH_TARG_INIT", "auth-target-princ-initial"}, 14: {"GSS_C_MA_AUTH_INIT_ANON", "auth-init-princ-anon"},
	15: {"GSS_C_MA_AUTH_TARG_ANON", "auth-targ-princ-anon"}, 16: {"GSS_C_MA_DELEG_CRED", "deleg-cred"},
	17: {"GSS_C_MA_INTEG_PROT", "integ-prot"}, 18: {"GSS_C_MA_CONF_PROT", "conf-prot"},
	19: {"GSS_C_MA_MIC", "mic"}, 20: {"GSS_C_MA_WRAP", "wrap"}, 21: {"GSS_C_MA_PROT_READY", "prot-ready"},
	22: {"GSS_C_MA_REPLAY_DET", "replay-detection"}, 23: {"GSS_C_MA_OOS_DET", "oos-detection"},
	24: {"GSS_C_MA_CBINDINGS", "channel-bindings"}, 25: {"GSS_C_MA_PFS", "pfs"},
	26: {"GSS_C_MA_COMPRESS", "compress"}, 27: {"GSS_C_MA_CTX_TRANS", "context-transfer"},
}

// krb5Attrs are what the Kerberos mechanism offers, as MIT describes its
// own: a concrete, framed mechanism authenticating both ends, with
// delegation, MIC and wrap tokens, replay and sequence detection, channel
// bindings and context transfer.
var krb5Attrs = []byte{1, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 27}

// indicateMechs answers with the mechanisms the daemon can proxy: those of
// its registry that it knows how to serve, which today is Kerberos alone
// (the reference, too, acquires credentials only for krb5).
func (c *call) indicateMechs(m gssproxy.Message) gssproxy.Message {
	res := &gssproxy.IndicateMechsRes{}
	var known gss.OIDSet
	for n := byte(1); n <= 27; n++ {
		known = append(known, maOID(n))
	}
	for _, mech := range c.reg.IndicateMechs() {
		if mech != gss.MechKrb5 {
			continue
		}
		nts, err := c.reg.InquireNamesForMech(mech)
		if err != nil {
			c.log.Debug("skipping mechanism", "mech", mech, "err", err)
			continue
		}
		mi := gssproxy.MechInfo{
			Mech: mech, NameTypes: nts, KnownMechAttrs: known,
			SASLMechName: []byte("GS2-KRB5"), MechName: []byte("krb5"),
			MechDesc: []byte("Kerberos 5 GSS-API Mechanism"),
		}
		for _, a := range krb5Attrs {
			mi.MechAttrs = append(mi.MechAttrs, maOID(a))
		}
		res.Mechs = append(res.Mechs, mi)
	}
	for n := byte(1); n <= 27; n++ {
		nm := maNames[n]
		res.MechAttrDescs = append(res.MechAttrDescs, gssproxy.MechAttr{
			Attr: maOID(n), Name: []byte(nm[0]), ShortDesc: []byte(nm[1]),
		})
	}
	res.Status = c.status(nil, "")
	return res
}

// getCallContext: the reference answers an empty, successful result, and
// nothing in its clients or the kernel sends it.
func (c *call) getCallContext(m gssproxy.Message) gssproxy.Message {
	return &gssproxy.GetCallContextRes{}
}

// importName turns a gssx_name into a gss.Name the way the reference does:
// the display form with its name type when there is one, else the exported
// token. Clients send display names with the C terminator; the name ends
// there.
func (c *call) importName(n *gssproxy.Name) (*gss.Name, error) {
	if len(n.Display) > 0 {
		v := n.Display
		if i := bytes.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		return c.reg.ImportName(string(v), n.NameType)
	}
	if len(n.Exported) > 0 {
		return c.reg.ImportName(string(n.Exported), gss.NTExportName)
	}
	return nil, gssErr(gss.BadName, "the name has neither a display form nor an exported token")
}

// nameToProxy describes a name as gssx_name: display form and type, and for
// a mechanism name its exported and exported composite tokens.
func nameToProxy(n *gss.Name) gssproxy.Name { return nameToProxyComposite(n, true) }

// nameToProxyComposite is nameToProxy leaving out the exported composite
// name (the name's attributes, a PAC among them) unless composite is set:
// encoding the attributes costs as much as a good part of an accept, for
// a receiver that has no use for them.
func nameToProxyComposite(n *gss.Name, composite bool) gssproxy.Name {
	var out gssproxy.Name
	if n == nil {
		return out
	}
	disp, nt := n.Display()
	out.Display, out.NameType = []byte(disp), nt
	if n.IsMN() {
		if b, err := n.Export(); err == nil {
			out.Exported = b
		}
		if !composite {
			return out
		}
		if b, err := n.ExportComposite(); err == nil {
			out.ExportedComposite = b
		}
	}
	return out
}

func (c *call) importAndCanonName(m gssproxy.Message) gssproxy.Message {
	a := m.(*gssproxy.ImportAndCanonNameArg)
	res := &gssproxy.ImportAndCanonNameRes{}
	if len(a.InputName.Display) == 0 && len(a.InputName.Exported) == 0 {
		res.Status = c.status(gss.NewError(gss.Failure, einval, "", "import_and_canon_name without a name"), a.Mech)
		return res
	}
	name, err := c.importName(&a.InputName)
	if err != nil {
		res.Status = c.status(err, a.Mech)
		return res
	}
	if ParseImportNameOptions(a.Options).LocalName {
		local, err := c.localName(name)
		if err != nil {
			res.Status = c.status(err, a.Mech)
			return res
		}
		res.Options = append(res.Options, LocalNameOption([]byte(local)))
		res.Status = c.status(nil, a.Mech)
		return res
	}
	if a.Mech != "" {
		if name, err = name.Canonicalize(a.Mech); err != nil {
			res.Status = c.status(err, a.Mech)
			return res
		}
	}
	out := nameToProxy(name)
	res.OutputName = &out
	res.Status = c.status(nil, a.Mech)
	return res
}

// localName is gss_localname for Kerberos with krb5.conf's default rule:
// a one-component principal of the default realm is the user of that
// name. auth_to_local rules are not read (gsskit's krb5 has no
// aname_to_localname), so any other principal has no local name.
func (c *call) localName(n *gss.Name) (string, error) {
	mn, err := n.Canonicalize(gss.MechKrb5)
	if err != nil {
		return "", err
	}
	princ := mn.String()
	at := strings.LastIndexByte(princ, '@')
	if at <= 0 {
		return "", gss.NewError(gss.Unavailable, enoent, gss.MechKrb5, "principal "+princ+" has no realm, so no local name")
	}
	user, realm := princ[:at], princ[at+1:]
	if strings.ContainsAny(user, "/\\") {
		return "", gss.NewError(gss.Unavailable, enoent, gss.MechKrb5,
			"principal "+princ+" has more than one component; only the default auth_to_local rule is supported")
	}
	def, err := c.defaultRealm()
	if err != nil {
		return "", err
	}
	if realm != def {
		return "", gss.NewError(gss.Unavailable, enoent, gss.MechKrb5,
			"principal "+princ+" is not in the default realm "+def+", so it has no local name")
	}
	return user, nil
}

// enoent is the minor status gss_localname reports for an unmapped name.
const enoent = 2

// defaultRealm asks the mechanism, through a user name without a realm.
func (c *call) defaultRealm() (string, error) {
	n, err := c.reg.ImportName("gsskit-realm-probe", gss.NTUserName)
	if err != nil {
		return "", err
	}
	mn, err := n.Canonicalize(gss.MechKrb5)
	if err != nil {
		return "", err
	}
	s := mn.String()
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:], nil
	}
	return "", gss.NewError(gss.Failure, 0, gss.MechKrb5, "no default realm configured")
}

// secondsLeft is a gssx_time: seconds until t, 0 when past, and
// GSS_C_INDEFINITE for the zero time.
func secondsLeft(t time.Time) uint64 {
	if t.IsZero() {
		return 0xffffffff
	}
	d := time.Until(t)
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Second)
}
