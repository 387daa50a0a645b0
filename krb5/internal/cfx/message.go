package cfx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding"
	"errors"
	"hash"
	"sync/atomic"
)

// Kerberos messages (tickets, authenticators, AP-REP parts, PAC
// signatures) are protected with the RFC 3961 simplified profile, the same
// primitives as RFC 4121 tokens: a BaseKey derives, per key usage, a
// MessageKey that encrypts and decrypts EncryptedData ciphertext or makes
// and checks keyed checksums. gokrb5 does the same, but re-derives keys,
// re-folds constants and allocates on every call; a context establishment
// pays for that on both sides several times over.

// ErrIntegrity is returned when ciphertext fails its integrity check: it was
// modified, or made with another key or key usage.
var ErrIntegrity = errors.New("ciphertext integrity check failed (wrong key, or modified)")

// errShort is returned for ciphertext too short to hold the confounder and
// the integrity tag.
var errShort = errors.New("ciphertext too short")

// Supported reports whether etype is an enctype this package handles (the
// four AES enctypes of RFC 3962 and RFC 8009).
func Supported(etype int32) bool { return profiles[etype] != nil }

// ChecksumType is the keyed checksum type that goes with etype (RFC 3961
// §7 registry): hmac-sha1-96-aes128 (15), hmac-sha1-96-aes256 (16),
// hmac-sha256-128-aes128 (19), hmac-sha384-192-aes256 (20); 0 if none.
func ChecksumType(etype int32) int32 {
	switch etype {
	case EtypeAES128SHA1:
		return 15
	case EtypeAES256SHA1:
		return 16
	case EtypeAES128SHA256:
		return 19
	case EtypeAES256SHA384:
		return 20
	}
	return 0
}

// BaseKey derives the per-usage keys of one protocol key.
type BaseKey struct {
	d deriver
}

// NewBaseKey prepares key, of enctype etype, for derivations.
func NewBaseKey(etype int32, key []byte) (BaseKey, error) {
	pr := profiles[etype]
	if pr == nil {
		return BaseKey{}, errors.New("enctype not supported by the fast path")
	}
	if len(key) != pr.keyLen {
		return BaseKey{}, errors.New("key has the wrong length for its enctype")
	}
	d, err := pr.newDeriver(key)
	return BaseKey{d: d}, err
}

// EncryptionKey derives Ke and Ki for usage.
func (b *BaseKey) EncryptionKey(usage uint32) *MessageKey {
	k := &MessageKey{pr: b.d.pr, enc: true}
	k.ke = b.d.derive(&k.buf[0], usage, constKe)
	k.ki = b.d.derive(&k.buf[1], usage, constKi)
	return k
}

// ChecksumKey derives Kc for usage.
func (b *BaseKey) ChecksumKey(usage uint32) *MessageKey {
	k := &MessageKey{pr: b.d.pr}
	k.kc = b.d.derive(&k.buf[0], usage, constKc)
	return k
}

// MessageKey holds the keys derived for one key usage. It is safe for
// concurrent use: each call takes the key's spare cipher and MAC state, or
// builds one when another goroutine holds it.
type MessageKey struct {
	pr         *profile
	enc        bool // Ke and Ki (else Kc)
	ke, ki, kc []byte
	buf        [2][32]byte
	spare      atomic.Pointer[msgState]
}

// msgState is what one call needs besides the keys. Kerberos messages are
// short and mostly met once (a fresh session key protects one
// authenticator and one AP-REP), so the state is lean: the AES schedule,
// CBC-CTS done block by block, and an HMAC whose keyed hash states are
// saved once and restored per message.
type msgState struct {
	block cipher.Block
	mac   hmacState
	cts   ctsScratch
}

// ctsScratch holds the blocks CBC-CTS works on; on the heap with the
// state, since the cipher.Block interface makes stack arrays escape.
type ctsScratch struct {
	prev, x, z, cn1 [16]byte
}

func (k *MessageKey) take() *msgState {
	if st := k.spare.Swap(nil); st != nil {
		return st
	}
	st := &msgState{}
	if k.enc {
		// The derived key has the enctype's length: this cannot fail.
		st.block, _ = aes.NewCipher(k.ke)
		st.mac.init(k.pr.newHash, k.ki)
	} else {
		st.mac.init(k.pr.newHash, k.kc)
	}
	return st
}

