package gssproxy

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/ccache"
	"github.com/gsskit/gsskit/oncrpc"
)

// The daemon's credential handle in the user's ticket cache, kept as the
// reference interposer plugin keeps it (gssproxy's src/mechglue/gpp_creds.c,
// 0.9.x), so that a later process, Go or C, hands it back to the daemon
// instead of having it acquire again, and a C and a Go program sharing a
// cache share the handle.
//
// The entry is an ordinary credential in the cache:
//
//   - client: the handle's desired_name display string parsed as a
//     Kerberos principal (name type KRB5_NT_PRINCIPAL);
//   - server: RemoteCredEntryName, the components Encrypted, Credentials
//     and v1 in the realm "X-GSSPROXY:" (the colon is part of the realm);
//   - ticket: the handle as an XDR gssx_cred, at most 512 KiB;
//   - everything else zero or empty: enctype 0 with an empty key, all four
//     times 0, is_skey 0, flags 0, no addresses or authorization data, and
//     an empty second ticket.
//
// Reading looks the entry up by that server and a client that is the
// desired name's display string when the caller names one, otherwise the
// cache's default principal, and decodes the ticket field. When that fails
// for any reason (no cache, no entry, bad bytes), the plugin behaves as if
// nothing were stored, and the next handle it gets overwrites the entry.
//
// Where: a "ccache" element of the caller's cred store, else the default
// cache (KRB5CCNAME, default_ccache_name, FILE:/tmp/krb5cc_<uid>). The
// plugin's own stores (after an acquisition or a sync) of a credential
// that came from a cred store without a ccache and is not the default one
// (impersonation, a delegated one) go nowhere here: plugins before 0.8
// refused them (ENOMEDIUM), later ones put them in the default cache,
// which would make another principal's handle the one the next default
// acquisition hands the daemon. An application's gss_store_cred of any
// daemon-held credential does go to the default cache, as in the plugin.
//
// When: after an ACQUIRE_CRED whose handle differs from the one read (by
// desired name display, element count and handle reference, as the plugin
// compares), for a default credential only if one had been read; after an
// INIT_SEC_CONTEXT that returned sync_creds; and when the application
// stores a daemon-held credential (gss_store_cred_into).
//
// A FILE cache is rewritten to hold the entry's principal as its default:
// the plugin reinitializes it on every store, since MIT's FILE type cannot
// replace an entry. gsskit's writer can, so when the cache already belongs
// to that principal it replaces the entry and keeps the other tickets; a C
// reader finds the same entry either way. A MEMORY: cache only has the
// entry replaced. Cache types gsskit cannot write (KEYRING, KCM, DIR) keep
// the handle in the process only, as before.

// RemoteCredEntryName is the server principal of the cache entry holding
// the daemon's credential handle.
const RemoteCredEntryName = "Encrypted/Credentials/v1@X-GSSPROXY:"

// maxStoredCred is the plugin's encoding buffer: it cannot store a larger
// handle, so neither does gsskit.
const maxStoredCred = 512 * 1024

var remoteCredServer = ccache.Principal{
	NameType:   krb5NTPrincipal,
	Realm:      "X-GSSPROXY:",
	Components: []string{"Encrypted", "Credentials", "v1"},
}

const krb5NTPrincipal = 1

// errNoStoredCred is a cache that holds no daemon handle for the principal.
var errNoStoredCred = errors.New("no gss-proxy credential entry")

// errNoCCache is a store to nowhere: a non-default credential with no
// ccache in its cred store, after an acquisition or a sync.
var errNoCCache = errors.New("the credential is not the default one and its cred store names no ccache")

// ccacheNamer is what the Kerberos mechanism offers for finding its
// default cache; the interposer may not import it.
type ccacheNamer interface{ DefaultCCacheName() string }

// defaultCCacheName is the cache the registry's Kerberos uses by default,
// which is where MIT's plugin goes too (krb5_cc_default).
func (ip *Interposer) defaultCCacheName() string {
	if ip.ccacheName != "" {
		return ip.ccacheName
	}
	if m, ok := ip.original(gss.MechKrb5).(ccacheNamer); ok {
		return m.DefaultCCacheName()
	}
	if v := os.Getenv("KRB5CCNAME"); v != "" {
		return v
	}
	return ccache.DefaultName()
}

// credCCache is the cache a credential's handle goes to: its cred store's
// ccache, else the default one for a default credential, else none.
func (ip *Interposer) credCCache(c *cred) (string, error) {
	switch {
	case c.storeCCache != "":
		return c.storeCCache, nil
	case c.defaultCreds:
		return ip.defaultCCacheName(), nil
	}
	return "", errNoCCache
}

