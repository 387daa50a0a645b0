// Package cfx implements the RFC 4121 per-message tokens (MIC and Wrap,
// TOK_ID 04 04 and 05 04) for the AES enctypes of RFC 3962 and RFC 8009,
// byte-compatible with MIT krb5: sealed tokens carry EC 0 and RRC 0 unless
// configured otherwise, any EC and RRC are accepted on receive, and the
// sequence window follows MIT's g_seqstate.
//
// Thread-safety: the send state (GetMIC, Wrap) and the receive state
// (VerifyMIC, Unwrap) have separate locks, so one goroutine may send while
// another receives. Calls in the same direction are serialised.
//
// Allocation: the append-style calls allocate nothing when dst has room.
// Wrap needs len(msg)+WrapOverhead bytes of spare capacity; Unwrap needs at
// most len(token) (the decrypted EC filler passes through dst before it is
// cut off). Overlapping buffers (wrapping or unwrapping in place) work but
// cost a copy of the input. A token with a non-zero RRC is un-rotated into
// a buffer the Protector keeps for reuse.
//
// Large messages (16 KiB and up) share their HMAC or CBC decryption with a
// small pool of long-lived worker goroutines, in chunks the caller takes
// over when the worker lags, so that a busy machine makes them no slower
// than working alone (see pool.go).
package cfx

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/gsskit/gsskit/gss"
)

// Token constants of RFC 4121 §4.2.
const (
	tokMIC  = 0x0404
	tokWrap = 0x0504

	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04

	hdrLen = 16
)

// Key usages of RFC 4121 §2.
const (
	usageAcceptorSeal  = 22
	usageAcceptorSign  = 23
	usageInitiatorSeal = 24
	usageInitiatorSign = 25
)

// Config describes the per-message protection of one established context.
type Config struct {
	Enctype int32
	// Key is the context key: the acceptor subkey if AcceptorSubkey, else
	// the initiator subkey or the session key.
	Key            []byte
	Initiator      bool
	AcceptorSubkey bool
	SendSeq        uint64 // sequence number of the next token we send
	RecvSeq        uint64 // sequence number expected next from the peer
	Replay         bool   // report duplicates (GSS_C_REPLAY_FLAG)
	Sequence       bool   // report out-of-order tokens (GSS_C_SEQUENCE_FLAG)
	// RRC is the right rotation applied to Wrap tokens we send: 0 as MIT,
	// 28 as Windows expects from AES peers. Any RRC is accepted on receive.
	RRC uint16
}

// sendBufs and recvBufs are per-direction scratch kept on the heap:
// hash.Hash writes make stack buffers escape.
type sendBufs struct {
	conf    [16]byte
	hdr     [hdrLen]byte // header with RRC 0 (the encrypted copy / the checksummed header)
	last    [32]byte
	scratch [32]byte
	sum     [64]byte
}

type recvBufs struct {
	conf    [16]byte
	hdr     [hdrLen]byte
	last    [32]byte
	scratch [48]byte
	sum     [64]byte
}

// Protector makes and checks per-message tokens for one context.
type Protector struct {
	pr   *profile
	cfg  Config // immutable after New; SendSeq/RecvSeq live below
	flag byte   // our direction and subkey flags

	sendMu   sync.Mutex
	sendSeq  uint64
	sendSeal *usageKeys
	sendSign *usageKeys
	sendJob  *parJob // built at the first large message
	sb       *sendBufs

	recvMu   sync.Mutex
	win      seqWindow
	recvSeal *usageKeys
	recvSign *usageKeys
	recvJob  *parJob
	rb       *recvBufs
	rotBuf   []byte // logical body of a rotated token (kept for reuse)
}

// WrapOverhead returns how many bytes a Wrap token adds to the message.
func (p *Protector) WrapOverhead(conf bool) int {
	if conf {
		return hdrLen + 16 + hdrLen + p.pr.macLen
	}
	return hdrLen + p.pr.macLen
}

func mechErr(major gss.MajorStatus, msg string) *gss.Error {
	return gss.NewError(major, 0, gss.MechKrb5, msg)
}

