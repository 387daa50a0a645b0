package proxyd

import (
	"testing"

	"github.com/gsskit/gsskit/gss"
)

func TestLRU(t *testing.T) {
	c := newLRU[int](2)
	c.add("a", 1)
	c.add("b", 2)
	if v := c.add("a", 9); v != 1 {
		t.Errorf("add over an entry returned %d, want the entry kept (1)", v)
	}
	c.add("c", 3) // b is now the least recently used
	if _, ok := c.get("b"); ok {
		t.Error("the least recently used entry was kept")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.get(k); !ok || v != want {
			t.Errorf("%s: %d %v", k, v, ok)
		}
	}
	c.remove("a")
	if _, ok := c.get("a"); ok || len(c.m) != 1 || c.l.Len() != 1 {
		t.Errorf("after remove: %d in map, %d in list", len(c.m), c.l.Len())
	}
}

func TestAcquireKey(t *testing.T) {
	svc := &Service{Name: "s"}
	for _, tc := range []struct {
		name  string
		env   credEnv
		files []string // nil: not cached
	}{
		{"acceptor", credEnv{usage: gss.CredAccept, store: gss.CredStore{"keytab": "FILE:/k", "rcache": "memory:x"}}, []string{"/k"}},
		{"acceptor on the default keytab", credEnv{usage: gss.CredAccept, store: gss.CredStore{"rcache": "memory:x"}}, nil},
		{"no store", credEnv{usage: gss.CredAccept}, nil},
		{"initiator", credEnv{usage: gss.CredInitiate, store: gss.CredStore{"ccache": "FILE:/c", "client_keytab": "/ck"}}, []string{"/c", "/ck"}},
		{"initiator, memory cache", credEnv{usage: gss.CredInitiate, store: gss.CredStore{"ccache": "MEMORY:m"}}, []string{}},
		{"initiator, unsupported cache", credEnv{usage: gss.CredInitiate, store: gss.CredStore{"ccache": "KEYRING:persistent:0"}}, nil},
		{"initiator with a password", credEnv{usage: gss.CredInitiate, store: gss.CredStore{"ccache": "MEMORY:m", "password": "p"}}, nil},
		{"both", credEnv{usage: gss.CredBoth, store: gss.CredStore{"keytab": "/k", "ccache": "FILE:/c"}}, []string{"/k", "/c"}},
		{"impersonating", credEnv{usage: gss.CredInitiate, impersonateUser: "u", store: gss.CredStore{"ccache": "MEMORY:m"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, files, ok := acquireKey(svc, &tc.env)
			if ok != (tc.files != nil) || ok && len(files) != len(tc.files) {
				t.Fatalf("cached %v with files %q, want %q", ok, files, tc.files)
			}
			for i := range files {
				if files[i] != tc.files[i] {
					t.Errorf("files %q, want %q", files, tc.files)
				}
			}
		})
	}
	a := credEnv{usage: gss.CredAccept, store: gss.CredStore{"keytab": "/k", "rcache": "memory:x"}}
	b := credEnv{usage: gss.CredAccept, store: gss.CredStore{"rcache": "memory:x", "keytab": "/k"}}
	c := credEnv{usage: gss.CredAccept, store: gss.CredStore{"keytab": "/k2", "rcache": "memory:x"}}
	ka, _, _ := acquireKey(svc, &a)
	kb, _, _ := acquireKey(svc, &b)
	kc, _, _ := acquireKey(svc, &c)
	kd, _, _ := acquireKey(&Service{Name: "t"}, &a)
	if ka != kb || ka == kc || ka == kd {
		t.Errorf("keys: same store %v, other keytab %v, other service %v", ka == kb, ka != kc, ka != kd)
	}
}
