package proxytest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gsskit/gsskit/gssproxy"
)

// The Linux kernel's NFS server asks gss-proxy to accept RPCSEC_GSS
// context-creation tokens (net/sunrpc/auth_gss/gss_rpc_upcall.c and
// gss_rpc_xdr.c). Its call differs from the interposer's in ways a daemon
// has to get right, and no program on a test machine can make it, so the
// harness makes it by hand, byte for byte as the kernel encodes it:
//
//   - credential and verifier are AUTH_NONE (the kernel creates its
//     client with RPC_AUTH_NULL);
//   - call_ctx.locale and call_ctx.server_ctx are empty;
//   - call_ctx.options always holds exactly two options, each name and
//     value encoded with sizeof() of a C string literal, i.e. WITH the
//     terminating NUL:
//     "exported_context_type\0" (22 bytes) = "linux_lucid_v1\0" (15 bytes)
//     "exported_creds_type\0"   (20 bytes) = "linux_creds_v1\0" (15 bytes)
//   - context_handle, cred_handle and input_cb are absent (FALSE);
//   - input_token is the RPCSEC_GSS init token as received;
//   - ret_deleg_cred is FALSE and the argument options array is empty.
//
// The reference compares option names and values with their NULs too
// (gp_options_find / gp_option_value_match pass sizeof() lengths).

// Kernel option names and values, NUL included, as the kernel sends them.
var (
	KernelLucidOption = []byte("exported_context_type\x00")
	KernelLucidValue  = []byte("linux_lucid_v1\x00")
	KernelCredsOption = []byte("exported_creds_type\x00")
	KernelCredsValue  = []byte("linux_creds_v1\x00")
)

// KernelAcceptCall returns the RPC message (without record marking) the
// kernel sends for GSSX_ACCEPT_SEC_CONTEXT with the given xid and input
// token.
//
// One kernel quirk is deliberately not reproduced: when it continues a
// multi-round-trip context (non-empty in_handle) the kernel encodes the
// gssx_ctx without the optional-data discriminant. Kerberos contexts
// complete in one round trip, so the daemon never sees that form from a
// krb5 client; gssproxy package tests that want it can build it from this
// encoding.
func KernelAcceptCall(xid uint32, token []byte) []byte {
	var w xdrWriter
	w.u32(xid)
	w.u32(0) // CALL
	w.u32(2) // RPC version
	w.u32(gssproxy.Program)
	w.u32(gssproxy.Version)
	w.u32(gssproxy.ProcAcceptSecContext)
	w.u32(0) // cred: AUTH_NONE
	w.opaque(nil)
	w.u32(0) // verf: AUTH_NONE
	w.opaque(nil)

	// gssx_call_ctx
	w.opaque(nil) // locale
	w.opaque(nil) // server_ctx
	w.u32(2)
	w.opaque(KernelLucidOption)
	w.opaque(KernelLucidValue)
	w.opaque(KernelCredsOption)
	w.opaque(KernelCredsValue)

	w.boolean(false) // context_handle
	w.boolean(false) // cred_handle
	w.opaque(token)  // input_token
	w.boolean(false) // input_cb
	w.boolean(false) // ret_deleg_cred
	w.u32(0)         // options
	return w.b
}

// Roundtrip sends one RPC message on conn with record marking (a single
// last fragment, as the kernel and the interposer both send) and reads one
// reply record.
func Roundtrip(conn net.Conn, msg []byte, timeout time.Duration) ([]byte, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	rec := binary.BigEndian.AppendUint32(nil, 0x80000000|uint32(len(msg)))
	if _, err := conn.Write(append(rec, msg...)); err != nil {
		return nil, err
	}
	var reply []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h & 0x7fffffff)
		if len(reply)+n > maxRecord {
			return nil, fmt.Errorf("proxytest: reply record over %d bytes", maxRecord)
		}
		frag := make([]byte, n)
		if _, err := io.ReadFull(conn, frag); err != nil {
			return nil, err
		}
		reply = append(reply, frag...)
		if h&0x80000000 != 0 {
			return reply, nil
		}
	}
}

// Option is a gssx_option.
type Option struct{ Name, Value []byte }

// Status is a gssx_status.
type Status struct {
	Major, Minor uint64
	Mech         []byte
	MajorText    string
	MinorText    string
	ServerCtx    []byte
	Options      []Option
}

// Name is the part of a gssx_name the tests look at.
type Name struct {
	Display, NameType, Exported, ExportedComposite []byte
	Attributes                                     []Option // attr, value
	Extensions                                     []Option
}

// Context is a gssx_ctx.
type Context struct {
	ExportedToken    []byte
	State            []byte
	NeedsRelease     bool
	Mech             []byte
	SrcName          Name
	TargName         Name
	Lifetime         uint64
	Flags            uint64
	LocallyInitiated bool
	Open             bool
	Options          []Option
}

// AcceptResult is a decoded gssx_res_accept_sec_context.
type AcceptResult struct {
	Status         Status
	Context        *Context
	OutputToken    []byte // nil when absent
	HasOutputToken bool
	HasDelegated   bool
	Options        []Option
}

