package gsssample

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// toyMech is a test-only mechanism so that the sample protocol can be tested
// without a KDC: two context legs (the second only with FlagMutual), wrap
// tokens that carry a sequence number, an optional XOR "encryption" and an
// HMAC, and MICs that are an HMAC. It is no security, only enough to show
// that the right bytes reached the right call.
type toyMech struct{}

var toyOID = gss.MustParseOID("1.3.6.1.4.1.99999.77")

func init() {
	if err := gss.Register(toyMech{}); err != nil {
		panic(err)
	}
}

func (toyMech) OID() gss.OID          { return toyOID }
func (toyMech) Name() string          { return "gsssample-toy" }
func (toyMech) NameTypes() gss.OIDSet { return gss.OIDSet{gss.NTHostbasedService, gss.NTUserName} }
func (toyMech) ImportName(v []byte, nt gss.OID) (gss.MechName, error) {
	return toyName{string(v), nt}, nil
}
func (toyMech) ImportExportedName(b []byte) (gss.MechName, error) {
	return toyName{string(b), gss.NTUserName}, nil
}
func (toyMech) AcquireCred(context.Context, *gss.MechCredRequest) (gss.MechCred, error) {
	return nil, gss.NewError(gss.NoCred, 0, toyOID, "toy: no credentials")
}
func (toyMech) ImportCred([]byte) (gss.MechCred, error) {
	return nil, gss.NewError(gss.Unavailable, 0, toyOID, "toy: no credentials")
}
func (toyMech) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	return &toyCtx{initiator: true, target: cfg.Target.String(), flags: cfg.Flags}, nil
}
func (toyMech) AcceptSecContext(*gss.MechAcceptConfig) (gss.MechContext, error) {
	return &toyCtx{}, nil
}
func (toyMech) ImportSecContext(tok []byte) (gss.MechContext, error) {
	f := strings.Split(string(tok), "\x00")
	if len(f) != 6 {
		return nil, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: bad context token")
	}
	c := &toyCtx{initiator: f[0] == "i", target: f[1], open: true}
	var n [3]uint64
	for i := range n {
		v, err := strconv.ParseUint(f[2+i], 10, 64)
		if err != nil {
			return nil, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: bad context token")
		}
		n[i] = v
	}
	c.flags, c.sendSeq, c.recvSeq = gss.Flags(n[0]), n[1], n[2]
	c.source = f[5]
	return c, nil
}
func (toyMech) DisplayMinor(uint32) string { return "toy minor" }

type toyName struct {
	s  string
	nt gss.OID
}

func (n toyName) Mech() gss.OID                            { return toyOID }
func (n toyName) String() string                           { return n.s }
func (n toyName) NameType() gss.OID                        { return n.nt }
func (n toyName) Equal(o gss.MechName) bool                { return o != nil && o.String() == n.s }
func (n toyName) Export() []byte                           { return []byte(n.s) }
func (n toyName) Attributes() []string                     { return nil }
func (n toyName) Attribute(string) ([][]byte, bool, error) { return nil, false, nil }

type toyCtx struct {
	initiator, open, started bool
	target, source           string
	flags                    gss.Flags
	sendSeq, recvSeq         uint64
}

const toyUser = "toyuser"

func (c *toyCtx) Step(_ context.Context, in []byte) ([]byte, error) {
	switch {
	case c.initiator && !c.started:
		c.started, c.source = true, toyUser
		c.open = c.flags&gss.FlagMutual == 0
		body := make([]byte, 4)
		binary.BigEndian.PutUint32(body, uint32(c.flags))
		return gss.AppendInitialToken(nil, toyOID, append(body, c.target...)), nil
	case c.initiator:
		if string(in) != "ACK" {
			return nil, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: bad reply")
		}
		c.open = true
		return nil, nil
	case c.started:
		return nil, gss.NewError(gss.Failure, 0, toyOID, "toy: already established")
	}
	_, inner, err := gss.ParseInitialToken(in)
	if err != nil {
		return nil, err
	}
	if len(inner) < 4 {
		return nil, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: short token")
	}
	c.started, c.open = true, true
	c.flags = gss.Flags(binary.BigEndian.Uint32(inner))
	c.target, c.source = string(inner[4:]), toyUser
	if c.flags&gss.FlagMutual != 0 {
		return []byte("ACK"), nil
	}
	return nil, nil
}

