package proxyd

import (
	"container/list"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
)

// Credential caching.
//
// Handing credentials to clients as sealed tokens keeps the daemon free of
// per-client state, but rebuilding the credential from its token at every
// call throws away what the credential learnt in the previous one: an
// initiator's service tickets (so every INIT_SEC_CONTEXT went to the KDC
// for a ticket it had already got, and rewrote the ticket cache), and an
// acceptor's replay cache. Acquiring from the cred_store at every call
// (what the reference does, MIT's library keeping the tickets in the
// ticket cache between calls) read and parsed the keytab and cache files
// every time. So the daemon keeps the live credentials it builds, for the
// life of one loaded configuration:
//
//   - by handle: a handle that opened once maps to the credential it
//     opened to. Handles are sealed and never change, so the same bytes
//     always mean the same credential; only handles that authenticated
//     get an entry.
//   - by acquisition: what credEnvironment works out (service, name,
//     usage, the expanded cred_store) maps to the credential acquired for
//     it, with the identity of each file the store names as it was before
//     the acquisition. A call looks at those files again (a stat each) and
//     acquires anew when one has changed, as the reference would see the
//     change at its next acquisition; and when an initiator credential
//     has expired, so that the client keytab logs in again. A store that
//     leaves a file to the mechanism's defaults is not cached, since the
//     daemon cannot tell when that file changes.
//
// Both are bounded and drop the least recently used entry. Credentials in
// the caches are shared by concurrent calls (gss.Credential is safe for
// that) and are never released by a call; a dropped one is left to the
// garbage collector, since a call may still be using it.

const (
	maxCachedHandles  = 4096
	maxCachedAcquired = 1024
)

// lru is a bounded map that forgets its least recently used entry.
type lru[V any] struct {
	max int
	m   map[string]*list.Element
	l   list.List
}

type lruEntry[V any] struct {
	key string
	v   V
}

func newLRU[V any](max int) *lru[V] { return &lru[V]{max: max, m: map[string]*list.Element{}} }

func (c *lru[V]) get(key string) (V, bool) {
	if e, ok := c.m[key]; ok {
		c.l.MoveToFront(e)
		return e.Value.(*lruEntry[V]).v, true
	}
	var zero V
	return zero, false
}

// add stores v unless key is already there; it returns what is stored.
func (c *lru[V]) add(key string, v V) V {
	if e, ok := c.m[key]; ok {
		c.l.MoveToFront(e)
		return e.Value.(*lruEntry[V]).v
	}
	c.m[key] = c.l.PushFront(&lruEntry[V]{key: key, v: v})
	for c.l.Len() > c.max {
		old := c.l.Back()
		c.l.Remove(old)
		delete(c.m, old.Value.(*lruEntry[V]).key)
	}
	return v
}

func (c *lru[V]) remove(key string) {
	if e, ok := c.m[key]; ok {
		c.l.Remove(e)
		delete(c.m, key)
	}
}

type credCache struct {
	mu       sync.Mutex
	handles  *lru[*gss.Credential]
	acquired *lru[*acquiredCred]
}

func newCredCache() *credCache {
	return &credCache{handles: newLRU[*gss.Credential](maxCachedHandles), acquired: newLRU[*acquiredCred](maxCachedAcquired)}
}

// acquiredCred is a credential acquired from a cred_store.
type acquiredCred struct {
	cred   *gss.Credential
	files  []string
	stamps []fileStamp

	// handle is the credential sealed the first time a client asked for
	// it; later ACQUIRE_CREDs for the same credential get the same handle
	// (and so the same live credential through the handle cache).
	mu     sync.Mutex
	handle *gssproxy.Cred
}

// fileStamp identifies one version of a file; the zero stamp is a file
// that does not exist.
type fileStamp struct {
	ino, size, mtime, ctime int64
}

func stampFile(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.ctime = int64(st.Ino), st.Ctim.Nano()
	}
	return s
}

