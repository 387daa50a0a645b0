package rpcsecgss

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// The gsscred table maps client principals to UNIX credentials, as
// Solaris' gsscred does: the administrator has to set the mapping up, the
// network name implies nothing. Solaris keeps it behind its name service
// (XFN); here it is a text file, one principal a line:
//
//	# exported name (hex)                     uid    gid  # comment
//	0401000b06092a864886f712010202000000…    1000   -    # alice@EXAMPLE.COM
//
// The principal is the hex of its RFC 2743 exported name, as in Solaris'
// table, so that the mapping is exact whatever the name's display form.
// gid "-" (or no gid) means the primary group of the uid in the user
// database; the supplementary groups always come from there. Everything
// after '#' is a comment; the admin command writes the principal's
// display form there.
//
// A principal with no entry falls back to its local name when the server
// allows it: a single-component principal in the default realm
// ("alice@DEFAULT.REALM") is the local user of that name, as MIT's
// default aname-to-localname rule has it.

// DefaultGSSCredFile is where the admin command keeps the table unless
// told otherwise.
const DefaultGSSCredFile = "/etc/gss/gsscred_db"

// GSSCredEntry is one line of the table.
type GSSCredEntry struct {
	Principal Principal
	UID       uint32
	GID       uint32
	HasGID    bool   // GID was given; otherwise it comes from the user database
	Comment   string // free text; the admin command puts the display name here
}

// ParseGSSCred parses the text of a gsscred table. file is used in
// messages only.
func ParseGSSCred(file string, data []byte) ([]GSSCredEntry, error) {
	var out []GSSCredEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text, comment, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		bad := func(msg string) error { return fmt.Errorf("%s:%d: %s", file, line, msg) }
		if len(f) < 2 || len(f) > 3 {
			return nil, bad("want: exported-name-hex uid [gid]")
		}
		p, err := hex.DecodeString(f[0])
		if err != nil || len(p) == 0 {
			return nil, bad("the principal is not an exported name in hex")
		}
		if _, _, err := gss.ParseExportedName(p); err != nil {
			return nil, bad("the principal is not an exported name: " + err.Error())
		}
		uid, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, bad("uid " + strconv.Quote(f[1]) + " is not a number")
		}
		e := GSSCredEntry{Principal: p, UID: uint32(uid), Comment: strings.TrimSpace(comment)}
		if len(f) == 3 && f[2] != "-" {
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				return nil, bad("gid " + strconv.Quote(f[2]) + " is not a number or -")
			}
			e.GID, e.HasGID = uint32(gid), true
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, line+1, err)
	}
	return out, nil
}

// FormatGSSCred is the text of a table holding entries.
func FormatGSSCred(entries []GSSCredEntry) []byte {
	var b bytes.Buffer
	b.WriteString("# gsscred table: RPCSEC_GSS client principal -> UNIX credential\n")
	b.WriteString("# exported name (hex)\tuid\tgid\t# principal\n")
	for _, e := range entries {
		gid := "-"
		if e.HasGID {
			gid = strconv.FormatUint(uint64(e.GID), 10)
		}
		fmt.Fprintf(&b, "%s\t%d\t%s", hex.EncodeToString(e.Principal), e.UID, gid)
		if c := strings.ReplaceAll(e.Comment, "\n", " "); c != "" {
			b.WriteString("\t# " + c)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// GSSCredTable is a gsscred table file. Lookups reread the file when it
// has changed, so a running server sees the admin command's edits; edits
// replace the file atomically.
type GSSCredTable struct {
	path string

	mu      sync.Mutex
	loaded  bool
	modTime time.Time
	size    int64
	entries []GSSCredEntry
	byName  map[string]int
}

// OpenGSSCred returns the table kept in path. A missing file is an empty
// table.
func OpenGSSCred(path string) *GSSCredTable {
	return &GSSCredTable{path: path}
}

// Path is the table's file.
func (t *GSSCredTable) Path() string { return t.path }

// refreshLocked rereads the file if it changed since it was read.
func (t *GSSCredTable) refreshLocked() error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.loaded, t.entries, t.byName, t.modTime, t.size = true, nil, nil, time.Time{}, -1
		return nil
	}
	if err != nil {
		return err
	}
	if t.loaded && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return err
	}
	entries, err := ParseGSSCred(t.path, data)
	if err != nil {
		return err
	}
	t.setLocked(entries)
	t.loaded, t.modTime, t.size = true, fi.ModTime(), fi.Size()
	return nil
}

func (t *GSSCredTable) setLocked(entries []GSSCredEntry) {
	t.entries = entries
	t.byName = make(map[string]int, len(entries))
	for i, e := range entries {
		t.byName[string(e.Principal)] = i
	}
}

// Entries returns the table's entries in file order.
func (t *GSSCredTable) Entries() ([]GSSCredEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refreshLocked(); err != nil {
		return nil, err
	}
	return append([]GSSCredEntry(nil), t.entries...), nil
}

