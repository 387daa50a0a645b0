package krb5

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// This file reads and writes MIT's FILE credential cache format (versions 3
// and 4 read, 4 written: the format every MIT tool since 1.0 uses), and
// keeps MEMORY: caches for the process. gokrb5 can read FILE caches but not
// write them, and gss_store_cred_into, the TGS tickets MIT writes back, and
// renewed TGTs all need writing.
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

const (
	ccVersion3 = 0x0503
	ccVersion4 = 0x0504

	ccTagKDCOffset = 1

	// ccConfRealm marks configuration entries MIT stores as fake
	// credentials (krb5_cc_set_config); they are kept but never used as
	// tickets.
	ccConfRealm = "X-CACHECONF:"
)

type ccache struct {
	version   uint16
	kdcOffset *[2]uint32 // seconds and microseconds, if the header had one
	principal principal
	creds     []*ccCred
}

type ccCred struct {
	client, server principal
	key            types.EncryptionKey
	authTime       time.Time
	startTime      time.Time
	endTime        time.Time
	renewTill      time.Time
	isSKey         bool
	flags          uint32 // ticket flags, bit 0 of the ASN.1 BIT STRING is the top bit
	addrs          []types.HostAddress
	authData       types.AuthorizationData
	ticket         []byte
	secondTicket   []byte
}

func (c *ccCred) isConfig() bool { return c.server.realm == ccConfRealm }

// ccReader decodes with bounds checks; every failure names what it was
// reading so a corrupt cache is reported precisely.
type ccReader struct {
	b   []byte
	off int
	err error
}

func (r *ccReader) fail(what string) {
	if r.err == nil {
		r.err = errors.New("truncated or malformed " + what + " at offset " + strconv.Itoa(r.off))
	}
}

func (r *ccReader) u8(what string) uint8 {
	if r.err != nil || len(r.b)-r.off < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *ccReader) u16(what string) uint16 {
	if r.err != nil || len(r.b)-r.off < 2 {
		r.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *ccReader) u32(what string) uint32 {
	if r.err != nil || len(r.b)-r.off < 4 {
		r.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *ccReader) data(what string) []byte {
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
func (r *ccReader) count(what string, min int) int {
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

func (r *ccReader) principal(what string) principal {
	var p principal
	p.nameType = int32(r.u32(what + " name type"))
	n := r.count(what+" component count", 4)
	p.realm = string(r.data(what + " realm"))
	for i := 0; i < n && r.err == nil; i++ {
		p.components = append(p.components, string(r.data(what+" component")))
	}
	return p
}

func (r *ccReader) time(what string) time.Time {
	v := r.u32(what)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// parseCCache decodes a FILE ccache image.
func parseCCache(b []byte) (*ccache, error) {
	r := &ccReader{b: b}
	c := &ccache{version: r.u16("version")}
	if r.err != nil {
		return nil, r.err
	}
	if c.version != ccVersion3 && c.version != ccVersion4 {
		return nil, errors.New("unsupported credential cache version 0x" + strconv.FormatUint(uint64(c.version), 16))
	}
	if c.version == ccVersion4 {
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
			if tag == ccTagKDCOffset && tlen == 8 {
				c.kdcOffset = &[2]uint32{binary.BigEndian.Uint32(b[r.off:]), binary.BigEndian.Uint32(b[r.off+4:])}
			}
			r.off += tlen
		}
	}
	c.principal = r.principal("default principal")
	for r.err == nil && r.off < len(b) {
		cr := &ccCred{}
		cr.client = r.principal("client principal")
		cr.server = r.principal("server principal")
		cr.key.KeyType = int32(r.u16("key enctype"))
		if c.version == ccVersion3 {
			r.u16("key enctype (v3 copy)")
		}
		cr.key.KeyValue = r.data("key")
		cr.authTime = r.time("auth time")
		cr.startTime = r.time("start time")
		cr.endTime = r.time("end time")
		cr.renewTill = r.time("renew-till time")
		cr.isSKey = r.u8("is-skey") != 0
		cr.flags = r.u32("ticket flags")
		n := r.count("address count", 6)
		for i := 0; i < n && r.err == nil; i++ {
			t := int32(r.u16("address type"))
			cr.addrs = append(cr.addrs, types.HostAddress{AddrType: t, Address: r.data("address")})
		}
		n = r.count("authdata count", 6)
		for i := 0; i < n && r.err == nil; i++ {
			t := int32(r.u16("authdata type"))
			cr.authData = append(cr.authData, types.AuthorizationDataEntry{ADType: t, ADData: r.data("authdata")})
		}
		cr.ticket = r.data("ticket")
		cr.secondTicket = r.data("second ticket")
		if r.err == nil {
			c.creds = append(c.creds, cr)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// marshal encodes the cache in version 4, whatever version it was read as.
func (c *ccache) marshal() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, ccVersion4)
	if c.kdcOffset != nil {
		b = binary.BigEndian.AppendUint16(b, 12)
		b = binary.BigEndian.AppendUint16(b, ccTagKDCOffset)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = binary.BigEndian.AppendUint32(b, c.kdcOffset[0])
		b = binary.BigEndian.AppendUint32(b, c.kdcOffset[1])
	} else {
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	b = appendCCPrincipal(b, c.principal)
	for _, cr := range c.creds {
		b = appendCCPrincipal(b, cr.client)
		b = appendCCPrincipal(b, cr.server)
		b = binary.BigEndian.AppendUint16(b, uint16(cr.key.KeyType))
		b = appendCCData(b, cr.key.KeyValue)
		for _, t := range []time.Time{cr.authTime, cr.startTime, cr.endTime, cr.renewTill} {
			b = binary.BigEndian.AppendUint32(b, ccTime(t))
		}
		if cr.isSKey {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.BigEndian.AppendUint32(b, cr.flags)
		b = binary.BigEndian.AppendUint32(b, uint32(len(cr.addrs)))
		for _, a := range cr.addrs {
			b = binary.BigEndian.AppendUint16(b, uint16(a.AddrType))
			b = appendCCData(b, a.Address)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(cr.authData)))
		for _, a := range cr.authData {
			b = binary.BigEndian.AppendUint16(b, uint16(a.ADType))
			b = appendCCData(b, a.ADData)
		}
		b = appendCCData(b, cr.ticket)
		b = appendCCData(b, cr.secondTicket)
	}
	return b
}

func ccTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

func appendCCData(b, d []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
	return append(b, d...)
}

func appendCCPrincipal(b []byte, p principal) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.nameType))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.components)))
	b = appendCCData(b, []byte(p.realm))
	for _, c := range p.components {
		b = appendCCData(b, []byte(c))
	}
	return b
}