// fresh reports whether the credential may serve another call.
func (a *acquiredCred) fresh(now time.Time) bool {
	for i, f := range a.files {
		if stampFile(f) != a.stamps[i] {
			return false
		}
	}
	for _, m := range a.cred.Mechs() {
		info, err := a.cred.InquireByMech(m)
		if err != nil {
			return false
		}
		if info.Usage != gss.CredAccept && !info.InitiatorExpiry.IsZero() && !info.InitiatorExpiry.After(now) {
			return false
		}
	}
	return true
}

// acquireKey names an acquisition, and the files it depends on; ok is false
// when the acquisition is not to be cached.
func acquireKey(svc *Service, env *credEnv) (key string, files []string, ok bool) {
	if env.store == nil || env.impersonateUser != "" {
		return "", nil, false
	}
	var b strings.Builder
	b.WriteString(svc.Name)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(int(env.usage)))
	b.WriteByte(0)
	if env.name != nil {
		disp, nt := env.name.Display()
		b.WriteString(string(nt))
		b.WriteByte(0)
		b.WriteString(disp)
	}
	keys := make([]string, 0, len(env.store))
	for k := range env.store {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(env.store[k])
	}
	accepts := env.usage != gss.CredInitiate
	initiates := env.usage != gss.CredAccept
	if accepts {
		p, ok := filePath(env.store["keytab"], false)
		if !ok {
			return "", nil, false
		}
		files = append(files, p)
	}
	if initiates {
		if _, pw := env.store["password"]; pw {
			return "", nil, false
		}
		cc, ok := env.store["ccache"]
		if !ok {
			return "", nil, false
		}
		if p, ok := filePath(cc, true); ok {
			files = append(files, p)
		} else if !strings.HasPrefix(strings.ToUpper(cc), "MEMORY:") {
			return "", nil, false
		}
		if kt, ok := env.store["client_keytab"]; ok {
			p, ok := filePath(kt, false)
			if !ok {
				return "", nil, false
			}
			files = append(files, p)
		}
	}
	return b.String(), files, true
}

// filePath is the file behind a FILE keytab or ticket cache name.
func filePath(name string, ccache bool) (string, bool) {
	if name == "" {
		return "", false
	}
	typ, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") {
		return name, true
	}
	switch strings.ToUpper(typ) {
	case "FILE":
		return rest, rest != ""
	case "WRFILE":
		return rest, !ccache && rest != ""
	}
	return "", false
}

// acquire returns the cached credential for key if it is still fresh, or
// acquires one with get and caches it.
func (cc *credCache) acquire(key string, files []string, get func() (*gss.Credential, error)) (*acquiredCred, error) {
	now := time.Now()
	cc.mu.Lock()
	a, ok := cc.acquired.get(key)
	cc.mu.Unlock()
	if ok && a.fresh(now) {
		return a, nil
	}
	stamps := make([]fileStamp, len(files))
	for i, f := range files {
		stamps[i] = stampFile(f)
	}
	cred, err := get()
	if err != nil {
		return nil, err
	}
	n := &acquiredCred{cred: cred, files: files, stamps: stamps}
	cc.mu.Lock()
	if cur, ok := cc.acquired.get(key); ok && cur != a && cur.fresh(now) {
		// Another call acquired it meanwhile: share theirs, so the
		// tickets either gets serve both.
		n = cur
	} else {
		cc.acquired.remove(key)
		cc.acquired.add(key, n)
	}
	cc.mu.Unlock()
	return n, nil
}

// openHandle returns the credential a handle opened to before, or opens it
// with open and remembers it.
func (cc *credCache) openHandle(handle []byte, open func() (*gss.Credential, error)) (*gss.Credential, error) {
	cc.mu.Lock()
	cred, ok := cc.handles.get(string(handle))
	cc.mu.Unlock()
	if ok {
		return cred, nil
	}
	cred, err := open()
	if err != nil || cred == nil {
		return cred, err
	}
	cc.mu.Lock()
	cred = cc.handles.add(string(handle), cred)
	cc.mu.Unlock()
	return cred, nil
}

// rememberHandle maps a handle the daemon sealed to the live credential.
func (cc *credCache) rememberHandle(handle []byte, cred *gss.Credential) {
	cc.mu.Lock()
	cc.handles.add(string(handle), cred)
	cc.mu.Unlock()
}
