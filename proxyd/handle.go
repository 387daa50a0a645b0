package proxyd

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gsskit/gsskit/gss"
)

// Credential handles.
//
// The daemon hands clients their credentials as opaque handles and keeps
// nothing per client, so a handle must carry the credential itself, sealed
// so that only the daemon can read it and only the service that issued it
// can use it, and it must still open after the daemon restarts.
//
// Key. Handles are sealed under a per-service key derived with HKDF-SHA256
// from one 32-byte secret that the daemon creates once (random, mode 0600)
// in its state directory and reads at every start. Two other sources were
// considered. A key generated at start loses every handle on restart, which
// the no-per-client-state requirement rules out. The reference derives its
// key from the first usable key in the service's keytab (falling back to a
// random one when there is none), so its handles survive a restart only for
// services with a keytab and die whenever the keytab is rotated, and it uses
// a Kerberos long-term key for a second purpose. A state file survives
// restarts for every service, does not change when keytabs do, and is as
// sensitive as the keytab beside it. Rotation is possible by passing the
// old secret to NewHandleSealer as a previous secret while new handles use
// the new one.
//
// Cipher. AES-256-GCM from the standard library, with a fresh key per
// handle: each handle carries a 24-byte random salt, and HKDF(service key,
// salt) gives the AES key, used once with a zero nonce. A persistent key
// with GCM's 96-bit random nonces would be limited to about 2^32 handles
// before nonce reuse becomes a real risk, and a counter nonce cannot be
// kept without state; the per-handle key removes both problems, as
// XChaCha20-Poly1305's 192-bit nonce would, without a dependency outside
// the standard library. A handle costs 41 bytes over its payload.
//
// Binding. The service name enters both the key derivation and the GCM
// additional data (with the format version), so a handle issued by one
// service fails authentication in another.
//
// Format, version 1:
//
//	byte 0      version (1)
//	bytes 1-24  salt
//	rest        AES-256-GCM ciphertext of the payload, then the 16-byte tag

const (
	handleVersion   = 1
	handleSaltLen   = 24
	handleTagLen    = 16
	handleOverhead  = 1 + handleSaltLen + handleTagLen
	handleSecretLen = 32

	// MaxHandleSize bounds what Open will look at; the reference caps an
	// exported credential at 512 KiB.
	MaxHandleSize = 1 << 20
)

// DefaultHandleSecretFile is where the daemon keeps its handle secret,
// beside the reference's own state.
const DefaultHandleSecretFile = "/var/lib/gssproxy/gsskit-handle.key"

var (
	handleServiceKeyInfo = "gsskit proxyd credential handle service key v1"
	handleKeyInfo        = "gsskit proxyd credential handle v1"
	handleADLabel        = "gsskit proxyd credential handle"
)

// ErrBadHandle matches every handle Open rejects.
var ErrBadHandle = errors.New("proxyd: credential handle rejected")

// HandleError says why a handle was rejected. It matches ErrBadHandle and
// gss.ErrNoCred under errors.Is: a caller answers GSS_S_NO_CRED, as for
// any credential it cannot use.
type HandleError struct {
	Service string
	Reason  string
}

func (e *HandleError) Error() string {
	return fmt.Sprintf("proxyd: credential handle rejected by service %q: %s", e.Service, e.Reason)
}

func (e *HandleError) Is(target error) bool {
	if target == ErrBadHandle {
		return true
	}
	if t, ok := target.(*gss.Error); ok {
		return t.Minor == 0 && t.Mech == "" && t.Message == "" && t.Err == nil &&
			t.Major.RoutineError() == gss.NoCred && t.Major.CallingError() == 0
	}
	return false
}

// Major is the GSS major status for a rejected handle.
func (e *HandleError) Major() gss.MajorStatus { return gss.NoCred }

// HandleSealer seals and opens one service's credential handles. It is
// safe for concurrent use.
type HandleSealer struct {
	service string
	keys    [][]byte // service keys; the first seals, all open
	ad      []byte
}

// NewHandleSealer derives service's handle key from secret. Handles sealed
// under any of previous still open (for secret rotation).
func NewHandleSealer(service string, secret []byte, previous ...[]byte) (*HandleSealer, error) {
	h := &HandleSealer{service: service}
	for _, s := range append([][]byte{secret}, previous...) {
		if len(s) < handleSecretLen {
			return nil, fmt.Errorf("proxyd: handle secret of %d bytes; need at least %d", len(s), handleSecretLen)
		}
		k, err := hkdf.Key(sha256.New, s, nil, handleServiceKeyInfo+"\x00"+service, 32)
		if err != nil {
			return nil, err
		}
		h.keys = append(h.keys, k)
	}
	h.ad = append(append([]byte(handleADLabel), 0, handleVersion), service...)
	return h, nil
}

