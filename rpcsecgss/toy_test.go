package rpcsecgss

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/oncrpc"
)

// A toy GSS mechanism, in a private registry, for the tests that need
// contexts without a KDC: the fuzz targets, and a second QOP (Kerberos has
// only QOP 0) to lock a context to. One round trip establishes a key; MICs
// are HMAC-SHA256 with a direction byte and the QOP; Wrap XORs a keystream
// and appends a MIC. It protects nothing against anyone: it only has to
// behave like a mechanism.

var toyOID = gss.MustParseOID("1.3.6.1.4.1.54321.7.1")

const toyMechName = "toy_v1"

type toyMech struct{}

func (toyMech) OID() gss.OID               { return toyOID }
func (toyMech) Name() string               { return toyMechName }
func (toyMech) NameTypes() gss.OIDSet      { return gss.OIDSet{gss.NTHostbasedService, gss.NTUserName} }
func (toyMech) DisplayMinor(uint32) string { return "toy" }

func (toyMech) ImportName(v []byte, nt gss.OID) (gss.MechName, error) {
	if len(v) == 0 {
		return nil, gss.NewError(gss.BadName, 0, toyOID, "empty toy name")
	}
	return toyName(v), nil
}
func (toyMech) ImportExportedName(b []byte) (gss.MechName, error) { return toyName(b), nil }

func (toyMech) AcquireCred(ctx context.Context, req *gss.MechCredRequest) (gss.MechCred, error) {
	return toyCred{}, nil
}
func (toyMech) ImportCred([]byte) (gss.MechCred, error) { return toyCred{}, nil }

func (toyMech) InitSecContext(cfg *gss.MechInitConfig) (gss.MechContext, error) {
	return &toyCtx{initiator: true, target: cfg.Target}, nil
}
func (toyMech) AcceptSecContext(cfg *gss.MechAcceptConfig) (gss.MechContext, error) {
	return &toyCtx{}, nil
}
func (toyMech) ImportSecContext([]byte) (gss.MechContext, error) {
	return nil, gss.NewError(gss.Unavailable, 0, toyOID, "toy contexts do not import")
}

type toyName string

func (n toyName) Mech() gss.OID             { return toyOID }
func (n toyName) String() string            { return string(n) }
func (n toyName) NameType() gss.OID         { return gss.NTUserName }
func (n toyName) Equal(o gss.MechName) bool { t, ok := o.(toyName); return ok && t == n }
func (n toyName) Export() []byte            { return []byte(n) }
func (n toyName) Attributes() []string      { return nil }
func (n toyName) Attribute(string) ([][]byte, bool, error) {
	return nil, false, gss.NewError(gss.Unavailable, 0, toyOID, "no attributes")
}

type toyCred struct{}

func (toyCred) Mech() gss.OID                                        { return toyOID }
func (toyCred) Info() (gss.CredInfo, error)                          { return gss.CredInfo{}, nil }
func (toyCred) Export() ([]byte, error)                              { return nil, nil }
func (toyCred) Store(gss.CredStore, gss.CredUsage, bool, bool) error { return nil }
func (toyCred) Release() error                                       { return nil }

type toyCtx struct {
	initiator bool
	done      bool
	deleted   bool
	key       []byte
	target    gss.MechName
}

// toyFixedKey, if set, is every new toy context's key, so that fuzz seeds
// made with one context verify on another.
var toyFixedKey []byte

const (
	toyTokInit = 'I'
	toyTokDone = 'D'
	toyMICLen  = 1 + 16
)

func (c *toyCtx) Step(ctx context.Context, in []byte) ([]byte, error) {
	switch {
	case c.initiator && !c.done && in == nil:
		c.key = make([]byte, 16)
		if toyFixedKey != nil {
			copy(c.key, toyFixedKey)
		} else {
			rand.Read(c.key)
		}
		inner := append([]byte{toyTokInit}, c.key...)
		return gss.AppendInitialToken(nil, toyOID, append(inner, c.target.String()...)), nil
	case c.initiator && !c.done:
		if len(in) != 1 || in[0] != toyTokDone {
			return nil, gss.NewError(gss.DefectiveToken, 0, toyOID, "bad toy reply")
		}
		c.done = true
		return nil, nil
	case !c.initiator && !c.done:
		_, in, err := gss.ParseInitialToken(in)
		if err != nil || len(in) < 17 || in[0] != toyTokInit {
			return nil, gss.NewError(gss.DefectiveToken, 3, toyOID, "bad toy init token")
		}
		c.key = append([]byte(nil), in[1:17]...)
		c.target = toyName(in[17:])
		c.done = true
		return []byte{toyTokDone}, nil
	}
	return nil, gss.NewError(gss.Failure, 0, toyOID, "toy context already complete")
}