func (k *MessageKey) put(st *msgState) { k.spare.Store(st) }

// Size is the length of the key's checksums.
func (k *MessageKey) Size() int { return k.pr.macLen }

// Overhead is how many bytes Encrypt adds to a plaintext.
func (k *MessageKey) Overhead() int { return 16 + k.pr.macLen }

// Encrypt appends the EncryptedData cipher of plain (a random confounder
// and plain, CTS-encrypted with Ke, then the truncated HMAC with Ki) to
// dst. plain must not overlap dst's spare capacity.
func (k *MessageKey) Encrypt(dst, plain []byte) ([]byte, error) {
	if !k.enc {
		return dst, errors.New("checksum key used for encryption")
	}
	st := k.take()
	defer k.put(st)
	n := 16 + len(plain)
	orig := len(dst)
	dst, out := grow(dst, n+k.pr.macLen)
	c := out[:n]
	if _, err := rand.Read(c[:16]); err != nil {
		return dst[:orig], err
	}
	copy(c[16:], plain)
	m := &st.mac
	m.reset()
	if !k.pr.rfc8009 {
		m.write(c) // RFC 3962 MACs the plaintext
	}
	ctsEncryptBlocks(st.block, c, &st.cts)
	if k.pr.rfc8009 {
		m.write(zeroIV[:]) // RFC 8009 MACs IV|ciphertext
		m.write(c)
	}
	copy(out[n:], m.sum()[:k.pr.macLen])
	return dst, nil
}

// Decrypt checks and decrypts an EncryptedData cipher and appends the
// plaintext (without the confounder) to dst. On failure dst comes back
// unchanged and nothing of the plaintext is left in its spare capacity.
func (k *MessageKey) Decrypt(dst, ciphertext []byte) ([]byte, error) {
	if !k.enc {
		return dst, errors.New("checksum key used for decryption")
	}
	macLen := k.pr.macLen
	if len(ciphertext) < 16+macLen {
		return dst, errShort
	}
	c, mac := ciphertext[:len(ciphertext)-macLen], ciphertext[len(ciphertext)-macLen:]
	st := k.take()
	defer k.put(st)
	m := &st.mac
	m.reset()
	if k.pr.rfc8009 {
		m.write(zeroIV[:])
		m.write(c)
		if subtle.ConstantTimeCompare(m.sum()[:macLen], mac) != 1 {
			return dst, ErrIntegrity
		}
	}
	orig := len(dst)
	dst, out := grow(dst, len(c))
	ctsDecryptBlocks(st.block, out, c, &st.cts)
	if !k.pr.rfc8009 {
		m.write(out)
		if subtle.ConstantTimeCompare(m.sum()[:macLen], mac) != 1 {
			clear(out)
			return dst[:orig], ErrIntegrity
		}
	}
	n := copy(out, out[16:])
	clear(out[n:])
	return dst[:orig+n], nil
}

// Checksum appends the keyed checksum of data (HMAC with Kc, truncated) to
// dst.
func (k *MessageKey) Checksum(dst, data []byte) []byte {
	st := k.take()
	defer k.put(st)
	st.mac.reset()
	st.mac.write(data)
	return append(dst, st.mac.sum()[:k.pr.macLen]...)
}

// VerifyChecksum reports, in constant time, whether sum is the keyed
// checksum of data.
func (k *MessageKey) VerifyChecksum(data, sum []byte) bool {
	if k.enc || len(sum) != k.pr.macLen {
		return false
	}
	st := k.take()
	defer k.put(st)
	st.mac.reset()
	st.mac.write(data)
	return subtle.ConstantTimeCompare(st.mac.sum()[:k.pr.macLen], sum) == 1
}

