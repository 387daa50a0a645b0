package rpcsecgss

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// The XDR of RFC 2203 section 5, by hand as the rest of gsskit does.

// Version is the RPCSEC_GSS version this package speaks (rpc_gss_cred_vers_1_t).
// RFC 5403's version 2 adds a channel-binding control procedure that
// neither libtirpc nor the Linux kernel implements, so there is no peer to
// speak it to; a version 2 credential is rejected with AUTH_BADCRED, which
// is how a version 2 client learns to fall back.
const Version = 1

// MaxSeq is the first sequence number a context may not use (MAXSEQ). A
// client that reaches it must create a new context.
const MaxSeq = 0x80000000

// DefaultWindow is the sequence window a Server grants when its config
// leaves it zero: the value the Linux kernel and Solaris use.
const DefaultWindow = 128

// Proc is a control procedure (rpc_gss_proc_t).
type Proc uint32

const (
	ProcData         Proc = 0 // RPCSEC_GSS_DATA
	ProcInit         Proc = 1 // RPCSEC_GSS_INIT
	ProcContinueInit Proc = 2 // RPCSEC_GSS_CONTINUE_INIT
	ProcDestroy      Proc = 3 // RPCSEC_GSS_DESTROY
)

func (p Proc) String() string {
	switch p {
	case ProcData:
		return "DATA"
	case ProcInit:
		return "INIT"
	case ProcContinueInit:
		return "CONTINUE_INIT"
	case ProcDestroy:
		return "DESTROY"
	}
	return "proc " + strconv.FormatUint(uint64(p), 10)
}

// Service is a security service. The wire values (rpc_gss_service_t) are
// the API's values (rpc_gss_service_t of the ONC+ guide): ServiceDefault
// exists only in the API and means integrity, as in libtirpc.
type Service uint32

const (
	ServiceDefault   Service = 0 // rpc_gss_svc_default: integrity
	ServiceNone      Service = 1 // authentication only
	ServiceIntegrity Service = 2 // rpc_gss_integ_data
	ServicePrivacy   Service = 3 // rpc_gss_priv_data
)

func (s Service) String() string {
	switch s {
	case ServiceDefault:
		return "default"
	case ServiceNone:
		return "none"
	case ServiceIntegrity:
		return "integrity"
	case ServicePrivacy:
		return "privacy"
	}
	return "service " + strconv.FormatUint(uint64(s), 10)
}

// ParseService reads "none", "integrity" or "privacy" (also "krb5",
// "krb5i" and "krb5p", as NFS spells them, and "default").
func ParseService(s string) (Service, error) {
	switch s {
	case "none", "krb5":
		return ServiceNone, nil
	case "integrity", "krb5i":
		return ServiceIntegrity, nil
	case "privacy", "krb5p":
		return ServicePrivacy, nil
	case "default", "":
		return ServiceIntegrity, nil
	}
	return 0, errors.New("rpcsecgss: unknown service " + strconv.Quote(s) + " (want none, integrity or privacy)")
}

// wire maps the API's default to what goes on the wire.
func (s Service) wire() Service {
	if s == ServiceDefault {
		return ServiceIntegrity
	}
	return s
}

func (s Service) valid() bool { return s >= ServiceNone && s <= ServicePrivacy }

// Cred is the RPCSEC_GSS credential, rpc_gss_cred_t for version 1
// (rpc_gss_cred_vers_1_t): the body of the call's opaque_auth.
type Cred struct {
	Version uint32
	Proc    Proc
	Seq     uint32
	Service Service
	Handle  []byte // aliases the decoded bytes
}

// maxHandle bounds a context handle: the whole credential, of which the
// handle is the last field after 20 bytes, fits in MAX_AUTH_BYTES.
const maxHandle = oncrpc.MaxAuthBytes - 20

// credFixed is the size of a credential without its handle bytes.
const credFixed = 20

func (c *Cred) MarshalXDR(e *oncrpc.Encoder) {
	e.Uint32(c.Version)
	e.Uint32(uint32(c.Proc))
	e.Uint32(c.Seq)
	e.Uint32(uint32(c.Service))
	e.Opaque(c.Handle)
}

