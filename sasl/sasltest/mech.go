// Package sasltest is a GSS-API mechanism with no security at all, for
// testing protocols that carry GSSAPI SASL (the sasl package, Kafka framing)
// without a KDC, and for fuzzing their decoders: its tokens are plain bytes,
// its "protection" a checksum and a sequence number that detect accidents,
// not attacks. Register it only in a private gss.Registry.
package sasltest

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// OID is the mechanism's OID, under a private-enterprise arc kept for tests.
var OID = gss.MustParseOID("1.3.6.1.4.1.99999.4242")

// Mech is the test mechanism. The zero value works; the fields change how
// contexts behave, to imitate peers.
type Mech struct {
	// DropFlags are removed from every established context's flags, to
	// imitate mechanisms or peers without integrity or confidentiality.
	DropFlags gss.Flags
	// Lifetime is the established contexts' lifetime; zero is indefinite.
	Lifetime time.Duration

	mu      sync.Mutex
	accepts int
}

// NewRegistry returns a registry holding only m.
func NewRegistry(m *Mech) *gss.Registry {
	r := gss.NewRegistry()
	if err := r.Register(m); err != nil {
		panic(err)
	}
	return r
}

// Accepts counts the contexts acceptors established.
func (m *Mech) Accepts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.accepts
}

func (m *Mech) OID() gss.OID { return OID }
func (m *Mech) Name() string { return "sasltest" }
func (m *Mech) NameTypes() gss.OIDSet {
	return gss.OIDSet{gss.NTHostbasedService, gss.NTUserName, gss.NTKrb5Principal}
}

// Name is a mechanism name: the string itself.
type Name string

func (n Name) Mech() gss.OID     { return OID }
func (n Name) String() string    { return string(n) }
func (n Name) NameType() gss.OID { return gss.NTUserName }
func (n Name) Equal(o gss.MechName) bool {
	return o != nil && o.Mech() == OID && o.String() == string(n)
}
func (n Name) Export() []byte       { return []byte(n) }
func (n Name) Attributes() []string { return nil }
func (n Name) Attribute(string) ([][]byte, bool, error) {
	return nil, false, gss.NewError(gss.Unavailable, 0, OID, "sasltest names have no attributes")
}

func (m *Mech) ImportName(v []byte, nt gss.OID) (gss.MechName, error) {
	s := string(v)
	if s == "" || strings.ContainsRune(s, 0) {
		return nil, gss.NewError(gss.BadName, 0, OID, "sasltest: empty name or NUL in name")
	}
	if nt == gss.NTHostbasedService {
		svc, host, ok := strings.Cut(s, "@")
		if !ok {
			host = "localhost"
		}
		s = svc + "/" + host
	}
	return Name(s), nil
}

func (m *Mech) ImportExportedName(b []byte) (gss.MechName, error) {
	return m.ImportName(b, gss.NTUserName)
}

// Cred is a credential: a name and a usage.
type Cred struct {
	Name  Name
	Usage gss.CredUsage
}

func (c *Cred) Mech() gss.OID { return OID }
func (c *Cred) Info() (gss.CredInfo, error) {
	return gss.CredInfo{Name: c.Name, Usage: c.Usage}, nil
}
func (c *Cred) Export() ([]byte, error) { return []byte(c.Name), nil }
func (c *Cred) Store(gss.CredStore, gss.CredUsage, bool, bool) error {
	return gss.NewError(gss.Unavailable, 0, OID, "sasltest credentials cannot be stored")
}
func (c *Cred) Release() error { return nil }

// DefaultUser is the initiator name when a credential names none.
const DefaultUser = "tester@SASLTEST"

func (m *Mech) AcquireCred(_ context.Context, req *gss.MechCredRequest) (gss.MechCred, error) {
	c := &Cred{Usage: req.Usage}
	if req.Name != nil {
		c.Name = Name(req.Name.String())
	} else if req.Usage != gss.CredAccept {
		c.Name = DefaultUser
	}
	if u := req.Store["user"]; u != "" {
		c.Name = Name(u)
	}
	return c, nil
}

