package kafka

import (
	"errors"
	"strings"
	"testing"
)

// The cases of Kafka's own documentation (docs/security.html, "Customizing
// SASL User Name") and of its KerberosNameTest, which pins the broker's
// behaviour; then what Java's regex engine does where RE2 differs.

func TestShortNamerKafkaExamples(t *testing.T) {
	type want struct{ principal, short, err string }
	cases := []struct {
		name  string
		realm string
		rules []string
		want  []want
	}{
		{
			name:  "security.html: user@MYDOMAIN.COM to user, DEFAULT kept",
			realm: "REALM.COM",
			rules: SplitRules("RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//,DEFAULT"),
			want: []want{
				{"user@MYDOMAIN.COM", "user", ""},
				{"other@REALM.COM", "other", ""},
				{"svc/host@REALM.COM", "svc", ""},
				{"user@ELSEWHERE.ORG", "", "no rules apply"},
			},
		},
		{
			name:  "security.html formats with /L and /U",
			realm: "REALM.COM",
			rules: []string{"RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//L", "RULE:[2:$1@$0](.*@MYDOMAIN.COM)s/@.*/x/g/U"},
			want: []want{
				{"John.Doe@MYDOMAIN.COM", "john.doe", ""},
				{"App/host@MYDOMAIN.COM", "APPX", ""},
			},
		},
		{
			name:  "KerberosNameTest.testParse",
			realm: "REALM.COM",
			rules: []string{`RULE:[1:$1](App\..*)s/App\.(.*)/$1/g`, `RULE:[2:$1](App\..*)s/App\.(.*)/$1/g`, "DEFAULT"},
			want: []want{
				{"App.service-name/example.com@REALM.COM", "service-name", ""},
				{"App.service-name@REALM.COM", "service-name", ""},
				{"user/host@REALM.COM", "user", ""},
			},
		},
		{
			name:  "KerberosNameTest.testToLowerCase",
			realm: "REALM.COM",
			rules: []string{"RULE:[1:$1]/L", "RULE:[2:$1](Test.*)s/ABC///L", "RULE:[2:$1](ABC.*)s/ABC/XYZ/g/L",
				`RULE:[2:$1](App\..*)s/App\.(.*)/$1/g/L`, "RULE:[2:$1]/L", "DEFAULT"},
			want: []want{
				{"User@REALM.COM", "user", ""},
				{"TestABC/host@FOO.COM", "test", ""},
				{"ABC_User_ABC/host@FOO.COM", "xyz_user_xyz", ""},
				{"App.SERVICE-name/example.com@REALM.COM", "service-name", ""},
				{"User/root@REALM.COM", "user", ""},
			},
		},
		{
			name:  "KerberosNameTest.testToUpperCase",
			realm: "REALM.COM",
			rules: []string{"RULE:[1:$1]/U", "RULE:[2:$1](Test.*)s/ABC///U", "RULE:[2:$1](ABC.*)s/ABC/XYZ/g/U",
				`RULE:[2:$1](App\..*)s/App\.(.*)/$1/g/U`, "RULE:[2:$1]/U", "DEFAULT"},
			want: []want{
				{"User@REALM.COM", "USER", ""},
				{"TestABC/host@FOO.COM", "TEST", ""},
				{"ABC_User_ABC/host@FOO.COM", "XYZ_USER_XYZ", ""},
				{"App.SERVICE-name/example.com@REALM.COM", "SERVICE-NAME", ""},
				{"User/root@REALM.COM", "USER", ""},
			},
		},
		{
			name:  "DEFAULT alone (no setting)",
			realm: "GSSKIT.TEST",
			rules: nil,
			want: []want{
				{"alice@GSSKIT.TEST", "alice", ""},
				{"kafka/broker1@GSSKIT.TEST", "kafka", ""},
				{"alice@OTHER.TEST", "", "no rules apply to alice@OTHER.TEST, rules [DEFAULT]"},
				{"alice", "alice", ""}, // already simple
				{"a/b/c@GSSKIT.TEST", "", "malformed Kerberos name"},
			},
		},
		{
			name:  "a result with '/' or '@' is an error, not a fall-through",
			realm: "R",
			rules: []string{"RULE:[2:$1/$2]", "DEFAULT"},
			want:  []want{{"svc/host@R", "", "non-simple name svc/host after auth_to_local rule RULE:[2:$1/$2]"}},
		},
		{
			name:  "no match part, first replacement only, then all",
			realm: "R",
			rules: []string{"RULE:[2:$2-$1]s/o/0/", "RULE:[1:$1]s/o/0/g"},
			want:  []want{{"foo/boo@R", "b0o-foo", ""}, {"foo@R", "f00", ""}},
		},
		{
			name:  "an empty list maps nothing",
			realm: "R",
			rules: []string{},
			want:  []want{{"a@R", "", "no rules apply"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewShortNamer(tc.realm, tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				got, err := n.ShortName(w.principal)
				if w.err != "" {
					if err == nil || !strings.Contains(err.Error(), w.err) {
						t.Errorf("%s: got %q, %v; want error %q", w.principal, got, err, w.err)
					}
					continue
				}
				if err != nil || got != w.short {
					t.Errorf("%s: got %q, %v; want %q", w.principal, got, err, w.short)
				}
			}
		})
	}
}

func TestShortNamerPrincipal(t *testing.T) {
	n, _ := NewShortNamer("GSSKIT.TEST", nil)
	if p, err := n.Principal("alice@GSSKIT.TEST"); err != nil || p != "User:alice" {
		t.Fatalf("%q %v", p, err)
	}
}

func TestShortNamerBadRules(t *testing.T) {
	cases := []struct{ rule, want string }{
		// KerberosNameTest.testInvalidRules
		{"default", "neither DEFAULT nor RULE"},
		{"DEFAUL", "neither DEFAULT nor RULE"},
		{"DEFAULT/L", "unmatched text `/L`"},
		{"DEFAULT/g", "unmatched text `/g`"},
		{"rule:[1:$1]", "neither DEFAULT nor RULE"},
		{"rule:[1:$1]/L/U", "neither DEFAULT nor RULE"},
		{"rule:[1:$1]/U/L", "neither DEFAULT nor RULE"},
		{"rule:[1:$1]/LU", "neither DEFAULT nor RULE"},
		{"RULE:[1:$1/L", "neither DEFAULT nor RULE"},
		{"RULE:[1:$1]/l", "unmatched text `l`"}, // the optional '/' before L|U is taken
		{"RULE:[2:$1](ABC.*)s/ABC/XYZ/L/g", "unmatched text `/g`"},
		// Caught when parsed rather than when a principal reaches them.
		{"RULE:[:$1]", "component count `` is not a number"},
		{"RULE:[1:$2]", "uses $2, outside the valid range 0 to 1"},
		{"RULE:[1:$x]", "'$' must be followed by a parameter number"},
		{"RULE:[1:$1]s/(a)/$2/", "no group 2"},
		{"RULE:[1:$1]s/a/$x/", "illegal group reference"},
		{"RULE:[1:$1]s/a/b\\/", "character to be escaped is missing"},
		{"RULE:[1:$1](a(b)", "missing closing ) `a(b`"},
		{"RULE:[1:$1](*a)", "missing argument to repetition operator"},
		// Java constructs RE2 does not have.
		{"RULE:[1:$1]s/(?=a)b/c/", "(Java constructs RE2 lacks are not supported)"},
		{"RULE:[1:$1]s/a++/c/", "invalid nested repetition operator"},
		// Java constructs RE2 would read differently.
		{`RULE:[1:$1]s/(a)\1/c/`, `\1 is a backreference`},
		{"RULE:[1:$1]s/[a-z&&[^e]]/c/", "&& (class intersection"},
		{"RULE:[1:$1]s/[a[bc]]/c/", "nested character class"},
		{"RULE:[1:$1]s/[[:alpha:]]/c/", "POSIX class in RE2"},
		{`RULE:[1:$1]s/\v/c/`, `\v is vertical whitespace`},
		{"RULE:[1:$1]s/(?U)a*/c/", "(?U) is Unicode classes in Java"},
		{"RULE:[1:$1]s/a{,2}/c/", "'{' that starts no repetition"},
		{"RULE:[1:$1]s/[]a]/c/", "']' first in a character class"},
	}
	for _, tc := range cases {
		_, err := NewShortNamer("R", []string{"DEFAULT", tc.rule})
		var re *RuleError
		if !errors.As(err, &re) || re.Rule != tc.rule || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q naming the rule", tc.rule, err, tc.want)
		}
	}
}

