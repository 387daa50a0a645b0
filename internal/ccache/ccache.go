// Package ccache reads and writes MIT's FILE credential cache format
// (versions 3 and 4 read, 4 written: the format every MIT tool since 1.0
// uses) and keeps MEMORY: caches for the process.
//
// It lives apart from the Kerberos mechanism because the gss-proxy
// interposer keeps the daemon's credential handle in the same caches MIT's
// interposer plugin does, and may not import the mechanism; a MEMORY:
// cache must be one store for both, so both go through this package.
//
// Layout (all integers big-endian in v3/v4):
//
//	u16 version (0x0503, 0x0504)
//	v4 only: u16 header length, then tags {u16 tag, u16 len, value}
//	default principal
//	credentials until end of file
//
// A principal is u32 name type, u32 component count, the realm and the
// components as u32-length-prefixed strings. A credential is client and
// server principals, the key (u16 enctype, v3 repeats it, u32-length key),
// four u32 times (auth, start, end, renew-till), u8 is-skey, u32 ticket
// flags, addresses and authorization data (u32 count, each u16 type and
// u32-length data), then the ticket and second ticket (u32-length).
package ccache

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	Version3 = 0x0503
	Version4 = 0x0504

	tagKDCOffset = 1
)

// Principal is a principal as the cache stores it.
type Principal struct {
	NameType   int32
	Realm      string
	Components []string
}

// Equal compares realm and components; MIT's krb5_principal_compare
// ignores the name type too.
func (p Principal) Equal(o Principal) bool {
	if p.Realm != o.Realm || len(p.Components) != len(o.Components) {
		return false
	}
	for i := range p.Components {
		if p.Components[i] != o.Components[i] {
			return false
		}
	}
	return true
}

// Field is a typed blob: a host address or an authorization-data entry.
type Field struct {
	Type int32
	Data []byte
}

// Cred is one credential entry.
type Cred struct {
	Client, Server Principal
	KeyType        int32
	Key            []byte
	AuthTime       time.Time
	StartTime      time.Time
	EndTime        time.Time
	RenewTill      time.Time
	IsSKey         bool
	Flags          uint32 // ticket flags, bit 0 of the ASN.1 BIT STRING is the top bit
	Addrs          []Field
	AuthData       []Field
	Ticket         []byte
	SecondTicket   []byte
}

// Cache is a whole cache.
type Cache struct {
	Version   uint16
	KDCOffset *[2]uint32 // seconds and microseconds, if the header had one
	Principal Principal
	Creds     []*Cred
}

// reader decodes with bounds checks; every failure names what it was
// reading so a corrupt cache is reported precisely.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = errors.New("truncated or malformed " + what + " at offset " + strconv.Itoa(r.off))
	}
}

