package krb5

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gsskit/gsskit/gss"
)

// TestCCacheMITRoundTrip reads a cache MIT's kinit wrote (TGT plus the
// configuration entries kinit adds) and writes it back byte for byte.
func TestCCacheMITRoundTrip(t *testing.T) {
	r, _ := realmMech(t)
	cc := filepath.Join(t.TempDir(), "cc")
	r.KinitT(t, "alice", cc)
	b, c := readCCacheT(t, cc)
	if c.principal.String() != "alice@"+r.Name() {
		t.Fatalf("default principal %v", c.principal)
	}
	tgt := c.findTGT(c.principal, r.Name())
	if tgt == nil {
		t.Fatal("no TGT found")
	}
	if !tgt.endTime.After(time.Now()) || tgt.flags&(0x80000000>>flags.Forwardable) == 0 || len(tgt.ticket) == 0 {
		t.Fatalf("TGT entry: end %v flags %#x", tgt.endTime, tgt.flags)
	}
	if got := c.marshal(); !bytes.Equal(got, b) {
		t.Fatalf("re-encoded cache differs from MIT's (%d vs %d bytes)", len(got), len(b))
	}
}

// TestCCacheWriteKlist writes a cache from scratch (no header tags, a
// config entry, two tickets) and has MIT's klist list it.
func TestCCacheWriteKlist(t *testing.T) {
	r, m := realmMech(t)
	ctx := context.Background()
	pw, _ := r.Password("alice")
	mc, err := m.AcquireCred(ctx, &gss.MechCredRequest{Name: mustName(t, m, "alice", gss.NTUserName), Usage: gss.CredInitiate,
		Store: gss.CredStore{"password": pw}})
	if err != nil {
		t.Fatal(err)
	}
	c := mc.(*credential)
	st, err := c.serviceTicket(ctx, mustName(t, m, "HTTP@localhost", gss.NTHostbasedService).principal())
	if err != nil {
		t.Fatal(err)
	}
	tgtCr, _ := c.tgt.toCCache()
	stCr, _ := st.toCCache()
	conf := &ccCred{client: c.client, server: principal{components: []string{"krb5_ccache_conf_data", "pa_type", "krbtgt/" + r.Name() + "@" + r.Name()}, realm: ccConfRealm}, ticket: []byte("2")}
	cc := &ccache{version: ccVersion4, principal: c.client, creds: []*ccCred{tgtCr, conf, stCr}}
	path := filepath.Join(t.TempDir(), "written")
	if err := saveCCache(ccacheRef{"FILE", path}, cc); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode: %v %v", st, err)
	}
	out := klist(t, r, path)
	for _, want := range []string{"Default principal: alice@" + r.Name(), "krbtgt/" + r.Name() + "@" + r.Name(), "HTTP/localhost@" + r.Name()} {
		if !strings.Contains(out, want) {
			t.Errorf("klist output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "krb5_ccache_conf_data") {
		t.Errorf("klist shows the config entry as a ticket:\n%s", out)
	}
	back, err := loadCCache(ccacheRef{"FILE", path})
	if err != nil || len(back.creds) != 3 || !bytes.Equal(back.marshal(), cc.marshal()) {
		t.Fatalf("read back: %v", err)
	}
}

func TestCCacheNames(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/x": "FILE:/tmp/x", "FILE:/a:b": "FILE:/a:b", "MEMORY:m1": "MEMORY:m1", "rel/path": "FILE:rel/path",
	} {
		ref, err := parseCCacheName(in)
		if err != nil || ref.String() != want {
			t.Errorf("%q -> %v %v, want %q", in, ref, err, want)
		}
	}
	for _, bad := range []string{"KEYRING:persistent:0", "DIR:/run/x", "FILE:", "BOGUS:x"} {
		if _, err := parseCCacheName(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestMemoryCCache(t *testing.T) {
	ref := ccacheRef{"MEMORY", t.TempDir()} // memory caches outlive a test; -count=2 must start empty
	if _, err := loadCCache(ref); err != errCCacheMissing {
		t.Fatalf("missing memory cache: %v", err)
	}
	p := principal{nameType: 1, components: []string{"u"}, realm: "R"}
	cr := &ccCred{client: p, server: tgsPrincipal("R", "R"), endTime: time.Unix(2000000000, 0).UTC(), ticket: []byte{1}}
	if err := storeInCCache(ref, p, cr); err != nil {
		t.Fatal(err)
	}
	c, err := loadCCache(ref)
	if err != nil || c.findTGT(p, "R") == nil {
		t.Fatalf("%v %v", c, err)
	}
}

func TestParseCCacheErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {5}, {5, 2, 0, 0}, {5, 4, 0, 8, 0, 1}, {5, 4, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := parseCCache(b); err == nil {
			t.Errorf("%x parsed", b)
		}
	}
}

func FuzzReadCCache(f *testing.F) {
	p := principal{nameType: 1, components: []string{"u"}, realm: "R"}
	c := &ccache{version: ccVersion4, kdcOffset: &[2]uint32{1, 2}, principal: p, creds: []*ccCred{{
		client: p, server: tgsPrincipal("R", "R"), key: keyOf(18, 32), endTime: time.Unix(2000000000, 0).UTC(),
		flags: 0x40e10000, addrs: nil, ticket: []byte{0x61, 0}, secondTicket: nil,
	}}}
	f.Add(c.marshal())
	v3 := c.marshal()
	f.Add(append([]byte{5, 3}, v3[2+2+12:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCCache(b)
		if err != nil {
			return
		}
		// What parses re-encodes (as v4) and parses to the same thing.
		c2, err := parseCCache(c.marshal())
		if err != nil {
			t.Fatalf("re-encoded cache does not parse: %v", err)
		}
		if !bytes.Equal(c2.marshal(), c.marshal()) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

func FuzzImportCred(f *testing.F) {
	m := testMech(f, testConf)
	p := principal{nameType: 1, components: []string{"u"}, realm: "GSSKIT.TEST"}
	tgt := &ccCred{client: p, server: tgsPrincipal("GSSKIT.TEST", "GSSKIT.TEST"), key: keyOf(18, 32),
		endTime: time.Unix(2000000000, 0).UTC(), ticket: []byte{0x61, 0}}
	img := (&ccache{version: ccVersion4, principal: p, creds: []*ccCred{tgt}}).marshal()
	c := &credential{m: m, usage: gss.CredBoth, keytabName: "FILE:/nonexistent", acceptor: p, rcache: "none:"}
	tok, _ := c.Export()
	f.Add(tok)
	tok2 := append([]byte(credMagic), credVersion, byte(gss.CredInitiate))
	for _, fld := range [][]byte{img, []byte("MEMORY:x"), nil, nil, nil, nil} {
		tok2 = append(tok2, byte(len(fld)>>24), byte(len(fld)>>16), byte(len(fld)>>8), byte(len(fld)))
		tok2 = append(tok2, fld...)
	}
	f.Add(tok2)
	f.Fuzz(func(t *testing.T, b []byte) {
		mc, err := m.ImportCred(b)
		if err != nil {
			if _, ok := err.(*gss.Error); !ok {
				t.Fatalf("error is not a *gss.Error: %v", err)
			}
			return
		}
		if _, err := mc.Info(); err != nil {
			t.Fatal(err)
		}
		if _, err := mc.Export(); err != nil {
			t.Fatal(err)
		}
	})
}

func keyOf(etype int32, n int) (k types.EncryptionKey) {
	k.KeyType = etype
	k.KeyValue = bytes.Repeat([]byte{7}, n)
	return k
}
