package cfx

import (
	mrand "math/rand/v2"
	"sync"
	"testing"
)

// Many contexts, sizes over the parallel threshold, tampered and truncated
// tokens, concurrently: no deadlock, no race (run with -race).
func TestStressParallelPaths(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				et := allEtypes[mrand.IntN(4)]
				ini, acc, _ := pair(t, et, func(c *Config) { c.RRC = uint16(mrand.IntN(3) * 14) })
				tok, _ := ini.Wrap(nil, make([]byte, 16000+mrand.IntN(200000)), mrand.IntN(2) == 0)
				if mrand.IntN(2) == 0 {
					tok[mrand.IntN(len(tok))] ^= 1
				}
				if mrand.IntN(4) == 0 {
					tok = tok[:16+mrand.IntN(len(tok)-16)]
				}
				acc.Unwrap(nil, tok)
			}
		}()
	}
	wg.Wait()
}