// ParseAcceptReply decodes the RPC reply to GSSX_ACCEPT_SEC_CONTEXT.
// Delegated credentials are reported as present but not decoded: the
// kernel refuses replies that carry them, and the harness never asks.
func ParseAcceptReply(msg []byte) (*AcceptResult, error) {
	h, err := ParseRPC(msg)
	if err != nil {
		return nil, err
	}
	if h.Type != 1 || h.ReplyStat != 0 || h.AcceptStat != 0 {
		return nil, fmt.Errorf("proxytest: RPC reply not accepted/success (type %d, reply_stat %d, accept_stat %d)", h.Type, h.ReplyStat, h.AcceptStat)
	}
	r := &xdrReader{b: msg, off: h.BodyOffset}
	res := &AcceptResult{Status: readStatus(r)}
	if r.boolean() {
		c := readContext(r)
		res.Context = &c
	}
	if r.boolean() {
		res.HasOutputToken = true
		res.OutputToken = r.opaque()
	}
	if r.boolean() {
		res.HasDelegated = true
		return res, r.err
	}
	res.Options = readOptions(r)
	if r.err == nil && r.rest() != 0 {
		r.fail(fmt.Errorf("proxytest: %d bytes after the accept_sec_context results", r.rest()))
	}
	return res, r.err
}

func readOptions(r *xdrReader) []Option {
	n := r.count()
	var out []Option
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, Option{r.opaque(), r.opaque()})
	}
	return out
}

func readStatus(r *xdrReader) Status {
	var s Status
	s.Major = r.u64()
	s.Mech = r.opaque()
	s.Minor = r.u64()
	s.MajorText = string(r.opaque())
	s.MinorText = string(r.opaque())
	s.ServerCtx = r.opaque()
	s.Options = readOptions(r)
	return s
}

func readName(r *xdrReader) Name {
	var n Name
	n.Display = r.opaque()
	n.NameType = r.opaque()
	n.Exported = r.opaque()
	n.ExportedComposite = r.opaque()
	k := r.count()
	for i := 0; i < k && r.err == nil; i++ {
		a := Option{r.opaque(), r.opaque()}
		readOptions(r) // per-attribute extensions
		n.Attributes = append(n.Attributes, a)
	}
	n.Extensions = readOptions(r)
	return n
}

func readContext(r *xdrReader) Context {
	var c Context
	c.ExportedToken = r.opaque()
	c.State = r.opaque()
	c.NeedsRelease = r.boolean()
	c.Mech = r.opaque()
	c.SrcName = readName(r)
	c.TargName = readName(r)
	c.Lifetime = r.u64()
	c.Flags = r.u64()
	c.LocallyInitiated = r.boolean()
	c.Open = r.boolean()
	c.Options = readOptions(r)
	return c
}

// LinuxCreds is the value of the "linux_creds_v1" result option: uid,
// primary gid and supplementary gids of the local account the initiator
// maps to. The reference writes these in host byte order (a raw array of
// C ints), not XDR; the kernel reads them the same way.
type LinuxCreds struct {
	UID, GID uint32
	Groups   []uint32
}

// ParseLinuxCreds decodes a linux_creds_v1 value in the given byte order.
func ParseLinuxCreds(b []byte, order binary.ByteOrder) (LinuxCreds, error) {
	var c LinuxCreds
	if len(b) < 12 || len(b)%4 != 0 {
		return c, fmt.Errorf("proxytest: linux_creds_v1 value of %d bytes", len(b))
	}
	c.UID = order.Uint32(b)
	c.GID = order.Uint32(b[4:])
	n := order.Uint32(b[8:])
	if uint64(n)*4 != uint64(len(b)-12) {
		return c, fmt.Errorf("proxytest: linux_creds_v1 says %d groups but holds %d bytes of them", n, len(b)-12)
	}
	for i := 0; i < int(n); i++ {
		c.Groups = append(c.Groups, order.Uint32(b[12+4*i:]))
	}
	return c, nil
}

// LucidContext is the "krb5_rfc4121_buffer" the reference puts in
// exported_context_token for linux_lucid_v1: flags, endtime, send
// sequence number, enctype, raw key. Like the creds, it is in host byte
// order (copied field by field from C variables).
type LucidContext struct {
	Flags   uint32
	EndTime int32
	SendSeq uint64
	Enctype uint32
	Key     []byte
}

// Lucid context flags.
const (
	LucidInitiator      = 0x1
	LucidCFX            = 0x2
	LucidAcceptorSubkey = 0x4
)

// ParseLucid decodes a linux_lucid_v1 exported context.
func ParseLucid(b []byte, order binary.ByteOrder) (LucidContext, error) {
	var l LucidContext
	if len(b) < 20 {
		return l, errors.New("proxytest: lucid context shorter than its 20-byte header")
	}
	l.Flags = order.Uint32(b)
	l.EndTime = int32(order.Uint32(b[4:]))
	l.SendSeq = order.Uint64(b[8:])
	l.Enctype = order.Uint32(b[16:])
	l.Key = b[20:]
	return l, nil
}

// FindOption returns the value of the option with exactly this name (NUL
// included if the name has one), and whether it was there.
func FindOption(opts []Option, name []byte) ([]byte, bool) {
	for _, o := range opts {
		if string(o.Name) == string(name) {
			return o.Value, true
		}
	}
	return nil, false
}
