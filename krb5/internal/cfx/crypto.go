package cfx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"sync/atomic"
)

// Enctype numbers (RFC 3961 registry) this package understands.
const (
	EtypeAES128SHA1   int32 = 17
	EtypeAES256SHA1   int32 = 18
	EtypeAES128SHA256 int32 = 19
	EtypeAES256SHA384 int32 = 20
	etypeDES3         int32 = 16
	etypeRC4          int32 = 23
	etypeRC4Exp       int32 = 24
)

// Key-derivation constants of RFC 3961 §5.3 (the byte after the usage).
const (
	constKc = 0x99 // checksum key
	constKe = 0xAA // encryption key
	constKi = 0x55 // integrity key
)

// profile is what differs between the four AES enctypes.
type profile struct {
	etype   int32
	keyLen  int              // protocol key length
	macLen  int              // truncated HMAC length = token checksum length
	kiLen   int              // length of derived Ki and Kc
	newHash func() hash.Hash // HMAC hash
	rfc8009 bool             // MAC over IV|ciphertext (RFC 8009) instead of over plaintext (RFC 3962)
	// hashKind numbers the hash (SHA-1, SHA-256, SHA-384) for the pool
	// workers, which keep one state of each.
	hashKind uint8
}

var profiles = map[int32]*profile{
	EtypeAES128SHA1:   {EtypeAES128SHA1, 16, 12, 16, sha1.New, false, 0},
	EtypeAES256SHA1:   {EtypeAES256SHA1, 32, 12, 32, sha1.New, false, 0},
	EtypeAES128SHA256: {EtypeAES128SHA256, 16, 16, 16, sha256.New, true, 1},
	EtypeAES256SHA384: {EtypeAES256SHA384, 32, 24, 24, sha512.New384, true, 2},
}

// kind8009 is 1 for the RFC 8009 enctypes, 0 for RFC 3962 (see choosers).
func (pr *profile) kind8009() int {
	if pr.rfc8009 {
		return 1
	}
	return 0
}