// Java's Matcher.replaceAll takes an empty match right after a non-empty
// one; RE2 skips it. "baaac".replaceAll("a*", "-") is "-b--c-" in Java.
func TestShortNamerJavaReplaceAll(t *testing.T) {
	cases := []struct{ rule, principal, want string }{
		{"RULE:[1:$1]s/a*/-/g", "baaac@R", "-b--c-"},
		{"RULE:[1:$1]s/a*/-/", "baaac@R", "-baaac"},
		{"RULE:[1:$1]s/x*/-/g", "abc@R", "-a-b-c-"},
		{"RULE:[1:$1]s/b*/-/g", "abc@R", "-a--c-"},
		{`RULE:[1:$1]s/\b/!/g`, "ab-cd@R", "!ab!-!cd!"},
		{"RULE:[1:$1]s/^a/X/g", "aaa@R", "Xaa"},
		// $12 is group 1 then '2' when there is no group 12.
		{"RULE:[1:$1]s/(a)(b)/$12$2/g", "ab@R", "a2b"},
		{`RULE:[1:$1]s/(?<x>a)/${x}${x}/g`, "ba@R", "baa"},
		{`RULE:[1:$1]s/a/\$/g`, "ba@R", "b$"},
		// A group that did not take part adds nothing.
		{"RULE:[1:$1]s/(x)?b/[$1]/", "ab@R", "a[]"},
		{"RULE:[1:$1]s/é*/-/g", "aéé@R", "-a--"},
	}
	for _, tc := range cases {
		n, err := NewShortNamer("R", []string{tc.rule})
		if err != nil {
			t.Fatalf("%s: %v", tc.rule, err)
		}
		got, err := n.ShortName(tc.principal)
		if err != nil || got != tc.want {
			t.Errorf("%s on %s: got %q, %v; want %q", tc.rule, tc.principal, got, err, tc.want)
		}
	}
}

func TestSplitRules(t *testing.T) {
	got := SplitRules("  RULE:[1:$1]s/x{1,2}//  ,\tDEFAULT ")
	want := []string{"RULE:[1:$1]s/x{1", "2}//", "DEFAULT"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%q", got)
	}
	if SplitRules("  ") != nil {
		t.Fatal("blank list is not empty")
	}
}

func FuzzShortNamer(f *testing.F) {
	f.Add("RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//", "user@MYDOMAIN.COM")
	f.Add(`RULE:[2:$1](App\..*)s/App\.(.*)/$1/g/L`, "App.x/h@R")
	f.Add("RULE:[1:$1]s/a*/-/g", "baaac@R")
	f.Add("DEFAULT", "a/b@R")
	f.Fuzz(func(t *testing.T, rule, principal string) {
		n, err := NewShortNamer("R", []string{rule})
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Rule != rule {
				t.Fatalf("error without the rule: %v", err)
			}
			return
		}
		short, err := n.ShortName(principal)
		if err == nil && strings.ContainsAny(short, "/@") && strings.Contains(principal, "@") {
			t.Fatalf("non-simple result %q", short)
		}
	})
}
