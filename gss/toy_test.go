package gss

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// toyMech is a mechanism for tests only. Its names are "service/host" or
// plain user strings; its context is two legs (one without FlagMutual) and
// its "protection" is a keyed FNV checksum and an XOR keystream: enough to
// tell tokens apart and detect tampering, no security at all.
type toyMech struct {
	oid  OID
	name string
	// keytab, if set, lists the names an acceptor credential may hold.
	keytab []string
	// failAcquire makes AcquireCred fail, to test credential fallbacks.
	failAcquire bool
	inits       atomic.Int32
	accepts     atomic.Int32
}

var (
	toyOID      = MustParseOID("1.3.6.1.4.1.99999.1")
	toyOID2     = MustParseOID("1.3.6.1.4.1.99999.3")
	toyProxyOID = MustParseOID("1.3.6.1.4.1.99999.2")
	toyNTPlain  = MustParseOID("1.3.6.1.4.1.99999.9.1") // a private name type
)

const (
	toyMinorTargetMismatch = 1
	toyMinorBadToken       = 2
	toyMinorNoKey          = 3
)

func newToy() *toyMech { return &toyMech{oid: toyOID, name: "toy"} }

func (m *toyMech) OID() OID     { return m.oid }
func (m *toyMech) Name() string { return m.name }
func (m *toyMech) NameTypes() OIDSet {
	return OIDSet{NTHostbasedService, NTUserName, NTMachineUIDName, NTStringUIDName, NTAnonymous, toyNTPlain}
}

type toyName struct {
	mech OID
	s    string
	nt   OID
}

func (n *toyName) Mech() OID      { return n.mech }
func (n *toyName) String() string { return n.s }
func (n *toyName) NameType() OID  { return n.nt }
func (n *toyName) Equal(o MechName) bool {
	return o != nil && o.Mech() == n.mech && o.String() == n.s
}
func (n *toyName) Export() []byte { return []byte(n.s) }
func (n *toyName) Attributes() []string {
	if strings.Contains(n.s, "/") {
		return []string{"urn:toy:service"}
	}
	return nil
}
func (n *toyName) Attribute(attr string) ([][]byte, bool, error) {
	if attr == "urn:toy:service" && strings.Contains(n.s, "/") {
		svc, _, _ := strings.Cut(n.s, "/")
		return [][]byte{[]byte(svc)}, true, nil
	}
	return nil, false, NewError(Unavailable, 0, n.mech, "no attribute "+attr)
}

func (m *toyMech) ImportName(value []byte, nt OID) (MechName, error) {
	s := string(value)
	switch nt {
	case NTHostbasedService:
		svc, host, ok := strings.Cut(s, "@")
		if !ok {
			host = "localhost"
		}
		return &toyName{m.oid, svc + "/" + host, NTKrb5Principal}, nil
	case NTMachineUIDName:
		return &toyName{m.oid, "uid:" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(value)), 10), NTUserName}, nil
	case NTStringUIDName:
		return &toyName{m.oid, "uid:" + s, NTUserName}, nil
	case NTAnonymous:
		return &toyName{m.oid, "anonymous", NTAnonymous}, nil
	case NTUserName, "", toyNTPlain:
		if strings.ContainsRune(s, '!') {
			return nil, NewError(BadName, 0, m.oid, "toy names may not contain '!'")
		}
		return &toyName{m.oid, s, NTUserName}, nil
	}
	return nil, NewError(BadNameType, 0, m.oid, "toy: unsupported name type")
}

func (m *toyMech) ImportExportedName(blob []byte) (MechName, error) {
	if len(blob) == 0 || bytes.IndexByte(blob, 0) >= 0 {
		return nil, NewError(BadName, 0, m.oid, "toy: bad exported name")
	}
	nt := NTUserName
	if bytes.IndexByte(blob, '/') >= 0 {
		nt = NTKrb5Principal
	}
	return &toyName{m.oid, string(blob), nt}, nil
}

type toyCred struct {
	mech     OID
	name     *toyName
	usage    CredUsage
	expiry   time.Time
	released *atomic.Bool
}

