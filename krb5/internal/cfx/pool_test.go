package cfx

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"testing"
)

func refMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha1.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// The caller takes the MAC back when no worker claimed it, and a worker
// that wakes with a stale hand-off leaves the reused job alone.
func TestMacJobTakeBack(t *testing.T) {
	key := []byte("k")
	h := hmac.New(sha1.New, key)
	j := newMacJob()
	a, b := bytes.Repeat([]byte{1}, 1000), bytes.Repeat([]byte{2}, 3000)

	// Simulate a hand-off that no worker picked up yet.
	h.Reset()
	j.h, j.inline = h, false
	j.gen++
	j.state.Store(j.gen<<2 | jobPending)
	j.write(a)
	j.write(b)
	if got := j.finish(); !bytes.Equal(got, refMAC(key, a, b)) {
		t.Fatal("caller-computed MAC wrong")
	}
	if j.state.Load()&3 != jobCaller {
		t.Fatal("caller did not claim the job")
	}
	// The stale hand-off arrives now; the worker must skip it.
	poolOnce.Do(startPool)
	poolCh <- handoff{j, j.gen}
	// The job is reused for a real parallel run.
	for i := 0; i < 50; i++ {
		j.start(h, true)
		j.write(b)
		j.write(a)
		if got := j.finish(); !bytes.Equal(got, refMAC(key, b, a)) {
			t.Fatalf("run %d: MAC wrong (inline=%v)", i, j.inline)
		}
	}
}

// The caller decrypts its half itself when no worker claimed the job.
func TestDecryptTakeBack(t *testing.T) {
	u, err := ctsOnlyKeys(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	u.dec2 = u.dec
	src := bytes.Repeat([]byte{0x5a}, 4096)
	iv := bytes.Repeat([]byte{3}, 16)
	want := make([]byte, len(src))
	u.dec.(ivSetter).SetIV(iv)
	u.dec.CryptBlocks(want, src)

	j := newMacJob()
	got := make([]byte, len(src))
	// A hand-off no worker picked up: finishDecrypt must do the work.
	j.isDec, j.dec, j.decDst, j.decSrc, j.iv = true, u.dec2, got, src, iv
	j.inline = false
	j.gen++
	j.state.Store(j.gen<<2 | jobPending)
	j.finishDecrypt()
	if !bytes.Equal(got, want) {
		t.Fatal("caller-side decryption wrong")
	}
	poolOnce.Do(startPool)
	poolCh <- handoff{j, j.gen} // stale: must be ignored
	for i := 0; i < 50; i++ {
		clear(got)
		j.startDecrypt(u.dec2, got, src, iv)
		j.finishDecrypt()
		if !bytes.Equal(got, want) {
			t.Fatalf("run %d: decryption wrong", i)
		}
	}
}
