package gssproxy

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// The interposer: the Go counterpart of the reference's proxymech.so. It
// claims the Kerberos OIDs in a gss.Registry, sends credential acquisition
// and context establishment to the daemon, and reaches the local Kerberos
// mechanism through the concatenated OID (seed 004) when the behaviour says
// to work locally. Once the daemon hands back an established context, it is
// imported into the local mechanism and every per-message call runs in this
// process, as the C plugin does.

// InterposerOID is the interposer's own mechanism OID, the one
// /etc/gss/mech.d/proxymech.conf registers proxymech.so under.
var InterposerOID = gss.MechGSSProxyMIT

// InterposedMechs are the mechanisms the interposer claims, those the C
// plugin's gss_mech_interposer returns: Kerberos under its three OIDs, and
// IAKERB.
var InterposedMechs = gss.OIDSet{gss.MechKrb5, gss.MechKrb5Old, gss.MechKrb5Wrong, gss.MechIAKerb}

// Behavior is a GSSPROXY_BEHAVIOR value: where the interposer does the work.
type Behavior string

const (
	// LocalOnly never talks to the daemon.
	LocalOnly Behavior = "LOCAL_ONLY"
	// LocalFirst tries the local mechanism and falls back to the daemon.
	LocalFirst Behavior = "LOCAL_FIRST"
	// RemoteFirst tries the daemon and falls back to the local mechanism.
	RemoteFirst Behavior = "REMOTE_FIRST"
	// RemoteOnly never works locally, except for per-message calls on a
	// context the daemon established.
	RemoteOnly Behavior = "REMOTE_ONLY"
)

// DefaultBehavior is what the interposer does when GSSPROXY_BEHAVIOR is
// unset or not one of the four values: Debian's build of the reference
// chooses REMOTE_FIRST (gssproxy-mech(8)).
const DefaultBehavior = RemoteFirst

// BehaviorFromEnv reads GSSPROXY_BEHAVIOR. Like the C plugin it compares
// exactly (case matters) and treats anything else as the default.
func BehaviorFromEnv() Behavior {
	switch b := Behavior(os.Getenv("GSSPROXY_BEHAVIOR")); b {
	case LocalOnly, LocalFirst, RemoteFirst, RemoteOnly:
		return b
	}
	return DefaultBehavior
}

// Enabled reports whether GSS_USE_PROXY asks for the interposer: "1",
// "on", "true" or "yes" in any case. Unset means no, as in Debian's build,
// which does not interpose unless asked. The daemon sets GSS_USE_PROXY=NO
// for itself so that it cannot loop back into a proxy.
func Enabled() bool {
	switch strings.ToLower(os.Getenv("GSS_USE_PROXY")) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}

// InterposerConfig configures an Interposer. The zero value is what the C
// plugin would do in this process's environment.
type InterposerConfig struct {
	// Client talks to the daemon; nil means NewClient(nil), which honours
	// GSSPROXY_SOCKET.
	Client *Client
	// Behavior is where the work happens; "" means BehaviorFromEnv().
	Behavior Behavior
	// CCacheName is the credential cache that keeps the daemon's handle
	// for default credentials, as the C plugin keeps it in the default
	// ccache; "" means the default cache of the registry's Kerberos
	// mechanism (KRB5CCNAME, default_ccache_name, FILE:/tmp/krb5cc_<uid>).
	CCacheName string
}

// Interposer is the gss-proxy interposer mechanism. Register it with
// RegisterInterposer; it is then reached through the registry like any
// mechanism, never called directly.
//
// Credentials acquired through the daemon hold its opaque handle
// (gssx_cred). As the C plugin does, the interposer keeps that handle in
// the credential cache (see ccache.go for the entry and when it is
// written) and hands a stored one back to the daemon on the next
// acquisition, in this process or another, Go or C. A credential the
// daemon returns updated from INIT_SEC_CONTEXT (sync_creds, for a service
// with allow_client_ccache_sync) replaces the handle held and the stored
// one, so later contexts and processes reuse the tickets the daemon got.
// Export of a daemon-held credential is GSS_S_UNAVAILABLE, and Store
// writes the handle entry, as in the plugin. Per-message calls need the
// local Kerberos mechanism registered (import gsskit's krb5 package), since
// established contexts are imported into it.
type Interposer struct {
	reg        *gss.Registry
	client     *Client
	behavior   Behavior
	ccacheName string
}

// RegisterInterposer adds the interposer to reg, claiming InterposedMechs.
// It registers whatever GSS_USE_PROXY says; a program that wants the C
// plugin's opt-in checks Enabled first:
//
//	if gssproxy.Enabled() {
//		_, err := gssproxy.RegisterInterposer(gss.DefaultRegistry(), nil)
//	}
func RegisterInterposer(reg *gss.Registry, cfg *InterposerConfig) (*Interposer, error) {
	if cfg == nil {
		cfg = &InterposerConfig{}
	}
	ip := &Interposer{reg: reg, client: cfg.Client, behavior: cfg.Behavior, ccacheName: cfg.CCacheName}
	if ip.client == nil {
		ip.client = NewClient(nil)
	}
	switch ip.behavior {
	case "":
		ip.behavior = BehaviorFromEnv()
	case LocalOnly, LocalFirst, RemoteFirst, RemoteOnly:
	default:
		return nil, gss.NewError(gss.Failure, 0, InterposerOID, "unknown gss-proxy behavior "+string(ip.behavior))
	}
	if err := reg.RegisterInterposer(ip, InterposedMechs); err != nil {
		return nil, err
	}
	return ip, nil
}