// UnmarshalXDR decodes a credential. A version other than 1 stops the
// decoding there: what follows is another version's business.
func (c *Cred) UnmarshalXDR(d *oncrpc.Decoder) error {
	v, err := d.Uint32()
	if err != nil {
		return err
	}
	c.Version = v
	if v != Version {
		return errBadVersion
	}
	p, err := d.Uint32()
	if err != nil {
		return err
	}
	if c.Seq, err = d.Uint32(); err != nil {
		return err
	}
	s, err := d.Uint32()
	if err != nil {
		return err
	}
	c.Proc, c.Service = Proc(p), Service(s)
	c.Handle, err = d.OpaqueView(maxHandle)
	return err
}

var errBadVersion = errors.New("rpcsecgss: credential version is not 1")

// parseCred decodes a credential body without allocating: strict about
// its length, as the MIC covers every byte.
func parseCred(b []byte, c *Cred) error {
	if len(b) < credFixed {
		return oncrpc.ErrTruncated
	}
	be := binary.BigEndian
	c.Version = be.Uint32(b)
	if c.Version != Version {
		return errBadVersion
	}
	c.Proc = Proc(be.Uint32(b[4:]))
	c.Seq = be.Uint32(b[8:])
	c.Service = Service(be.Uint32(b[12:]))
	n := be.Uint32(b[16:])
	if n > maxHandle {
		return oncrpc.ErrTooLong
	}
	end := credFixed + int(n)
	if len(b) < end+pad(int(n)) {
		return oncrpc.ErrTruncated
	}
	if len(b) != end+pad(int(n)) {
		return oncrpc.ErrTrailingData
	}
	c.Handle = b[credFixed:end]
	return nil
}

// appendCredAuth appends the credential as an opaque_auth of flavor
// RPCSEC_GSS.
func appendCredAuth(b []byte, proc Proc, seq uint32, svc Service, handle []byte) []byte {
	n := credFixed + len(handle) + pad(len(handle))
	b = be32(b, uint32(oncrpc.FlavorGSS))
	b = be32(b, uint32(n))
	b = be32(b, Version)
	b = be32(b, uint32(proc))
	b = be32(b, seq)
	b = be32(b, uint32(svc))
	b = be32(b, uint32(len(handle)))
	b = append(b, handle...)
	return append(b, zeros[:pad(len(handle))]...)
}

// InitRes is the result of INIT and CONTINUE_INIT (rpc_gss_init_res).
type InitRes struct {
	Handle []byte
	Major  gss.MajorStatus
	Minor  uint32
	Window uint32
	Token  []byte
}

// maxInitToken bounds the tokens of context creation. Kerberos tickets
// with large PACs run to tens of KiB; the bound only stops a lying length.
const maxInitToken = 1 << 20

func (r *InitRes) MarshalXDR(e *oncrpc.Encoder) {
	e.Opaque(r.Handle)
	e.Uint32(uint32(r.Major))
	e.Uint32(r.Minor)
	e.Uint32(r.Window)
	e.Opaque(r.Token)
}

// UnmarshalXDR decodes an init_res; Handle and Token are copies.
func (r *InitRes) UnmarshalXDR(d *oncrpc.Decoder) error {
	var err error
	if r.Handle, err = d.Opaque(maxHandle); err != nil {
		return err
	}
	m, err := d.Uint32()
	if err != nil {
		return err
	}
	r.Major = gss.MajorStatus(m)
	if r.Minor, err = d.Uint32(); err != nil {
		return err
	}
	if r.Window, err = d.Uint32(); err != nil {
		return err
	}
	r.Token, err = d.Opaque(maxInitToken)
	return err
}

// initArgs is rpc_gss_init_arg: the context token as an opaque.
type initArgs []byte

func (a initArgs) MarshalXDR(e *oncrpc.Encoder) { e.Opaque(a) }

func (a *initArgs) UnmarshalXDR(d *oncrpc.Decoder) error {
	b, err := d.OpaqueView(maxInitToken)
	*a = b
	return err
}

var zeros [4]byte

func pad(n int) int { return (4 - n&3) & 3 }

func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

// seqBytes is a sequence number or window in network order: what the
// verifiers of replies sign.
func seqBytes(v uint32) [4]byte {
	var b [4]byte
	put32(b[:], v)
	return b
}