func (c *toyCred) Mech() OID { return c.mech }
func (c *toyCred) Info() (CredInfo, error) {
	info := CredInfo{Usage: c.usage}
	if c.name != nil {
		info.Name = c.name
	}
	if c.usage != CredAccept {
		info.InitiatorExpiry = c.expiry
	}
	if c.usage != CredInitiate {
		info.AcceptorExpiry = c.expiry
	}
	return info, nil
}
func (c *toyCred) Export() ([]byte, error) {
	name := ""
	if c.name != nil {
		name = c.name.s
	}
	return []byte(strconv.Itoa(int(c.usage)) + "|" + strconv.FormatInt(c.expiry.Unix(), 10) + "|" + name), nil
}
func (c *toyCred) Store(store CredStore, usage CredUsage, overwrite, makeDefault bool) error {
	if store == nil {
		return NewError(Unavailable, 0, c.mech, "toy: no store given")
	}
	if _, ok := store["toy"]; ok && !overwrite {
		return NewError(DuplicateElement, 0, c.mech, "toy: store already holds a credential")
	}
	store["toy"] = c.name.s
	if makeDefault {
		store["toy_default"] = "yes"
	}
	return nil
}
func (c *toyCred) Release() error { c.released.Store(true); return nil }

func (m *toyMech) AcquireCred(ctx context.Context, req *MechCredRequest) (MechCred, error) {
	if m.failAcquire {
		return nil, NewError(NoCred, toyMinorNoKey, m.oid, "toy: no keys at all")
	}
	c := &toyCred{mech: m.oid, usage: req.Usage, expiry: time.Unix(2000000000, 0), released: new(atomic.Bool)}
	if req.Name != nil {
		c.name = &toyName{m.oid, req.Name.String(), req.Name.NameType()}
	} else if req.Usage != CredAccept {
		c.name = &toyName{m.oid, "alice", NTUserName}
	}
	if req.Usage == CredAccept && c.name != nil && m.keytab != nil {
		found := false
		for _, k := range m.keytab {
			found = found || k == c.name.s
		}
		if !found {
			return nil, NewError(NoCred, toyMinorNoKey, m.oid, "toy: no key for "+c.name.s)
		}
	}
	if v, ok := req.Store["toy_name"]; ok {
		c.name = &toyName{m.oid, v, NTUserName}
	}
	return c, nil
}

