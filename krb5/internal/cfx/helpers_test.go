package cfx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// ctsOnlyKeys builds a usageKeys around a raw AES key (for CTS vectors).
func ctsOnlyKeys(key []byte) (*usageKeys, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &usageKeys{block: blk, enc: cipher.NewCBCEncrypter(blk, zeroIV[:]), dec: cipher.NewCBCDecrypter(blk, zeroIV[:])}, nil
}

// encryptWithConfounder is the RFC 3961 simplified-profile encryption with a
// chosen confounder, built from the same primitives the token code uses.
// The token code itself is checked against gokrb5 in interop tests.
func encryptWithConfounder(pr *profile, u *usageKeys, conf, plain []byte) []byte {
	p := append(append([]byte{}, conf...), plain...)
	c := make([]byte, len(p))
	ctsEncrypt(u, c, p)
	u.ki.reset()
	if pr.rfc8009 {
		u.ki.write(zeroIV[:])
		u.ki.write(c)
	} else {
		u.ki.write(p)
	}
	return append(c, u.ki.sum()[:pr.macLen]...)
}

func decryptMessage(pr *profile, u *usageKeys, ct []byte) ([]byte, bool) {
	c, mac := ct[:len(ct)-pr.macLen], ct[len(ct)-pr.macLen:]
	p := make([]byte, len(c))
	ctsDecrypt(u, p, c)
	u.ki.reset()
	if pr.rfc8009 {
		u.ki.write(zeroIV[:])
		u.ki.write(c)
	} else {
		u.ki.write(p)
	}
	return p[16:], subtle.ConstantTimeCompare(u.ki.sum()[:pr.macLen], mac) == 1
}