func (r *reader) u8(what string) uint8 {
	if r.err != nil || len(r.b)-r.off < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16(what string) uint16 {
	if r.err != nil || len(r.b)-r.off < 2 {
		r.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if r.err != nil || len(r.b)-r.off < 4 {
		r.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) data(what string) []byte {
	n := r.u32(what + " length")
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail(what)
		return nil
	}
	v := append([]byte(nil), r.b[r.off:r.off+int(n)]...)
	r.off += int(n)
	return v
}

// count reads a u32 element count and rejects counts that could not fit in
// the rest of the file (each element takes at least min bytes), so a crafted
// count cannot make the reader allocate gigabytes.
func (r *reader) count(what string, min int) int {
	n := r.u32(what)
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(min) > uint64(len(r.b)-r.off) {
		r.fail(what)
		return 0
	}
	return int(n)
}

func (r *reader) principal(what string) Principal {
	var p Principal
	p.NameType = int32(r.u32(what + " name type"))
	n := r.count(what+" component count", 4)
	p.Realm = string(r.data(what + " realm"))
	for i := 0; i < n && r.err == nil; i++ {
		p.Components = append(p.Components, string(r.data(what+" component")))
	}
	return p
}

func (r *reader) time(what string) time.Time {
	v := r.u32(what)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// Parse decodes a FILE ccache image.
func Parse(b []byte) (*Cache, error) {
	r := &reader{b: b}
	c := &Cache{Version: r.u16("version")}
	if r.err != nil {
		return nil, r.err
	}
	if c.Version != Version3 && c.Version != Version4 {
		return nil, errors.New("unsupported credential cache version 0x" + strconv.FormatUint(uint64(c.Version), 16))
	}
	if c.Version == Version4 {
		hlen := int(r.u16("header length"))
		if r.err == nil && hlen > len(b)-r.off {
			r.fail("header")
		}
		end := r.off + hlen
		for r.err == nil && r.off < end {
			tag := r.u16("header tag")
			tlen := int(r.u16("header tag length"))
			if r.err != nil || tlen > end-r.off {
				r.fail("header tag")
				break
			}
			if tag == tagKDCOffset && tlen == 8 {
				c.KDCOffset = &[2]uint32{binary.BigEndian.Uint32(b[r.off:]), binary.BigEndian.Uint32(b[r.off+4:])}
			}
			r.off += tlen
		}
	}
	c.Principal = r.principal("default principal")
	for r.err == nil && r.off < len(b) {
		cr := &Cred{}
		cr.Client = r.principal("client principal")
		cr.Server = r.principal("server principal")
		cr.KeyType = int32(r.u16("key enctype"))
		if c.Version == Version3 {
			r.u16("key enctype (v3 copy)")
		}
		cr.Key = r.data("key")
		cr.AuthTime = r.time("auth time")
		cr.StartTime = r.time("start time")
		cr.EndTime = r.time("end time")
		cr.RenewTill = r.time("renew-till time")
		cr.IsSKey = r.u8("is-skey") != 0
		cr.Flags = r.u32("ticket flags")
		n := r.count("address count", 6)
		for i := 0; i < n && r.err == nil; i++ {
			t := int32(r.u16("address type"))
			cr.Addrs = append(cr.Addrs, Field{Type: t, Data: r.data("address")})
		}
		n = r.count("authdata count", 6)
		for i := 0; i < n && r.err == nil; i++ {
			t := int32(r.u16("authdata type"))
			cr.AuthData = append(cr.AuthData, Field{Type: t, Data: r.data("authdata")})
		}
		cr.Ticket = r.data("ticket")
		cr.SecondTicket = r.data("second ticket")
		if r.err == nil {
			c.Creds = append(c.Creds, cr)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// Marshal encodes the cache in version 4, whatever version it was read as.
func (c *Cache) Marshal() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, Version4)
	if c.KDCOffset != nil {
		b = binary.BigEndian.AppendUint16(b, 12)
		b = binary.BigEndian.AppendUint16(b, tagKDCOffset)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = binary.BigEndian.AppendUint32(b, c.KDCOffset[0])
		b = binary.BigEndian.AppendUint32(b, c.KDCOffset[1])
	} else {
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	b = appendPrincipal(b, c.Principal)
	for _, cr := range c.Creds {
		b = appendPrincipal(b, cr.Client)
		b = appendPrincipal(b, cr.Server)
		b = binary.BigEndian.AppendUint16(b, uint16(cr.KeyType))
		b = appendData(b, cr.Key)
		for _, t := range []time.Time{cr.AuthTime, cr.StartTime, cr.EndTime, cr.RenewTill} {
			b = binary.BigEndian.AppendUint32(b, timeField(t))
		}
		if cr.IsSKey {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.BigEndian.AppendUint32(b, cr.Flags)
		b = binary.BigEndian.AppendUint32(b, uint32(len(cr.Addrs)))
		for _, a := range cr.Addrs {
			b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
			b = appendData(b, a.Data)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(cr.AuthData)))
		for _, a := range cr.AuthData {
			b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
			b = appendData(b, a.Data)
		}
		b = appendData(b, cr.Ticket)
		b = appendData(b, cr.SecondTicket)
	}
	return b
}

func timeField(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

func appendData(b, d []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
	return append(b, d...)
}

func appendPrincipal(b []byte, p Principal) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.NameType))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Components)))
	b = appendData(b, []byte(p.Realm))
	for _, c := range p.Components {
		b = appendData(b, []byte(c))
	}
	return b
}