func (c *toyCtx) Done() bool { return c.done }

func (c *toyCtx) Info() gss.ContextInfo {
	info := gss.ContextInfo{Mech: toyOID, Open: c.done, LocallyInitiated: c.initiator, Source: toyName("toyclient")}
	if c.target != nil {
		info.Target = c.target
	}
	return info
}

func (c *toyCtx) ready(qop gss.QOP) error {
	if c.deleted || !c.done {
		return gss.NewError(gss.NoContext, 0, toyOID, "toy context not usable")
	}
	if qop > 1 {
		return gss.NewError(gss.BadQOP, 0, toyOID, "toy QOPs are 0 and 1")
	}
	return nil
}

func (c *toyCtx) mic(fromInitiator bool, qop byte, msg []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	d := byte(0)
	if fromInitiator {
		d = 1
	}
	h.Write([]byte{d, qop})
	h.Write(msg)
	return append([]byte{qop}, h.Sum(nil)[:16]...)
}

func (c *toyCtx) GetMIC(dst, msg []byte, qop gss.QOP) ([]byte, error) {
	if err := c.ready(qop); err != nil {
		return dst, err
	}
	return append(dst, c.mic(c.initiator, byte(qop), msg)...), nil
}

func (c *toyCtx) VerifyMIC(msg, tok []byte) (gss.QOP, error) {
	if err := c.ready(0); err != nil {
		return 0, err
	}
	if len(tok) != toyMICLen || tok[0] > 1 {
		return 0, gss.NewError(gss.DefectiveToken, 0, toyOID, "bad toy MIC")
	}
	if subtle.ConstantTimeCompare(tok, c.mic(!c.initiator, tok[0], msg)) != 1 {
		return 0, gss.NewError(gss.BadMIC, 0, toyOID, "toy MIC mismatch")
	}
	return gss.QOP(tok[0]), nil
}

func (c *toyCtx) xor(b []byte) {
	ks := sha256.Sum256(c.key)
	for i := range b {
		b[i] ^= ks[i%32]
	}
}

func (c *toyCtx) Wrap(dst, msg []byte, conf bool, qop gss.QOP) ([]byte, bool, error) {
	if err := c.ready(qop); err != nil {
		return dst, false, err
	}
	start := len(dst)
	dst = append(dst, msg...)
	if conf {
		c.xor(dst[start:])
	}
	m := c.mic(c.initiator, byte(qop), dst[start:])
	return append(dst, m...), conf, nil
}

func (c *toyCtx) Unwrap(dst, tok []byte) ([]byte, gss.MessageInfo, error) {
	if err := c.ready(0); err != nil {
		return dst, gss.MessageInfo{}, err
	}
	if len(tok) < toyMICLen {
		return dst, gss.MessageInfo{}, gss.NewError(gss.DefectiveToken, 0, toyOID, "short toy wrap token")
	}
	body, m := tok[:len(tok)-toyMICLen], tok[len(tok)-toyMICLen:]
	if m[0] > 1 || subtle.ConstantTimeCompare(m, c.mic(!c.initiator, m[0], body)) != 1 {
		return dst, gss.MessageInfo{}, gss.NewError(gss.BadMIC, 0, toyOID, "toy wrap MIC mismatch")
	}
	start := len(dst)
	dst = append(dst, body...)
	c.xor(dst[start:])
	return dst, gss.MessageInfo{Conf: true, QOP: gss.QOP(m[0])}, nil
}

func (c *toyCtx) WrapSizeLimit(conf bool, qop gss.QOP, max int) (int, error) {
	return max - toyMICLen, c.ready(qop)
}
func (c *toyCtx) DelegatedCred() gss.MechCred { return nil }
func (c *toyCtx) Export() ([]byte, error) {
	return nil, gss.NewError(gss.Unavailable, 0, toyOID, "no export")
}
func (c *toyCtx) Delete() error { c.deleted = true; return nil }