// New derives the per-usage keys of cfg once, so that the per-message calls
// do no key schedule work.
func New(cfg Config) (*Protector, error) {
	pr, ok := profiles[cfg.Enctype]
	if !ok {
		switch cfg.Enctype {
		case etypeDES3, etypeRC4, etypeRC4Exp:
			return nil, mechErr(gss.Unavailable, "krb5 per-message tokens: enctype "+strconv.Itoa(int(cfg.Enctype))+" needs RFC 1964 tokens, which gsskit does not support; use an AES enctype")
		}
		return nil, mechErr(gss.Unavailable, "krb5 per-message tokens: unknown enctype "+strconv.Itoa(int(cfg.Enctype)))
	}
	if len(cfg.Key) != pr.keyLen {
		return nil, mechErr(gss.Failure, "krb5 per-message tokens: enctype "+strconv.Itoa(int(cfg.Enctype))+" needs a "+strconv.Itoa(pr.keyLen)+"-byte key, got "+strconv.Itoa(len(cfg.Key)))
	}
	cfg.Key = slices.Clone(cfg.Key)
	d, err := pr.newDeriver(cfg.Key)
	if err != nil {
		return nil, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "krb5 per-message tokens: deriving keys", err)
	}
	// One allocation for the Protector and everything it owns for life.
	// The send and receive halves sit on separate cache lines, since one
	// goroutine may send while another receives.
	a := new(struct {
		p    Protector
		sb   sendBufs
		_    [64]byte
		rb   recvBufs
		_    [64]byte
		keys [4]usageKeys
	})
	p := &a.p
	*p = Protector{pr: pr, cfg: cfg, sendSeq: cfg.SendSeq, win: seqWindow{base: cfg.RecvSeq},
		sb: &a.sb, rb: &a.rb,
		sendSeal: &a.keys[0], sendSign: &a.keys[1], recvSeal: &a.keys[2], recvSign: &a.keys[3]}
	sendSeal, sendSign := uint32(usageAcceptorSeal), uint32(usageAcceptorSign)
	recvSeal, recvSign := uint32(usageInitiatorSeal), uint32(usageInitiatorSign)
	if cfg.Initiator {
		sendSeal, sendSign, recvSeal, recvSign = recvSeal, recvSign, sendSeal, sendSign
	} else {
		p.flag |= flagSentByAcceptor
	}
	if cfg.AcceptorSubkey {
		p.flag |= flagAcceptorSubkey
	}
	// The keys are derived now; their cipher and MAC states are built at
	// first use (signReady, sealReady).
	d.deriveUsageKeys(p.sendSeal, sendSeal, true)
	d.deriveUsageKeys(p.sendSign, sendSign, false)
	d.deriveUsageKeys(p.recvSeal, recvSeal, true)
	d.deriveUsageKeys(p.recvSign, recvSign, false)
	return p, nil
}

// Config returns the configuration with the current sequence numbers.
func (p *Protector) Config() Config {
	c := p.cfg
	c.Key = slices.Clone(c.Key)
	p.sendMu.Lock()
	c.SendSeq = p.sendSeq
	p.sendMu.Unlock()
	p.recvMu.Lock()
	c.RecvSeq = p.win.base + p.win.next
	p.recvMu.Unlock()
	return c
}

// grow extends dst by n bytes, reusing its capacity when it can.
func grow(dst []byte, n int) (whole, tail []byte) {
	whole = slices.Grow(dst, n)[:len(dst)+n]
	return whole, whole[len(dst):]
}