func (c *toyCtx) Done() bool { return c.open }
func (c *toyCtx) Info() gss.ContextInfo {
	return gss.ContextInfo{Mech: toyOID, Flags: c.flags | gss.FlagConf | gss.FlagInteg, Open: c.open,
		LocallyInitiated: c.initiator, Source: toyName{c.source, gss.NTUserName},
		Target: toyName{c.target, gss.NTHostbasedService}, Expiry: time.Now().Add(time.Hour)}
}

// mac keys on the direction so that a token cannot be reflected.
func (c *toyCtx) mac(fromInitiator bool, seq uint64, msg []byte) []byte {
	h := hmac.New(sha256.New, []byte(c.target+"|"+c.source))
	var b [9]byte
	if fromInitiator {
		b[0] = 1
	}
	binary.BigEndian.PutUint64(b[1:], seq)
	h.Write(b[:])
	h.Write(msg)
	return h.Sum(nil)[:16]
}

func (c *toyCtx) GetMIC(dst, msg []byte, _ gss.QOP) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, c.sendSeq)
	dst = append(dst, c.mac(c.initiator, c.sendSeq, msg)...)
	c.sendSeq++
	return dst, nil
}

func (c *toyCtx) VerifyMIC(msg, tok []byte) (gss.QOP, error) {
	if len(tok) != 24 {
		return 0, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: MIC length")
	}
	seq := binary.BigEndian.Uint64(tok)
	if !hmac.Equal(tok[8:], c.mac(!c.initiator, seq, msg)) {
		return 0, gss.NewError(gss.BadMIC, 0, toyOID, "toy: MIC mismatch")
	}
	return 0, c.seq(seq)
}

func (c *toyCtx) seq(seq uint64) error {
	switch {
	case seq == c.recvSeq:
		c.recvSeq++
		return nil
	case seq < c.recvSeq:
		return gss.NewError(gss.DuplicateToken, 0, toyOID, "toy: old sequence number")
	}
	c.recvSeq = seq + 1
	return gss.NewError(gss.GapToken, 0, toyOID, "toy: gap")
}

func (c *toyCtx) Wrap(dst, msg []byte, conf bool, _ gss.QOP) ([]byte, bool, error) {
	body := bytes.Clone(msg)
	flag := byte(0)
	if conf {
		flag = 1
		for i := range body {
			body[i] ^= 0x5a
		}
	}
	dst = append(dst, flag)
	dst = binary.BigEndian.AppendUint64(dst, c.sendSeq)
	dst = append(dst, c.mac(c.initiator, c.sendSeq, msg)...)
	c.sendSeq++
	return append(dst, body...), conf, nil
}

func (c *toyCtx) Unwrap(dst, tok []byte) ([]byte, gss.MessageInfo, error) {
	if len(tok) < 25 {
		return dst, gss.MessageInfo{}, gss.NewError(gss.DefectiveToken, 0, toyOID, "toy: short wrap token")
	}
	conf := tok[0] == 1
	seq := binary.BigEndian.Uint64(tok[1:])
	msg := bytes.Clone(tok[25:])
	if conf {
		for i := range msg {
			msg[i] ^= 0x5a
		}
	}
	if !hmac.Equal(tok[9:25], c.mac(!c.initiator, seq, msg)) {
		return dst, gss.MessageInfo{}, gss.NewError(gss.BadMIC, 0, toyOID, "toy: wrap checksum mismatch")
	}
	return append(dst, msg...), gss.MessageInfo{Conf: conf}, c.seq(seq)
}

func (c *toyCtx) WrapSizeLimit(_ bool, _ gss.QOP, max int) (int, error) { return max - 25, nil }
func (c *toyCtx) DelegatedCred() gss.MechCred                           { return nil }
func (c *toyCtx) Export() ([]byte, error) {
	role := "a"
	if c.initiator {
		role = "i"
	}
	c.open = false
	return []byte(strings.Join([]string{role, c.target, strconv.FormatUint(uint64(c.flags), 10),
		strconv.FormatUint(c.sendSeq, 10), strconv.FormatUint(c.recvSeq, 10), c.source}, "\x00")), nil
}
func (c *toyCtx) Delete() error { c.open = false; return nil }
