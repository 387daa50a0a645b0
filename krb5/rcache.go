package krb5

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"weak"

	"github.com/gsskit/gsskit/gss"
)

// A replay cache remembers every authenticator an acceptor has accepted
// until it could no longer pass the clock-skew check, so that a captured
// AP-REQ cannot be played back to open a second context. MIT keeps one file
// per machine and uid; gsskit keeps one cache per acceptor credential by
// default (in memory), so that two services in one process, or two tests,
// never see each other's authenticators, and offers a file for services
// that must remember across restarts.

// rcacheTag identifies one AP-REQ: a hash of its encrypted authenticator.
// The ciphertext is unique per authenticator (fresh confounder) and any
// change to it breaks decryption, so a replay must reuse it byte for byte.
type rcacheTag [sha256.Size]byte

func rcacheTagOf(authenticatorCipher []byte) rcacheTag {
	return sha256.Sum256(authenticatorCipher)
}

// replayCache is implemented by the memory, file and "none" caches.
type replayCache interface {
	// checkAndStore reports whether tag was seen before and has not
	// expired; otherwise it records tag until expires.
	checkAndStore(tag rcacheTag, expires, now time.Time) (replayed bool, err error)
}

// --- memory ---

type memRCache struct {
	mu        sync.Mutex
	entries   map[rcacheTag]int64 // expiry, Unix nanoseconds
	nextPrune int64
}

func newMemRCache() *memRCache { return &memRCache{entries: make(map[rcacheTag]int64)} }

// pruneEvery bounds how often expired entries are swept; between sweeps a
// lookup still ignores expired entries, so the sweep is only about memory.
const pruneEvery = int64(30 * time.Second)

func (c *memRCache) checkAndStore(tag rcacheTag, expires, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := now.UnixNano()
	if n >= c.nextPrune {
		for k, exp := range c.entries {
			if exp <= n {
				delete(c.entries, k)
			}
		}
		c.nextPrune = n + pruneEvery
	}
	if exp, ok := c.entries[tag]; ok && exp > n {
		return true, nil
	}
	c.entries[tag] = expires.UnixNano()
	return false, nil
}

// memRCaches holds the per-owner memory caches. Owners (a credential, or the
// mechanism for its default credential) are held weakly: when an owner is
// collected its cache goes with it.
var memRCaches sync.Map // weak.Pointer[T] → *memRCache

func memRCacheFor[T any](owner *T) *memRCache {
	key := weak.Make(owner)
	if c, ok := memRCaches.Load(key); ok {
		return c.(*memRCache)
	}
	c, loaded := memRCaches.LoadOrStore(key, newMemRCache())
	if !loaded {
		runtime.AddCleanup(owner, func(k weak.Pointer[T]) { memRCaches.Delete(k) }, key)
	}
	return c.(*memRCache)
}

// namedMemRCaches are the memory caches named "memory:NAME", shared by every
// credential of the process that names them. A process that builds many
// credential objects for one acceptor (a gss-proxy daemon rebuilds one from
// each client's handle) names one so that an authenticator accepted through
// one object is a replay through the next.
var namedMemRCaches sync.Map // string → *memRCache

func namedMemRCache(name string) *memRCache {
	if c, ok := namedMemRCaches.Load(name); ok {
		return c.(*memRCache)
	}
	c, _ := namedMemRCaches.LoadOrStore(name, newMemRCache())
	return c.(*memRCache)
}

// --- none ---

// noneRCache is MIT's "none:" type: no replay detection at all, for
// datagram services and tests that replay deliberately.
type noneRCache struct{}

func (noneRCache) checkAndStore(rcacheTag, time.Time, time.Time) (bool, error) { return false, nil }

// --- file ---

// The file is a header followed by fixed-size records, only ever appended
// to, and rewritten with the live records when most of it has expired. A
// record is the 32-byte tag and the expiry as big-endian Unix seconds. The
// header keeps gsskit from mistaking another program's file (such as an MIT
// rcache2 file under the same name) for its own.
var rcacheMagic = []byte("gsskit-rcache-1\n")

const (
	rcacheRecordLen = sha256.Size + 8
	// compactMin is the number of dead records below which compaction is
	// not worth a rewrite.
	compactMin = 4096
)