// nfold is the n-fold operation of RFC 3961 §5.1: the input is repeated
// lcm(n, len)/len times, each repetition rotated right by 13 more bits,
// and the n-byte pieces are added with ones'-complement (end-around carry)
// arithmetic.
func nfold(in []byte, n int) []byte {
	l := len(in)
	lcm := n * l / gcd(n, l)
	bits := l * 8
	buf := make([]byte, lcm)
	for r := 0; r < lcm/l; r++ {
		rot := (13 * r) % bits
		for j := 0; j < bits; j++ {
			src := (j - rot + bits) % bits
			if in[src/8]&(0x80>>(src%8)) != 0 {
				buf[r*l+j/8] |= 0x80 >> (j % 8)
			}
		}
	}
	sum := make([]int, n)
	for off := 0; off < lcm; off += n {
		for i := 0; i < n; i++ {
			sum[i] += int(buf[off+i])
		}
	}
	// Propagate carries from the least significant (last) byte upwards;
	// a carry out of the top wraps around to the bottom.
	for {
		carry := 0
		for i := n - 1; i >= 0; i-- {
			sum[i] += carry
			carry = sum[i] >> 8
			sum[i] &= 0xff
		}
		if carry == 0 {
			break
		}
		sum[n-1] += carry
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(sum[i])
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// deriveKeyRFC3961 is DK(key, constant) for the AES enctypes of RFC 3962:
// the n-folded constant is encrypted repeatedly (AES in ECB on one block) and
// the output blocks concatenated; AES's random-to-key is the identity.
func deriveKeyRFC3961(key, constant []byte) ([]byte, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	state := nfold(constant, aes.BlockSize)
	out := make([]byte, 0, len(key)+aes.BlockSize)
	for len(out) < len(key) {
		blk.Encrypt(state, state)
		out = append(out, state...)
	}
	return out[:len(key)], nil
}

// kdfHMACSHA2 is KDF-HMAC-SHA2 of RFC 8009 §3 for outputs no longer than one
// hash: HMAC(key, 00000001 | label | 00 | k in bits), truncated to k bits.
func kdfHMACSHA2(newHash func() hash.Hash, key, label []byte, outBytes int) []byte {
	m := hmac.New(newHash, key)
	var be [4]byte
	binary.BigEndian.PutUint32(be[:], 1)
	m.Write(be[:])
	m.Write(label)
	m.Write([]byte{0})
	binary.BigEndian.PutUint32(be[:], uint32(outBytes*8))
	m.Write(be[:])
	return m.Sum(nil)[:outBytes]
}

// deriveKey derives Ke, Ki or Kc for usage.
func (pr *profile) deriveKey(key []byte, usage uint32, c byte) ([]byte, error) {
	var label [5]byte
	binary.BigEndian.PutUint32(label[:], usage)
	label[4] = c
	if pr.rfc8009 {
		n := pr.kiLen
		if c == constKe {
			n = pr.keyLen
		}
		return kdfHMACSHA2(pr.newHash, key, label[:], n), nil
	}
	return deriveKeyRFC3961(key, label[:])
}

// deriver derives keys from one base key. For the RFC 3962 enctypes every
// derivation encrypts with the base key, so its AES schedule is built once
// here rather than once per derived key.
type deriver struct {
	pr  *profile
	key []byte
	blk cipher.Block // nil for RFC 8009, whose KDF is an HMAC
}

func (pr *profile) newDeriver(key []byte) (deriver, error) {
	d := deriver{pr: pr, key: key}
	if !pr.rfc8009 {
		blk, err := aes.NewCipher(key)
		if err != nil {
			return d, err
		}
		d.blk = blk
	}
	return d, nil
}

// keyLen is the length of a derived key of kind c.
func (pr *profile) derivedLen(c byte) int {
	if c == constKe || !pr.rfc8009 {
		return pr.keyLen
	}
	return pr.kiLen
}

// derive writes the key of kind c for usage into out, which must have
// room for it, and returns it.
func (d *deriver) derive(out *[32]byte, usage uint32, c byte) []byte {
	n := d.pr.derivedLen(c)
	if d.pr.rfc8009 {
		var label [5]byte
		binary.BigEndian.PutUint32(label[:], usage)
		label[4] = c
		return out[:copy(out[:], kdfHMACSHA2(d.pr.newHash, d.key, label[:], n))]
	}
	// DK of RFC 3961 §5.1: encrypt the n-folded constant, then each
	// output block again, until there are enough bytes.
	state := foldedConstant(usage, c)
	d.blk.Encrypt(out[:16], state[:])
	for off := 16; off < n; off += 16 {
		d.blk.Encrypt(out[off:off+16], out[off-16:off])
	}
	return out[:n]
}

// foldTable memoizes the 16-byte n-fold of usage|constant for the usages
// Kerberos and RFC 4121 use; n-folding bit by bit costs more than the AES
// blocks of the derivation itself.
var foldTable [128][3]atomic.Pointer[[16]byte]

func foldIndex(c byte) int {
	switch c {
	case constKc:
		return 0
	case constKe:
		return 1
	case constKi:
		return 2
	}
	return -1
}

func foldedConstant(usage uint32, c byte) *[16]byte {
	i := foldIndex(c)
	if usage < uint32(len(foldTable)) && i >= 0 {
		if f := foldTable[usage][i].Load(); f != nil {
			return f
		}
	}
	var label [5]byte
	binary.BigEndian.PutUint32(label[:], usage)
	label[4] = c
	f := (*[16]byte)(nfold(label[:], 16))
	if usage < uint32(len(foldTable)) && i >= 0 {
		foldTable[usage][i].Store(f)
	}
	return f
}

// usageKeys are the cipher and MAC states for one key usage. The keys are
// derived when a context is set up; the states are built from them at their
// first use, as MIT builds its derived-key schedules on first use, so that
// a context that never protects a message in some direction costs no
// schedules for it. Afterwards the per-message path only resets them.
type usageKeys struct {
	pr                  *profile
	kcKey, keKey, kiKey []byte // derived keys (nil when not needed)
	keyBuf              [3][32]byte

	block cipher.Block
	// enc and dec are CBC modes over block; CryptBlocks chains through
	// their IV, which SetIV resets to zero at the start of each message.
	enc  cipher.BlockMode
	dec  cipher.BlockMode
	dec2 cipher.BlockMode // a second decrypter for the worker (see startDecrypt)
	// ki is the HMAC with Ki (integrity of sealed messages); its inner hash
	// state is handed to and taken back from the pool workers.
	ki *hmacState
	kc hash.Hash // HMAC with Kc (checksums)
}

// deriveUsageKeys derives Kc and, withCipher, Ke and Ki for usage; the
// states are left to signReady and sealReady.
func (d *deriver) deriveUsageKeys(u *usageKeys, usage uint32, withCipher bool) {
	u.pr = d.pr
	u.kcKey = d.derive(&u.keyBuf[0], usage, constKc)
	if withCipher {
		u.keKey = d.derive(&u.keyBuf[1], usage, constKe)
		u.kiKey = d.derive(&u.keyBuf[2], usage, constKi)
	}
}

// signReady builds the checksum state.
func (u *usageKeys) signReady() {
	if u.kc == nil {
		u.kc = hmac.New(u.pr.newHash, u.kcKey)
	}
}

// sealReady builds the cipher and integrity states.
func (u *usageKeys) sealReady() {
	u.encReady()
	u.decReady()
	u.kiReady()
}

func (u *usageKeys) blockReady() {
	if u.block == nil {
		// The derived key has the enctype's length: this cannot fail.
		u.block, _ = aes.NewCipher(u.keKey)
	}
}

func (u *usageKeys) encReady() {
	if u.enc == nil {
		u.blockReady()
		u.enc = cipher.NewCBCEncrypter(u.block, zeroIV[:])
	}
}

func (u *usageKeys) decReady() {
	if u.dec == nil {
		u.blockReady()
		u.dec = cipher.NewCBCDecrypter(u.block, zeroIV[:])
		u.dec2 = cipher.NewCBCDecrypter(u.block, zeroIV[:])
	}
}

func (u *usageKeys) kiReady() {
	if u.ki == nil {
		u.ki = new(hmacState)
		u.ki.init(u.pr.newHash, u.kiKey)
	}
}

// newUsageKeys derives the keys for usage and builds their states at once.
func (pr *profile) newUsageKeys(key []byte, usage uint32, withCipher bool) (*usageKeys, error) {
	d, err := pr.newDeriver(key)
	if err != nil {
		return nil, err
	}
	u := &usageKeys{}
	d.deriveUsageKeys(u, usage, withCipher)
	u.signReady()
	if withCipher {
		u.sealReady()
	}
	return u, nil
}

var zeroIV [aes.BlockSize]byte

type ivSetter interface{ SetIV([]byte) }

func resetIV(m cipher.BlockMode) { m.(ivSetter).SetIV(zeroIV[:]) }

// ctsEncryptTail finishes a CBC-CTS encryption (RFC 3962 §5): last holds the
// final 17..32 plaintext bytes, the chain IV in enc is the previous
// ciphertext block. It writes len(last) ciphertext bytes to out: the
// encryption of the zero-padded final block first, then the leading bytes
// of the second-to-last ciphertext block (the swap Kerberos always does).
func ctsEncryptTail(enc cipher.BlockMode, out []byte, last []byte, scratch *[32]byte) {
	d := len(last) - 16
	*scratch = [32]byte{}
	copy(scratch[:], last)
	enc.CryptBlocks(scratch[:], scratch[:])
	copy(out[:16], scratch[16:32])
	copy(out[16:16+d], scratch[:d])
}

// ctsDecryptTail is the inverse of ctsEncryptTail: in holds the final 17..32
// ciphertext bytes, dec's chain IV the previous ciphertext block; the
// plaintext goes to out (same length).
func ctsDecryptTail(blk cipher.Block, dec cipher.BlockMode, out []byte, in []byte, scratch *[48]byte) {
	d := len(in) - 16
	// Z = D(Cn) = (Pn | 0) xor E(n-1); the bytes of E(n-1) that were cut
	// off are the tail of Z because the padding was zero.
	blk.Decrypt(scratch[16:32], in[:16])
	en1 := scratch[32:48] // not a local array: it would escape through the interface call
	copy(en1, in[16:16+d])
	copy(en1[d:], scratch[16+d:32])
	for i := 0; i < d; i++ {
		scratch[16+i] ^= en1[i]
	}
	dec.CryptBlocks(scratch[:16], en1)
	copy(out, scratch[:16+d])
}

// ctsEncrypt encrypts a contiguous plaintext of at least 16 bytes with IV 0
// (used by tests and the key-usage-free paths; the token code feeds pieces).
func ctsEncrypt(u *usageKeys, out, in []byte) {
	resetIV(u.enc)
	if len(in) == 16 {
		// One block: plain CBC, nothing to swap.
		u.enc.CryptBlocks(out, in)
		return
	}
	n := (len(in) - 1) / 16 * 16 // bytes before the last (possibly partial) block
	main := n - 16
	if main > 0 {
		u.enc.CryptBlocks(out[:main], in[:main])
	}
	var s [32]byte
	ctsEncryptTail(u.enc, out[main:], in[main:], &s)
}

func ctsDecrypt(u *usageKeys, out, in []byte) {
	resetIV(u.dec)
	if len(in) == 16 {
		u.dec.CryptBlocks(out, in)
		return
	}
	n := (len(in) - 1) / 16 * 16
	main := n - 16
	if main > 0 {
		u.dec.CryptBlocks(out[:main], in[:main])
	}
	var s [48]byte
	ctsDecryptTail(u.block, u.dec, out[main:], in[main:], &s)
}