func (m *Mech) ImportCred(tok []byte) (gss.MechCred, error) {
	return &Cred{Name: Name(tok)}, nil
}

func (m *Mech) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	c := &ctx{m: m, initiator: true, flags: cfg.Flags, target: cfg.Target, source: Name(DefaultUser)}
	if cr, ok := cfg.Cred.(*Cred); ok && cr.Name != "" {
		c.source = cr.Name
	}
	return c, nil
}

func (m *Mech) AcceptSecContext(cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	c := &ctx{m: m}
	if cr, ok := cfg.Cred.(*Cred); ok && cr.Name != "" {
		c.self = cr.Name
	}
	return c, nil
}

func (m *Mech) ImportSecContext([]byte) (gss.MechContext, error) {
	return nil, gss.NewError(gss.Unavailable, 0, OID, "sasltest contexts cannot be imported")
}

func (m *Mech) DisplayMinor(uint32) string { return "sasltest error" }

type ctx struct {
	m         *Mech
	initiator bool
	flags     gss.Flags
	source    gss.MechName
	target    gss.MechName
	self      Name
	sent      bool
	done      bool
	expiry    time.Time
	sendSeq   uint64
	recvSeq   uint64
}

const (
	tokInit   = "SASLTEST-INIT"
	tokAccept = "SASLTEST-ACCEPT"
)

func defective(msg string) error { return gss.NewError(gss.DefectiveToken, 0, OID, "sasltest: "+msg) }

func (c *ctx) establish() {
	c.done = true
	c.flags &^= c.m.DropFlags
	if c.m.Lifetime > 0 {
		c.expiry = time.Now().Add(c.m.Lifetime)
	}
}