// overlap reports whether a and b share memory.
func overlap(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

// rotateRight rotates b right by r bytes in place (three reversals: no
// scratch memory).
func rotateRight(b []byte, r int) {
	if len(b) == 0 {
		return
	}
	r %= len(b)
	if r == 0 {
		return
	}
	slices.Reverse(b)
	slices.Reverse(b[:r])
	slices.Reverse(b[r:])
}

func (p *Protector) putHeader(h []byte, tok uint16, flags byte, ec, rrc uint16, seq uint64) {
	binary.BigEndian.PutUint16(h[0:2], tok)
	h[2] = flags
	h[3] = 0xff
	binary.BigEndian.PutUint16(h[4:6], ec)
	binary.BigEndian.PutUint16(h[6:8], rrc)
	binary.BigEndian.PutUint64(h[8:16], seq)
}

// GetMIC appends a MIC token (RFC 4121 §4.2.6.1) for msg to dst.
func (p *Protector) GetMIC(dst, msg []byte) []byte {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	seq := p.sendSeq
	p.sendSeq++
	hdr := p.sb.hdr[:]
	p.putHeader(hdr, tokMIC, p.flag, 0xffff, 0xffff, seq)
	p.sendSign.signReady()
	h := p.sendSign.kc
	h.Reset()
	h.Write(msg)
	h.Write(hdr)
	sum := h.Sum(p.sb.sum[:0])
	dst, out := grow(dst, hdrLen+p.pr.macLen)
	copy(out, hdr)
	copy(out[hdrLen:], sum[:p.pr.macLen])
	return dst
}

// Wrap appends a Wrap token (RFC 4121 §4.2.6.2) for msg to dst; conf
// selects encryption. The error is reserved for a failing random source.
func (p *Protector) Wrap(dst, msg []byte, conf bool) ([]byte, error) {
	if overlap(dst[len(dst):cap(dst)], msg) {
		msg = slices.Clone(msg)
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if conf {
		return p.wrapSealed(dst, msg)
	}
	return p.wrapInteg(dst, msg), nil
}

func (p *Protector) wrapInteg(dst, msg []byte) []byte {
	seq := p.sendSeq
	p.sendSeq++
	macLen := p.pr.macLen
	hdr := p.sb.hdr[:]
	// The checksum covers the header with EC and RRC zero.
	p.putHeader(hdr, tokWrap, p.flag, 0, 0, seq)
	p.sendSeal.signReady()
	h := p.sendSeal.kc
	h.Reset()
	h.Write(msg)
	h.Write(hdr)
	sum := h.Sum(p.sb.sum[:0])
	dst, out := grow(dst, hdrLen+len(msg)+macLen)
	p.putHeader(out, tokWrap, p.flag, uint16(macLen), p.cfg.RRC, seq)
	copy(out[hdrLen:], msg)
	copy(out[hdrLen+len(msg):], sum[:macLen])
	rotateRight(out[hdrLen:], int(p.cfg.RRC))
	return dst
}

func (p *Protector) wrapSealed(dst, msg []byte) ([]byte, error) {
	m := len(msg)
	macLen := p.pr.macLen
	sb := p.sb
	if _, err := rand.Read(sb.conf[:]); err != nil {
		return dst, gss.WrapError(gss.Failure, 0, gss.MechKrb5, "krb5 wrap: reading a random confounder", err)
	}
	seq := p.sendSeq
	p.sendSeq++
	dst, out := grow(dst, hdrLen+32+m+macLen)
	p.putHeader(out, tokWrap, p.flag|flagSealed, 0, p.cfg.RRC, seq)
	// The encrypted copy of the header has RRC 0 (RFC 4121 §4.2.4).
	p.putHeader(sb.hdr[:], tokWrap, p.flag|flagSealed, 0, 0, seq)
	body := out[hdrLen:]
	cl := 32 + m
	c := body[:cl]

	u := p.sendSeal
	u.sealReady()
	h := u.ki
	h.reset()
	var j *parJob
	var ch *chooser
	var t0 time.Time
	par := parallelOK(m)
	if par {
		ch = &choosers[kindSend3962+p.pr.kind8009()]
		par, t0 = ch.parallel(), time.Now()
	}
	if par {
		if p.sendJob == nil {
			p.sendJob = new(parJob)
		}
		j = p.sendJob
	}
	if !p.pr.rfc8009 {
		// RFC 3962 MACs confounder|plaintext|header: all known now, so a
		// worker hashes the plaintext while we encrypt.
		h.write(sb.conf[:])
		if par {
			j.startMAC(p.pr, h, msg, m)
		}
	} else {
		// RFC 8009 MACs IV|ciphertext, handed over as it appears.
		h.write(zeroIV[:])
		if par {
			j.startMAC(p.pr, h, c, 0)
		}
	}
	resetIV(u.enc)
	var last []byte
	lastOff := 0
	if m > 0 {
		a := (m - 1) / 16 * 16 // block-aligned part of msg before the CTS tail
		u.enc.CryptBlocks(c[:16], sb.conf[:])
		if par && p.pr.rfc8009 {
			for off := 0; off < a; off += minChunk {
				end := min(off+minChunk, a)
				u.enc.CryptBlocks(c[16+off:16+end], msg[off:end])
				j.produced(16 + end)
			}
		} else if a > 0 {
			u.enc.CryptBlocks(c[16:16+a], msg[:a])
		}
		n := copy(sb.last[:], msg[a:])
		n += copy(sb.last[n:], sb.hdr[:])
		last = sb.last[:n]
		lastOff = 16 + a
	} else {
		copy(sb.last[:16], sb.conf[:])
		copy(sb.last[16:], sb.hdr[:])
		last = sb.last[:32]
	}
	ctsEncryptTail(u.enc, c[lastOff:], last, &sb.scratch)
	switch {
	case par:
		j.produced(cl)
		j.finishMAC(h)
	case p.pr.rfc8009:
		h.write(c)
	default:
		h.write(msg)
	}
	if !p.pr.rfc8009 {
		h.write(sb.hdr[:])
	}
	if ch != nil {
		ch.record(par && j.on, time.Since(t0), m)
	}
	copy(body[cl:], h.sum()[:macLen])
	rotateRight(body, int(p.cfg.RRC))
	return dst, nil
}

// WrapSizeLimit returns the largest message whose Wrap token fits in
// maxOutput bytes (0 if none does).
func (p *Protector) WrapSizeLimit(conf bool, maxOutput int) int {
	return max(0, maxOutput-p.WrapOverhead(conf))
}

// checkHeader validates the fixed fields every received token shares.
func (p *Protector) checkHeader(token []byte, tok uint16, what string) error {
	if len(token) < hdrLen {
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token is "+strconv.Itoa(len(token))+" bytes, shorter than the 16-byte header")
	}
	switch id := binary.BigEndian.Uint16(token); {
	case id == tok:
	case id == tokMIC:
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token expected, got a MIC token (TOK_ID 04 04)")
	case id == tokWrap:
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token expected, got a Wrap token (TOK_ID 05 04)")
	case id>>8 <= 2:
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token expected, got an RFC 1964 token (TOK_ID "+hex16(id)+"), which AES contexts never send")
	case id>>8 == 0x60:
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token expected, got a token framed with a mechanism OID (first byte 60): a context token, or an RFC 1964 one, which AES contexts never send")
	default:
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token has unknown TOK_ID "+hex16(id))
	}
	flags := token[2]
	want := p.flag ^ flagSentByAcceptor // the peer's direction
	if flags&flagSentByAcceptor != want&flagSentByAcceptor {
		if p.cfg.Initiator {
			return mechErr(gss.DefectiveToken, "krb5 "+what+" token claims to come from the initiator, but we are the initiator (reflected token?)")
		}
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token claims to come from the acceptor, but we are the acceptor (reflected token?)")
	}
	if flags&flagAcceptorSubkey != p.flag&flagAcceptorSubkey {
		if p.cfg.AcceptorSubkey {
			return mechErr(gss.DefectiveToken, "krb5 "+what+" token is not protected with the acceptor subkey this context uses")
		}
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token says it uses an acceptor subkey, but this context has none")
	}
	if token[3] != 0xff {
		return mechErr(gss.DefectiveToken, "krb5 "+what+" token has filler byte "+hex8(token[3])+" instead of ff")
	}
	return nil
}

func hex8(b byte) string {
	const d = "0123456789abcdef"
	return string([]byte{d[b>>4], d[b&15]})
}

func hex16(v uint16) string { return hex8(byte(v>>8)) + " " + hex8(byte(v)) }

// VerifyMIC checks a MIC token for msg. An error with only supplementary
// bits (duplicate, old, unsequenced, gap) means the MIC is valid.
func (p *Protector) VerifyMIC(msg, token []byte) error {
	if err := p.checkHeader(token, tokMIC, "MIC"); err != nil {
		return err
	}
	for _, b := range token[4:8] {
		if b != 0xff {
			return mechErr(gss.DefectiveToken, "krb5 MIC token has filler bytes "+hex8(token[4])+hex8(token[5])+hex8(token[6])+hex8(token[7])+" instead of ffffffff")
		}
	}
	macLen := p.pr.macLen
	if len(token) != hdrLen+macLen {
		return mechErr(gss.DefectiveToken, "krb5 MIC token is "+strconv.Itoa(len(token))+" bytes; enctype "+strconv.Itoa(int(p.pr.etype))+" MIC tokens are "+strconv.Itoa(hdrLen+macLen))
	}
	seq := binary.BigEndian.Uint64(token[8:16])
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	p.recvSign.signReady()
	h := p.recvSign.kc
	h.Reset()
	h.Write(msg)
	h.Write(token[:hdrLen])
	sum := h.Sum(p.rb.sum[:0])
	if subtle.ConstantTimeCompare(sum[:macLen], token[hdrLen:]) != 1 {
		return mechErr(gss.BadMIC, "krb5 MIC token does not match the message (modified message or token, or wrong key)")
	}
	return seqError(p.win.check(seq, p.cfg.Replay, p.cfg.Sequence), seq)
}

// Unwrap checks a Wrap token and appends its message to dst; conf reports
// whether it was encrypted. An error with only supplementary bits means the
// output is valid. On a fatal error dst is returned unchanged and the
// sequence window is untouched.
func (p *Protector) Unwrap(dst, token []byte) (out []byte, conf bool, err error) {
	if err := p.checkHeader(token, tokWrap, "Wrap"); err != nil {
		return dst, false, err
	}
	if overlap(dst[len(dst):cap(dst)], token) {
		token = slices.Clone(token)
	}
	flags := token[2]
	ec := int(binary.BigEndian.Uint16(token[4:6]))
	rrc := int(binary.BigEndian.Uint16(token[6:8]))
	seq := binary.BigEndian.Uint64(token[8:16])
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	body := token[hdrLen:]
	if len(body) > 0 && rrc%len(body) != 0 {
		// Undo the sender's right rotation into a reusable buffer so the
		// caller's token stays untouched.
		r := rrc % len(body)
		if cap(p.rotBuf) < len(body) {
			p.rotBuf = make([]byte, len(body))
		}
		lb := p.rotBuf[:len(body)]
		n := copy(lb, body[r:])
		copy(lb[n:], body[:r])
		body = lb
		defer func() {
			if cap(p.rotBuf) > 1<<20 {
				p.rotBuf = nil // do not pin a huge buffer
			}
		}()
	}
	if flags&flagSealed != 0 {
		out, err = p.unwrapSealed(dst, token[:hdrLen], body, ec)
		conf = true
	} else {
		out, err = p.unwrapInteg(dst, token[:hdrLen], body, ec)
	}
	if err != nil {
		return dst, conf, err
	}
	return out, conf, seqError(p.win.check(seq, p.cfg.Replay, p.cfg.Sequence), seq)
}

func (p *Protector) unwrapInteg(dst, hdr, body []byte, ec int) ([]byte, error) {
	macLen := p.pr.macLen
	if ec != macLen {
		return dst, mechErr(gss.BadMIC, "krb5 Wrap token's EC is "+strconv.Itoa(ec)+", not the "+strconv.Itoa(macLen)+"-byte checksum length of enctype "+strconv.Itoa(int(p.pr.etype)))
	}
	if len(body) < macLen {
		return dst, mechErr(gss.DefectiveToken, "krb5 Wrap token is too short to hold its "+strconv.Itoa(macLen)+"-byte checksum")
	}
	msg := body[:len(body)-macLen]
	rb := p.rb
	copy(rb.hdr[:], hdr)
	clear(rb.hdr[4:8]) // the checksum covers EC and RRC as zero
	p.recvSeal.signReady()
	h := p.recvSeal.kc
	h.Reset()
	h.Write(msg)
	h.Write(rb.hdr[:])
	sum := h.Sum(p.rb.sum[:0])
	if subtle.ConstantTimeCompare(sum[:macLen], body[len(msg):]) != 1 {
		return dst, mechErr(gss.BadMIC, "krb5 Wrap token's checksum does not match (modified token or wrong key)")
	}
	return append(dst, msg...), nil
}

func (p *Protector) unwrapSealed(dst, hdr, body []byte, ec int) ([]byte, error) {
	macLen := p.pr.macLen
	if len(body) < 32+macLen {
		return dst, mechErr(gss.DefectiveToken, "krb5 sealed Wrap token is "+strconv.Itoa(hdrLen+len(body))+" bytes, too short for confounder, header copy and checksum")
	}
	cl := len(body) - macLen
	c, mac := body[:cl], body[cl:]
	u := p.recvSeal
	u.sealReady()
	rb := p.rb
	h := u.ki
	h.reset()
	var j *parJob
	par := parallelOK(cl)
	if par {
		ch := &choosers[kindRecv3962+p.pr.kind8009()]
		par = ch.parallel()
		if par {
			if p.recvJob == nil {
				p.recvJob = new(parJob)
			}
			j = p.recvJob
		}
		t0 := time.Now()
		defer func() { ch.record(par && j.on, time.Since(t0), cl) }()
	}
	if !p.pr.rfc8009 && par {
		return p.unwrapSealedSplit(dst, hdr, c, mac, ec, j)
	}
	if p.pr.rfc8009 {
		// The MAC covers IV|ciphertext, so a worker hashes while we decrypt.
		h.write(zeroIV[:])
		if par {
			j.startMAC(p.pr, h, c, cl)
		}
	}
	resetIV(u.dec)
	main := (cl-1)/16*16 - 16 // CBC part; the CTS tail is the rest
	orig := len(dst)
	dst, out := grow(dst, max(main-16, 0))
	if main > 0 {
		u.dec.CryptBlocks(rb.conf[:], c[:16])
		if main > 16 {
			u.dec.CryptBlocks(out[:main-16], c[16:main])
		}
	}
	tail := rb.last[:cl-main]
	ctsDecryptTail(u.block, u.dec, tail, c[main:], &rb.scratch)
	switch {
	case par:
		j.finishMAC(h)
	case p.pr.rfc8009:
		h.write(c)
	default:
		if main > 0 {
			h.write(rb.conf[:])
			h.write(out[:main-16])
		}
		h.write(tail)
	}
	return p.finishSealed(dst, orig, out, tail, hdr, h.sum(), mac, ec, cl, main)
}

// unwrapSealedSplit is the RFC 3962 path for large tokens. The MAC covers
// the plaintext, so it cannot start before decryption; instead a worker
// decrypts chunks from the back while this goroutine decrypts from the
// front and MACs everything in order.
func (p *Protector) unwrapSealedSplit(dst, hdr, c, mac []byte, ec int, j *parJob) ([]byte, error) {
	cl := len(c)
	u := p.recvSeal
	rb := p.rb
	h := u.ki
	main := (cl-1)/16*16 - 16 // > 16 here: cl is at least parallelThreshold
	orig := len(dst)
	dst, out := grow(dst, main-16)
	j.startDecrypt(u.dec2, c[:main], out[:main-16])
	resetIV(u.dec)
	u.dec.CryptBlocks(rb.conf[:], c[:16])
	h.write(rb.conf[:])
	j.decrypt(u.dec, h)
	u.dec.(ivSetter).SetIV(c[main-16 : main])
	tail := rb.last[:cl-main]
	ctsDecryptTail(u.block, u.dec, tail, c[main:], &rb.scratch)
	h.write(tail)
	return p.finishSealed(dst, orig, out, tail, hdr, h.sum(), mac, ec, cl, main)
}

// finishSealed checks the MAC and the encrypted header copy of a decrypted
// sealed token and moves the end of the message out of the CTS tail.
func (p *Protector) finishSealed(dst []byte, orig int, out, tail, hdr, sum, mac []byte, ec, cl, main int) ([]byte, error) {
	macLen := p.pr.macLen
	if subtle.ConstantTimeCompare(sum[:macLen], mac) != 1 {
		clear(out)
		return dst[:orig], mechErr(gss.BadMIC, "krb5 sealed Wrap token fails its integrity check (modified token or wrong key)")
	}
	// The decrypted copy of the header must match the clear one, except RRC
	// (zero inside). This is what binds the clear header to the message.
	inner := tail[len(tail)-hdrLen:]
	if inner[0] != hdr[0] || inner[1] != hdr[1] || inner[2] != hdr[2] || inner[3] != hdr[3] ||
		inner[4] != hdr[4] || inner[5] != hdr[5] || subtle.ConstantTimeCompare(inner[8:16], hdr[8:16]) != 1 {
		clear(out)
		return dst[:orig], mechErr(gss.BadMIC, "krb5 sealed Wrap token's header does not match its encrypted copy (modified header)")
	}
	// EC is checked only now: before, a modified EC is a modified header
	// (BadMIC above); here it is authentic but impossible.
	if ec > cl-32 {
		clear(out)
		return dst[:orig], mechErr(gss.DefectiveToken, "krb5 sealed Wrap token's EC "+strconv.Itoa(ec)+" is larger than its encrypted data")
	}
	m := cl - 32 - ec
	if m > len(out) {
		// The end of the message was in the CTS tail.
		dst = slices.Grow(dst, m-len(out))[:orig+m]
		out = dst[orig:]
	}
	// Message bytes that fell into the CTS tail.
	start := max(16, main)
	if 16+m > start {
		copy(out[start-16:m], tail[start-main:16+m-main])
	}
	return dst[:orig+m], nil
}
