package ccache

import (
	"slices"
	"testing"
)

func TestParsePrincipal(t *testing.T) {
	for _, c := range []struct {
		in         string
		enterprise bool
		comps      []string
		realm      string
		hasRealm   bool
	}{
		{"alice@EXAMPLE.COM", false, []string{"alice"}, "EXAMPLE.COM", true},
		{"nfs/host.example.com@EXAMPLE.COM", false, []string{"nfs", "host.example.com"}, "EXAMPLE.COM", true},
		{"alice", false, []string{"alice"}, "", false},
		{"alice@", false, []string{"alice"}, "", true},
		{`a\/b\@c\n@R`, false, []string{"a/b@c\n"}, "R", true},
		{"alice@corp.example@EXAMPLE.COM", true, []string{"alice@corp.example"}, "EXAMPLE.COM", true},
		{"a/b@c@R", true, []string{"a/b@c"}, "R", true},
	} {
		p, hasRealm, err := ParsePrincipal(c.in, c.enterprise)
		if err != nil || !slices.Equal(p.Components, c.comps) || p.Realm != c.realm || hasRealm != c.hasRealm {
			t.Errorf("%q (enterprise %v): %+v %v %v", c.in, c.enterprise, p, hasRealm, err)
		}
	}
	for _, in := range []string{"", `alice\`, "a@R@S", "a@R/x"} {
		if p, _, err := ParsePrincipal(in, false); err == nil {
			t.Errorf("%q parsed as %+v", in, p)
		}
	}
}