// Lookup returns the UNIX credential p maps to, and whether it has an
// entry.
func (t *GSSCredTable) Lookup(p Principal) (*UnixCred, bool, error) {
	t.mu.Lock()
	err := t.refreshLocked()
	i, ok := t.byName[string(p)]
	var e GSSCredEntry
	if ok {
		e = t.entries[i]
	}
	t.mu.Unlock()
	if err != nil || !ok {
		return nil, false, err
	}
	return unixCredFor(e.UID, e.GID, e.HasGID), true, nil
}

// Add adds an entry, replacing the one for the same principal.
func (t *GSSCredTable) Add(e GSSCredEntry) error {
	return t.edit(func(entries []GSSCredEntry) []GSSCredEntry {
		for i := range entries {
			if entries[i].Principal.Equal(e.Principal) {
				entries[i] = e
				return entries
			}
		}
		return append(entries, e)
	})
}

// Delete removes the entries for which match is true and says how many
// there were.
func (t *GSSCredTable) Delete(match func(GSSCredEntry) bool) (int, error) {
	n := 0
	err := t.edit(func(entries []GSSCredEntry) []GSSCredEntry {
		kept := entries[:0]
		for _, e := range entries {
			if match(e) {
				n++
				continue
			}
			kept = append(kept, e)
		}
		return kept
	})
	return n, err
}

func (t *GSSCredTable) edit(f func([]GSSCredEntry) []GSSCredEntry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refreshLocked(); err != nil {
		return err
	}
	entries := f(append([]GSSCredEntry(nil), t.entries...))
	dir := filepath.Dir(t.path)
	tmp, err := os.CreateTemp(dir, ".gsscred-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(FormatGSSCred(entries)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), t.path); err != nil {
		return err
	}
	t.loaded = false
	return t.refreshLocked()
}

// nobody is the group of a uid the user database does not know.
const nobody = 65534

// unixCredFor completes a uid (and maybe gid) from the user database.
func unixCredFor(uid, gid uint32, hasGID bool) *UnixCred {
	uc := &UnixCred{UID: uid, GID: gid}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		if !hasGID {
			uc.GID = nobody
		}
		return uc
	}
	if !hasGID {
		if g, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			uc.GID = uint32(g)
		}
	}
	uc.GIDs = groupsOf(u)
	return uc
}

func groupsOf(u *user.User) []uint32 {
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []uint32
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			out = append(out, uint32(g))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// UnixCredForUser is the UNIX credential of a local user.
func UnixCredForUser(name string) (*UnixCred, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("rpcsecgss: user %s has uid %q", name, u.Uid)
	}
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &UnixCred{UID: uint32(uid), GID: uint32(gid), GIDs: groupsOf(u)}, nil
}

// LocalName is the local-name fallback: the user name of a single-component
// principal in the default realm of its mechanism, or false.
func LocalName(n *gss.Name) (string, bool) {
	if n == nil || !n.IsMN() || n.IsAnonymous() {
		return "", false
	}
	s := n.String()
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return "", false
	}
	user, realm := s[:at], s[at+1:]
	if strings.ContainsAny(user, `/\@`) {
		return "", false
	}
	def, ok := defaultRealm(n)
	if !ok || realm != def {
		return "", false
	}
	return user, true
}

// defaultRealm asks the name's mechanism what realm a bare user name gets.
func defaultRealm(n *gss.Name) (string, bool) {
	probe, err := gss.ImportName("gsskit-probe", gss.NTUserName)
	if err != nil {
		return "", false
	}
	mn, err := probe.Canonicalize(n.Mech())
	if err != nil {
		return "", false
	}
	_, realm, ok := strings.Cut(mn.String(), "@")
	return realm, ok && realm != ""
}

// unixCred maps the context's client, once.
func (x *svcContext) unixCred() *UnixCred {
	x.ucredOnce.Do(func() { x.ucred = x.s.mapUnix(x.clientPrincipal, x.client) })
	if x.ucred == nil {
		return nil
	}
	uc := *x.ucred
	uc.GIDs = append([]uint32(nil), uc.GIDs...)
	return &uc
}

func (s *Server) mapUnix(p Principal, n *gss.Name) *UnixCred {
	if t := s.cfg.GSSCred; t != nil && len(p) > 0 {
		uc, ok, err := t.Lookup(p)
		if err != nil {
			s.log.Warn("rpcsecgss: reading the gsscred table failed", "file", t.Path(), "err", err)
		}
		if ok {
			return uc
		}
	}
	if s.cfg.NoLocalNames {
		return nil
	}
	name, ok := LocalName(n)
	if !ok {
		return nil
	}
	uc, err := UnixCredForUser(name)
	if err != nil {
		return nil
	}
	return uc
}