// fileRCache is shared by every acceptor of the process that names the same
// path (one mutex), and by other processes through an exclusive flock held
// while a check reads the records other processes appended and appends its
// own.
type fileRCache struct {
	path string

	mu      sync.Mutex
	f       *os.File
	ino     uint64
	offset  int64               // bytes of f already folded into entries
	entries map[rcacheTag]int64 // Unix seconds
	records int                 // records in the file, live or not
	// nextPrune is when expired entries are next swept from the map.
	nextPrune int64
}

var fileRCaches struct {
	mu sync.Mutex
	m  map[string]*fileRCache
}

func openFileRCache(path string) (*fileRCache, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, rcacheError(path, err)
	}
	fileRCaches.mu.Lock()
	defer fileRCaches.mu.Unlock()
	if c := fileRCaches.m[abs]; c != nil {
		return c, nil
	}
	c := &fileRCache{path: abs}
	if err := c.open(); err != nil {
		return nil, err
	}
	if fileRCaches.m == nil {
		fileRCaches.m = make(map[string]*fileRCache)
	}
	fileRCaches.m[abs] = c
	return c, nil
}

// open (re)opens the file and reads it whole, writing the header into a new
// empty file.
func (c *fileRCache) open() error {
	f, err := os.OpenFile(c.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return rcacheError(c.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return rcacheError(c.path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return rcacheError(c.path, err)
	}
	if fi.Size() == 0 {
		if _, err := f.Write(rcacheMagic); err != nil {
			f.Close()
			return rcacheError(c.path, err)
		}
	} else {
		hdr := make([]byte, len(rcacheMagic))
		if _, err := f.ReadAt(hdr, 0); err != nil || !bytes.Equal(hdr, rcacheMagic) {
			f.Close()
			return rcacheError(c.path, errors.New("not a gsskit replay cache (header mismatch); refusing to overwrite it"))
		}
	}
	if c.f != nil {
		c.f.Close()
	}
	c.f = f
	c.ino = inode(fi)
	c.offset = int64(len(rcacheMagic))
	c.entries = make(map[rcacheTag]int64)
	c.records = 0
	c.nextPrune = 0
	return c.catchUp(time.Now())
}

// catchUp folds records appended since the last look (by this or another
// process) into entries. Called with the flock held.
func (c *fileRCache) catchUp(now time.Time) error {
	fi, err := c.f.Stat()
	if err != nil {
		return rcacheError(c.path, err)
	}
	end := fi.Size()
	if end <= c.offset {
		return nil
	}
	buf := make([]byte, end-c.offset)
	if _, err := c.f.ReadAt(buf, c.offset); err != nil && err != io.EOF {
		return rcacheError(c.path, err)
	}
	// A torn trailing record (a writer died mid-write) is skipped; the
	// next append starts after it, so it stays harmless.
	n := len(buf) / rcacheRecordLen * rcacheRecordLen
	ns := now.Unix()
	for i := 0; i < n; i += rcacheRecordLen {
		c.records++
		var tag rcacheTag
		copy(tag[:], buf[i:])
		exp := int64(binary.BigEndian.Uint64(buf[i+sha256.Size:]))
		if exp <= ns {
			continue
		}
		if old, ok := c.entries[tag]; ok && old >= exp {
			continue
		}
		c.entries[tag] = exp
	}
	c.offset = end
	return nil
}

func (c *fileRCache) checkAndStore(tag rcacheTag, expires, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Another process may have compacted the file: it then has a new inode
	// and this descriptor points at the old, abandoned one. Check again
	// once the lock is held, since the rename may happen while waiting.
	locked := c.f
	for {
		if fi, err := os.Stat(c.path); err != nil || inode(fi) != c.ino {
			if err := c.open(); err != nil {
				return false, err
			}
		}
		locked = c.f
		if err := syscall.Flock(int(locked.Fd()), syscall.LOCK_EX); err != nil {
			return false, rcacheError(c.path, err)
		}
		if fi, err := os.Stat(c.path); err == nil && inode(fi) == c.ino {
			break
		}
		syscall.Flock(int(locked.Fd()), syscall.LOCK_UN)
	}
	defer syscall.Flock(int(locked.Fd()), syscall.LOCK_UN)
	if err := c.catchUp(now); err != nil {
		return false, err
	}
	if exp, ok := c.entries[tag]; ok && exp > now.Unix() {
		return true, nil
	}
	// Round the expiry up so a record never expires before the skew
	// window that made it necessary.
	exp := expires.Unix()
	if expires.Nanosecond() != 0 {
		exp++
	}
	var rec [rcacheRecordLen]byte
	copy(rec[:], tag[:])
	binary.BigEndian.PutUint64(rec[sha256.Size:], uint64(exp))
	if _, err := c.f.Write(rec[:]); err != nil {
		return false, rcacheError(c.path, err)
	}
	c.entries[tag] = exp
	c.offset += rcacheRecordLen
	c.records++
	if ns := now.UnixNano(); ns >= c.nextPrune {
		for k, e := range c.entries {
			if e <= now.Unix() {
				delete(c.entries, k)
			}
		}
		c.nextPrune = ns + pruneEvery
	}
	if dead := c.records - len(c.entries); dead >= compactMin && dead > 2*len(c.entries) {
		c.compact(now)
	}
	return false, nil
}

// compact rewrites the file with only the live records, through a temporary
// file and a rename so that a crash leaves either the old or the new file.
// A failure leaves the old file in use; compaction is only about size.
func (c *fileRCache) compact(now time.Time) {
	tmp := c.path + ".tmp" + strconv.Itoa(os.Getpid())
	buf := make([]byte, 0, len(rcacheMagic)+len(c.entries)*rcacheRecordLen)
	buf = append(buf, rcacheMagic...)
	ns := now.Unix()
	for tag, exp := range c.entries {
		if exp <= ns {
			continue
		}
		buf = append(buf, tag[:]...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(exp))
	}
	if err := os.WriteFile(tmp, buf, 0o600); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, c.path); err != nil {
		os.Remove(tmp)
		return
	}
	// Still holding the flock on the old file: other processes waiting on
	// it will notice the inode change on their next check.
	_ = c.reopenAfterCompact()
}

func (c *fileRCache) reopenAfterCompact() error {
	old := c.f
	c.f = nil
	err := c.open()
	if old != nil {
		syscall.Flock(int(old.Fd()), syscall.LOCK_UN)
		old.Close()
	}
	return err
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

func rcacheError(path string, err error) *gss.Error {
	return gss.WrapError(gss.Failure, 0, gss.MechKrb5, "replay cache "+path, err)
}

// openReplayCache resolves a replay-cache name from the credential store key
// "rcache", in MIT's "type:residual" form:
//
//	""  or "memory:"      nil: the caller uses the credential's own memory cache
//	"memory:NAME"         the process's memory cache of that name
//	"none:"               no replay detection
//	"file:PATH"           gsskit's file at PATH (survives restarts)
//	"dfl:"                that file in $KRB5RCACHEDIR, or the temporary
//	                      directory, named after the uid as MIT names its own
func openReplayCache(name string) (replayCache, error) {
	if name == "" {
		return nil, nil
	}
	typ, residual, ok := strings.Cut(name, ":")
	if !ok {
		// MIT treats a bare name as a file name of the default type.
		typ, residual = "file", name
	}
	switch typ {
	case "", "memory", "MEMORY":
		if typ == "" && residual != "" {
			return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, "replay cache name "+strconv.Quote(name)+" has no type")
		}
		if residual != "" {
			return namedMemRCache(residual), nil
		}
		return nil, nil
	case "none":
		return noneRCache{}, nil
	case "file", "FILE":
		if residual == "" {
			return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5, "replay cache name "+strconv.Quote(name)+" has no path")
		}
		return openFileRCache(residual)
	case "dfl":
		dir := os.Getenv("KRB5RCACHEDIR")
		if dir == "" {
			dir = os.TempDir()
		}
		return openFileRCache(filepath.Join(dir, "gsskit_rcache_"+strconv.Itoa(os.Geteuid())))
	default:
		return nil, gss.NewError(gss.Failure, 0, gss.MechKrb5,
			"replay cache type "+strconv.Quote(typ)+" is not supported (use memory:, none:, file:PATH or dfl:)")
	}
}
