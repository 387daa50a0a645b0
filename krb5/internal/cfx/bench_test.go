package cfx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"fmt"
	"testing"
)

var etypeNames = map[int32]string{
	EtypeAES128SHA1:   "aes128-sha1",
	EtypeAES256SHA1:   "aes256-sha1",
	EtypeAES128SHA256: "aes128-sha256",
	EtypeAES256SHA384: "aes256-sha384",
}

var benchSizes = []int{1 << 10, 64 << 10}

func benchPair(b *testing.B, et int32) (*Protector, *Protector) {
	ini, acc, _ := pair(b, et, func(c *Config) { c.Replay, c.Sequence = false, false })
	return ini, acc
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

func BenchmarkWrapConf(b *testing.B) {
	for _, et := range allEtypes {
		for _, n := range benchSizes {
			b.Run(etypeNames[et]+"/"+sizeName(n), func(b *testing.B) {
				ini, _ := benchPair(b, et)
				msg := make([]byte, n)
				buf := make([]byte, 0, n+100)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					ini.Wrap(buf[:0], msg, true)
				}
			})
		}
	}
}

func BenchmarkUnwrapConf(b *testing.B) {
	for _, et := range allEtypes {
		for _, n := range benchSizes {
			b.Run(etypeNames[et]+"/"+sizeName(n), func(b *testing.B) {
				ini, acc := benchPair(b, et)
				tok, _ := ini.Wrap(nil, make([]byte, n), true)
				buf := make([]byte, 0, len(tok))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := acc.Unwrap(buf[:0], tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkUnwrapConfRRC28(b *testing.B) {
	et := EtypeAES256SHA1
	ini, acc, _ := pair(b, et, func(c *Config) { c.Replay, c.Sequence, c.RRC = false, false, 28 })
	tok, _ := ini.Wrap(nil, make([]byte, 64<<10), true)
	buf := make([]byte, 0, len(tok))
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := acc.Unwrap(buf[:0], tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapInteg(b *testing.B) {
	for _, et := range allEtypes {
		b.Run(etypeNames[et]+"/64K", func(b *testing.B) {
			ini, _ := benchPair(b, et)
			msg := make([]byte, 64<<10)
			buf := make([]byte, 0, len(msg)+100)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				ini.Wrap(buf[:0], msg, false)
			}
		})
	}
}

func BenchmarkGetMIC(b *testing.B) {
	for _, et := range allEtypes {
		for _, n := range benchSizes {
			b.Run(etypeNames[et]+"/"+sizeName(n), func(b *testing.B) {
				ini, _ := benchPair(b, et)
				msg := make([]byte, n)
				buf := make([]byte, 0, 64)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					ini.GetMIC(buf[:0], msg)
				}
			})
		}
	}
}

func BenchmarkVerifyMIC(b *testing.B) {
	for _, et := range allEtypes {
		for _, n := range benchSizes {
			b.Run(etypeNames[et]+"/"+sizeName(n), func(b *testing.B) {
				ini, acc := benchPair(b, et)
				msg := make([]byte, n)
				mic := ini.GetMIC(nil, msg)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if err := acc.VerifyMIC(msg, mic); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPrimitives64K is the bound a serial Wrap of aes256-sha1 works
// against: Go's own AES-256-CBC encryption and HMAC-SHA1 over 64 KiB, one
// after the other on one core in Wrap.
func BenchmarkPrimitives64K(b *testing.B) {
	buf := make([]byte, 64<<10)
	b.Run("aes256-cbc-encrypt", func(b *testing.B) {
		blk, err := aes.NewCipher(make([]byte, 32))
		if err != nil {
			b.Fatal(err)
		}
		enc := cipher.NewCBCEncrypter(blk, make([]byte, aes.BlockSize))
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			enc.CryptBlocks(buf, buf)
		}
	})
	b.Run("hmac-sha1", func(b *testing.B) {
		h := hmac.New(sha1.New, make([]byte, 32))
		sum := make([]byte, 0, sha1.Size)
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			h.Reset()
			h.Write(buf)
			sum = h.Sum(sum[:0])
		}
	})
}