// Integrity and privacy of RFC 2203 section 5.3.2.2 and 5.3.2.3. Both
// protect rpc_gss_data_t, the sequence number followed by the procedure's
// arguments or results. The functions replace msg[off:] (the arguments or
// results as the program encoded them) by the protected form in place,
// and the reverse.

// wrapInteg turns msg[off:] into rpc_gss_integ_data.
func wrapInteg(sc *secCtx, qop gss.QOP, seq uint32, msg []byte, off int) ([]byte, error) {
	n := len(msg) - off
	// Make room for the databody length and the sequence number.
	msg = append(msg, 0, 0, 0, 0, 0, 0, 0, 0)
	copy(msg[off+8:], msg[off:off+n])
	put32(msg[off:], uint32(n+4))
	put32(msg[off+4:], seq)
	body := msg[off+4 : off+8+n]
	lenAt := len(msg)
	msg = append(msg, 0, 0, 0, 0)
	msg, err := sc.getMIC(msg, body, qop)
	if err != nil {
		return msg, err
	}
	m := len(msg) - lenAt - 4
	put32(msg[lenAt:], uint32(m))
	return append(msg, zeros[:pad(m)]...), nil
}

// errSeqMismatch: the sequence number inside the protected data is not
// the credential's, so the body was lifted from another call.
var errSeqMismatch = errors.New("rpcsecgss: sequence number in the protected data does not match the credential")

// unwrapInteg checks rpc_gss_integ_data and returns the arguments or
// results it carries, aliasing b.
func unwrapInteg(sc *secCtx, seq uint32, b []byte) ([]byte, gss.QOP, error) {
	d := oncrpc.NewDecoder(b)
	body, err := d.OpaqueView(0)
	if err != nil {
		return nil, 0, err
	}
	mic, err := d.OpaqueView(0)
	if err != nil {
		return nil, 0, err
	}
	if d.Len() != 0 {
		return nil, 0, oncrpc.ErrTrailingData
	}
	if len(body) < 4 {
		return nil, 0, oncrpc.ErrTruncated
	}
	qop, err := sc.verifyMIC(body, mic)
	if err != nil {
		return nil, 0, err
	}
	if binary.BigEndian.Uint32(body) != seq {
		return nil, 0, errSeqMismatch
	}
	return body[4:], qop, nil
}

// wrapPriv turns msg[off:] into rpc_gss_priv_data. scratch is reused for
// the plaintext and returned grown.
func wrapPriv(sc *secCtx, qop gss.QOP, seq uint32, msg []byte, off int, scratch []byte) ([]byte, []byte, error) {
	scratch = be32(scratch[:0], seq)
	scratch = append(scratch, msg[off:]...)
	msg = append(msg[:off], 0, 0, 0, 0)
	msg, conf, err := sc.wrap(msg, scratch, qop)
	if err != nil {
		return msg, scratch, err
	}
	if !conf {
		return msg, scratch, errNoConf
	}
	m := len(msg) - off - 4
	put32(msg[off:], uint32(m))
	return append(msg, zeros[:pad(m)]...), scratch, nil
}

var errNoConf = errors.New("rpcsecgss: the mechanism did not encrypt data sent with the privacy service")

// unwrapPriv checks rpc_gss_priv_data and appends the plaintext it carries
// to dst; results is the part after the sequence number.
func unwrapPriv(sc *secCtx, seq uint32, b, dst []byte) (buf, results []byte, qop gss.QOP, err error) {
	d := oncrpc.NewDecoder(b)
	tok, err := d.OpaqueView(0)
	if err != nil {
		return dst, nil, 0, err
	}
	if d.Len() != 0 {
		return dst, nil, 0, oncrpc.ErrTrailingData
	}
	start := len(dst)
	out, info, err := sc.unwrap(dst, tok)
	if err != nil {
		return dst, nil, 0, err
	}
	if !info.Conf {
		return out, nil, 0, errNoConf
	}
	body := out[start:]
	if len(body) < 4 {
		return out, nil, 0, oncrpc.ErrTruncated
	}
	if binary.BigEndian.Uint32(body) != seq {
		return out, nil, 0, errSeqMismatch
	}
	return out, body[4:], info.QOP, nil
}
