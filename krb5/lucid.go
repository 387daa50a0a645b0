package krb5

import (
	"encoding/binary"
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// The Linux kernel's RPCSEC_GSS code takes an established Kerberos context
// from user space in what gss-proxy calls "linux_lucid_v1" and nfs-utils'
// svcgssd calls the krb5 RFC 4121 buffer: the parts of MIT's
// gss_krb5_lucid_context_v1_t the kernel needs for RFC 4121 tokens, written
// in the host's byte order (the kernel reads them with memcpy):
//
//	u32 flags      1 initiator, 2 CFX (always: gsskit speaks only RFC 4121),
//	               4 acceptor subkey
//	u32 endtime    ticket end (or an initiator's shorter lifetime), Unix seconds
//	u64 send_seq   the next sequence number to send
//	u32 enctype    of the key that follows
//	key            raw bytes, no length (the enctype implies it): the
//	               acceptor subkey if there is one, else the initiator
//	               subkey or session key
//
// The kernel's importer (gss_krb5_import_sec_context) adds rules of its
// own: a buffer of exactly 85 bytes is taken for the old RFC 1964 layout
// (an AES buffer is 36 or 52 bytes); the key must end the buffer; and
// kernels that also keep a 32-bit copy of send_seq refuse one that does not
// survive the round trip through a signed 32-bit integer. gss-proxy sends
// the caller's identity separately, as "linux_creds_v1".
const (
	lucidFlagInitiator      = 1
	lucidFlagCFX            = 2
	lucidFlagAcceptorSubkey = 4

	// lucidMaxSendSeq is the first send_seq those kernels refuse.
	lucidMaxSendSeq = 1 << 31
)

// ExportLucid returns the context in the kernel's layout. Only version 1
// exists. The context stays usable, but once the kernel owns the sequence
// numbers a caller should stop sending with it here.
func (c *secContext) ExportLucid(version int) ([]byte, error) {
	if version != 1 {
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			"lucid context version "+itoa(version)+" is not supported (only 1)")
	}
	if err := c.ready(0); err != nil {
		return nil, err
	}
	flags := uint32(lucidFlagCFX)
	if c.initiator {
		flags |= lucidFlagInitiator
	}
	if c.hasAcceptorSubkey {
		flags |= lucidFlagAcceptorSubkey
	}
	k := c.protectorKey()
	// The same end time as MIT's serialized context (endTime); never 0
	// while the context has one, which the kernel would take as long past.
	var endtime uint32
	if end := c.endTime(); !end.IsZero() {
		endtime = uint32(end.Unix())
	}
	pc, _, _, _ := c.seqState()
	seq := pc.SendSeq
	if seq >= lucidMaxSendSeq {
		return nil, gss.NewError(gss.Unavailable, 0, gss.MechKrb5,
			"send sequence number "+strconv.FormatUint(seq, 10)+" is past what the Linux kernel accepts in a lucid context (2^31)")
	}
	b := make([]byte, 0, 20+len(k.KeyValue))
	b = binary.NativeEndian.AppendUint32(b, flags)
	b = binary.NativeEndian.AppendUint32(b, endtime)
	b = binary.NativeEndian.AppendUint64(b, seq)
	b = binary.NativeEndian.AppendUint32(b, uint32(k.KeyType))
	return append(b, k.KeyValue...), nil
}
