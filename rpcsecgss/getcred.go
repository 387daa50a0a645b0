package rpcsecgss

import (
	"bytes"
	"encoding/hex"
	"errors"
	"syscall"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// Principal is rpc_gss_principal_t: a name in the RFC 2743 exported-name
// form, which is what Solaris servers compare and what the gsscred table
// is keyed by. Two principals are the same entity exactly when their bytes
// are equal.
type Principal []byte

// Name imports the principal as a gss.Name.
func (p Principal) Name() (*gss.Name, error) {
	return gss.ImportName(string(p), gss.NTExportName)
}

// String is the principal's display form ("alice@EXAMPLE.COM"), or its
// bytes in hex if it does not import.
func (p Principal) String() string {
	if n, err := p.Name(); err == nil {
		return n.String()
	}
	return hex.EncodeToString(p)
}

// Equal reports whether p and q name the same entity.
func (p Principal) Equal(q Principal) bool { return bytes.Equal(p, q) }

// GetPrincipalName is rpc_gss_get_principal_name: the principal a
// mechanism knows as user, at node, in domain (for Kerberos: the name, the
// instance and the realm, "user/node@domain"); node and domain may be
// empty.
func GetPrincipalName(mech, user, node, domain string) (Principal, error) {
	const op = "get_principal_name"
	in, err := system()
	if err != nil {
		return nil, opError(op, syscall.EIO, err)
	}
	return in.PrincipalName(mech, user, node, domain)
}

// PrincipalName is GetPrincipalName for this configuration.
func (in Installed) PrincipalName(mech, user, node, domain string) (Principal, error) {
	const op = "get_principal_name"
	if user == "" {
		return nil, opError(op, syscall.EINVAL, errors.New("no user name"))
	}
	oid, err := in.MechToOID(mech)
	if err != nil {
		err.(*Error).Op = op
		return nil, err
	}
	s := user
	if node != "" {
		s += "/" + node
	}
	if domain != "" {
		s += "@" + domain
	}
	n, err := in.reg().ImportName(s, gss.NTUserName)
	if err != nil {
		return nil, opError(op, syscall.EINVAL, err)
	}
	mn, err := n.Canonicalize(oid)
	if err != nil {
		return nil, opError(op, syscall.EINVAL, err)
	}
	p, err := mn.Export()
	if err != nil {
		return nil, opError(op, syscall.EINVAL, err)
	}
	return p, nil
}

// RawCred is rpc_gss_rawcred_t: what a call's credential says, for
// checking against an access list.
type RawCred struct {
	Version         uint32
	Mechanism       string  // the mechanism's name, "kerberos_v5"
	MechOID         gss.OID // and OID
	QOP             string  // the QOP's name, GSS_C_QOP_DEFAULT for 0
	QOPNum          gss.QOP
	ClientPrincipal Principal
	ClientName      *gss.Name // the same, as a gss.Name; nil for an anonymous client
	ServerPrincipal string    // the name given to SetSvcName it matched
	Service         Service   // of this call
}

// UnixCred is rpc_gss_ucred_t: the UNIX identity a client principal maps
// to, from the gsscred table or the local-name fallback.
type UnixCred struct {
	UID, GID uint32
	GIDs     []uint32 // supplementary groups
}

// GetCred is rpc_gss_getcred: the raw credential of an RPCSEC_GSS DATA
// call, the UNIX credential its principal maps to (nil if none does), and
// the cookie the server's callback attached to the context. Handlers call
// it with the Call they are given; for calls in other flavors it fails
// with EINVAL.
func GetCred(c *oncrpc.Call) (raw *RawCred, ucred *UnixCred, cookie any, err error) {
	d, ok := c.Auth.(*dataCall)
	if !ok {
		return nil, nil, nil, opError("getcred", syscall.EINVAL, errors.New("not an RPCSEC_GSS data call"))
	}
	x := d.x
	x.mu.Lock()
	cookie = x.cookie
	x.mu.Unlock()
	return d.rawCred(), x.unixCred(), cookie, nil
}

func (d *dataCall) rawCred() *RawCred {
	x := d.x
	return &RawCred{
		Version:         d.version,
		Mechanism:       x.mechName,
		MechOID:         x.mech,
		QOP:             x.s.installed.QOPName(x.mech, d.qop),
		QOPNum:          d.qop,
		ClientPrincipal: x.clientPrincipal,
		ClientName:      x.client,
		ServerPrincipal: x.svcPrincipal,
		Service:         d.service,
	}
}

// SvcMaxDataLength is rpc_gss_svc_max_data_length: the largest encoded
// results, in bytes, whose protected form under the call's service and
// QOP fits in maxlen bytes. For calls in other flavors it is maxlen.
func SvcMaxDataLength(c *oncrpc.Call, maxlen int) int {
	d, ok := c.Auth.(*dataCall)
	if !ok {
		return maxlen
	}
	return maxDataLength(&d.x.sec, d.x.micLen, d.service, d.qop, maxlen)
}
