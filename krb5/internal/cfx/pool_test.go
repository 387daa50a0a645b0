package cfx

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"fmt"
	"sync"
	"testing"
	"time"
)

// refMAC is crypto/hmac over the concatenated parts.
func refMAC(pr *profile, key []byte, parts ...[]byte) []byte {
	m := hmac.New(pr.newHash, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// blocker is a worker hook that stops the worker at one step of one chunk
// until released: a descheduled worker, on cue.
type blocker struct {
	step    string
	chunk   int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker(step string, chunk int) *blocker {
	return &blocker{step: step, chunk: chunk, reached: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) hook(step string, chunk int) {
	if step == b.step && chunk == b.chunk {
		b.once.Do(func() { close(b.reached) })
		<-b.release
	}
}

// runWorker runs one hand-off on a private worker; the returned channel is
// closed when the worker is done with it.
func runWorker(w *worker, ho handoff) chan struct{} {
	done := make(chan struct{})
	go func() {
		w.do(&ho)
		close(done)
	}()
	return done
}

var macSizes = []int{16 << 10, 20000, 64 << 10, 70001, 1<<20 + 13}

// The MAC comes out right whichever side hashes which chunks: no worker,
// the pool's worker, and a private worker stopped before hashing chunk i
// (the caller must finish without it) or while it copies chunk i in (the
// caller must wait for the copy, then finish).
func TestParMAC(t *testing.T) {
	for _, et := range allEtypes {
		pr := profiles[et]
		key := randBytes(pr.kiLen)
		var h hmacState
		h.init(pr.newHash, key)
		for _, n := range macSizes {
			prefix, src := randBytes(16), randBytes(n)
			want := refMAC(pr, key, prefix, src)
			j := new(parJob)
			check := func(what string) {
				t.Helper()
				if got := h.sum(); !bytes.Equal(got, want) {
					t.Fatalf("%s etype %d n %d: MAC wrong", what, et, n)
				}
			}
			h.reset()
			h.write(prefix)
			j.prepMAC(pr, &h, src, n) // handed to nobody
			j.finishMAC(&h)
			check("no worker")

			for i := 0; i < 20; i++ {
				h.reset()
				h.write(prefix)
				j.offer(j.prepMAC(pr, &h, src, n))
				j.finishMAC(&h)
				check("pool")
			}

			k := (n + chunkSize(n) - 1) / chunkSize(n)
			for _, step := range []string{"hash", "copy"} {
				for _, at := range []int{0, 1, k - 1} {
					name := fmt.Sprintf("worker stopped at %s %d", step, at)
					w := newWorker()
					b := newBlocker(step, at)
					w.hook = b.hook
					h.reset()
					h.write(prefix)
					ho := j.prepMAC(pr, &h, src, n)
					j.on = true
					done := runWorker(w, ho)
					<-b.reached
					if step == "copy" {
						fin := make(chan struct{})
						go func() { j.finishMAC(&h); close(fin) }()
						close(b.release)
						<-fin
						check(name)
					} else {
						j.finishMAC(&h)
						check(name)
						close(b.release)
					}
					<-done
					// The stale worker must have left the job alone.
					if j.ctl.Load() != j.t<<tkShift|uint64(j.k) {
						t.Fatalf("%s: control word changed after the caller finished", name)
					}
				}
			}
		}
	}
}

// RFC 8009 sends hand over the ciphertext as it appears; the worker waits
// for it and the caller hashes what the worker has not.
func TestParMACProduced(t *testing.T) {
	pr := profiles[EtypeAES128SHA256]
	key := randBytes(pr.kiLen)
	var h hmacState
	h.init(pr.newHash, key)
	src := randBytes(100000)
	want := refMAC(pr, key, zeroIV[:], src)
	j := new(parJob)
	for i := 0; i < 50; i++ {
		h.reset()
		h.write(zeroIV[:])
		j.offer(j.prepMAC(pr, &h, src, 0))
		for off := 0; off < len(src); off += 3000 {
			j.produced(min(off+3000, len(src)))
		}
		j.finishMAC(&h)
		if !bytes.Equal(h.sum(), want) {
			t.Fatalf("run %d: MAC wrong", i)
		}
	}
}

func cbcRef(blk cipher.Block, iv, src []byte) []byte {
	out := make([]byte, len(src))
	cipher.NewCBCDecrypter(blk, iv).CryptBlocks(out, src)
	return out
}

// Split decryption: every chunk decrypted once and hashed in order, with
// no worker, the pool's, and a private worker stopped while decrypting
// chunk i (the caller takes the chunk over, and the worker must not write
// it when it resumes) or while copying it in or out (the caller waits).
func TestParDecrypt(t *testing.T) {
	pr := profiles[EtypeAES256SHA1]
	blk, _ := aes.NewCipher(randBytes(32))
	dec := cipher.NewCBCDecrypter(blk, zeroIV[:])
	dec2 := cipher.NewCBCDecrypter(blk, zeroIV[:])
	key := randBytes(pr.kiLen)
	var h hmacState
	h.init(pr.newHash, key)
	for _, n := range []int{16 << 10, 20000 / 16 * 16, 64 << 10, 1<<20 + 64} {
		src := randBytes(16 + n) // IV block, then the chunks' ciphertext
		plain := cbcRef(blk, src[:16], src[16:])
		want := refMAC(pr, key, plain)
		dst := make([]byte, n)
		j := new(parJob)
		check := func(what string) {
			t.Helper()
			if !bytes.Equal(dst, plain) {
				t.Fatalf("%s n %d: plaintext wrong", what, n)
			}
			if !bytes.Equal(h.sum(), want) {
				t.Fatalf("%s n %d: MAC wrong", what, n)
			}
		}
		h.reset()
		j.prepDecrypt(dec2, src, dst)
		j.decrypt(dec, &h)
		check("no worker")
		for i := 0; i < 20; i++ {
			clear(dst)
			h.reset()
			j.offer(j.prepDecrypt(dec2, src, dst))
			j.decrypt(dec, &h)
			check("pool")
		}
		k := (n + chunkSize(n) - 1) / chunkSize(n)
		for _, step := range []string{"decrypt", "copy", "out"} {
			for _, at := range []int{k - 1, k - 2, 0} {
				name := fmt.Sprintf("worker stopped at %s %d", step, at)
				w := newWorker()
				b := newBlocker(step, at)
				w.hook = b.hook
				clear(dst)
				h.reset()
				ho := j.prepDecrypt(dec2, src, dst)
				j.on = true
				done := runWorker(w, ho)
				// The worker reaches chunk at unless the caller gets there
				// first; let it, by holding the caller back until then or
				// until the worker has finished.
				select {
				case <-b.reached:
				case <-done:
				}
				if step == "decrypt" {
					j.decrypt(dec, &h)
					check(name)
					clear(dst)
					close(b.release)
					<-done
					if !bytes.Equal(dst, make([]byte, n)) {
						t.Fatalf("%s: the worker wrote after the caller finished", name)
					}
				} else {
					fin := make(chan struct{})
					go func() { j.decrypt(dec, &h); close(fin) }()
					close(b.release)
					<-fin
					<-done
					check(name)
				}
			}
		}
	}
}

// A hand-off that reaches a worker after its caller has finished does
// nothing.
func TestStaleHandoff(t *testing.T) {
	pr := profiles[EtypeAES256SHA1]
	var h hmacState
	h.init(pr.newHash, randBytes(32))
	src := randBytes(64 << 10)
	j := new(parJob)
	h.reset()
	ho := j.prepMAC(pr, &h, src, len(src))
	j.on = true
	j.finishMAC(&h)
	ctl := j.ctl.Load()
	w := newWorker()
	w.do(&ho)
	if j.ctl.Load() != ctl || w.ckTag.Load() != 0 {
		t.Fatal("stale MAC hand-off acted")
	}

	blk, _ := aes.NewCipher(randBytes(32))
	dst := make([]byte, len(src)-16)
	ho = j.prepDecrypt(cipher.NewCBCDecrypter(blk, zeroIV[:]), src, dst)
	j.on = true
	j.decrypt(cipher.NewCBCDecrypter(blk, zeroIV[:]), &h)
	clear(dst)
	ctl = j.ctl.Load()
	w.do(&ho)
	if j.ctl.Load() != ctl || !bytes.Equal(dst, make([]byte, len(dst))) {
		t.Fatal("stale decryption hand-off acted")
	}
}

// The chooser goes the way that has been faster, tries the other way now
// and then, less often while its choice holds, and is not swung by one
// call stretched by a preemption.
func TestChooser(t *testing.T) {
	// run makes n calls and returns how many went parallel.
	run := func(c *chooser, n int) (par int) {
		for i := 0; i < n; i++ {
			if c.parallel() {
				par++
			}
		}
		return par
	}
	var c chooser
	if n := run(&c, 1000); n < 1000-2*exploreBurst*1000/minExplore || n == 1000 {
		t.Fatalf("no samples yet: %d of 1000 calls parallel, want all but a few explorations", n)
	}
	const n = 64 << 10
	for i := 0; i < chooserSamples; i++ {
		c.record(true, 150*time.Microsecond, n)
		c.record(false, 100*time.Microsecond, n)
	}
	if n := run(&c, 1000); n > 2*exploreBurst*1000/minExplore || n == 0 {
		t.Fatalf("parallel slower: %d of 1000 calls parallel, want only a few explorations", n)
	}
	// The choice holds: explorations become rarer, down to one every
	// maxExplore calls.
	run(&c, 4*maxExplore)
	if n := run(&c, 4*maxExplore); n > 5*exploreBurst {
		t.Fatalf("settled: %d of %d calls parallel", n, 4*maxExplore)
	}
	c.record(false, time.Second, n) // one call that lost the CPU
	if n := run(&c, 1000); n > exploreBurst {
		t.Fatalf("after one stretched serial call: %d of 1000 calls parallel", n)
	}
	for i := 0; i < chooserSamples/2+1; i++ {
		c.record(false, 300*time.Microsecond, n)
	}
	if n := run(&c, 1000); n < 1000-exploreBurst*(1000/minExplore+1) {
		t.Fatalf("serial now slower: %d of 1000 calls parallel, want all but a few explorations", n)
	}
}
