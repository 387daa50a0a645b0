package cfx

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
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

type msgState struct {
	u       usageKeys
	sum     [64]byte
	scratch [48]byte
}

func (k *MessageKey) take() *msgState {
	if st := k.spare.Swap(nil); st != nil {
		return st
	}
	st := &msgState{}
	st.u.pr = k.pr
	st.u.keKey, st.u.kiKey, st.u.kcKey = k.ke, k.ki, k.kc
	return st
}

func (k *MessageKey) put(st *msgState) { k.spare.Store(st) }

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
	u := &st.u
	u.encReady()
	u.kiReady()
	n := 16 + len(plain)
	orig := len(dst)
	dst, out := grow(dst, n+k.pr.macLen)
	c := out[:n]
	if _, err := rand.Read(c[:16]); err != nil {
		return dst[:orig], err
	}
	copy(c[16:], plain)
	u.ki.Reset()
	if !k.pr.rfc8009 {
		u.ki.Write(c) // RFC 3962 MACs the plaintext
	}
	ctsEncryptWith(u, c, c, &st.scratch)
	if k.pr.rfc8009 {
		u.ki.Write(zeroIV[:]) // RFC 8009 MACs IV|ciphertext
		u.ki.Write(c)
	}
	copy(out[n:], u.ki.Sum(st.sum[:0])[:k.pr.macLen])
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
	u := &st.u
	u.decReady()
	u.kiReady()
	u.ki.Reset()
	if k.pr.rfc8009 {
		u.ki.Write(zeroIV[:])
		u.ki.Write(c)
		if subtle.ConstantTimeCompare(u.ki.Sum(st.sum[:0])[:macLen], mac) != 1 {
			return dst, ErrIntegrity
		}
	}
	orig := len(dst)
	dst, out := grow(dst, len(c))
	ctsDecryptWith(u, out, c, &st.scratch)
	if !k.pr.rfc8009 {
		u.ki.Write(out)
		if subtle.ConstantTimeCompare(u.ki.Sum(st.sum[:0])[:macLen], mac) != 1 {
			clear(out)
			return dst[:orig], ErrIntegrity
		}
	}
	m := copy(out, out[16:])
	clear(out[m:])
	return dst[:orig+m], nil
}

// Checksum appends the keyed checksum of data (HMAC with Kc, truncated) to
// dst.
func (k *MessageKey) Checksum(dst, data []byte) []byte {
	st := k.take()
	defer k.put(st)
	h := k.kcHash(st)
	h.Write(data)
	return append(dst, h.Sum(st.sum[:0])[:k.pr.macLen]...)
}

// VerifyChecksum reports, in constant time, whether sum is the keyed
// checksum of data.
func (k *MessageKey) VerifyChecksum(data, sum []byte) bool {
	if k.enc || len(sum) != k.pr.macLen {
		return false
	}
	st := k.take()
	defer k.put(st)
	h := k.kcHash(st)
	h.Write(data)
	return subtle.ConstantTimeCompare(h.Sum(st.sum[:0])[:k.pr.macLen], sum) == 1
}

func (k *MessageKey) kcHash(st *msgState) hash.Hash {
	if st.u.kc == nil {
		st.u.kc = hmac.New(k.pr.newHash, k.kc)
	}
	st.u.kc.Reset()
	return st.u.kc
}

// ctsDecryptWith is ctsDecrypt with the caller's scratch space, so that
// the tail's intermediate plaintext does not land in a fresh allocation.
func ctsDecryptWith(u *usageKeys, out, in []byte, scratch *[48]byte) {
	resetIV(u.dec)
	if len(in) == aes.BlockSize {
		u.dec.CryptBlocks(out, in)
		return
	}
	n := (len(in) - 1) / 16 * 16
	main := n - 16
	if main > 0 {
		u.dec.CryptBlocks(out[:main], in[:main])
	}
	ctsDecryptTail(u.block, u.dec, out[main:], in[main:], scratch)
	clear(scratch[:])
}

// ctsEncryptWith is ctsEncrypt with the caller's scratch space.
func ctsEncryptWith(u *usageKeys, out, in []byte, scratch *[48]byte) {
	resetIV(u.enc)
	if len(in) == aes.BlockSize {
		u.enc.CryptBlocks(out, in)
		return
	}
	n := (len(in) - 1) / 16 * 16
	main := n - 16
	if main > 0 {
		u.enc.CryptBlocks(out[:main], in[:main])
	}
	ctsEncryptTail(u.enc, out[main:], in[main:], (*[32]byte)(scratch[:32]))
	clear(scratch[:])
}