// Behavior is the interposer's behaviour.
func (ip *Interposer) Behavior() Behavior { return ip.behavior }

// Client is the interposer's daemon client.
func (ip *Interposer) Client() *Client { return ip.client }

func (ip *Interposer) OID() gss.OID { return InterposerOID }

// Name is the name proxymech.conf gives the interposer.
func (ip *Interposer) Name() string { return "gssproxy_v1" }

func (ip *Interposer) special(mech gss.OID) gss.OID { return gss.SpecialOID(InterposerOID, mech) }

// original is the local mechanism behind a claimed OID, or nil when the
// process has none registered.
func (ip *Interposer) original(mech gss.OID) gss.Mechanism {
	m, err := ip.reg.MechanismByOID(ip.special(mech))
	if err != nil {
		return nil
	}
	return m
}

// krbNameTypes are the name types the reference daemon lists for krb5,
// for a process that has no local Kerberos mechanism to ask.
var krbNameTypes = gss.OIDSet{
	gss.NTKrb5Principal, gss.NTKrb5Enterprise, gss.NTUserName, gss.NTMachineUIDName,
	gss.NTStringUIDName, gss.NTHostbasedService, gss.NTHostbasedServiceX, gss.NTAnonymous,
	gss.NTExportName, gss.NTCompositeExport,
}

func (ip *Interposer) NameTypes() gss.OIDSet {
	if m := ip.original(gss.MechKrb5); m != nil {
		return m.NameTypes()
	}
	return append(gss.OIDSet(nil), krbNameTypes...)
}

func (ip *Interposer) DisplayMinor(minor uint32) string {
	if m := ip.original(gss.MechKrb5); m != nil {
		return m.DisplayMinor(minor)
	}
	return ""
}

// Names.

// name is a name for a claimed mechanism. As in the C plugin, an imported
// name stays in its original form (a uid name must reach the daemon as a
// uid name, not as the principal a local mechanism would make of it); the
// local mechanism's name is made only when a local call needs it.
type name struct {
	ip     *Interposer
	mech   gss.OID
	remote *Name // the wire form: display and type, or the daemon's MN

	mu       sync.Mutex
	local    gss.MechName
	localErr error
}

func (ip *Interposer) newName(mech gss.OID, remote *Name, local gss.MechName) *name {
	return &name{ip: ip, mech: mech, remote: remote, local: local}
}

// localName is the local mechanism's name, made once.
func (n *name) localName() (gss.MechName, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local != nil || n.localErr != nil {
		return n.local, n.localErr
	}
	special := n.ip.special(n.mech)
	var gn *gss.Name
	var err error
	if _, blob, perr := gss.ParseExportedName(n.remote.Exported); perr == nil {
		gn, err = n.ip.reg.ImportName(string(gss.AppendExportedName(nil, special, blob)), gss.NTExportName)
	} else {
		gn, err = n.ip.reg.ImportNameByMech(special, string(n.remote.Display), n.remote.NameType)
	}
	if err != nil {
		n.localErr = err
		return nil, err
	}
	n.local = gn.MechName()
	return n.local, nil
}

// wire is the name as sent to the daemon.
func (n *name) wire() *Name {
	if n.remote != nil {
		return n.remote
	}
	return &Name{Display: []byte(n.local.String()), NameType: n.local.NameType()}
}

func (n *name) Mech() gss.OID { return n.mech }

func (n *name) String() string {
	if n.remote != nil {
		if s := n.remote.String(); s != "" {
			return s
		}
	}
	if l, err := n.localName(); err == nil {
		return l.String()
	}
	return ""
}

func (n *name) NameType() gss.OID {
	if n.remote != nil && !n.remote.NameType.IsZero() {
		return n.remote.NameType
	}
	if n.remote != nil && len(n.remote.Exported) > 0 {
		return gss.NTKrb5Principal
	}
	if l, err := n.localName(); err == nil {
		return l.NameType()
	}
	return ""
}

// Export is the mechanism part of the exported name: the daemon's if it
// canonicalized the name, else the local mechanism's canonical form, else
// the name as given.
func (n *name) Export() []byte {
	if n.remote != nil {
		if _, blob, err := gss.ParseExportedName(n.remote.Exported); err == nil {
			return append([]byte(nil), blob...)
		}
	}
	if l, err := n.localName(); err == nil {
		return l.Export()
	}
	return []byte(n.String())
}