func (m *toyMech) ImportCred(tok []byte) (MechCred, error) {
	parts := strings.SplitN(string(tok), "|", 3)
	if len(parts) != 3 {
		return nil, NewError(DefectiveToken, 0, m.oid, "toy: bad credential token")
	}
	u, err1 := strconv.Atoi(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || u < 0 || u > 2 {
		return nil, NewError(DefectiveToken, 0, m.oid, "toy: bad credential token")
	}
	c := &toyCred{mech: m.oid, usage: CredUsage(u), expiry: time.Unix(exp, 0), released: new(atomic.Bool)}
	if parts[2] != "" {
		c.name = &toyName{m.oid, parts[2], NTUserName}
	}
	return c, nil
}

// toyCtx is both ends of a toy context.
type toyCtx struct {
	mech       OID
	initiator  bool
	cred       *toyCred
	target     *toyName
	source     *toyName
	flags      Flags
	cb         *ChannelBindings
	open       bool
	started    bool
	key        uint64
	sendSeq    uint64
	recvSeq    uint64
	delegated  MechCred
	deleted    bool
	expiry     time.Time
	minorState uint32
}

func (m *toyMech) InitSecContext(cfg *MechInitConfig) (MechContext, error) {
	m.inits.Add(1)
	c := &toyCtx{mech: m.oid, initiator: true, target: &toyName{m.oid, cfg.Target.String(), cfg.Target.NameType()},
		flags: cfg.Flags, cb: cfg.ChannelBindings, expiry: time.Unix(2000000000, 0)}
	if cfg.Cred != nil {
		tc, ok := cfg.Cred.(*toyCred)
		if !ok {
			return nil, NewError(NoCred, 0, m.oid, "toy: foreign credential")
		}
		if tc.usage == CredAccept {
			return nil, NewError(NoCred, 0, m.oid, "toy: credential is for accepting only")
		}
		c.cred = tc
		c.source = tc.name
	} else {
		c.source = &toyName{m.oid, "alice", NTUserName}
	}
	return c, nil
}

func (m *toyMech) AcceptSecContext(cfg *MechAcceptConfig) (MechContext, error) {
	m.accepts.Add(1)
	c := &toyCtx{mech: m.oid, cb: cfg.ChannelBindings, expiry: time.Unix(2000000000, 0)}
	if cfg.Cred != nil {
		tc, ok := cfg.Cred.(*toyCred)
		if !ok {
			return nil, NewError(NoCred, 0, m.oid, "toy: foreign credential")
		}
		c.cred = tc
	}
	return c, nil
}

func cbString(cb *ChannelBindings) string {
	if cb == nil {
		return ""
	}
	return hexString(cb.ApplicationData)
}

func toyKey(a, b string) uint64 {
	h := uint64(14695981039346656037)
	for _, s := range []string{a, "\x00", b} {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return h
}

func (c *toyCtx) Step(ctx context.Context, in []byte) ([]byte, error) {
	if c.deleted {
		return nil, NewError(NoContext, 0, c.mech, "toy: deleted")
	}
	switch {
	case c.initiator && !c.started:
		c.started = true
		body := "INIT|" + c.target.s + "|" + c.source.s + "|" + strconv.Itoa(int(c.flags)) + "|" + cbString(c.cb)
		c.key = toyKey(c.source.s, c.target.s)
		if c.flags&FlagMutual == 0 {
			c.open = true
		}
		return AppendInitialToken(nil, c.mech, []byte(body)), nil
	case c.initiator:
		if c.open {
			return nil, NewError(Failure, 0, c.mech, "toy: context already established")
		}
		if string(in) != "ACK|"+c.target.s {
			return nil, NewError(DefectiveToken, toyMinorBadToken, c.mech, "toy: bad reply token")
		}
		c.open = true
		return nil, nil
	case c.started:
		return nil, NewError(Failure, 0, c.mech, "toy: acceptor already established")
	}
	mech, inner, err := ParseInitialToken(in)
	if err != nil {
		return nil, err
	}
	if mech != c.mech {
		return nil, NewError(BadMech, 0, c.mech, "toy: token for "+mech.String())
	}
	f := strings.Split(string(inner), "|")
	if len(f) != 5 || f[0] != "INIT" {
		return nil, NewError(DefectiveToken, toyMinorBadToken, c.mech, "toy: bad initial token")
	}
	if c.cred != nil && c.cred.name != nil && c.cred.name.s != f[1] {
		return nil, NewError(Failure, toyMinorTargetMismatch, c.mech, "toy: token is for "+f[1])
	}
	if f[4] != cbString(c.cb) && c.cb != nil {
		return nil, NewError(BadBindings, 0, c.mech, "toy: channel bindings differ")
	}
	fl, _ := strconv.Atoi(f[3])
	c.started, c.open, c.flags = true, true, Flags(fl)
	c.target = &toyName{c.mech, f[1], NTKrb5Principal}
	c.source = &toyName{c.mech, f[2], NTUserName}
	c.key = toyKey(f[2], f[1])
	if c.flags&FlagDeleg != 0 {
		c.delegated = &toyCred{mech: c.mech, name: c.source, usage: CredInitiate, expiry: c.expiry,
			released: new(atomic.Bool)}
	}
	if c.flags&FlagMutual != 0 {
		return []byte("ACK|" + f[1]), nil
	}
	return nil, nil
}

func (c *toyCtx) Done() bool { return c.open }

func (c *toyCtx) Info() ContextInfo {
	info := ContextInfo{Mech: c.mech, Expiry: c.expiry, Flags: c.flags, LocallyInitiated: c.initiator, Open: c.open}
	if c.source != nil {
		info.Source = c.source
	}
	if c.target != nil && (c.initiator || c.started) {
		info.Target = c.target
	}
	return info
}

// toySum is a keyed FNV-1a over (key, seq, msg); allocation-free.
func toySum(key, seq uint64, msg []byte) uint64 {
	h := uint64(14695981039346656037) ^ key
	for i := 0; i < 8; i++ {
		h ^= (seq >> (8 * i)) & 0xff
		h *= 1099511628211
	}
	for _, b := range msg {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}

func (c *toyCtx) ready() error {
	if c.deleted || !c.open {
		return NewError(NoContext, 0, c.mech, "toy: context not open")
	}
	return nil
}

// MIC token: 8-byte seq, 8-byte sum.
func (c *toyCtx) GetMIC(dst, msg []byte, qop QOP) ([]byte, error) {
	if err := c.ready(); err != nil {
		return dst, err
	}
	if qop > 1 {
		return dst, NewError(BadQOP, 0, c.mech, "toy: QOP "+strconv.Itoa(int(qop)))
	}
	seq := c.sendSeq
	c.sendSeq++
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint64(dst, toySum(c.key, seq, msg)), nil
}

func (c *toyCtx) checkSeq(seq uint64) error {
	switch {
	case seq == c.recvSeq:
		c.recvSeq++
		return nil
	case seq > c.recvSeq:
		c.recvSeq = seq + 1
		return NewError(GapToken, 0, c.mech, "toy: gap")
	}
	return NewError(DuplicateToken, 0, c.mech, "toy: replay")
}

func (c *toyCtx) VerifyMIC(msg, tok []byte) (QOP, error) {
	if err := c.ready(); err != nil {
		return 0, err
	}
	if len(tok) != 16 {
		return 0, NewError(DefectiveToken, toyMinorBadToken, c.mech, "toy: MIC token length")
	}
	seq := binary.BigEndian.Uint64(tok)
	if binary.BigEndian.Uint64(tok[8:]) != toySum(c.key, seq, msg) {
		return 0, NewError(BadMIC, 0, c.mech, "toy: MIC mismatch")
	}
	return 0, c.checkSeq(seq)
}

// Wrap token: 1 conf byte, 8-byte seq, 8-byte sum of plaintext, body.
func (c *toyCtx) Wrap(dst, msg []byte, conf bool, qop QOP) ([]byte, bool, error) {
	if err := c.ready(); err != nil {
		return dst, false, err
	}
	seq := c.sendSeq
	c.sendSeq++
	var cb byte
	if conf {
		cb = 1
	}
	dst = append(dst, cb)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, toySum(c.key, seq, msg))
	start := len(dst)
	dst = append(dst, msg...)
	if conf {
		for i := start; i < len(dst); i++ {
			dst[i] ^= byte(c.key >> (8 * ((i - start) % 8)))
		}
	}
	return dst, conf, nil
}

func (c *toyCtx) Unwrap(dst, tok []byte) ([]byte, MessageInfo, error) {
	if err := c.ready(); err != nil {
		return dst, MessageInfo{}, err
	}
	if len(tok) < 17 || tok[0] > 1 {
		return dst, MessageInfo{}, NewError(DefectiveToken, toyMinorBadToken, c.mech, "toy: wrap token header")
	}
	conf := tok[0] == 1
	seq := binary.BigEndian.Uint64(tok[1:])
	start := len(dst)
	dst = append(dst, tok[17:]...)
	if conf {
		for i := start; i < len(dst); i++ {
			dst[i] ^= byte(c.key >> (8 * ((i - start) % 8)))
		}
	}
	if binary.BigEndian.Uint64(tok[9:]) != toySum(c.key, seq, dst[start:]) {
		return dst[:start], MessageInfo{}, NewError(BadMIC, 0, c.mech, "toy: wrap checksum mismatch")
	}
	return dst, MessageInfo{Conf: conf}, c.checkSeq(seq)
}

func (c *toyCtx) WrapSizeLimit(conf bool, qop QOP, max int) (int, error) {
	if max < 17 {
		return 0, nil
	}
	return max - 17, nil
}

func (c *toyCtx) DelegatedCred() MechCred { return c.delegated }

func (c *toyCtx) Export() ([]byte, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	s := strings.Join([]string{
		strconv.FormatBool(c.initiator), c.source.s, c.target.s, strconv.Itoa(int(c.flags)),
		strconv.FormatUint(c.key, 10), strconv.FormatUint(c.sendSeq, 10), strconv.FormatUint(c.recvSeq, 10),
	}, "|")
	c.deleted = true
	return []byte(s), nil
}

func (m *toyMech) ImportSecContext(tok []byte) (MechContext, error) {
	f := strings.Split(string(tok), "|")
	bad := NewError(DefectiveToken, toyMinorBadToken, m.oid, "toy: bad context token")
	if len(f) != 7 {
		return nil, bad
	}
	ini, err := strconv.ParseBool(f[0])
	if err != nil {
		return nil, bad
	}
	var nums [4]uint64
	for i, s := range []string{f[3], f[4], f[5], f[6]} {
		if nums[i], err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, bad
		}
	}
	return &toyCtx{mech: m.oid, initiator: ini, started: true, open: true,
		source: &toyName{m.oid, f[1], NTUserName}, target: &toyName{m.oid, f[2], NTKrb5Principal},
		flags: Flags(nums[0]), key: nums[1], sendSeq: nums[2], recvSeq: nums[3], expiry: time.Unix(2000000000, 0)}, nil
}

func (c *toyCtx) Delete() error { c.deleted = true; return nil }

func (m *toyMech) DisplayMinor(minor uint32) string {
	switch minor {
	case toyMinorTargetMismatch:
		return "toy: the token names another target"
	case toyMinorBadToken:
		return "toy: malformed token"
	case toyMinorNoKey:
		return "toy: no key for the principal"
	}
	return ""
}

// toyInterposer claims mechanisms and calls through to the originals via the
// concatenated OID, as an MIT interposer module does. It counts
// the calls it sees so tests can tell that dispatch reached it.
type toyInterposer struct {
	reg   *Registry
	calls atomic.Int32
	// seen records the mechanism OIDs the *ByMech calls were for.
	seen []OID
}

func (p *toyInterposer) OID() OID          { return toyProxyOID }
func (p *toyInterposer) Name() string      { return "toyproxy" }
func (p *toyInterposer) NameTypes() OIDSet { return newToy().NameTypes() }

func (p *toyInterposer) special(mech OID) OID { return SpecialOID(toyProxyOID, mech) }

// proxyName marks a name that came through the interposer.
type proxyName struct{ MechName }

func unproxyName(n MechName) MechName {
	if p, ok := n.(*proxyName); ok {
		return p.MechName
	}
	return n
}

func (p *toyInterposer) ImportName(value []byte, nt OID) (MechName, error) {
	return p.ImportNameByMech(toyOID, value, nt)
}

func (p *toyInterposer) ImportNameByMech(mech OID, value []byte, nt OID) (MechName, error) {
	p.calls.Add(1)
	p.seen = append(p.seen, mech)
	n, err := p.reg.ImportNameByMech(p.special(mech), string(value), nt)
	if err != nil {
		return nil, err
	}
	return &proxyName{n.MechName()}, nil
}

func (p *toyInterposer) ImportExportedName(blob []byte) (MechName, error) {
	return p.ImportExportedNameByMech(toyOID, blob)
}

// ImportExportedNameByMech re-enters the original mechanism with the name
// token format and the concatenated OID.
func (p *toyInterposer) ImportExportedNameByMech(mech OID, blob []byte) (MechName, error) {
	p.calls.Add(1)
	n, err := p.reg.ImportName(string(AppendExportedName(nil, p.special(mech), blob)), NTExportName)
	if err != nil {
		return nil, err
	}
	return &proxyName{n.MechName()}, nil
}

type proxyCred struct {
	mech  OID
	inner *Credential
}

func (c *proxyCred) Mech() OID { return c.mech }
func (c *proxyCred) Info() (CredInfo, error) {
	info, err := c.inner.InquireByMech(c.inner.Mechs()[0])
	if err != nil {
		return CredInfo{}, err
	}
	out := CredInfo{InitiatorExpiry: info.InitiatorExpiry, AcceptorExpiry: info.AcceptorExpiry, Usage: info.Usage}
	if info.Name != nil {
		out.Name = &proxyName{info.Name.MechName()}
	}
	return out, nil
}

// Export produces the mechglue credential token of the inner credential,
// whose element is filed under the concatenated OID: exactly what
// ImportCredByMech needs to re-enter the original.
func (c *proxyCred) Export() ([]byte, error) { return c.inner.Export() }
func (c *proxyCred) Store(store CredStore, usage CredUsage, overwrite, def bool) error {
	_, err := c.inner.Store(&StoreConfig{Usage: usage, Overwrite: overwrite, Default: def, Store: store})
	return err
}
func (c *proxyCred) Release() error { return c.inner.Release() }

func (p *toyInterposer) AcquireCred(ctx context.Context, req *MechCredRequest) (MechCred, error) {
	return p.AcquireCredByMech(ctx, toyOID, req)
}

func (p *toyInterposer) AcquireCredByMech(ctx context.Context, mech OID, req *MechCredRequest) (MechCred, error) {
	p.calls.Add(1)
	cfg := &CredentialConfig{Usage: req.Usage, Mechs: OIDSet{p.special(mech)}, Lifetime: req.Lifetime, Store: req.Store}
	if req.Name != nil {
		cfg.Name = p.reg.NewNameFromMech(unproxyName(req.Name))
	}
	c, err := p.reg.AcquireCredential(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &proxyCred{mech: mech, inner: c}, nil
}

func (p *toyInterposer) ImportCred(tok []byte) (MechCred, error) {
	return p.ImportCredByMech(toyOID, tok)
}

func (p *toyInterposer) ImportCredByMech(mech OID, tok []byte) (MechCred, error) {
	p.calls.Add(1)
	c, err := p.reg.ImportCredential(tok)
	if err != nil {
		return nil, err
	}
	if len(c.Mechs()) != 1 || c.Mechs()[0] != p.special(mech) {
		c.Release()
		return nil, NewError(DefectiveToken, 0, mech, "toyproxy: credential token is not for "+p.special(mech).String())
	}
	return &proxyCred{mech: mech, inner: c}, nil
}

type proxyCtx struct {
	mech OID
	sc   *SecContext
}

func (c *proxyCtx) Step(ctx context.Context, in []byte) ([]byte, error) { return c.sc.Step(ctx, in) }
func (c *proxyCtx) Done() bool                                          { return c.sc.Done() }
func (c *proxyCtx) Info() ContextInfo {
	mc := c.sc.MechContext()
	if mc == nil {
		return ContextInfo{}
	}
	info := mc.Info()
	if info.Source != nil {
		info.Source = &proxyName{info.Source}
	}
	if info.Target != nil {
		info.Target = &proxyName{info.Target}
	}
	return info
}
func (c *proxyCtx) GetMIC(dst, msg []byte, qop QOP) ([]byte, error) {
	return c.sc.GetMIC(dst, msg, qop)
}
func (c *proxyCtx) VerifyMIC(msg, tok []byte) (QOP, error) { return c.sc.VerifyMIC(msg, tok) }
func (c *proxyCtx) Wrap(dst, msg []byte, conf bool, qop QOP) ([]byte, bool, error) {
	return c.sc.Wrap(dst, msg, conf, qop)
}
func (c *proxyCtx) Unwrap(dst, tok []byte) ([]byte, MessageInfo, error) { return c.sc.Unwrap(dst, tok) }
func (c *proxyCtx) WrapSizeLimit(conf bool, qop QOP, max int) (int, error) {
	return c.sc.WrapSizeLimit(conf, qop, max)
}
func (c *proxyCtx) DelegatedCred() MechCred {
	d := c.sc.DelegatedCredential()
	if d == nil {
		return nil
	}
	return &proxyCred{mech: c.mech, inner: d}
}

// Export yields the mechglue context token (concatenated OID and the
// original's token), which ImportSecContextByMech re-enters.
func (c *proxyCtx) Export() ([]byte, error) { return c.sc.Export() }
func (c *proxyCtx) Delete() error           { return c.sc.Delete() }

func (p *toyInterposer) InitSecContext(cfg *MechInitConfig) (MechContext, error) {
	return p.InitSecContextByMech(toyOID, cfg)
}

func (p *toyInterposer) InitSecContextByMech(mech OID, cfg *MechInitConfig) (MechContext, error) {
	p.calls.Add(1)
	icfg := &InitiatorConfig{
		Target: p.reg.NewNameFromMech(unproxyName(cfg.Target)), Mech: p.special(mech),
		Flags: cfg.Flags, Lifetime: cfg.Lifetime, ChannelBindings: cfg.ChannelBindings,
	}
	if pc, ok := cfg.Cred.(*proxyCred); ok {
		icfg.Credential = pc.inner
	}
	sc, err := p.reg.NewInitiator(icfg)
	if err != nil {
		return nil, err
	}
	return &proxyCtx{mech: mech, sc: sc}, nil
}

func (p *toyInterposer) AcceptSecContext(cfg *MechAcceptConfig) (MechContext, error) {
	return p.AcceptSecContextByMech(toyOID, cfg)
}

// AcceptSecContextByMech acquires (or uses) a credential for the
// concatenated OID and passes it to the mechglue's acceptor, the only way to
// reach the original mechanism from gss_accept_sec_context.
func (p *toyInterposer) AcceptSecContextByMech(mech OID, cfg *MechAcceptConfig) (MechContext, error) {
	p.calls.Add(1)
	var cred *Credential
	if pc, ok := cfg.Cred.(*proxyCred); ok {
		cred = pc.inner
	} else {
		var err error
		cred, err = p.reg.AcquireCredential(context.Background(), &CredentialConfig{
			Usage: CredAccept, Mechs: OIDSet{p.special(mech)},
		})
		if err != nil {
			return nil, err
		}
	}
	sc, err := p.reg.NewAcceptor(&AcceptorConfig{Credential: cred, ChannelBindings: cfg.ChannelBindings})
	if err != nil {
		return nil, err
	}
	return &proxyCtx{mech: mech, sc: sc}, nil
}

func (p *toyInterposer) ImportSecContext(tok []byte) (MechContext, error) {
	return p.ImportSecContextByMech(toyOID, tok)
}

func (p *toyInterposer) ImportSecContextByMech(mech OID, tok []byte) (MechContext, error) {
	p.calls.Add(1)
	inner, _, err := ParseExportedContext(tok)
	if err != nil {
		return nil, err
	}
	if inner != p.special(mech) {
		return nil, NewError(DefectiveToken, 0, mech, "toyproxy: context token is not for "+p.special(mech).String())
	}
	sc, err := p.reg.ImportSecContext(tok)
	if err != nil {
		return nil, err
	}
	return &proxyCtx{mech: mech, sc: sc}, nil
}

func (p *toyInterposer) DisplayMinor(minor uint32) string { return "" }

// newToyRegistry returns a registry holding one toy mechanism.
func newToyRegistry(t interface{ Fatal(...any) }) (*Registry, *toyMech) {
	r := NewRegistry()
	m := newToy()
	if err := r.Register(m); err != nil {
		t.Fatal(err)
	}
	return r, m
}

// newProxyRegistry returns a registry holding a toy mechanism and a toy
// interposer claiming it.
func newProxyRegistry(t interface{ Fatal(...any) }) (*Registry, *toyMech, *toyInterposer) {
	r, m := newToyRegistry(t)
	p := &toyInterposer{reg: r}
	if err := r.RegisterInterposer(p, OIDSet{toyOID}); err != nil {
		t.Fatal(err)
	}
	return r, m, p
}

var _ = errors.Is

// The toy writes its own composite attribute bytes, as MIT's krb5 does.
func (n *toyName) ExportCompositeAttributes() ([]byte, error) {
	if len(n.Attributes()) == 0 {
		return nil, nil
	}
	return []byte("TOYATTR:" + n.s), nil
}

func (m *toyMech) ImportExportedCompositeName(name, attrs []byte) (MechName, error) {
	if string(attrs) != "TOYATTR:"+string(name) {
		return nil, NewError(DefectiveToken, toyMinorBadToken, m.oid, "toy: bad composite attributes")
	}
	return m.ImportExportedName(name)
}