var toyRegistry = func() *gss.Registry {
	r := gss.NewRegistry()
	if err := r.Register(toyMech{}); err != nil {
		panic(err)
	}
	return r
}()

var toyInstalled = &Installed{Registry: toyRegistry, Dir: "testdata/none"}

// toyPair serves the test program with the toy mechanism over an
// in-memory connection and returns a client context for it.
func toyPair(t testing.TB, scfg *ServerConfig, ccfg *Config) (*Server, *oncrpc.Client, *ClientAuth) {
	t.Helper()
	if scfg == nil {
		scfg = &ServerConfig{}
	}
	scfg.Installed = toyInstalled
	if scfg.Logger == nil {
		scfg.Logger = quietLogger()
	}
	gs := NewServer(scfg)
	auths := oncrpc.DefaultAuthenticators()
	auths[oncrpc.FlavorGSS] = gs
	srv := oncrpc.NewServer(&oncrpc.Config{Authenticators: auths, MaxRecordSize: maxRecord, Logger: quietLogger()})
	srv.Register(echoProg, echoVers, echoProcs())
	cs, ss := net.Pipe()
	go srv.ServeConn(ss)
	c := oncrpc.NewClient(cs, &oncrpc.Config{MaxRecordSize: maxRecord})
	t.Cleanup(func() { c.Close(); srv.Close() })
	if ccfg == nil {
		ccfg = &Config{}
	}
	ccfg.Installed, ccfg.Mechanism = toyInstalled, toyMechName
	if ccfg.Principal == "" {
		ccfg.Principal = "toy@server"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := Seccreate(ctx, c, echoProg, echoVers, ccfg)
	if err != nil {
		t.Fatalf("Seccreate with the toy mechanism: %v", err)
	}
	return gs, c, a
}

func TestToyMechanismRoundTrip(t *testing.T) {
	_, _, a := toyPair(t, nil, nil)
	ctx := context.Background()
	for _, svc := range []Service{ServiceNone, ServiceIntegrity, ServicePrivacy} {
		for _, qop := range []string{"", "1"} {
			if err := a.SetDefaults(svc, ""); err != nil {
				t.Fatal(err)
			}
			if qop != "" {
				// QOP names come from a qop file; the toy's second QOP has
				// none, so set the number directly.
				a.defaults.Store(&callDefaults{service: svc, qop: 1})
			}
			d := pattern(777, 9)
			if got, err := echo(ctx, a, d); err != nil || string(got) != string(d) {
				t.Fatalf("%v qop %q: %v", svc, qop, err)
			}
		}
	}
	if err := a.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := echo(ctx, a, nil); !errors.Is(err, ErrDestroyed) {
		t.Fatal(err)
	}
}

// A re-establishment given up because its own caller's context ended does
// not fail the calls that waited for it: they establish the context
// themselves.
func TestRefreshAbandonedByItsCaller(t *testing.T) {
	_, _, a := toyPair(t, nil, nil)
	a.cur.Load().dead.Store(true)

	// The caller that starts the establishment has already given up.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Refresh(gone, oncrpc.RPCSECGSSCtxProblem); !errors.Is(err, context.Canceled) {
		t.Fatalf("refresh with an ended context: %v", err)
	}

	// A waiter for an establishment that its caller abandons.
	f := &establishment{done: make(chan struct{})}
	a.mu.Lock()
	a.flight = f
	a.mu.Unlock()
	waited := make(chan error, 1)
	go func() { waited <- a.Refresh(context.Background(), oncrpc.RPCSECGSSCtxProblem) }()
	time.Sleep(20 * time.Millisecond) // usually the waiter waits by now; either order must succeed
	a.mu.Lock()
	f.err, f.abandoned = context.Canceled, true
	a.flight = nil
	close(f.done)
	a.mu.Unlock()
	if err := <-waited; err != nil {
		t.Fatalf("a waiter took over the abandoned establishment's error: %v", err)
	}
	if got, err := echo(context.Background(), a, []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("echo on the new context: %q %v", got, err)
	}
}