// Find returns the first entry for client and server, in cache order, as
// krb5_cc_retrieve_cred with no match flags does.
func (c *Cache) Find(client, server Principal) *Cred {
	for _, cr := range c.Creds {
		if cr.Client.Equal(client) && cr.Server.Equal(server) {
			return cr
		}
	}
	return nil
}

// --- cache names ---

// Ref is a resolved cache name.
type Ref struct {
	Kind string // "FILE" or "MEMORY"
	Path string // file path or memory cache name
}

func (r Ref) String() string { return r.Kind + ":" + r.Path }

var (
	// ErrUnsupportedType is a cache type MIT knows that this package
	// cannot read or write.
	ErrUnsupportedType = errors.New("credential cache type is not supported by gsskit (use FILE: or MEMORY:)")
	// ErrBadName is a name that is no cache name.
	ErrBadName = errors.New("malformed credential cache name")
	// ErrMissing is a cache that does not exist.
	ErrMissing = errors.New("credential cache does not exist")
)

// ParseName resolves MIT's "TYPE:residual" names. A name without a known
// type prefix is a file path, as MIT treats it.
func ParseName(name string) (Ref, error) {
	typ, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") {
		return Ref{"FILE", name}, nil
	}
	switch strings.ToUpper(typ) {
	case "FILE":
		if rest == "" {
			break
		}
		return Ref{"FILE", rest}, nil
	case "MEMORY":
		return Ref{"MEMORY", rest}, nil
	case "DIR", "KEYRING", "KCM", "API", "MSLSA":
		return Ref{}, ErrUnsupportedType
	}
	return Ref{}, ErrBadName
}

// DefaultName is MIT's last resort when neither KRB5CCNAME nor
// default_ccache_name names a cache.
func DefaultName() string { return "FILE:/tmp/krb5cc_" + strconv.Itoa(os.Getuid()) }

func (c *Cache) clone() *Cache {
	n := *c
	n.Principal.Components = append([]string(nil), c.Principal.Components...)
	n.Creds = append([]*Cred(nil), c.Creds...)
	return &n
}

var memCaches = struct {
	sync.Mutex
	m map[string]*Cache
}{m: map[string]*Cache{}}

// Load reads a cache; a cache that does not exist is ErrMissing.
func Load(ref Ref) (*Cache, error) {
	if ref.Kind == "MEMORY" {
		memCaches.Lock()
		defer memCaches.Unlock()
		c, ok := memCaches.m[ref.Path]
		if !ok {
			return nil, ErrMissing
		}
		return c.clone(), nil
	}
	b, err := os.ReadFile(ref.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrMissing
		}
		return nil, err
	}
	return Parse(b)
}

// Save writes a whole cache. FILE caches are written to a temporary file
// in the same directory and renamed over the old one, so a reader (klist,
// another process) sees either the old or the new cache, never a
// half-written one; the file is private to its owner as MIT makes it.
func Save(ref Ref, c *Cache) error {
	if ref.Kind == "MEMORY" {
		memCaches.Lock()
		memCaches.m[ref.Path] = c.clone()
		memCaches.Unlock()
		return nil
	}
	dir := filepath.Dir(ref.Path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(ref.Path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(c.Marshal())
	if err := f.Chmod(0o600); err != nil && werr == nil {
		werr = err
	}
	if err := f.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, ref.Path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// UpdateMu serializes read-modify-write cycles on caches within the
// process; between processes the rename keeps files whole (a concurrent
// writer may lose an added ticket, which costs one more TGS exchange).
var UpdateMu sync.Mutex