// clone returns a deep-enough copy for handing out of a shared MEMORY cache.
func (c *ccache) clone() *ccache {
	n := *c
	n.principal = c.principal.clone()
	n.creds = append([]*ccCred(nil), c.creds...)
	return &n
}

// findTGT returns the newest TGT krbtgt/realm@realm for client, or nil.
func (c *ccache) findTGT(client principal, realm string) *ccCred {
	var best *ccCred
	for _, cr := range c.creds {
		if cr.isConfig() || !cr.client.equal(client) {
			continue
		}
		if cr.server.isTGS() && cr.server.components[1] == realm && cr.server.realm == realm {
			if best == nil || cr.endTime.After(best.endTime) {
				best = cr
			}
		}
	}
	return best
}

// findTicket returns the newest ticket for server held by client.
func (c *ccache) findTicket(client, server principal) *ccCred {
	var best *ccCred
	for _, cr := range c.creds {
		if cr.isConfig() || cr.isSKey || !cr.client.equal(client) {
			continue
		}
		if server.realm == "" && cr.server.equalIgnoringRealm(server) || cr.server.equal(server) {
			if best == nil || cr.endTime.After(best.endTime) {
				best = cr
			}
		}
	}
	return best
}

// replace drops older entries for the same client and server and adds cr,
// as MIT's krb5_cc_store_cred (which removes a matching entry first) does.
func (c *ccache) replace(cr *ccCred) {
	out := c.creds[:0:0]
	for _, o := range c.creds {
		if !o.isConfig() && o.client.equal(cr.client) && o.server.equal(cr.server) {
			continue
		}
		out = append(out, o)
	}
	c.creds = append(out, cr)
}

// --- cache names ---

// ccacheRef is a resolved cache name.
type ccacheRef struct {
	kind string // "FILE" or "MEMORY"
	path string // file path or memory cache name
}

func (r ccacheRef) String() string { return r.kind + ":" + r.path }