// ctsEncryptBlocks encrypts b (at least one block) in place with AES-CBC
// and ciphertext stealing, IV 0 (RFC 3962 §5): the last two blocks are
// swapped and the final partial one cut to length.
func ctsEncryptBlocks(blk cipher.Block, b []byte, s *ctsScratch) {
	prev, x := s.prev[:], s.x[:]
	clear(prev)
	defer clear(x)
	if len(b) == 16 {
		blk.Encrypt(b, b)
		return
	}
	last := (len(b) - 1) / 16 * 16 // start of the final, possibly partial, block
	for off := 0; off < last; off += 16 {
		subtle.XORBytes(x, b[off:off+16], prev)
		blk.Encrypt(prev, x)
		copy(b[off:], prev)
	}
	// prev is now C(n-1), written at last-16; the final block, zero
	// padded, chains from it.
	d := len(b) - last
	clear(x)
	copy(x, b[last:])
	subtle.XORBytes(x, x, prev)
	blk.Encrypt(x, x)
	copy(b[last-16:last], x)
	copy(b[last:], prev[:d])
}

// ctsDecryptBlocks is the inverse of ctsEncryptBlocks, from in to out
// (which must not overlap).
func ctsDecryptBlocks(blk cipher.Block, out, in []byte, s *ctsScratch) {
	if len(in) == 16 {
		blk.Decrypt(out, in)
		return
	}
	last := (len(in) - 1) / 16 * 16
	d := len(in) - last
	prev, z, cn1 := s.prev[:], s.z[:], s.cn1[:]
	defer clear(z)
	clear(prev) // C(i-1), the IV at first
	for off := 0; off < last-16; off += 16 {
		blk.Decrypt(out[off:off+16], in[off:off+16])
		subtle.XORBytes(out[off:off+16], out[off:off+16], prev)
		copy(prev, in[off:off+16])
	}
	// in[last-16:last] is Cn, in[last:] the head of C(n-1). D(Cn) is
	// Pn|0 xor C(n-1), so its tail completes C(n-1).
	blk.Decrypt(z, in[last-16:last])
	copy(cn1, in[last:])
	copy(cn1[d:], z[d:])
	subtle.XORBytes(out[last:], z[:d], cn1[:d])
	blk.Decrypt(out[last-16:last], cn1)
	subtle.XORBytes(out[last-16:last], out[last-16:last], prev)
}

// hmacState is HMAC (RFC 2104) with the hash states after the key's inner
// and outer pad blocks saved once: a MAC restores them rather than
// hashing the pads again, as crypto/hmac does, but without its
// allocations.
type hmacState struct {
	inner, outer   hash.Hash
	innerU, outerU encoding.BinaryUnmarshaler
	ist, ost       []byte    // the saved states, in buf unless too long
	buf            [416]byte // two saved states (SHA-384's is 204 bytes)
	scratch        [128]byte // the pad block while keying; then two sums
}

func (h *hmacState) init(newHash func() hash.Hash, key []byte) {
	h.inner, h.outer = newHash(), newHash()
	bs := h.inner.BlockSize()
	if len(key) > bs { // never for Kerberos keys, which are shorter
		h.inner.Write(key)
		key = h.inner.Sum(nil)
		h.inner.Reset()
	}
	pad := h.scratch[:bs]
	clear(pad)
	copy(pad, key)
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.inner.Write(pad)
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.outer.Write(pad)
	clear(pad)
	// Every standard library hash appends and restores its state.
	h.ist, _ = h.inner.(encoding.BinaryAppender).AppendBinary(h.buf[:0:208])
	h.ost, _ = h.outer.(encoding.BinaryAppender).AppendBinary(h.buf[208:208])
	h.innerU = h.inner.(encoding.BinaryUnmarshaler)
	h.outerU = h.outer.(encoding.BinaryUnmarshaler)
}

func (h *hmacState) reset()         { _ = h.innerU.UnmarshalBinary(h.ist) }
func (h *hmacState) write(b []byte) { h.inner.Write(b) }

// appendInner appends the inner hash's state, for restoreInner here or on
// another hash of the same kind.
func (h *hmacState) appendInner(b []byte) []byte {
	b, _ = h.inner.(encoding.BinaryAppender).AppendBinary(b)
	return b
}

func (h *hmacState) restoreInner(b []byte) error { return h.innerU.UnmarshalBinary(b) }

// sum returns the untruncated MAC, valid until the next call.
func (h *hmacState) sum() []byte {
	s := h.inner.Sum(h.scratch[:0:64])
	_ = h.outerU.UnmarshalBinary(h.ost)
	h.outer.Write(s)
	return h.outer.Sum(h.scratch[64:64])
}