// parseEntryPrincipal parses a principal in MIT's string syntax the way
// krb5_parse_name does for the entry. A name with no realm is refused:
// MIT would add the default realm, which the interposer does not know,
// and a guess would make an entry no C reader finds.
func parseEntryPrincipal(s string) (ccache.Principal, error) {
	p, hasRealm, err := ccache.ParsePrincipal(s, false)
	switch {
	case err != nil:
		return ccache.Principal{}, errors.New("principal " + strconv.Quote(s) + ": " + err.Error())
	case !hasRealm || p.Realm == "":
		return ccache.Principal{}, errors.New("principal " + strconv.Quote(s) + " names no realm")
	}
	p.NameType = krb5NTPrincipal
	return p, nil
}

// decodeStoredCred decodes an entry's ticket field. Bytes after the
// gssx_cred are ignored, as the plugin's XDR memory stream ignores them.
func decodeStoredCred(ticket []byte) (*Cred, error) {
	var c Cred
	if err := c.UnmarshalXDR(oncrpc.NewDecoder(ticket)); err != nil {
		return nil, errors.New("the " + RemoteCredEntryName + " entry does not hold an XDR gssx_cred: " + err.Error())
	}
	return &c, nil
}

// findStoredCred is the stored handle in an already loaded cache: for the
// principal named by name's display string, or the cache's default
// principal when name is nil.
func findStoredCred(cc *ccache.Cache, name *Name) (*Cred, error) {
	client := cc.Principal
	if name != nil {
		var err error
		if client, err = parseEntryPrincipal(cString(name.Display)); err != nil {
			return nil, err
		}
	}
	e := cc.Find(client, remoteCredServer)
	if e == nil {
		return nil, errNoStoredCred
	}
	return decodeStoredCred(e.Ticket)
}

// retrieveRemoteCred reads the handle stored in the cache ccName.
func retrieveRemoteCred(ccName string, name *Name) (*Cred, error) {
	ref, err := ccache.ParseName(ccName)
	if err != nil {
		return nil, errors.New("credential cache " + strconv.Quote(ccName) + ": " + err.Error())
	}
	cc, err := ccache.Load(ref)
	if err != nil {
		return nil, errors.New("credential cache " + ref.String() + ": " + err.Error())
	}
	c, err := findStoredCred(cc, name)
	if err != nil {
		return nil, errors.New("credential cache " + ref.String() + ": " + err.Error())
	}
	return c, nil
}

// storeRemoteCred writes c into the cache ccName. A cache type gsskit
// cannot write is not an error: the handle stays in the process.
func storeRemoteCred(ccName string, c *Cred) error {
	ref, err := ccache.ParseName(ccName)
	if errors.Is(err, ccache.ErrUnsupportedType) {
		return nil
	}
	if err != nil {
		return errors.New("credential cache " + strconv.Quote(ccName) + ": " + err.Error())
	}
	client, err := parseEntryPrincipal(cString(c.DesiredName.Display))
	if err != nil {
		return errors.New("cannot store the gss-proxy credential: its desired name: " + err.Error())
	}
	ticket := oncrpc.Marshal(nil, c)
	if len(ticket) > maxStoredCred {
		return errors.New("cannot store the gss-proxy credential: its XDR form is " + strconv.Itoa(len(ticket)) +
			" bytes, more than the " + strconv.Itoa(maxStoredCred) + " the reference interposer can hold")
	}
	entry := &ccache.Cred{Client: client, Server: remoteCredServer, Ticket: ticket}

	ccache.UpdateMu.Lock()
	defer ccache.UpdateMu.Unlock()
	cc, err := ccache.Load(ref)
	switch {
	case errors.Is(err, ccache.ErrMissing):
		cc = &ccache.Cache{Version: ccache.Version4, Principal: client}
	case err != nil && ref.Kind == "FILE":
		// The plugin reinitializes FILE caches whatever they held.
		cc = &ccache.Cache{Version: ccache.Version4, Principal: client}
	case err != nil:
		return errors.New("credential cache " + ref.String() + ": " + err.Error())
	case ref.Kind == "FILE" && !cc.Principal.Equal(client):
		cc = &ccache.Cache{Version: ccache.Version4, Principal: client}
	}
	kept := cc.Creds[:0:0]
	for _, o := range cc.Creds {
		if !(o.Client.Equal(client) && o.Server.Equal(remoteCredServer)) {
			kept = append(kept, o)
		}
	}
	cc.Creds = append(kept, entry)
	if err := ccache.Save(ref, cc); err != nil {
		return errors.New("cannot store the gss-proxy credential in " + ref.String() + ": " + err.Error())
	}
	return nil
}

// cString is b as the plugin's krb5_parse_name sees it: up to the first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// sameRemoteCred is the plugin's test for whether a handle changed: same
// desired name display, element count and handle reference.
func sameRemoteCred(a, b *Cred) bool {
	if a == nil || b == nil {
		return a == b
	}
	return string(a.DesiredName.Display) == string(b.DesiredName.Display) &&
		len(a.Elements) == len(b.Elements) &&
		string(a.HandleRef) == string(b.HandleRef)
}