// parseCCacheName resolves MIT's "TYPE:residual" names. A name without a
// known type prefix is a file path, as MIT treats it.
func parseCCacheName(name string) (ccacheRef, error) {
	typ, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") {
		return ccacheRef{"FILE", name}, nil
	}
	switch strings.ToUpper(typ) {
	case "FILE":
		if rest == "" {
			break
		}
		return ccacheRef{"FILE", rest}, nil
	case "MEMORY":
		return ccacheRef{"MEMORY", rest}, nil
	case "DIR", "KEYRING", "KCM", "API", "MSLSA":
		return ccacheRef{}, gss.NewError(gss.NoCred, krbMinor(krb5CCUnknownType), gss.MechKrb5,
			"credential cache "+strconv.Quote(name)+": type "+typ+" is not supported by gsskit (use FILE: or MEMORY:)")
	}
	return ccacheRef{}, gss.NewError(gss.NoCred, krbMinor(krb5CCBadName), gss.MechKrb5,
		"malformed credential cache name "+strconv.Quote(name))
}

// MIT krb5 error-table offsets used for credential-cache and keytab errors.
const (
	krb5CCBadName      = 139 // KRB5_CC_BADNAME
	krb5CCUnknownType  = 140 // KRB5_CC_UNKNOWN_TYPE
	krb5CCNotFound     = 141 // KRB5_CC_NOTFOUND
	krb5KDCUnreach     = 156 // KRB5_KDC_UNREACH
	krb5KTNotFound     = 181 // KRB5_KT_NOTFOUND
	krb5FCCNoFile      = 195 // KRB5_FCC_NOFILE
	krb5CCFormat       = 199 // KRB5_CC_FORMAT
	krb5CCBadVersion   = 212 // KRB5_CCACHE_BADVNO
	krb5NoDefRealm     = 224 // KRB5_CONFIG_NODEFREALM
	krb5KTKVNONotFound = 230 // KRB5_KT_KVNONOTFOUND
	krb5KTFormat       = 235 // KRB5_KT_FORMAT
)

var memCCaches = struct {
	sync.Mutex
	m map[string]*ccache
}{m: map[string]*ccache{}}

// errCCacheMissing is returned by loadCCache when the cache does not exist.
var errCCacheMissing = errors.New("credential cache does not exist")

// loadCCache reads a cache; a cache that does not exist is errCCacheMissing.
func loadCCache(ref ccacheRef) (*ccache, error) {
	if ref.kind == "MEMORY" {
		memCCaches.Lock()
		defer memCCaches.Unlock()
		c, ok := memCCaches.m[ref.path]
		if !ok {
			return nil, errCCacheMissing
		}
		return c.clone(), nil
	}
	b, err := os.ReadFile(ref.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errCCacheMissing
		}
		return nil, err
	}
	return parseCCache(b)
}

// saveCCache writes a whole cache. FILE caches are written to a temporary
// file in the same directory and renamed over the old one, so a reader
// (klist, another process) sees either the old or the new cache, never a
// half-written one; the file is private to its owner as MIT makes it.
func saveCCache(ref ccacheRef, c *ccache) error {
	if ref.kind == "MEMORY" {
		memCCaches.Lock()
		memCCaches.m[ref.path] = c.clone()
		memCCaches.Unlock()
		return nil
	}
	dir := filepath.Dir(ref.path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(ref.path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(c.marshal())
	if err := f.Chmod(0o600); err != nil && werr == nil {
		werr = err
	}
	if err := f.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, ref.path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// ccUpdateMu serializes read-modify-write cycles on caches within the
// process; between processes the rename keeps files whole (a concurrent
// writer may lose an added ticket, which costs one more TGS exchange).
var ccUpdateMu sync.Mutex

// storeInCCache adds creds to the cache at ref, keeping what else it holds.
// A missing cache is created. A cache that now belongs to another principal
// (someone ran kinit as another user since) or cannot be read is left
// alone: writing back is a convenience, never worth destroying a cache.
func storeInCCache(ref ccacheRef, client principal, creds ...*ccCred) error {
	ccUpdateMu.Lock()
	defer ccUpdateMu.Unlock()
	c, err := loadCCache(ref)
	switch {
	case errors.Is(err, errCCacheMissing):
		c = &ccache{version: ccVersion4, principal: client.clone()}
	case err != nil:
		return err
	case !c.principal.equal(client):
		return errors.New("credential cache " + ref.String() + " now holds credentials for " + c.principal.String())
	}
	for _, cr := range creds {
		c.replace(cr)
	}
	return saveCCache(ref, c)
}