func (n *name) Equal(other gss.MechName) bool {
	o, ok := other.(*name)
	if !ok {
		if l, err := n.localName(); err == nil {
			return l.Equal(other)
		}
		return false
	}
	l1, err1 := n.localName()
	l2, err2 := o.localName()
	if err1 == nil && err2 == nil {
		return l1.Equal(l2)
	}
	return string(n.Export()) == string(o.Export())
}

func (n *name) Attributes() []string {
	if n.remote != nil && len(n.remote.Attributes) > 0 {
		var out []string
		for _, a := range n.remote.Attributes {
			s := string(trimNUL(a.Attr))
			found := false
			for _, x := range out {
				found = found || x == s
			}
			if !found {
				out = append(out, s)
			}
		}
		return out
	}
	if l, err := n.localName(); err == nil {
		return l.Attributes()
	}
	return nil
}

func (n *name) Attribute(attr string) ([][]byte, bool, error) {
	if n.remote != nil && len(n.remote.Attributes) > 0 {
		var vals [][]byte
		for _, a := range n.remote.Attributes {
			if string(trimNUL(a.Attr)) == attr {
				vals = append(vals, a.Value)
			}
		}
		if vals == nil {
			return nil, false, gss.NewError(gss.Unavailable, 0, n.mech, "name "+n.String()+" has no attribute "+attr)
		}
		// The daemon does not say whether it vouches for them.
		return vals, false, nil
	}
	l, err := n.localName()
	if err != nil {
		return nil, false, err
	}
	return l.Attribute(attr)
}

// asName turns any MechName the mechglue hands the interposer into one.
func (ip *Interposer) asName(mech gss.OID, mn gss.MechName) *name {
	switch n := mn.(type) {
	case nil:
		return nil
	case *name:
		return n
	}
	return ip.newName(mech, nil, mn)
}

func (ip *Interposer) ImportName(value []byte, nameType gss.OID) (gss.MechName, error) {
	return ip.ImportNameByMech(gss.MechKrb5, value, nameType)
}

// ImportNameByMech keeps the name as given, as gpm_import_name does; the
// daemon or the local mechanism judges it when it is used.
func (ip *Interposer) ImportNameByMech(mech gss.OID, value []byte, nameType gss.OID) (gss.MechName, error) {
	return ip.newName(mech, &Name{Display: append([]byte(nil), value...), NameType: nameType}, nil), nil
}

func (ip *Interposer) ImportExportedName(blob []byte) (gss.MechName, error) {
	return ip.ImportExportedNameByMech(gss.MechKrb5, blob)
}

func (ip *Interposer) ImportExportedNameByMech(mech gss.OID, blob []byte) (gss.MechName, error) {
	return ip.newName(mech, &Name{
		Display:  append([]byte(nil), blob...),
		NameType: gss.NTKrb5Principal,
		Exported: gss.AppendExportedName(nil, mech, blob),
	}, nil), nil
}

// Credentials.

// cred is a credential element: either the daemon's handle or a local
// credential reached through the concatenated OID, never both, like the C
// plugin's gpp_cred_handle.
type cred struct {
	ip    *Interposer
	mech  gss.OID
	usage gss.CredUsage

	// Where the daemon's handle is kept (gpp_cred_handle's store and
	// default_creds): the cred store's ccache, or with defaultCreds the
	// default cache; neither means the process only.
	storeCCache  string
	defaultCreds bool

	mu     sync.Mutex
	remote *Cred
	local  *gss.Credential
	got    time.Time // when remote was issued, for its relative lifetimes
}

func (c *cred) Mech() gss.OID { return c.mech }

func (c *cred) snapshot() (*Cred, *gss.Credential, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote, c.local, c.got
}

func (c *cred) Info() (gss.CredInfo, error) {
	remote, local, got := c.snapshot()
	if local != nil {
		e := local.Element(c.ip.special(c.mech))
		if e == nil {
			return gss.CredInfo{}, gss.NewError(gss.NoCred, 0, c.mech, "local credential has no element for "+c.mech.String())
		}
		info, err := e.Info()
		if err != nil {
			return info, err
		}
		if info.Name != nil {
			info.Name = c.ip.asName(c.mech, info.Name)
		}
		return info, nil
	}
	if remote == nil || len(remote.Elements) == 0 {
		return gss.CredInfo{}, gss.NewError(gss.NoCred, 0, c.mech, "the daemon's credential describes no element")
	}
	el := &remote.Elements[0]
	for i := range remote.Elements {
		if remote.Elements[i].Mech == c.mech {
			el = &remote.Elements[i]
		}
	}
	info := gss.CredInfo{Usage: el.Usage.ToGSS()}
	if len(el.MN.Display) > 0 || len(el.MN.Exported) > 0 {
		mn := el.MN
		info.Name = c.ip.newName(c.mech, &mn, nil)
	}
	if info.Usage != gss.CredAccept {
		info.InitiatorExpiry = expiry(got, el.InitiatorTimeRec)
	}
	if info.Usage != gss.CredInitiate {
		info.AcceptorExpiry = expiry(got, el.AcceptorTimeRec)
	}
	return info, nil
}