func (c *ctx) Step(_ context.Context, in []byte) ([]byte, error) {
	if c.done {
		return nil, gss.NewError(gss.Failure, 0, OID, "sasltest: context already established")
	}
	if c.initiator {
		if !c.sent {
			c.sent = true
			body := []byte(tokInit)
			body = binary.BigEndian.AppendUint32(body, uint32(c.flags))
			body = appendStr(body, c.source.String())
			body = appendStr(body, c.target.String())
			if c.flags&gss.FlagMutual == 0 {
				c.establish()
			}
			return gss.AppendInitialToken(nil, OID, body), nil
		}
		if string(in) != tokAccept {
			return nil, defective("initiator expected the acceptor's reply")
		}
		c.establish()
		return nil, nil
	}
	mech, body, err := gss.ParseInitialToken(in)
	if err != nil {
		return nil, err
	}
	if mech != OID || !strings.HasPrefix(string(body), tokInit) {
		return nil, defective("not an initiator token")
	}
	body = body[len(tokInit):]
	if len(body) < 4 {
		return nil, defective("truncated initiator token")
	}
	c.flags = gss.Flags(binary.BigEndian.Uint32(body))
	src, rest, ok := readStr(body[4:])
	tgt, rest2, ok2 := readStr(rest)
	if !ok || !ok2 || len(rest2) != 0 || src == "" {
		return nil, defective("malformed initiator token")
	}
	if c.self != "" && tgt != string(c.self) {
		return nil, gss.NewError(gss.NoCred, 0, OID, "sasltest: token is for "+tgt+", acceptor is "+string(c.self))
	}
	c.source, c.target = Name(src), Name(tgt)
	c.establish()
	c.m.mu.Lock()
	c.m.accepts++
	c.m.mu.Unlock()
	if c.flags&gss.FlagMutual != 0 {
		return []byte(tokAccept), nil
	}
	return nil, nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readStr(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

func (c *ctx) Done() bool { return c.done }

func (c *ctx) Info() gss.ContextInfo {
	return gss.ContextInfo{Mech: OID, Source: c.source, Target: c.target, Expiry: c.expiry,
		Flags: c.flags, LocallyInitiated: c.initiator, Open: c.done}
}

func (c *ctx) ready() error {
	if !c.done {
		return gss.NewError(gss.NoContext, 0, OID, "sasltest: context not established")
	}
	if !c.expiry.IsZero() && time.Now().After(c.expiry) {
		return gss.NewError(gss.ContextExpired, 0, OID, "sasltest: context expired")
	}
	return nil
}

// Token layout: direction (1), conf (1), sequence (8), message, checksum (4).
const overhead = 14

func (c *ctx) dir() byte {
	if c.initiator {
		return 'I'
	}
	return 'A'
}

func sum(b []byte) []byte {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum(nil)
}

func (c *ctx) GetMIC(dst, msg []byte, _ gss.QOP) ([]byte, error) {
	if err := c.ready(); err != nil {
		return dst, err
	}
	return append(dst, sum(append([]byte{c.dir()}, msg...))...), nil
}

func (c *ctx) VerifyMIC(msg, mic []byte) (gss.QOP, error) {
	if err := c.ready(); err != nil {
		return 0, err
	}
	peer := byte('I')
	if c.initiator {
		peer = 'A'
	}
	if string(sum(append([]byte{peer}, msg...))) != string(mic) {
		return 0, gss.NewError(gss.BadMIC, 0, OID, "sasltest: MIC mismatch")
	}
	return 0, nil
}

func (c *ctx) Wrap(dst, msg []byte, conf bool, _ gss.QOP) ([]byte, bool, error) {
	if err := c.ready(); err != nil {
		return dst, false, err
	}
	start := len(dst)
	cb := byte(0)
	if conf {
		cb = 1
	}
	dst = append(dst, c.dir(), cb)
	dst = binary.BigEndian.AppendUint64(dst, c.sendSeq)
	c.sendSeq++
	for _, b := range msg {
		if conf {
			b ^= 0x5a
		}
		dst = append(dst, b)
	}
	dst = append(dst, sum(dst[start:])...)
	return dst, conf, nil
}

func (c *ctx) Unwrap(dst, tok []byte) ([]byte, gss.MessageInfo, error) {
	if err := c.ready(); err != nil {
		return dst, gss.MessageInfo{}, err
	}
	if len(tok) < overhead {
		return dst, gss.MessageInfo{}, defective("wrap token shorter than its header")
	}
	peer := byte('I')
	if c.initiator {
		peer = 'A'
	}
	body, ck := tok[:len(tok)-4], tok[len(tok)-4:]
	if string(sum(body)) != string(ck) {
		return dst, gss.MessageInfo{}, gss.NewError(gss.BadMIC, 0, OID, "sasltest: wrap checksum mismatch")
	}
	if body[0] != peer || body[1] > 1 {
		return dst, gss.MessageInfo{}, defective("wrap token header")
	}
	conf := body[1] == 1
	seq := binary.BigEndian.Uint64(body[2:])
	for _, b := range body[10:] {
		if conf {
			b ^= 0x5a
		}
		dst = append(dst, b)
	}
	info := gss.MessageInfo{Conf: conf}
	switch {
	case seq == c.recvSeq:
		c.recvSeq++
	case seq < c.recvSeq:
		return dst, info, gss.NewError(gss.DuplicateToken, 0, OID, "sasltest: replayed token")
	default:
		c.recvSeq = seq + 1
		return dst, info, gss.NewError(gss.GapToken, 0, OID, "sasltest: tokens were skipped")
	}
	return dst, info, nil
}

func (c *ctx) WrapSizeLimit(_ bool, _ gss.QOP, max int) (int, error) {
	if err := c.ready(); err != nil {
		return 0, err
	}
	return max - overhead, nil
}

func (c *ctx) DelegatedCred() gss.MechCred { return nil }
func (c *ctx) Export() ([]byte, error) {
	return nil, gss.NewError(gss.Unavailable, 0, OID, "sasltest contexts cannot be exported")
}
func (c *ctx) Delete() error { c.done = false; return nil }
