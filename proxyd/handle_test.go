package proxyd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

var testSecret = bytes.Repeat([]byte{0x5a}, 32)

func newSealer(t testing.TB, service string, secret []byte, previous ...[]byte) *HandleSealer {
	t.Helper()
	h, err := NewHandleSealer(service, secret, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func wantBadHandle(t *testing.T, what string, out []byte, err error) {
	t.Helper()
	var he *HandleError
	if !errors.As(err, &he) || !errors.Is(err, ErrBadHandle) || !errors.Is(err, gss.ErrNoCred) || he.Major() != gss.NoCred {
		t.Errorf("%s: got %x, %v; want a HandleError meaning GSS_S_NO_CRED", what, out, err)
	}
	if errors.Is(err, gss.ErrDefectiveCredential) {
		t.Errorf("%s: %v also matches DEFECTIVE_CREDENTIAL", what, err)
	}
}

func TestHandleRoundTrip(t *testing.T) {
	h := newSealer(t, "nfs-server", testSecret)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 64 << 10} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		handle, err := h.Seal([]byte("prefix"), payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(handle, []byte("prefix")) || len(handle) != len("prefix")+n+handleOverhead {
			t.Fatalf("%d bytes: handle of %d bytes", n, len(handle))
		}
		handle = handle[len("prefix"):]
		out, err := h.Open([]byte("x"), handle)
		if err != nil || !bytes.Equal(out, append([]byte("x"), payload...)) {
			t.Fatalf("%d bytes: Open = %d bytes, %v", n, len(out), err)
		}
	}
	a, _ := h.Seal(nil, []byte("same"))
	b, _ := h.Seal(nil, []byte("same"))
	if bytes.Equal(a, b) {
		t.Error("two handles for one payload are equal: the salt is not random")
	}
	if _, err := h.Seal(nil, make([]byte, MaxHandleSize)); err == nil {
		t.Error("sealed a payload over the handle limit")
	}
}

func TestHandleBoundToService(t *testing.T) {
	nfs := newSealer(t, "nfs-server", testSecret)
	http := newSealer(t, "HTTP", testSecret)
	handle, _ := http.Seal(nil, []byte("credential"))
	out, err := nfs.Open(nil, handle)
	wantBadHandle(t, "other service", out, err)

	// The additional data alone must reject it too: same key, other name.
	sameKey := *http
	sameKey.ad = append(append([]byte(handleADLabel), 0, handleVersion), "nfs-server"...)
	out, err = sameKey.Open(nil, handle)
	wantBadHandle(t, "same key, other service in the additional data", out, err)

	other := newSealer(t, "HTTP", bytes.Repeat([]byte{0xa5}, 32))
	out, err = other.Open(nil, handle)
	wantBadHandle(t, "other secret", out, err)
}

func TestHandleDefects(t *testing.T) {
	h := newSealer(t, "svc", testSecret)
	handle, _ := h.Seal(nil, []byte("a serialized credential"))
	for i := range handle {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(handle)
			bad[i] ^= bit
			out, err := h.Open(nil, bad)
			wantBadHandle(t, "flipped byte", out, err)
		}
	}
	for n := 0; n < len(handle); n++ {
		out, err := h.Open(nil, handle[:n])
		wantBadHandle(t, "truncated", out, err)
	}
	out, err := h.Open(nil, append(bytes.Clone(handle), 0))
	wantBadHandle(t, "extended", out, err)
	out, err = h.Open(nil, make([]byte, MaxHandleSize+1))
	wantBadHandle(t, "oversized", out, err)
	bad := bytes.Clone(handle)
	bad[0] = 2
	if _, err := h.Open(nil, bad); err == nil || !bytes.Contains([]byte(err.Error()), []byte("version 2")) {
		t.Errorf("version 2: %v", err)
	}
}

func TestHandleSecretRotation(t *testing.T) {
	oldSecret, newSecret := testSecret, bytes.Repeat([]byte{0x11}, 32)
	old := newSealer(t, "svc", oldSecret)
	rotated := newSealer(t, "svc", newSecret, oldSecret)
	hOld, _ := old.Seal(nil, []byte("before"))
	if out, err := rotated.Open(nil, hOld); err != nil || string(out) != "before" {
		t.Errorf("old handle after rotation: %q, %v", out, err)
	}
	hNew, _ := rotated.Seal(nil, []byte("after"))
	if out, err := newSealer(t, "svc", newSecret).Open(nil, hNew); err != nil || string(out) != "after" {
		t.Errorf("new handle: %q, %v", out, err)
	}
	out, err := old.Open(nil, hNew)
	wantBadHandle(t, "new handle, old secret only", out, err)
	if _, err := NewHandleSealer("svc", make([]byte, 31)); err == nil {
		t.Error("accepted a 31-byte secret")
	}
	if _, err := NewHandleSealer("svc", testSecret, []byte("short")); err == nil {
		t.Error("accepted a short previous secret")
	}
}