// expiry turns a lifetime in seconds as the daemon reports it (relative to
// when it answered; GSS_C_INDEFINITE is all ones) into a time; the zero
// time means indefinite.
func expiry(from time.Time, secs uint64) time.Time {
	if secs >= 0xffffffff {
		return time.Time{}
	}
	return from.Add(time.Duration(secs) * time.Second)
}

func (c *cred) Export() ([]byte, error) {
	_, local, _ := c.snapshot()
	if local == nil {
		return nil, gss.NewError(gss.Unavailable, 0, c.mech,
			"a credential held by the gss-proxy daemon cannot be exported; only its handle lives in this process")
	}
	return local.Export()
}

// Store of a daemon-held credential writes its handle entry, as
// gssi_store_cred_into does: into the store's ccache, else into the
// default cache, whether or not the caller asked to make it the default
// (the plugin's default_cred only switches a collection's primary cache,
// which FILE and MEMORY caches do not have; gsskit's Kerberos mechanism
// stores there too).
func (c *cred) Store(store gss.CredStore, usage gss.CredUsage, overwrite, makeDefault bool) error {
	remote, local, _ := c.snapshot()
	if local == nil {
		if remote == nil {
			return gss.NewError(gss.NoCred, 0, c.mech, "the credential was released")
		}
		ccName := store["ccache"]
		if ccName == "" {
			ccName = c.ip.defaultCCacheName()
		}
		if err := storeRemoteCred(ccName, remote); err != nil {
			return gss.WrapError(gss.Failure, 0, c.mech, "storing the gss-proxy credential", err)
		}
		return nil
	}
	_, err := local.Store(&gss.StoreConfig{Mech: c.ip.special(c.mech), Usage: usage, Overwrite: overwrite,
		Default: makeDefault, Store: store})
	return err
}

func (c *cred) Release() error {
	c.mu.Lock()
	remote, local := c.remote, c.local
	c.remote, c.local = nil, nil
	c.mu.Unlock()
	var err error
	if local != nil {
		err = local.Release()
	}
	if remote != nil && remote.NeedsRelease {
		if _, rerr := c.ip.client.ReleaseHandle(context.Background(), &ReleaseHandleArg{Handle: Handle{Type: HandleCred, Cred: remote}}); err == nil {
			err = rerr
		}
	}
	return err
}

func (ip *Interposer) AcquireCred(ctx context.Context, req *gss.MechCredRequest) (gss.MechCred, error) {
	return ip.AcquireCredByMech(ctx, gss.MechKrb5, req)
}

