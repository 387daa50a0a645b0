package krb5

import (
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// An acceptor needs its keytab on every AP-REQ. Reading and parsing the
// file each time (as MIT's FILE keytab does) costs more than the rest of
// the acceptor, so parsed keytabs are kept per path, with the keys derived
// from each entry, and the file is looked at again when the last look is
// older than keytabRecheck, or at once when a ticket finds no key or does
// not decrypt: a key added by a rotation is used at the first ticket that
// needs it, and a removed key stops working within keytabRecheck.

const keytabRecheck = time.Second

// ktStamp identifies one version of a keytab file.
type ktStamp struct {
	ino, size    int64
	mtime, ctime int64 // nanoseconds
}

func stampOf(fi os.FileInfo) ktStamp {
	s := ktStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = int64(st.Ino)
		s.ctime = st.Ctim.Nano()
	}
	return s
}

// ktEntry is one key of a cached keytab. Its principal shares memory with
// the snapshot: callers must not modify it.
type ktEntry struct {
	principal principal
	kvno      int
	key       types.EncryptionKey

	once      sync.Once
	ticketKey *cfx.MessageKey // usage 2, decrypts tickets; nil if not an AES key
	pacKey    *cfx.MessageKey // usage 17, checks the PAC server signature
}

// derived returns the keys derived from the entry for the acceptor's two
// uses of it, deriving them on first use.
func (e *ktEntry) derived() (ticket, pac *cfx.MessageKey) {
	e.once.Do(func() {
		if b, err := cfx.NewBaseKey(e.key.KeyType, e.key.KeyValue); err == nil {
			e.ticketKey = b.EncryptionKey(keyusage.KDC_REP_TICKET)
			e.pacKey = b.ChecksumKey(pacSignatureUsage)
		}
	})
	return e.ticketKey, e.pacKey
}

type ktSnapshot struct {
	path    string
	stamp   ktStamp
	entries []*ktEntry
}

type keytabFile struct {
	mu      sync.Mutex
	snap    *ktSnapshot
	checked time.Time
}

var keytabFiles struct {
	mu sync.Mutex
	m  map[string]*keytabFile
}

// cachedKeytab returns the parsed keytab name, looking at the file again
// when force is set or the last look is older than keytabRecheck. Errors are
// those of loadKeytab.
func (m *mechanism) cachedKeytab(name string, force bool) (*ktSnapshot, string, error) {
	path, err := keytabPath(name)
	if err != nil {
		return nil, name, err
	}
	keytabFiles.mu.Lock()
	f := keytabFiles.m[path]
	if f == nil {
		if keytabFiles.m == nil {
			keytabFiles.m = make(map[string]*keytabFile)
		}
		f = &keytabFile{}
		keytabFiles.m[path] = f
	}
	keytabFiles.mu.Unlock()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap != nil && !force && time.Since(f.checked) < keytabRecheck {
		return f.snap, path, nil
	}
	looked := time.Now()
	fi, statErr := os.Stat(path)
	if statErr == nil && f.snap != nil && stampOf(fi) == f.snap.stamp {
		f.checked = looked
		return f.snap, path, nil
	}
	// Changed, new, or gone: read it as an uncached acceptor would, so
	// the errors are the same.
	kt, path, err := m.loadKeytab(name)
	if err != nil {
		f.snap = nil
		return nil, path, err
	}
	snap := &ktSnapshot{path: path}
	if statErr == nil {
		// The stamp from before the read: a write racing the read
		// makes the next look read again.
		snap.stamp = stampOf(fi)
	}
	snap.entries = make([]*ktEntry, 0, len(kt.Entries))
	for _, e := range kt.Entries {
		kv := int(e.KVNO)
		if kv == 0 {
			kv = int(e.KVNO8)
		}
		snap.entries = append(snap.entries, &ktEntry{
			principal: principal{nameType: e.Principal.NameType, components: e.Principal.Components, realm: e.Principal.Realm},
			kvno:      kv,
			key:       e.Key,
		})
	}
	f.snap, f.checked = snap, looked
	return snap, path, nil
}
