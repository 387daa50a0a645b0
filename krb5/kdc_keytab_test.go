package krb5

import (
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestClientKeytabKeyHighestKVNO: a keytab whose stale key comes first with
// the same timestamp as the current one (as after copying or merging
// keytabs) still logs in with the current key, as MIT does.
func TestClientKeytabKeyHighestKVNO(t *testing.T) {
	kt := keytab.New()
	ts := time.Unix(1700000000, 0)
	for _, e := range []struct {
		princ, pass string
		kvno        uint8
		etype       int32
	}{
		{"multi/localhost", "old", 1, 18},
		{"multi$", "other", 7, 18},
		{"multi/localhost", "new", 2, 18},
		{"multi/localhost", "new", 2, 17},
		{"multi/localhost", "older", 1, 17},
	} {
		if err := kt.AddEntry(e.princ, "R.TEST", e.pass, ts, e.kvno, e.etype); err != nil {
			t.Fatal(err)
		}
	}
	cname := types.NewPrincipalName(1, "multi/localhost")
	want := func(kvno int, etype int32) types.EncryptionKey {
		for _, e := range kt.Entries {
			if int(e.KVNO8) == kvno && e.Key.KeyType == etype && e.Principal.Components[0] == "multi" {
				return e.Key
			}
		}
		t.Fatalf("no entry kvno %d etype %d", kvno, etype)
		return types.EncryptionKey{}
	}
	for _, tc := range []struct {
		kvno, wantKVNO int
		etype          int32
	}{{0, 2, 18}, {0, 2, 17}, {1, 1, 18}, {2, 2, 17}, {258, 2, 18}} {
		k, kv, ok := clientKeytabKey(kt, cname, "R.TEST", tc.kvno, tc.etype)
		if !ok || kv != tc.wantKVNO || string(k.KeyValue) != string(want(tc.wantKVNO, tc.etype).KeyValue) {
			t.Errorf("kvno %d etype %d: got kvno %d ok %v, want kvno %d", tc.kvno, tc.etype, kv, ok, tc.wantKVNO)
		}
	}
	for _, tc := range []struct {
		name  string
		realm string
		kvno  int
		etype int32
	}{{"other realm", "S.TEST", 0, 18}, {"absent kvno", "R.TEST", 3, 18}, {"absent enctype", "R.TEST", 0, 20}} {
		if _, _, ok := clientKeytabKey(kt, cname, tc.realm, tc.kvno, tc.etype); ok {
			t.Errorf("%s: found a key", tc.name)
		}
	}
	if _, kv, ok := clientKeytabKey(kt, types.NewPrincipalName(1, "multi$"), "R.TEST", 0, 18); !ok || kv != 7 {
		t.Errorf("multi$: kvno %d ok %v", kv, ok)
	}
}
