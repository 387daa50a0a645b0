package krb5

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
)

func tagOf(s string) rcacheTag { return rcacheTagOf([]byte(s)) }

func testReplayCache(t *testing.T, rc replayCache) {
	t.Helper()
	now := time.Now()
	exp := now.Add(5 * time.Minute)
	if r, err := rc.checkAndStore(tagOf("a"), exp, now); err != nil || r {
		t.Fatalf("first use: replayed=%v err=%v", r, err)
	}
	if r, err := rc.checkAndStore(tagOf("a"), exp, now.Add(time.Second)); err != nil || !r {
		t.Fatalf("second use: replayed=%v err=%v, want replayed", r, err)
	}
	if r, _ := rc.checkAndStore(tagOf("b"), exp, now); r {
		t.Fatal("a different authenticator was reported as a replay")
	}
	// After the expiry the entry is forgotten: the skew check rejects such
	// an old authenticator anyway.
	if r, _ := rc.checkAndStore(tagOf("a"), now.Add(20*time.Minute), now.Add(6*time.Minute)); r {
		t.Fatal("expired entry still reported as a replay")
	}
}

func TestMemRCache(t *testing.T) { testReplayCache(t, newMemRCache()) }

func TestMemRCachePerOwner(t *testing.T) {
	type owner struct{ _ int }
	a, b := &owner{}, &owner{}
	ca, cb := memRCacheFor(a), memRCacheFor(b)
	if ca == cb {
		t.Fatal("two owners share one memory replay cache")
	}
	if memRCacheFor(a) != ca {
		t.Fatal("one owner got two caches")
	}
	now := time.Now()
	ca.checkAndStore(tagOf("x"), now.Add(time.Minute), now)
	if r, _ := cb.checkAndStore(tagOf("x"), now.Add(time.Minute), now); r {
		t.Fatal("an authenticator seen by one acceptor was a replay for another")
	}
}

func TestFileRCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rc")
	rc, err := openReplayCache("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	testReplayCache(t, rc)
	same, _ := openReplayCache("file:" + path)
	if same != rc {
		t.Fatal("one path opened twice in a process gives two caches")
	}
}

func TestFileRCacheSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rc")
	rc, err := openFileRCache(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rc.checkAndStore(tagOf("kept"), now.Add(time.Hour), now)
	rc.checkAndStore(tagOf("gone"), now.Add(time.Second), now)
	// A new process: a fresh object reading the same file.
	fresh := &fileRCache{path: rc.path}
	if err := fresh.open(); err != nil {
		t.Fatal(err)
	}
	if r, _ := fresh.checkAndStore(tagOf("kept"), now.Add(time.Hour), now.Add(time.Minute)); !r {
		t.Fatal("replay not detected after a restart")
	}
	if r, _ := fresh.checkAndStore(tagOf("gone"), now.Add(time.Hour), now.Add(time.Minute)); r {
		t.Fatal("expired record still counted after a restart")
	}
	// The first object sees what the second appended.
	if r, _ := rc.checkAndStore(tagOf("gone"), now.Add(time.Hour), now.Add(time.Minute)); !r {
		t.Fatal("record appended by another process not seen")
	}
}

func TestFileRCacheRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mit.rcache2")
	os.WriteFile(path, []byte("some other program's data"), 0o600)
	_, err := openFileRCache(path)
	var ge *gss.Error
	if !errors.As(err, &ge) || ge.Major != gss.Failure {
		t.Fatalf("foreign file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "some other program's data" {
		t.Fatal("foreign file was modified")
	}
}

func TestFileRCacheCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rc")
	rc, err := openFileRCache(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rc.checkAndStore(tagOf("live"), now.Add(time.Hour), now)
	for i := 0; i < compactMin+10; i++ {
		rc.checkAndStore(tagOf("short"+itoa(i)), now.Add(time.Second), now)
	}
	later := now.Add(time.Minute)
	// Reading the expired records counts them dead; the next append compacts.
	fresh := &fileRCache{path: rc.path}
	if err := fresh.open(); err != nil {
		t.Fatal(err)
	}
	fresh.checkAndStore(tagOf("new"), later.Add(time.Hour), later)
	fi, _ := os.Stat(path)
	if fi.Size() > int64(len(rcacheMagic)+10*rcacheRecordLen) {
		t.Fatalf("file not compacted: %d bytes", fi.Size())
	}
	for _, c := range []*fileRCache{rc, fresh} {
		if r, _ := c.checkAndStore(tagOf("live"), later.Add(time.Hour), later); !r {
			t.Fatal("live record lost in compaction")
		}
	}
}

func TestFileRCacheConcurrent(t *testing.T) {
	rc, err := openFileRCache(filepath.Join(t.TempDir(), "rc"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				r, err := rc.checkAndStore(tagOf("t"+itoa(j)), now.Add(time.Hour), now)
				if err != nil {
					t.Error(err)
					return
				}
				if !r {
					fresh.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := fresh.Load(); n != 50 {
		t.Fatalf("%d first uses among 16 goroutines × 50 tags, want exactly 50", n)
	}
}

func TestOpenReplayCacheNames(t *testing.T) {
	for _, name := range []string{"", "memory:"} {
		if rc, err := openReplayCache(name); rc != nil || err != nil {
			t.Errorf("%q: %v %v, want the per-credential memory cache", name, rc, err)
		}
	}
	m1, err1 := openReplayCache("memory:one")
	m2, err2 := openReplayCache("memory:one")
	m3, err3 := openReplayCache("MEMORY:two")
	if err1 != nil || err2 != nil || err3 != nil || m1 == nil || m1 != m2 || m1 == m3 {
		t.Errorf("named memory caches: %p %p %p (%v %v %v), want the same cache for the same name only", m1, m2, m3, err1, err2, err3)
	}
	if rc, err := openReplayCache("none:"); err != nil {
		t.Fatal(err)
	} else {
		now := time.Now()
		rc.checkAndStore(tagOf("a"), now.Add(time.Hour), now)
		if r, _ := rc.checkAndStore(tagOf("a"), now.Add(time.Hour), now); r {
			t.Error("none: cache detected a replay")
		}
	}
	t.Setenv("KRB5RCACHEDIR", t.TempDir())
	if rc, err := openReplayCache("dfl:"); err != nil || rc == nil {
		t.Errorf("dfl: %v %v", rc, err)
	}
	for _, bad := range []string{"bogus:x", "file:", ":x"} {
		if _, err := openReplayCache(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