// AcquireCredByMech follows gssi_acquire_cred_from: LOCAL_ONLY and
// LOCAL_FIRST try the local mechanism first, the others the daemon first;
// the *_FIRST behaviours fall back to the other side, and when both fail
// the first side's error is the one reported. Unless LOCAL_ONLY, a handle
// stored in the cache (the cred store's ccache, else the default one)
// goes to the daemon with the request and makes it REMOTE_FIRST; a cred
// store that names a ccache holding none makes it LOCAL_FIRST, since that
// cache then is most likely a local one.
func (ip *Interposer) AcquireCredByMech(ctx context.Context, mech gss.OID, req *gss.MechCredRequest) (gss.MechCred, error) {
	var n *name
	if req.Name != nil {
		n = ip.asName(mech, req.Name)
	}
	storeCC := req.Store["ccache"]
	c := &cred{ip: ip, mech: mech, usage: req.Usage, storeCCache: storeCC, defaultCreds: storeCC == ""}
	behavior := ip.behavior
	var stored *Cred
	if behavior != LocalOnly {
		ccName := storeCC
		if ccName == "" {
			ccName = ip.defaultCCacheName()
		}
		var err error
		switch stored, err = retrieveRemoteCred(ccName, nil); {
		case err == nil:
			behavior = RemoteFirst
		case storeCC != "":
			behavior = LocalFirst
		}
	}
	var firstErr error
	if behavior == LocalOnly || behavior == LocalFirst {
		err := ip.acquireLocal(ctx, c, n, req)
		if err == nil || behavior == LocalOnly {
			return c, err
		}
		firstErr = err
	}
	err := ip.acquireRemote(ctx, c, n, req.Usage, req.Lifetime, true, stored)
	if err == nil {
		// The plugin fails the acquisition when the handle cannot be
		// stored, rather than fall back.
		if err := ip.storeIfChanged(c, stored); err != nil {
			c.Release()
			return nil, err
		}
		return c, nil
	}
	if behavior == RemoteFirst {
		firstErr = err
		err = ip.acquireLocal(ctx, c, n, req)
		if err == nil {
			return c, nil
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, err
}

// storeIfChanged keeps c's new handle in its cache unless it is the one
// that was read from there.
func (ip *Interposer) storeIfChanged(c *cred, stored *Cred) error {
	remote := c.remoteHandle()
	if remote == nil || sameRemoteCred(stored, remote) {
		return nil
	}
	ccName, err := ip.credCCache(c)
	if err == nil {
		err = storeRemoteCred(ccName, remote)
	}
	if err != nil {
		return gss.WrapError(gss.Failure, 0, c.mech, "keeping the gss-proxy credential in the ccache", err)
	}
	return nil
}

func (ip *Interposer) acquireLocal(ctx context.Context, c *cred, n *name, req *gss.MechCredRequest) error {
	cfg := &gss.CredentialConfig{Usage: req.Usage, Mechs: gss.OIDSet{ip.special(c.mech)}, Lifetime: req.Lifetime, Store: req.Store}
	if n != nil {
		ln, err := n.localName()
		if err != nil {
			return err
		}
		cfg.Name = ip.reg.NewNameFromMech(ln)
	}
	local, err := ip.reg.AcquireCredential(ctx, cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.local = local
	c.mu.Unlock()
	return nil
}

// acquireRemote asks the daemon for a credential. As in the reference
// interposer's traffic, an explicit acquisition names its mechanism and a
// default one (n == nil, for an initiator or acceptor given none) names
// neither mechanism nor principal.
// A stored handle, if any, goes along as the input credential, so the
// daemon can reuse what it sealed into it.
func (ip *Interposer) acquireRemote(ctx context.Context, c *cred, n *name, usage gss.CredUsage, lifetime time.Duration, explicit bool, stored *Cred) error {
	arg := &AcquireCredArg{InputCredHandle: stored, Usage: CredUsageFromGSS(usage), TimeReq: seconds(lifetime)}
	if explicit {
		arg.DesiredMechs = gss.OIDSet{c.mech}
	}
	if n != nil {
		arg.DesiredName = n.wire()
	}
	res, err := ip.client.AcquireCred(ctx, arg)
	if err != nil {
		return err
	}
	if res.OutputCred == nil {
		return gss.NewError(gss.Failure, 0, c.mech, "the gss-proxy daemon acquired a credential but returned no handle")
	}
	c.mu.Lock()
	c.remote, c.got = res.OutputCred, time.Now()
	c.mu.Unlock()
	return nil
}

func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	if d == gss.Indefinite {
		return 0xffffffff
	}
	return uint64((d + time.Second - 1) / time.Second)
}

// defaultCred is gppint_get_def_creds: the credential an initiator or
// acceptor uses when the caller gave none. A handle stored in the default
// cache goes to the daemon with the request; a changed one is written back
// only when one had been stored, as the plugin does, and failing to write
// it is not fatal here (the plugin's initiator ignores it too).
func (ip *Interposer) defaultCred(ctx context.Context, mech gss.OID, behavior Behavior, usage gss.CredUsage) (*cred, error) {
	c := &cred{ip: ip, mech: mech, usage: usage, defaultCreds: true}
	req := &gss.MechCredRequest{Usage: usage}
	var firstErr error
	if behavior == LocalOnly || behavior == LocalFirst {
		err := ip.acquireLocal(ctx, c, nil, req)
		if err == nil || behavior == LocalOnly {
			return c, err
		}
		firstErr = err
	}
	stored, _ := retrieveRemoteCred(ip.defaultCCacheName(), nil)
	err := ip.acquireRemote(ctx, c, nil, usage, 0, false, stored)
	if err == nil {
		if stored != nil {
			_ = ip.storeIfChanged(c, stored)
		}
		return c, nil
	}
	if behavior == RemoteFirst {
		err = ip.acquireLocal(ctx, c, nil, req)
		if err == nil {
			return c, nil
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, err
}

func (ip *Interposer) ImportCred(token []byte) (gss.MechCred, error) {
	return ip.ImportCredByMech(gss.MechKrb5, token)
}

// ImportCredByMech imports locally only, as the C plugin does: the token
// is what a local credential's Export made, elements filed under the
// concatenated OID.
func (ip *Interposer) ImportCredByMech(mech gss.OID, token []byte) (gss.MechCred, error) {
	elems, err := gss.ParseExportedCred(token)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		if e.Mech != ip.special(mech) {
			return nil, gss.NewError(gss.DefectiveToken, 0, mech, "credential element for "+e.Mech.String()+
				" is not one the gss-proxy interposer exported for "+mech.String())
		}
	}
	local, err := ip.reg.ImportCredential(token)
	if err != nil {
		return nil, err
	}
	return &cred{ip: ip, mech: mech, local: local}, nil
}

// Contexts.

// secCtx is a context of a claimed mechanism: established by the daemon
// (remote holds the gssx_ctx it returned) or by the local mechanism (local).
// A daemon-established context is imported into the local mechanism on the
// first call that needs it, and remote is dropped then, as
// gpp_remote_to_local_ctx does.
type secCtx struct {
	ip        *Interposer
	mech      gss.OID
	initiator bool

	// Configuration.
	cred     *cred
	target   *name
	flags    gss.Flags
	lifetime time.Duration
	cb       *gss.ChannelBindings

	remote    *Ctx
	remoteAt  time.Time
	local     *gss.SecContext
	delegated *Cred
	done      bool
}

func (ip *Interposer) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	return ip.InitSecContextByMech(gss.MechKrb5, cfg)
}

func (ip *Interposer) InitSecContextByMech(mech gss.OID, cfg *gss.MechInitConfig) (gss.MechContext, error) {
	if cfg.Target == nil {
		return nil, gss.NewError(gss.CallInaccessibleRead, 0, mech, "an initiator needs a target name")
	}
	c := &secCtx{ip: ip, mech: mech, initiator: true, target: ip.asName(mech, cfg.Target),
		flags: cfg.Flags, lifetime: cfg.Lifetime, cb: cfg.ChannelBindings}
	if cfg.Cred != nil {
		pc, ok := cfg.Cred.(*cred)
		if !ok {
			return nil, gss.NewError(gss.DefectiveCredential, 0, mech, "credential element was not made by the gss-proxy interposer")
		}
		c.cred = pc
	}
	return c, nil
}

func (ip *Interposer) AcceptSecContext(cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	return ip.AcceptSecContextByMech(gss.MechKrb5, cfg)
}

func (ip *Interposer) AcceptSecContextByMech(mech gss.OID, cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	c := &secCtx{ip: ip, mech: mech, cb: cfg.ChannelBindings}
	if cfg.Cred != nil {
		pc, ok := cfg.Cred.(*cred)
		if !ok {
			return nil, gss.NewError(gss.DefectiveCredential, 0, mech, "credential element was not made by the gss-proxy interposer")
		}
		c.cred = pc
	}
	return c, nil
}

func (ip *Interposer) ImportSecContext(token []byte) (gss.MechContext, error) {
	return ip.ImportSecContextByMech(gss.MechKrb5, token)
}

// ImportSecContextByMech imports locally only, as the C plugin does. The
// token is what Export made: a local context's mechglue token under the
// concatenated OID.
func (ip *Interposer) ImportSecContextByMech(mech gss.OID, token []byte) (gss.MechContext, error) {
	framed, _, err := gss.ParseExportedContext(token)
	if err != nil {
		return nil, err
	}
	if framed != ip.special(mech) {
		return nil, gss.NewError(gss.DefectiveToken, 0, mech, "context token is for "+framed.String()+
			", not one the gss-proxy interposer exported for "+mech.String())
	}
	sc, err := ip.reg.ImportSecContext(token)
	if err != nil {
		return nil, err
	}
	info := sc.MechContext().Info()
	return &secCtx{ip: ip, mech: mech, initiator: info.LocallyInitiated, local: sc, done: sc.Done()}, nil
}

func (c *secCtx) Step(ctx context.Context, in []byte) ([]byte, error) {
	if c.initiator {
		return c.initStep(ctx, in)
	}
	return c.acceptStep(ctx, in)
}

// initStep follows gssi_init_sec_context. A context or credential that is
// already local pins the work to the local mechanism; LOCAL_ONLY and
// LOCAL_FIRST try it first; the daemon comes next unless LOCAL_ONLY, with
// the caller's remote credential or, failing that, a default one from the
// daemon or none; REMOTE_FIRST falls back to the local mechanism. When both
// sides fail after LOCAL_FIRST, the local error is reported.
//
// A continuation (the peer's reply to a daemon-made token) goes back to the
// daemon only. The C plugin would let REMOTE_FIRST retry it as a fresh local
// initiator, which cannot accept a reply token; reporting the daemon's error
// is the useful outcome of the same failure.
func (c *secCtx) initStep(ctx context.Context, in []byte) ([]byte, error) {
	if c.local != nil {
		return c.localInit(ctx, in)
	}
	if c.remote != nil {
		return c.remoteInit(ctx, in)
	}
	behavior := c.ip.behavior
	if c.cred != nil {
		remote, local, _ := c.cred.snapshot()
		switch {
		case local != nil:
			behavior = LocalOnly
		case remote != nil && behavior == LocalOnly:
			return nil, gss.NewError(gss.DefectiveCredential, 0, c.mech,
				"LOCAL_ONLY cannot use a credential held by the gss-proxy daemon")
		}
	}
	var firstErr error
	if behavior == LocalOnly || behavior == LocalFirst {
		out, err := c.localInit(ctx, in)
		if !gss.IsFatal(err) || behavior == LocalOnly {
			return out, err
		}
		c.local = nil
		firstErr = err
	}
	out, err := c.remoteInit(ctx, in)
	if !gss.IsFatal(err) {
		return out, err
	}
	if behavior == RemoteFirst {
		c.remote = nil
		out, err = c.localInit(ctx, in)
	}
	if gss.IsFatal(err) && firstErr != nil {
		return nil, firstErr
	}
	return out, err
}

func (c *secCtx) localInit(ctx context.Context, in []byte) ([]byte, error) {
	if c.local == nil {
		tn, err := c.target.localName()
		if err != nil {
			return nil, err
		}
		cfg := &gss.InitiatorConfig{Target: c.ip.reg.NewNameFromMech(tn), Mech: c.ip.special(c.mech),
			Flags: c.flags, Lifetime: c.lifetime, ChannelBindings: c.cb}
		if c.cred != nil {
			_, cfg.Credential, _ = c.cred.snapshot()
		}
		sc, err := c.ip.reg.NewInitiator(cfg)
		if err != nil {
			return nil, err
		}
		c.local = sc
	}
	return c.local.Step(ctx, in)
}

func (c *secCtx) remoteInit(ctx context.Context, in []byte) ([]byte, error) {
	cr := c.cred
	if cr == nil || cr.remoteHandle() == nil {
		// The daemon may still have a default; failures here are not
		// the caller's (gpp: "we ignore failures here").
		if def, err := c.ip.defaultCred(ctx, c.mech, RemoteOnly, gss.CredInitiate); err == nil {
			if cr == nil {
				// Kept for the next leg; the C plugin acquires it
				// again for every call.
				cr, c.cred = def, def
			} else {
				cr.mu.Lock()
				cr.remote, cr.got = def.remote, def.got
				cr.mu.Unlock()
			}
		}
	}
	arg := &InitSecContextArg{
		Context:    c.remote,
		TargetName: c.target.wire(),
		Mech:       c.mech,
		ReqFlags:   uint64(c.flags),
		TimeReq:    seconds(c.lifetime),
		InputCB:    CBFromGSS(c.cb),
		// The reference interposer always asks for its credential back
		// when the daemon's ccache changed under it.
		Options: []Option{CStringOption(OptSyncModifiedCreds, ValSyncDefault)},
	}
	if cr != nil {
		arg.Cred = cr.remoteHandle()
	}
	if in != nil {
		tok := in
		arg.InputToken = &tok
	}
	res, err := c.ip.client.InitSecContext(ctx, arg)
	var out []byte
	if res != nil && res.OutputToken != nil {
		out = *res.OutputToken
	}
	if gss.IsFatal(err) {
		return out, err
	}
	if v, ok := FindOption(res.Options, OptSyncCreds); ok && cr != nil {
		var nc Cred
		if oncrpc.Unmarshal(v, &nc) == nil {
			cr.mu.Lock()
			cr.remote, cr.got = &nc, time.Now()
			cr.mu.Unlock()
			// The context is what the caller asked for; a cache that
			// cannot take the new handle only costs the next process
			// a daemon round, so the plugin ignores the failure.
			if ccName, err := c.ip.credCCache(cr); err == nil {
				_ = storeRemoteCred(ccName, &nc)
			}
		}
	}
	if res.Context == nil {
		return out, gss.NewError(gss.Failure, 0, c.mech, "the gss-proxy daemon returned no context")
	}
	c.remote, c.remoteAt = res.Context, time.Now()
	c.done = res.Status.Major == 0
	return out, err
}

func (cr *cred) remoteHandle() *Cred {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.remote
}

// acceptStep follows gssi_accept_sec_context: the credential decides the
// side — the caller's, or the default one gppint_get_def_creds finds by the
// behaviour — and a continuation stays on the side it started on.
func (c *secCtx) acceptStep(ctx context.Context, in []byte) ([]byte, error) {
	if c.local != nil {
		return c.local.Step(ctx, in)
	}
	if c.remote == nil {
		if c.cred == nil {
			def, err := c.ip.defaultCred(ctx, c.mech, c.ip.behavior, gss.CredAccept)
			if err != nil {
				return nil, err
			}
			c.cred = def
		}
		remote, local, _ := c.cred.snapshot()
		switch {
		case local != nil && c.ip.behavior == RemoteOnly:
			return nil, gss.NewError(gss.DefectiveCredential, 0, c.mech, "REMOTE_ONLY cannot accept with a local credential")
		case local != nil:
			sc, err := c.ip.reg.NewAcceptor(&gss.AcceptorConfig{Credential: local, ChannelBindings: c.cb})
			if err != nil {
				return nil, err
			}
			c.local = sc
			return sc.Step(ctx, in)
		case remote != nil && c.ip.behavior == LocalOnly:
			return nil, gss.NewError(gss.DefectiveCredential, 0, c.mech, "LOCAL_ONLY cannot accept with a credential held by the gss-proxy daemon")
		case remote == nil:
			return nil, gss.NewError(gss.NoCred, 0, c.mech, "the acceptor credential was released")
		}
	}
	arg := &AcceptSecContextArg{
		Context:    c.remote,
		Cred:       c.cred.remoteHandle(),
		InputToken: in,
		InputCB:    CBFromGSS(c.cb),
		// The SPI asks for a delegated credential after the fact, so
		// always ask the daemon to return one.
		RetDelegCred: true,
	}
	res, err := c.ip.client.AcceptSecContext(ctx, arg)
	var out []byte
	if res != nil && res.OutputToken != nil {
		out = *res.OutputToken
	}
	if gss.IsFatal(err) {
		return out, err
	}
	if res.Context == nil {
		return out, gss.NewError(gss.Failure, 0, c.mech, "the gss-proxy daemon returned no context")
	}
	c.remote, c.remoteAt = res.Context, time.Now()
	c.delegated = res.DelegatedCred
	c.done = res.Status.Major == 0
	return out, err
}

func (c *secCtx) Done() bool {
	if c.local != nil {
		return c.local.Done()
	}
	return c.done
}

// ensureLocal imports a daemon-established context into the local
// mechanism, re-entering it through the concatenated OID so that the
// interposer does not get the context back.
func (c *secCtx) ensureLocal() error {
	if c.local != nil {
		return nil
	}
	if c.remote == nil || !c.done {
		return gss.NewError(gss.NoContext, 0, c.mech, "the security context is not established")
	}
	mech, inner, err := gss.ParseExportedContext(c.remote.ExportedToken)
	if err != nil {
		return gss.WrapError(gss.DefectiveToken, 0, c.mech, "the gss-proxy daemon's exported context", err)
	}
	sc, err := c.ip.reg.ImportSecContext(gss.AppendExportedContext(nil, c.ip.special(mech), inner))
	if err != nil {
		return err
	}
	c.local, c.remote = sc, nil
	return nil
}

func (c *secCtx) Info() gss.ContextInfo {
	if c.local != nil {
		mc := c.local.MechContext()
		if mc == nil {
			return gss.ContextInfo{Mech: c.mech, LocallyInitiated: c.initiator}
		}
		info := mc.Info()
		info.Mech = c.mech
		if info.Source != nil {
			info.Source = c.ip.asName(c.mech, info.Source)
		}
		if info.Target != nil {
			info.Target = c.ip.asName(c.mech, info.Target)
		}
		return info
	}
	if c.remote == nil {
		return gss.ContextInfo{Mech: c.mech, LocallyInitiated: c.initiator}
	}
	r := c.remote
	info := gss.ContextInfo{Mech: c.mech, Flags: gss.Flags(r.Flags), LocallyInitiated: r.LocallyInitiated, Open: r.Open}
	if r.Lifetime != 0 {
		info.Expiry = expiry(c.remoteAt, r.Lifetime)
	}
	if len(r.SrcName.Display) > 0 || len(r.SrcName.Exported) > 0 {
		src := r.SrcName
		info.Source = c.ip.newName(c.mech, &src, nil)
	}
	if len(r.TargName.Display) > 0 || len(r.TargName.Exported) > 0 {
		targ := r.TargName
		info.Target = c.ip.newName(c.mech, &targ, nil)
	}
	return info
}

func (c *secCtx) GetMIC(dst, msg []byte, qop gss.QOP) ([]byte, error) {
	if err := c.ensureLocal(); err != nil {
		return dst, err
	}
	return c.local.GetMIC(dst, msg, qop)
}

func (c *secCtx) VerifyMIC(msg, token []byte) (gss.QOP, error) {
	if err := c.ensureLocal(); err != nil {
		return 0, err
	}
	return c.local.VerifyMIC(msg, token)
}

func (c *secCtx) Wrap(dst, msg []byte, conf bool, qop gss.QOP) ([]byte, bool, error) {
	if err := c.ensureLocal(); err != nil {
		return dst, false, err
	}
	return c.local.Wrap(dst, msg, conf, qop)
}

func (c *secCtx) Unwrap(dst, token []byte) ([]byte, gss.MessageInfo, error) {
	if err := c.ensureLocal(); err != nil {
		return dst, gss.MessageInfo{}, err
	}
	return c.local.Unwrap(dst, token)
}

func (c *secCtx) WrapSizeLimit(conf bool, qop gss.QOP, maxOutput int) (int, error) {
	if err := c.ensureLocal(); err != nil {
		return 0, err
	}
	return c.local.WrapSizeLimit(conf, qop, maxOutput)
}

func (c *secCtx) DelegatedCred() gss.MechCred {
	if c.delegated != nil {
		return &cred{ip: c.ip, mech: c.mech, usage: gss.CredInitiate, remote: c.delegated, got: c.remoteAt}
	}
	if c.local != nil {
		if d := c.local.DelegatedCredential(); d != nil {
			return &cred{ip: c.ip, mech: c.mech, usage: gss.CredInitiate, local: d}
		}
	}
	return nil
}

// Export imports a daemon-made context first, as gssi_export_sec_context
// does: the token is always the local mechanism's.
func (c *secCtx) Export() ([]byte, error) {
	if err := c.ensureLocal(); err != nil {
		return nil, err
	}
	return c.local.Export()
}

func (c *secCtx) Delete() error {
	var err error
	if c.local != nil {
		err = c.local.Delete()
		c.local = nil
	}
	if r := c.remote; r != nil {
		c.remote = nil
		if r.NeedsRelease {
			if _, rerr := c.ip.client.ReleaseHandle(context.Background(), &ReleaseHandleArg{Handle: Handle{Type: HandleSecCtx, Ctx: r}}); err == nil {
				err = rerr
			}
		}
	}
	return err
}