// Service is the service name the handles are bound to.
func (h *HandleSealer) Service() string { return h.service }

func (h *HandleSealer) aead(key, salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, salt, handleKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

var zeroNonce [12]byte

// Seal appends a handle carrying payload to dst.
func (h *HandleSealer) Seal(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxHandleSize-handleOverhead {
		return nil, fmt.Errorf("proxyd: credential of %d bytes is too large for a handle", len(payload))
	}
	var salt [handleSaltLen]byte
	rand.Read(salt[:]) // never fails (crypto/rand, Go 1.24+)
	return h.seal(dst, payload, salt[:])
}

func (h *HandleSealer) seal(dst, payload, salt []byte) ([]byte, error) {
	aead, err := h.aead(h.keys[0], salt)
	if err != nil {
		return nil, err
	}
	dst = append(dst, handleVersion)
	dst = append(dst, salt...)
	return aead.Seal(dst, zeroNonce[:], payload, h.ad), nil
}

// Open checks a handle and appends its payload to dst. Any defect (wrong
// version, too short, too long, altered, or sealed for another service or
// under an unknown secret) is a *HandleError.
func (h *HandleSealer) Open(dst, handle []byte) ([]byte, error) {
	switch {
	case len(handle) == 0:
		return nil, &HandleError{Service: h.service, Reason: "empty handle"}
	case len(handle) > MaxHandleSize:
		return nil, &HandleError{Service: h.service, Reason: fmt.Sprintf("%d bytes is over the %d-byte limit", len(handle), MaxHandleSize)}
	case handle[0] != handleVersion:
		return nil, &HandleError{Service: h.service, Reason: fmt.Sprintf("unknown format version %d", handle[0])}
	case len(handle) < handleOverhead:
		return nil, &HandleError{Service: h.service, Reason: fmt.Sprintf("truncated (%d bytes)", len(handle))}
	}
	salt := handle[1 : 1+handleSaltLen]
	ct := handle[1+handleSaltLen:]
	for _, key := range h.keys {
		aead, err := h.aead(key, salt)
		if err != nil {
			return nil, err
		}
		if out, err := aead.Open(dst, zeroNonce[:], ct, h.ad); err == nil {
			return out, nil
		}
	}
	return nil, &HandleError{Service: h.service, Reason: "authentication failed (altered, or sealed by another service or under another secret)"}
}

// LoadOrCreateHandleSecret returns the secret in path, creating it with 32
// random bytes and mode 0600 if it does not exist. Creation is atomic (a
// temporary file linked into place), so concurrent starters agree on one
// secret and a crash never leaves a short file. An existing file must be a
// regular file of exactly 32 bytes that neither group nor others can
// access; anything else is an error rather than a silent replacement,
// which would invalidate every outstanding handle.
//
// Load it before dropping privileges (run_as_user).
func LoadOrCreateHandleSecret(path string) ([]byte, error) {
	secret, err := readHandleSecret(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return secret, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".handle-secret-*")
	if err != nil {
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	secret = make([]byte, handleSecretLen)
	rand.Read(secret)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	if _, err := tmp.Write(secret); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Someone else created it first: use theirs.
			return readHandleSecret(path)
		}
		return nil, fmt.Errorf("proxyd: creating handle secret: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return secret, nil
}

func readHandleSecret(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("proxyd: handle secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("proxyd: handle secret: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("proxyd: handle secret %s is not a regular file", path)
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("proxyd: handle secret %s has mode %#o; group and others must have no access", path, st.Mode().Perm())
	case st.Size() != handleSecretLen:
		return nil, fmt.Errorf("proxyd: handle secret %s has %d bytes; want %d", path, st.Size(), handleSecretLen)
	}
	secret := make([]byte, handleSecretLen)
	if _, err := io.ReadFull(f, secret); err != nil {
		return nil, fmt.Errorf("proxyd: handle secret: %w", err)
	}
	if bytes.Equal(secret, make([]byte, handleSecretLen)) {
		return nil, fmt.Errorf("proxyd: handle secret %s is all zero bytes", path)
	}
	return secret, nil
}
