package krb5

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
	ccfile "github.com/gsskit/gsskit/internal/ccache"
)

// The FILE ccache format and the MEMORY: store live in internal/ccache,
// shared with the gss-proxy interposer, which keeps the daemon's handle in
// the same caches; this file holds the mechanism's view of them: tickets
// with gokrb5's key and address types, and MIT's error codes.

const (
	ccVersion3 = ccfile.Version3
	ccVersion4 = ccfile.Version4

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

func fromFilePrincipal(p ccfile.Principal) principal {
	return principal{nameType: p.NameType, realm: p.Realm, components: p.Components}
}

func (p principal) toFile() ccfile.Principal {
	return ccfile.Principal{NameType: p.nameType, Realm: p.realm, Components: p.components}
}

func fromFileCache(f *ccfile.Cache) *ccache {
	c := &ccache{version: f.Version, kdcOffset: f.KDCOffset, principal: fromFilePrincipal(f.Principal)}
	for _, fc := range f.Creds {
		cr := &ccCred{
			client: fromFilePrincipal(fc.Client), server: fromFilePrincipal(fc.Server),
			key:      types.EncryptionKey{KeyType: fc.KeyType, KeyValue: fc.Key},
			authTime: fc.AuthTime, startTime: fc.StartTime, endTime: fc.EndTime, renewTill: fc.RenewTill,
			isSKey: fc.IsSKey, flags: fc.Flags, ticket: fc.Ticket, secondTicket: fc.SecondTicket,
		}
		for _, a := range fc.Addrs {
			cr.addrs = append(cr.addrs, types.HostAddress{AddrType: a.Type, Address: a.Data})
		}
		for _, a := range fc.AuthData {
			cr.authData = append(cr.authData, types.AuthorizationDataEntry{ADType: a.Type, ADData: a.Data})
		}
		c.creds = append(c.creds, cr)
	}
	return c
}

func (c *ccache) toFile() *ccfile.Cache {
	f := &ccfile.Cache{Version: c.version, KDCOffset: c.kdcOffset, Principal: c.principal.toFile()}
	for _, cr := range c.creds {
		fc := &ccfile.Cred{
			Client: cr.client.toFile(), Server: cr.server.toFile(),
			KeyType: cr.key.KeyType, Key: cr.key.KeyValue,
			AuthTime: cr.authTime, StartTime: cr.startTime, EndTime: cr.endTime, RenewTill: cr.renewTill,
			IsSKey: cr.isSKey, Flags: cr.flags, Ticket: cr.ticket, SecondTicket: cr.secondTicket,
		}
		for _, a := range cr.addrs {
			fc.Addrs = append(fc.Addrs, ccfile.Field{Type: a.AddrType, Data: a.Address})
		}
		for _, a := range cr.authData {
			fc.AuthData = append(fc.AuthData, ccfile.Field{Type: a.ADType, Data: a.ADData})
		}
		f.Creds = append(f.Creds, fc)
	}
	return f
}

// parseCCache decodes a FILE ccache image.
func parseCCache(b []byte) (*ccache, error) {
	f, err := ccfile.Parse(b)
	if err != nil {
		return nil, err
	}
	return fromFileCache(f), nil
}

// marshal encodes the cache in version 4, whatever version it was read as.
func (c *ccache) marshal() []byte { return c.toFile().Marshal() }

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

func (r ccacheRef) file() ccfile.Ref { return ccfile.Ref{Kind: r.kind, Path: r.path} }

// parseCCacheName resolves MIT's "TYPE:residual" names. A name without a
// known type prefix is a file path, as MIT treats it.
func parseCCacheName(name string) (ccacheRef, error) {
	ref, err := ccfile.ParseName(name)
	switch {
	case errors.Is(err, ccfile.ErrUnsupportedType):
		typ, _, _ := strings.Cut(name, ":")
		return ccacheRef{}, gss.NewError(gss.NoCred, krbMinor(krb5CCUnknownType), gss.MechKrb5,
			"credential cache "+strconv.Quote(name)+": type "+typ+" is not supported by gsskit (use FILE: or MEMORY:)")
	case err != nil:
		return ccacheRef{}, gss.NewError(gss.NoCred, krbMinor(krb5CCBadName), gss.MechKrb5,
			"malformed credential cache name "+strconv.Quote(name))
	}
	return ccacheRef{ref.Kind, ref.Path}, nil
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

// errCCacheMissing is returned by loadCCache when the cache does not exist.
var errCCacheMissing = ccfile.ErrMissing

// loadCCache reads a cache; a cache that does not exist is errCCacheMissing.
func loadCCache(ref ccacheRef) (*ccache, error) {
	f, err := ccfile.Load(ref.file())
	if err != nil {
		return nil, err
	}
	return fromFileCache(f), nil
}

// saveCCache writes a whole cache, atomically for FILE caches.
func saveCCache(ref ccacheRef, c *ccache) error { return ccfile.Save(ref.file(), c.toFile()) }

// ccUpdateMu is shared with every other writer in the process.
var ccUpdateMu = &ccfile.UpdateMu

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

// DefaultCCacheName is the cache this mechanism uses when given none:
// KRB5CCNAME, then default_ccache_name, then FILE:/tmp/krb5cc_<uid>. The
// gss-proxy interposer, which may not import this package, asks for it
// through an interface so that it keeps the daemon's handle where a
// registry's Kerberos looks, as MIT's plugin uses krb5_cc_default.
func (m *mechanism) DefaultCCacheName() string { return m.defaultCCacheName() }