// A version 1 handle, frozen here: handles must keep opening across daemon
// upgrades, not only restarts. The bytes were computed independently with
// OpenSSL's HKDF and AES-GCM (through Python's cryptography package) from
// the format description in handle.go.
func TestHandleFormatIsStable(t *testing.T) {
	h := newSealer(t, "nfs-server", testSecret)
	salt := bytes.Repeat([]byte{0xc3}, handleSaltLen)
	got, err := h.seal(nil, []byte("gsskit credential"), salt)
	if err != nil {
		t.Fatal(err)
	}
	const frozen = "01c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3" +
		"637609288c22b550831236221f6e7046bc99a7060486f36caeccaaf5d961ae3dec"
	want, _ := hex.DecodeString(frozen)
	if !bytes.Equal(got, want) {
		t.Errorf("handle\n%x\nwant\n%x", got, want)
	}
	if out, err := h.Open(nil, want); err != nil || string(out) != "gsskit credential" {
		t.Errorf("frozen handle: %q, %v", out, err)
	}
}

func TestHandleSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "handle.key")
	s1, err := LoadOrCreateHandleSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("secret file %v, %v", st, err)
	}
	// A restart: the same secret, so yesterday's handles still open.
	h1 := newSealer(t, "svc", s1)
	handle, _ := h1.Seal(nil, []byte("kept"))
	s2, err := LoadOrCreateHandleSecret(path)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("second load: %x, %v", s2, err)
	}
	if out, err := newSealer(t, "svc", s2).Open(nil, handle); err != nil || string(out) != "kept" {
		t.Errorf("handle after restart: %q, %v", out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// Files that are not a good secret are refused, never replaced.
	for _, tc := range []struct {
		name, why string
		setup     func(p string) error
	}{
		{"group-readable", "mode 0640", func(p string) error {
			if err := os.WriteFile(p, testSecret, 0o600); err != nil {
				return err
			}
			return os.Chmod(p, 0o640)
		}},
		{"short", "has 16 bytes", func(p string) error { return os.WriteFile(p, testSecret[:16], 0o600) }},
		{"zero", "all zero", func(p string) error { return os.WriteFile(p, make([]byte, 32), 0o600) }},
		{"directory", "not a regular file", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"symlink", "too many levels of symbolic links", func(p string) error { return os.Symlink(path, p) }},
	} {
		p := filepath.Join(dir, tc.name)
		if err := tc.setup(p); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(p)
		if s, err := LoadOrCreateHandleSecret(p); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: got %x, %v; want an error saying %q", tc.name, s, err, tc.why)
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
			t.Errorf("%s: file changed", tc.name)
		}
	}
	if _, err := LoadOrCreateHandleSecret(filepath.Join(dir, "missing", "handle.key")); err == nil {
		t.Error("created a secret in a missing directory")
	}
}

func TestHandleSecretConcurrentCreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "handle.key")
	const n = 16
	secrets := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets[i], errs[i] = LoadOrCreateHandleSecret(path)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(secrets[i], secrets[0]) {
			t.Fatalf("starter %d: %x, %v; starter 0: %x", i, secrets[i], errs[i], secrets[0])
		}
	}
}

func FuzzOpenHandle(f *testing.F) {
	h := newSealer(f, "svc", testSecret)
	valid, _ := h.Seal(nil, []byte("a credential"))
	empty, _ := h.Seal(nil, nil)
	f.Add(valid)
	f.Add(empty)
	f.Add(valid[:handleOverhead])
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(append([]byte{2}, valid[1:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := h.Open(nil, data)
		if err != nil {
			var he *HandleError
			if !errors.As(err, &he) || !errors.Is(err, gss.ErrNoCred) {
				t.Fatalf("Open error %v is not a HandleError", err)
			}
			return
		}
		// Only a handle this sealer made opens, and it opens to exactly
		// its payload.
		if len(out) != len(data)-handleOverhead {
			t.Fatalf("opened %d bytes from a %d-byte handle", len(out), len(data))
		}
		resealed, err := h.seal(nil, out, data[1:1+handleSaltLen])
		if err != nil || !bytes.Equal(resealed, data) {
			t.Fatalf("opened a handle that does not reseal to itself")
		}
	})
}
