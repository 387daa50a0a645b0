package proxyd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
)

func serviceNames(c *Config) []string {
	var out []string
	for _, s := range c.Services {
		out = append(out, s.Name)
	}
	return out
}

func warningsText(c *Config) string {
	var b strings.Builder
	for _, w := range c.Warnings {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestDebianDefaults(t *testing.T) {
	c, err := Load(LoadOptions{File: "testdata/debian/gssproxy.conf", Dir: "testdata/debian"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings on the Debian configuration:\n%s", warningsText(c))
	}
	wantFiles := []string{"testdata/debian/gssproxy.conf", filepath.Join("testdata/debian", "24-nfs-server.conf")}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", c.Files, wantFiles)
	}
	if c.Socket != DefaultSocket || c.DebugLevel != 0 || c.Debug || c.SyslogStatus || c.RunAsUser != "" ||
		c.WorkerThreads != 0 || c.EffectiveWorkerThreads() != 5 {
		t.Errorf("global settings %+v differ from the reference defaults", c)
	}
	if len(c.Services) != 1 {
		t.Fatalf("services %q, want only nfs-server", serviceNames(c))
	}
	got := c.Services[0]
	want := &Service{
		Name: "nfs-server", File: filepath.Join("testdata/debian", "24-nfs-server.conf"), Line: 1,
		Euid: 0, Socket: "/run/gssproxy.sock", Trusted: true, KernelNFSD: true, Krb5: true,
		CredStore: []CredStoreElement{{"keytab", "/etc/krb5.keytab"}},
		CredUsage: gss.CredBoth, FilterFlags: gss.FlagDeleg, EnforceFlags: 0, MinLifetime: 15,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nfs-server =\n%+v\nwant\n%+v", got, want)
	}
	if !c.KernelNFSD() {
		t.Error("KernelNFSD() = false")
	}
	if s := c.Sockets(); !reflect.DeepEqual(s, []string{DefaultSocket, "/run/gssproxy.sock"}) {
		t.Errorf("Sockets() = %q", s)
	}
}

func TestDebianMainFileAloneHasNoService(t *testing.T) {
	_, err := Load(LoadOptions{File: "testdata/debian/gssproxy.conf"})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no usable [service/NAME] section") {
		t.Fatalf("err = %v, want the reference's refusal to run without services", err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "testdata/debian/gssproxy.conf: ") {
		t.Errorf("error %q does not name the file", got)
	}
}

func TestDebianExamples(t *testing.T) {
	users := map[string]uint32{"apache": 48}
	c, err := Load(LoadOptions{
		File: "testdata/debian/gssproxy.conf", Dir: "testdata/debian/examples",
		LookupUser: func(name string) (uint32, error) {
			if uid, ok := users[name]; ok {
				return uid, nil
			}
			return 0, user.UnknownUserError(name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if names := serviceNames(c); !reflect.DeepEqual(names, []string{"HTTP", "network-fs-clients"}) {
		t.Fatalf("services %q", names)
	}
	http, nfs := c.Services[0], c.Services[1]
	if http.Euid != 48 || http.AllowAnyUID || http.Socket != "" ||
		!reflect.DeepEqual(http.CredStore, []CredStoreElement{
			{"keytab", "/etc/gssproxy/http.keytab"}, {"ccache", "/var/lib/gssproxy/clients/krb5cc_%U"}}) {
		t.Errorf("HTTP = %+v", http)
	}
	if nfs.Euid != 0 || !nfs.AllowAnyUID || !nfs.Trusted || nfs.CredUsage != gss.CredInitiate || nfs.MinLifetime != 60 ||
		!reflect.DeepEqual(nfs.CredStore, []CredStoreElement{
			{"keytab", "/etc/krb5.keytab"},
			{"ccache", "FILE:/var/lib/gssproxy/clients/krb5cc_%U"},
			{"client_keytab", "/var/lib/gssproxy/clients/%U.keytab"}}) {
		t.Errorf("network-fs-clients = %+v", nfs)
	}
	cs, err := nfs.ExpandCredStore(1000, func(uint32) (string, error) { return "", errors.New("not needed") })
	if err != nil || cs[1].Value != "FILE:/var/lib/gssproxy/clients/krb5cc_1000" || cs[2].Value != "/var/lib/gssproxy/clients/1000.keytab" {
		t.Errorf("ExpandCredStore = %v, %v", cs, err)
	}

	// Without a user named apache the reference refuses the file; so do we.
	_, err = Load(LoadOptions{File: "testdata/debian/gssproxy.conf", Dir: "testdata/debian/examples",
		LookupUser: func(name string) (uint32, error) { return 0, user.UnknownUserError(name) }})
	want := filepath.Join("testdata/debian/examples", "80-httpd.conf") + `:5: option "euid": unknown user "apache"`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// expandTemplate fills a configuration the reference's test suite writes.
func expandTemplate(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/reftests", name))
	if err != nil {
		t.Fatal(err)
	}
	out := os.Expand(string(data), func(k string) string {
		v, ok := vars[k]
		if !ok {
			t.Fatalf("%s: no value for ${%s}", name, k)
		}
		return v
	})
	path := filepath.Join(t.TempDir(), "gp.conf")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReferenceTestSuiteConfigs(t *testing.T) {
	dir := "/srv/gptest" // never touched: the configurations only name it
	uid := uint32(os.Getuid())
	vars := map[string]string{
		"GSSPROXY_KEYTAB":           dir + "/gssproxy.keytab",
		"GSSPROXY_CLIENT_KEYTAB":    dir + "/gpclient.keytab",
		"GSSPROXY_CLIENT_PRINCIPAL": "client@GSSPROXY.DEV",
		"UIDNUMBER":                 strconv.FormatUint(uint64(uid), 10),
		"SECOND_SOCKET":             dir + "/gssproxy/gp.sock2",
		"PROGDIR":                   dir + "/tests",
		"TESTDIR":                   dir,
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this system")
	}
	nobodyUID, _ := strconv.ParseUint(nobody.Uid, 10, 32)

	type svc struct {
		name, socket, program string
		euid                  uint32
		trusted, ccsync       bool
		proto, constrained    bool
		principal             string
		store                 []CredStoreElement
	}
	keytabs := []CredStoreElement{{"keytab", vars["GSSPROXY_KEYTAB"]}, {"client_keytab", vars["GSSPROXY_CLIENT_KEYTAB"]}}
	for _, tc := range []struct {
		file  string
		level int
		want  []svc
	}{
		{"basic.conf", 3, []svc{
			{name: "test", euid: uid, trusted: true, ccsync: true, store: keytabs},
			{name: "badkeytab", euid: 123, store: []CredStoreElement{{"keytab", "/intentionally/missing/keytab"}}},
		}},
		{"minimal.conf", 3, []svc{{name: "dontuse", euid: uint32(nobodyUID), trusted: true, ccsync: true, store: keytabs}}},
		{"socket.conf", 3, []svc{{name: "test", euid: uid, trusted: true, ccsync: true, socket: vars["SECOND_SOCKET"], store: keytabs}}},
		{"multi.conf", 2, []svc{{name: "test", euid: uid, trusted: true, ccsync: true, principal: "client@GSSPROXY.DEV",
			store: []CredStoreElement{{"keytab", vars["GSSPROXY_KEYTAB"]}}}}},
		{"program.conf", 3, []svc{{name: "t_acquire", euid: uid, trusted: true, ccsync: true, program: dir + "/tests/t_acquire", store: keytabs}}},
		{"impersonate.conf", 2, []svc{
			{name: "impersonate", euid: uid, socket: dir + "/impersonate.socket", proto: true, constrained: true, store: keytabs},
			{name: "selfonly", euid: uid, socket: dir + "/impersonate-selfonly.socket", proto: true, store: keytabs},
			{name: "proxyonly", euid: uid, socket: dir + "/impersonate-proxyonly.socket", constrained: true, store: keytabs},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := expandTemplate(t, tc.file, vars)
			c, err := Load(LoadOptions{File: path, Socket: dir + "/gssproxy/gp.sock"})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != 0 {
				t.Errorf("warnings:\n%s", warningsText(c))
			}
			if c.DebugLevel != tc.level {
				t.Errorf("DebugLevel = %d, want %d", c.DebugLevel, tc.level)
			}
			if len(c.Services) != len(tc.want) {
				t.Fatalf("services %q", serviceNames(c))
			}
			for i, w := range tc.want {
				g := c.Services[i]
				got := svc{g.Name, g.Socket, g.Program, g.Euid, g.Trusted, g.AllowClientCcacheSync,
					g.AllowProtocolTransition, g.AllowConstrainedDelegation, g.Krb5Principal, g.CredStore}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("service %d = %+v\nwant %+v", i, got, w)
				}
				if !g.Krb5 || g.CredUsage != gss.CredBoth || g.FilterFlags != gss.FlagDeleg || g.MinLifetime != 15 {
					t.Errorf("service %s defaults: %+v", g.Name, g)
				}
			}
		})
	}
}

// TestReferenceTestSuiteConfigsAgree runs the reference daemon on the same
// configurations, with their sockets in a temporary directory.
func TestReferenceTestSuiteConfigsAgree(t *testing.T) {
	bin := referenceDaemon(t)
	for _, file := range []string{"basic.conf", "minimal.conf", "socket.conf", "multi.conf", "program.conf", "impersonate.conf"} {
		t.Run(file, func(t *testing.T) {
			root := t.TempDir()
			sockDir := filepath.Join(root, "s")
			if err := os.Mkdir(sockDir, 0o755); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{
				"GSSPROXY_KEYTAB":           root + "/gssproxy.keytab",
				"GSSPROXY_CLIENT_KEYTAB":    root + "/gpclient.keytab",
				"GSSPROXY_CLIENT_PRINCIPAL": "client@GSSPROXY.DEV",
				"UIDNUMBER":                 strconv.Itoa(os.Getuid()),
				"SECOND_SOCKET":             sockDir + "/gp.sock2",
				"PROGDIR":                   root + "/tests",
				"TESTDIR":                   sockDir,
			}
			path := expandTemplate(t, file, vars)
			started, refSockets, log := runReference(t, bin, path, "", sockDir)
			c, err := Load(LoadOptions{File: path, Socket: filepath.Join(sockDir, "default")})
			if !started || err != nil {
				t.Fatalf("reference started: %v; Load error: %v\n%s", started, err, log)
			}
			var ours []string
			for _, s := range c.Services {
				if s.Socket != "" {
					ours = append(ours, filepath.Base(s.Socket))
				}
			}
			if ours = sortedStrings(ours); !reflect.DeepEqual(ours, refSockets) {
				t.Errorf("service sockets: ours %q, reference %q", ours, refSockets)
			}
		})
	}
}

type iniWant struct {
	name   string
	values [][2]string
}

func TestINIGrammar(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []iniWant
		errLine    int
		errMsg     string
	}{
		{name: "basic", text: "[a]\nk = v\n", want: []iniWant{{"a", [][2]string{{"k", "v"}}}}},
		{name: "whitespace trimmed around key, value and section name",
			text: "[ a b ]\n  k  x \t=\t  v w  \n\tj=\n",
			want: []iniWant{{"a b", [][2]string{{"k  x", "v w"}, {"j", ""}}}}},
		{name: "comments and blank lines", text: "# c\n; c\n// c\n\n   \n/* one\ntwo */\n/**/\n[a]\nk=v # not a comment\n",
			want: []iniWant{{"a", [][2]string{{"k", "v # not a comment"}}}}},
		{name: "CRLF", text: "[a]\r\nk = v\r\n", want: []iniWant{{"a", [][2]string{{"k", "v"}}}}},
		{name: "no final newline", text: "[a]\nk = v", want: []iniWant{{"a", [][2]string{{"k", "v"}}}}},
		{name: "value keeps later equals signs", text: "[a]\nk = x=y\n", want: []iniWant{{"a", [][2]string{{"k", "x=y"}}}}},
		{name: "keys before a section go to default", text: "k = v\n[a]\n",
			want: []iniWant{{"default", [][2]string{{"k", "v"}}}, {"a", nil}}},
		{name: "repeated section merges in first position, case-insensitively",
			text: "[a]\nk=1\n[b]\n[A]\nk=2\nj=3\n",
			want: []iniWant{{"a", [][2]string{{"k", "1"}, {"k", "2"}, {"j", "3"}}}, {"b", nil}}},
		{name: "section name may hold brackets", text: "[a]b]\n", want: []iniWant{{"a]b", nil}}},
		{name: "indented comment is a key line", text: "[a]\n  # c\n", errLine: 2, errMsg: "Equal sign is missing."},
		{name: "indented comment with an equals sign is a key", text: "[a]\n  # c = d\n",
			want: []iniWant{{"a", [][2]string{{"# c", "d"}}}}},
		{name: "indented section header", text: " [a]\n", errLine: 1, errMsg: "Equal sign is missing."},
		{name: "text after the closing bracket", text: "[a] # c\n", errLine: 1, errMsg: "No closing bracket."},
		{name: "empty section name", text: "\n[  ]\n", errLine: 2, errMsg: "Section name is missing."},
		{name: "no key", text: "[a]\n = v\n", errLine: 2, errMsg: "Property name is missing."},
		{name: "no equals", text: "[a]\nk\n", errLine: 2, errMsg: "Equal sign is missing."},
		{name: "form feed before the text", text: "[a]\n \fk = v\n", errLine: 2, errMsg: "Invalid character at the beginning of the line."},
		{name: "vertical tab first", text: "[a]\n\vk = v\n", errLine: 2, errMsg: "Invalid character at the beginning of the line."},
		{name: "key too long", text: "[a]\n" + strings.Repeat("k", 1024) + " = v\n", errLine: 2, errMsg: "Property name is too long."},
		{name: "key just short enough", text: "[a]\n" + strings.Repeat("k", 1023) + " = v\n",
			want: []iniWant{{"a", [][2]string{{strings.Repeat("k", 1023), "v"}}}}},
		{name: "section name too long", text: "[" + strings.Repeat("s", 1025) + "]\n", errLine: 1, errMsg: "Section name is too long."},
		{name: "unterminated block comment", text: "[a]\n/* x\n", errLine: 3, errMsg: "Incomplete comment at the end of the file."},
		{name: "*/ in column 0 does not close", text: "/* x\n*/\n[a]\n", errLine: 4, errMsg: "Incomplete comment at the end of the file."},
		{name: "*/ after a blank closes", text: "/* x\n */\n[a]\n", want: []iniWant{{"a", nil}}},
		{name: "/*/ does not close itself", text: "/*/\n[a]\n", errLine: 3, errMsg: "Incomplete comment at the end of the file."},
		{name: "NUL ends the line", text: "[a]\nk = v\x00w\n", want: []iniWant{{"a", [][2]string{{"k", "v"}}}}},
		{name: "UTF-8 BOM", text: "\xef\xbb\xbf[a]\n", want: []iniWant{{"a", nil}}},
		{name: "Latin-1 byte", text: "# caf\xe9\n[a]\n", errMsg: "not valid UTF-8"},
		{name: "UTF-16LE with BOM", text: "\xff\xfe[\x00a\x00]\x00\n\x00", want: []iniWant{{"a", nil}}},
		{name: "UTF-16BE with BOM", text: "\xfe\xff\x00[\x00a\x00]", want: []iniWant{{"a", nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseINI("x.conf", []byte(tc.text))
			if tc.errMsg != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Line != tc.errLine || !strings.Contains(ce.Msg, tc.errMsg) {
					t.Fatalf("err = %v, want line %d %q", err, tc.errLine, tc.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []iniWant
			for _, s := range f.sections {
				w := iniWant{name: s.name}
				for _, v := range s.values {
					w.values = append(w.values, [2]string{v.key, v.value})
				}
				got = append(got, w)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// loadCase is a configuration written into a temporary directory: a main
// file and snippets (content "@dir" makes a directory, "@link:NAME" a
// symbolic link to snippet NAME). ${S} stands for a socket directory.
type loadCase struct {
	name     string
	main     string
	snippets map[string]string
	services []string // names, in order, when the configuration loads
	err      string   // substring of the error when it does not
	warn     string   // substring expected among the warnings
	check    func(t *testing.T, c *Config)
	noRef    bool // keep out of the comparison with the reference daemon
}

const globalSection = "[gssproxy]\n  debug_level = 1\n"

var loadCases = []loadCase{
	{name: "minimal", main: "[service/a]\nmechs = krb5\neuid = 0\n", services: []string{"a"}},
	{name: "inline # is part of the value", main: "[service/a]\nmechs = krb5 # c\neuid = 0\n",
		err: "no usable", warn: `mechs = "krb5 # c" enables no mechanism`},
	{name: "mechs must be exactly krb5", main: "[service/a]\nmechs = krb5, krb5\neuid = 0\n[service/b]\nmechs = krb5\neuid = 1\nsocket = ${S}/b\n",
		services: []string{"b"}, warn: `mechs = "krb5, krb5"`},
	{name: "indented comment is an error", main: "[service/a]\n  # c\nmechs = krb5\neuid = 0\n", err: `gssproxy.conf:2: Equal sign is missing.`},
	{name: "Service/ with a capital is not a service", main: "[Service/a]\nmechs = krb5\neuid = 0\n",
		err: "no usable", warn: "[Service/a] is not [gssproxy]"},
	{name: "names of sections and options ignore case", main: "[GSSPROXY]\nDEBUG_LEVEL = 3\n[service/a]\nMECHS = krb5\nEuid = 0\n",
		services: []string{"a"}, check: func(t *testing.T, c *Config) {
			if c.DebugLevel != 3 {
				t.Errorf("DebugLevel = %d", c.DebugLevel)
			}
		}},
	{name: "C comments", main: "// c\n/* b\n   c */\n; s\n[service/a]\nmechs = krb5\neuid = 0\n", services: []string{"a"}},
	{name: "euid missing", main: "[service/a]\nmechs = krb5\n", err: `gssproxy.conf:1: [service/a]: option "euid" is missing`},
	{name: "mechs missing", main: "[service/a]\neuid = 0\n", err: `gssproxy.conf:1: [service/a]: option "mechs" is missing`},
	{name: "unknown euid user", main: "[service/a]\nmechs = krb5\neuid = nosuchuser\n",
		err: `gssproxy.conf:3: option "euid": unknown user "nosuchuser"`},
	{name: "euid takes the leading number", main: "[service/a]\nmechs = krb5\neuid = 48abc\n[service/b]\nmechs = krb5\neuid = 48\n",
		err: "same socket, program, selinux_context and euid as [service/a]"},
	{name: "euid by name", main: "[service/a]\nmechs = krb5\neuid = root\n", services: []string{"a"}},
	{name: "first value of a repeated option wins", main: "[service/a]\nmechs = krb5\neuid = nosuchuser\neuid = 0\n",
		err: `unknown user "nosuchuser"`},
	{name: "repeated section merges", main: "[service/a]\nmechs = krb5\neuid = 0\n[service/b]\nmechs = krb5\neuid = 1\n[service/a]\neuid = nosuchuser\nsocket = ${S}/a\n",
		services: []string{"a", "b"}, warn: `option "euid" repeated; the first value (line 3) is used`,
		check: func(t *testing.T, c *Config) {
			if !strings.HasSuffix(c.Services[0].Socket, "/a") {
				t.Errorf("socket of the merged section lost: %+v", c.Services[0])
			}
		}},
	{name: "cred_store needs a colon", main: "[service/a]\nmechs = krb5\neuid = 0\ncred_store = keytab/etc/krb5.keytab\n",
		err: `gssproxy.conf:4: option "cred_store": "keytab/etc/krb5.keytab" has no ':'`},
	{name: "deprecated krb5_keytab is refused", main: "[service/a]\nmechs = krb5\neuid = 0\nkrb5_keytab = /x\n",
		err: `option "krb5_keytab": no longer supported; write "cred_store = keytab:/x"`},
	{name: "cred_usage ignores case", main: "[service/a]\nmechs = krb5\neuid = 0\ncred_usage = Initiate\n", services: []string{"a"},
		check: func(t *testing.T, c *Config) {
			if c.Services[0].CredUsage != gss.CredInitiate {
				t.Errorf("CredUsage = %v", c.Services[0].CredUsage)
			}
		}},
	{name: "cred_usage bogus", main: "[service/a]\nmechs = krb5\neuid = 0\ncred_usage = bogus\n",
		err: `option "cred_usage": "bogus" is not initiate, accept or both`},
	{name: "worker threads must be a number", main: "[gssproxy]\nworker threads = abc\n[service/a]\nmechs = krb5\neuid = 0\n",
		err: `option "worker threads": "abc" is not a number`},
	{name: "worker threads", main: "[gssproxy]\nworker threads = 12\n[service/a]\nmechs = krb5\neuid = 0\n", services: []string{"a"},
		check: func(t *testing.T, c *Config) {
			if c.WorkerThreads != 12 || c.EffectiveWorkerThreads() != 12 {
				t.Errorf("WorkerThreads = %d", c.WorkerThreads)
			}
		}},
	{name: "debug_level must be a number", main: "[gssproxy]\ndebug_level = high\n[service/a]\nmechs = krb5\neuid = 0\n",
		err: `option "debug_level": "high" is not a number`},
	{name: "debug and debug_level", main: "[gssproxy]\ndebug = yes\nsyslog_status = on\nrun_as_user = nobody\n[service/a]\nmechs = krb5\neuid = 0\n",
		services: []string{"a"}, check: func(t *testing.T, c *Config) {
			if !c.Debug || c.DebugLevel != 1 || !c.SyslogStatus || c.RunAsUser != "nobody" {
				t.Errorf("globals %+v", c)
			}
		}},
	{name: "debug_level overrides debug", main: "[gssproxy]\ndebug = true\ndebug_level = 0\n[service/a]\nmechs = krb5\neuid = 0\n",
		services: []string{"a"}, noRef: true, check: func(t *testing.T, c *Config) {
			if c.DebugLevel != 0 {
				t.Errorf("DebugLevel = %d", c.DebugLevel)
			}
		}},
	{name: "bad min_lifetime keeps the default", main: "[service/a]\nmechs = krb5\neuid = 0\nmin_lifetime = abc\n[service/b]\nmechs = krb5\neuid = 1\nmin_lifetime = -5\n",
		services: []string{"a", "b"}, warn: `option "min_lifetime": negative value -5 ignored`,
		check: func(t *testing.T, c *Config) {
			if c.Services[0].MinLifetime != 15 || c.Services[1].MinLifetime != 15 {
				t.Errorf("MinLifetime = %d, %d", c.Services[0].MinLifetime, c.Services[1].MinLifetime)
			}
		}},
	{name: "program must be absolute", main: "[service/a]\nmechs = krb5\neuid = 0\nprogram = usr/bin/x\n",
		err: `gssproxy.conf:4: option "program": program paths must be absolute`},
	{name: "program must not hold |", main: "[service/a]\nmechs = krb5\neuid = 0\nprogram = /usr/bin/a|b\n", err: "'|' is not allowed"},
	{name: "allow_any_uid first hides later services", main: "[service/a]\nmechs = krb5\neuid = 0\nallow_any_uid = yes\n[service/b]\nmechs = krb5\neuid = 5\n",
		err: "unreachable: [service/a]"},
	{name: "allow_any_uid last is fine", main: "[service/b]\nmechs = krb5\neuid = 5\n[service/a]\nmechs = krb5\neuid = 0\nallow_any_uid = yes\n",
		services: []string{"b", "a"}},
	{name: "allow_any_uid on another socket is fine", main: "[service/a]\nmechs = krb5\neuid = 0\nallow_any_uid = yes\nsocket = ${S}/a\n[service/b]\nmechs = krb5\neuid = 5\n",
		services: []string{"a", "b"}},
	{name: "same euid told apart by program", main: "[service/a]\nmechs = krb5\neuid = 0\nprogram = /usr/sbin/a\n[service/b]\nmechs = krb5\neuid = 0\n",
		services: []string{"a", "b"}},
	{name: "empty socket", main: "[service/a]\nmechs = krb5\neuid = 0\nsocket =\n", services: []string{"a"},
		warn: "empty socket; the service cannot be reached", check: func(t *testing.T, c *Config) {
			if c.Services[0].Reachable() {
				t.Error("Reachable() = true")
			}
			if s := c.Sockets(); len(s) != 1 {
				t.Errorf("Sockets() = %q", s)
			}
		}},
	{name: "invalid selinux_context", main: "[service/a]\nmechs = krb5\neuid = 0\nselinux_context = foo\n",
		err: `option "selinux_context": invalid SELinux context "foo"`},
	{name: "selinux_context", main: "[service/a]\nmechs = krb5\neuid = 0\nselinux_context = system_u:system_r:nfsd_t:s0\n",
		services: []string{"a"}, warn: "deprecated"},
	{name: "unknown options are ignored with a warning", main: "[gssproxy]\nsocket = /x\nbogus = 1\n[service/a]\nmechs = krb5\neuid = 0\ndebug = yes\nfrobnicate = 1\nallow_any_uid = yes # c\n",
		services: []string{"a"}, warn: `unknown option "frobnicate" ignored`, check: func(t *testing.T, c *Config) {
			w := warningsText(c)
			for _, s := range []string{`option "socket" belongs in [service/...]`, `unknown option "bogus"`,
				`option "debug" belongs in [gssproxy]`, `"yes # c" is not a boolean`} {
				if !strings.Contains(w, s) {
					t.Errorf("no warning %q in\n%s", s, w)
				}
			}
			if c.Services[0].AllowAnyUID || c.Debug {
				t.Errorf("ignored options took effect: %+v", c.Services[0])
			}
		}},
	{name: "options before the first section", main: "x = 1\n[service/a]\nmechs = krb5\neuid = 0\n",
		services: []string{"a"}, warn: "gssproxy.conf:1: options before the first section are ignored"},
	{name: "unterminated comment", main: "[service/a]\nmechs = krb5\neuid = 0\n/* x\n*/\n",
		err: "gssproxy.conf:6: Incomplete comment at the end of the file."},
	{name: "comment closed", main: "[service/a]\nmechs = krb5\neuid = 0\n/* x\n */\n", services: []string{"a"}},
	{name: "invalid UTF-8", main: "# caf\xe9\n[service/a]\nmechs = krb5\neuid = 0\n", err: "not valid UTF-8"},
	{name: "UTF-8 BOM", main: "\xef\xbb\xbf[service/a]\nmechs = krb5\neuid = 0\n", services: []string{"a"}},
	{name: "snippets: order, duplicates, refusals",
		main: "[service/a]\nmechs = krb5\neuid = 0\nsocket = ${S}/a-main\n",
		snippets: map[string]string{
			"50-b.conf":     "[service/b]\nmechs = krb5\neuid = 1\nsocket = ${S}/b\n",
			"40-a.conf":     "[service/a]\nmechs = krb5\neuid = 2\nsocket = ${S}/a-dir\n[service/a2]\nmechs = krb5\neuid = 2\nsocket = ${S}/a2\n",
			"30-c.conf":     "[service/c]\nmechs = krb5\neuid = 3\nsocket = ${S}/c\n[other]\nx = y\n",
			"1-d.conf":      "[service/d]\nmechs = krb5\neuid = 5\nsocket = ${S}/d\n",
			"20-e.conf":     "[service/e]\n  # bad\nmechs = krb5\neuid = 4\nsocket = ${S}/e\n",
			"21-h.conf":     "[Service/h]\nmechs = krb5\neuid = 4\nsocket = ${S}/h\n",
			"22-i.conf":     "x = 1\n[service/i]\nmechs = krb5\neuid = 6\nsocket = ${S}/i\n",
			"123-j.conf":    "[service/j]\nmechs = krb5\neuid = 7\nsocket = ${S}/j\n",
			"23-.conf":      "[service/k]\nmechs = krb5\neuid = 8\nsocket = ${S}/k\n",
			"24-l.CONF":     "[service/l]\nmechs = krb5\neuid = 9\nsocket = ${S}/l\n",
			"25-dir.conf":   "@dir",
			"26-link.conf":  "@link:50-b.conf",
			".27-m.conf":    "[service/m]\nmechs = krb5\neuid = 10\nsocket = ${S}/m\n",
			"28-n.conf":     "[ service/n ]\nmechs = krb5\neuid = 11\nsocket = ${S}/n\n",
			"29-empty.conf": "# nothing\n",
			"31-GP.conf":    "[GSSPROXY]\ndebug_level = 2\n",
		},
		services: []string{"a", "b", "n", "a2"},
		check: func(t *testing.T, c *Config) {
			w := warningsText(c)
			for _, s := range []string{
				"20-e.conf:2: Equal sign is missing.; file skipped",
				"21-h.conf:1: section [Service/h] is not allowed in a snippet",
				"22-i.conf:1: options before the first section are not allowed in a snippet",
				"25-dir.conf: skipped: not a regular file",
				"29-empty.conf: skipped: no sections",
				"30-c.conf:5: section [other] is not allowed",
				"31-GP.conf:1: section [GSSPROXY] is not allowed",
				"40-a.conf:1: section [service/a] already defined at",
				"50-b.conf:1: section [service/b] already defined at",
			} {
				if !strings.Contains(w, s) {
					t.Errorf("no warning %q in\n%s", s, w)
				}
			}
			if !strings.HasSuffix(c.Services[0].Socket, "/a-main") {
				t.Errorf("the main file's [service/a] lost to a snippet: %+v", c.Services[0])
			}
			if n := len(c.Files); n != 5 || !strings.HasSuffix(c.Files[1], "26-link.conf") {
				t.Errorf("Files = %q", c.Files)
			}
		}},
	{name: "snippet [gssproxy] after the main one is ignored", main: "[gssproxy]\ndebug_level = 1\n",
		snippets: map[string]string{"10-svc.conf": "[gssproxy]\ndebug_level = 3\n[service/a]\nmechs = krb5\neuid = 0\n"},
		services: []string{"a"}, warn: "section [gssproxy] already defined",
		check: func(t *testing.T, c *Config) {
			if c.DebugLevel != 1 {
				t.Errorf("DebugLevel = %d", c.DebugLevel)
			}
		}},
	{name: "missing snippet directory", main: "[service/a]\nmechs = krb5\neuid = 0\n", snippets: map[string]string{"@missing": ""},
		services: []string{"a"}, warn: "configuration directory not read"},
}

// writeCase materialises a case; it returns the main file, the snippet
// directory ("" without snippets) and the socket directory.
func writeCase(t *testing.T, tc loadCase, extraMain string) (mainPath, dir, sockDir string) {
	t.Helper()
	root := t.TempDir()
	sockDir = filepath.Join(root, "s")
	if err := os.Mkdir(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	expand := func(s string) string { return strings.ReplaceAll(s, "${S}", sockDir) }
	mainPath = filepath.Join(root, "gssproxy.conf")
	if err := os.WriteFile(mainPath, []byte(expand(tc.main)+extraMain), 0o644); err != nil {
		t.Fatal(err)
	}
	if tc.snippets == nil {
		return mainPath, "", sockDir
	}
	dir = filepath.Join(root, "d")
	if _, missing := tc.snippets["@missing"]; missing {
		return mainPath, dir, sockDir
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range tc.snippets {
		p := filepath.Join(dir, name)
		var err error
		switch {
		case content == "@dir":
			err = os.Mkdir(p, 0o755)
		case strings.HasPrefix(content, "@link:"):
			err = os.Symlink(strings.TrimPrefix(content, "@link:"), p)
		default:
			err = os.WriteFile(p, []byte(expand(content)), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return mainPath, dir, sockDir
}

func TestLoadCases(t *testing.T) {
	for _, tc := range loadCases {
		t.Run(tc.name, func(t *testing.T) {
			mainPath, dir, sockDir := writeCase(t, tc, "")
			c, err := Load(LoadOptions{File: mainPath, Dir: dir, Socket: filepath.Join(sockDir, "default")})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), filepath.Dir(mainPath)) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := serviceNames(c); !reflect.DeepEqual(got, tc.services) {
				t.Errorf("services %q, want %q\nwarnings:\n%s", got, tc.services, warningsText(c))
			}
			if tc.warn != "" && !strings.Contains(warningsText(c), tc.warn) {
				t.Errorf("no warning %q in\n%s", tc.warn, warningsText(c))
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestConfigErrorText(t *testing.T) {
	e := &ConfigError{File: "gssproxy.conf", Line: 12, Section: "service/x", Option: "euid", Msg: `unknown user "nosuch"`}
	if got, want := e.Error(), `gssproxy.conf:12: option "euid": unknown user "nosuch"`; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
	e = &ConfigError{File: "a.conf", Line: 3, Section: "service/x", Msg: `option "euid" is missing`}
	if got, want := e.Error(), `a.conf:3: [service/x]: option "euid" is missing`; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
	e = &ConfigError{File: "a.conf", Msg: "cannot read configuration: no such file or directory"}
	if got, want := e.Error(), "a.conf: cannot read configuration: no such file or directory"; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
	_, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "none.conf")})
	if err == nil || !strings.Contains(err.Error(), "none.conf: cannot read configuration") {
		t.Errorf("missing main file: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	const (
		deleg  = uint32(gss.FlagDeleg)
		mutual = uint32(gss.FlagMutual)
		replay = uint32(gss.FlagReplay)
		seq    = uint32(gss.FlagSequence)
		conf   = uint32(gss.FlagConf)
		integ  = uint32(gss.FlagInteg)
		anon   = uint32(gss.FlagAnon)
	)
	for _, tc := range []struct {
		value string
		start uint32
		want  uint32
		warn  []string
	}{
		{"-DELEGATE", deleg, 0, nil},
		{"+REPLAY_DETECT", 0, replay, nil},
		{"-0x0001", deleg, 0, nil},
		{"-0x0001 +ANONYMOUS", deleg, 0, []string{`stops reading flags after "-0x0001"; "+ANONYMOUS" ignored`}},
		{"+ANONYMOUS -0x0001", deleg, anon, nil},
		{"+mutual_auth,+sequence, +Confidentiality", 0, mutual | seq | conf, nil},
		{"+INTEGRITIY", 0, integ, nil},
		{"+INTEGRITY", 0, 0, []string{"spells this flag INTEGRITIY"}},
		{"MUTUAL_AUTH", 0, 0, []string{`flag "MUTUAL_AUTH" ignored: it needs a + or - in front`}},
		{"+040", 0, 32, nil},
		{"+0", 0, 0, []string{`flag "+0" ignored`}},
		{"+-1", 0, 0, []string{`flag "+-1" ignored`}},
		{"+-2", 0, 0xfffffffe, nil},
		{"+0x", 0, 0, []string{`flag "+0x" ignored`}},
		{"+12abc +MUTUAL_AUTH", 0, 0, []string{`flag "+12abc" ignored`, `stops reading flags after "+12abc"; "+MUTUAL_AUTH" ignored`}},
		{"+1+2", 0, 2, []string{`flag "+1+2" ignored`}},
		{"+bogus +REPLAY_DETECT", 0, 0, []string{`flag "+bogus" ignored: not a flag name or number`, `"+REPLAY_DETECT" ignored`}},
		{"+REPLAY_DETECT +bogus", 0, replay, []string{`flag "+bogus" ignored: not a flag name or number`}},
		{"+INTEGRITY +MUTUAL_AUTH -DELEGATE", deleg, deleg, []string{"INTEGRITIY", `"+MUTUAL_AUTH -DELEGATE" ignored`}},
		// What the reference daemon logged for this list: Add MUTUAL_AUTH,
		// Remove DELEGATE, Add INTEGRITIY, Add 0x40, and nothing after.
		{"+MUTUAL_AUTH, -DELEGATE INTEGRITY +INTEGRITIY 0x40 +0x40 +010 +0 -abc", deleg, mutual | integ | anon,
			[]string{`"INTEGRITY" ignored: it needs a + or -`, `"0x40" ignored: it needs a + or -`, `after "+0x40"; "+010 +0 -abc" ignored`}},
		{"+0x100000000", 0, 0, nil}, // truncated to 32 bits, as the reference stores it
		{"", deleg, deleg, nil},
		{" , ,", deleg, deleg, nil},
	} {
		t.Run(tc.value, func(t *testing.T) {
			c := &Config{}
			s := &iniSection{name: "service/x", file: "f.conf"}
			got := c.parseFlags(s, iniValue{key: "filter_flags", value: tc.value, line: 7}, gss.Flags(tc.start))
			if uint32(got) != tc.want {
				t.Errorf("flags = %#x, want %#x", uint32(got), tc.want)
			}
			w := warningsText(c)
			for _, s := range tc.warn {
				if !strings.Contains(w, s) {
					t.Errorf("no warning %q in %q", s, w)
				}
			}
			if len(tc.warn) == 0 && w != "" {
				t.Errorf("unexpected warnings %q", w)
			}
			if len(tc.warn) == 1 && len(c.Warnings) != 1 {
				t.Errorf("want one warning, got %q", w)
			}
		})
	}
}

func TestExpandCredStore(t *testing.T) {
	s := &Service{CredStore: []CredStoreElement{
		{"keytab", "/etc/krb5.keytab"},
		{"ccache", "FILE:/var/lib/gssproxy/clients/krb5cc_%U"},
		{"client_keytab", "/k/%u/%U.keytab"},
		{"x", "100%% %u"},
	}}
	calls := 0
	names := func(uid uint32) (string, error) {
		calls++
		if uid == 1000 {
			return "alice", nil
		}
		return "", fmt.Errorf("no uid %d", uid)
	}
	got, err := s.ExpandCredStore(1000, names)
	if err != nil {
		t.Fatal(err)
	}
	want := []CredStoreElement{
		{"keytab", "/etc/krb5.keytab"},
		{"ccache", "FILE:/var/lib/gssproxy/clients/krb5cc_1000"},
		{"client_keytab", "/k/alice/1000.keytab"},
		{"x", "100% alice"},
	}
	if !reflect.DeepEqual(got, want) || calls != 1 {
		t.Errorf("got %q (%d lookups)\nwant %q", got, calls, want)
	}
	if s.CredStore[1].Value != "FILE:/var/lib/gssproxy/clients/krb5cc_%U" {
		t.Error("ExpandCredStore changed the configuration")
	}
	if _, err := s.ExpandCredStore(5, names); err == nil || !strings.Contains(err.Error(), "no user name for uid 5") {
		t.Errorf("unknown uid: %v", err)
	}
	for _, v := range []string{"a%", "%x", "%"} {
		s := &Service{CredStore: []CredStoreElement{{"ccache", v}}}
		if _, err := s.ExpandCredStore(1, names); err == nil {
			t.Errorf("%q expanded", v)
		}
	}
	// The default lookup knows root.
	s = &Service{CredStore: []CredStoreElement{{"ccache", "%u:%U"}}}
	if got, err := s.ExpandCredStore(0, nil); err != nil || got[0].Value != "root:0" {
		t.Errorf("root: %v %v", got, err)
	}
}

func TestSELinuxContext(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *SELinuxContext
	}{
		{"u:r:t", &SELinuxContext{User: "u", Role: "r", Type: "t"}},
		{"u:r:t:", &SELinuxContext{User: "u", Role: "r", Type: "t"}},
		{"system_u:system_r:nfsd_t:s0", &SELinuxContext{"system_u", "system_r", "nfsd_t", "s0"}},
		{"u:r:t:s0-s0:c0.c1023", &SELinuxContext{"u", "r", "t", "s0-s0:c0.c1023"}},
		{"u:r:t:s0 s1", &SELinuxContext{"u", "r", "t", "s0 s1"}},
		{"u:r", nil},
		{"u:r:t:a:b:c:d", nil},
		{"u :r:t", nil},
		{"u:r:t\t", nil},
	} {
		got, err := ParseSELinuxContext(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q parsed as %+v", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %+v, %v", tc.in, got, err)
		}
	}
	a := &SELinuxContext{"u", "r", "t", "s0"}
	for _, tc := range []struct {
		b    *SELinuxContext
		want bool
	}{
		{&SELinuxContext{"u", "r", "t", "s0"}, true},
		{&SELinuxContext{"u", "r", "t", ""}, true},
		{&SELinuxContext{"u", "r", "t", "s1"}, false},
		{&SELinuxContext{"u", "r", "x", "s0"}, false},
		{nil, false},
	} {
		if got := a.Equal(tc.b); got != tc.want {
			t.Errorf("%+v == %+v: %v", a, tc.b, got)
		}
	}
	if !(*SELinuxContext)(nil).Equal(nil) {
		t.Error("nil != nil")
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// referenceDaemon is the installed reference gssproxy, when this test can
// run it: as root, in a private mount namespace whose /run is a fresh
// tmpfs, because the reference writes its pid file there.
func referenceDaemon(t *testing.T) string {
	t.Helper()
	const bin = "/usr/sbin/gssproxy"
	if os.Geteuid() != 0 {
		t.Skip("running the reference daemon needs root")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("reference gssproxy not installed")
	}
	if err := exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		"mount -t tmpfs gsskit-test /run").Run(); err != nil {
		t.Skipf("no private mount namespace for the reference daemon: %v", err)
	}
	return bin
}

// runReference starts the reference daemon on a configuration and reports
// whether it got through configuration and socket set-up ("Initialization
// complete.", printed once its event loop runs) or exited, and which
// sockets it created besides the default one. It stops the daemon itself.
func runReference(t *testing.T, bin, mainPath, dir, sockDir string) (started bool, sockets []string, log string) {
	t.Helper()
	script := `mount -t tmpfs gsskit-test /run || exit 97
if [ -n "$2" ]; then exec "$0" -i -c "$1" -C "$2" -s "$3"; fi
exec "$0" -i -c "$1" -s "$3"`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script,
		bin, mainPath, dir, filepath.Join(sockDir, "default"))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); exited <- err }()
	var b strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Initialization complete.") {
			started = true
			break
		}
	}
	if started {
		entries, err := os.ReadDir(sockDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "default" {
				sockets = append(sockets, e.Name())
			}
		}
		cmd.Process.Kill()
		go io.Copy(io.Discard, pr)
	}
	<-exited
	return started, sortedStrings(sockets), b.String()
}

// TestLoadAgreesWithReference runs the reference daemon on every case and
// checks that it accepts what Load accepts, refuses what Load refuses, and
// opens the same service sockets.
func TestLoadAgreesWithReference(t *testing.T) {
	bin := referenceDaemon(t)
	// The reference prints "Initialization complete." only when debugging;
	// a trailing [gssproxy] merges into any earlier one, whose values win.
	const enableDebug = "\n[gssproxy]\ndebug_level = 1\n"
	for _, tc := range loadCases {
		if tc.noRef {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			mainPath, dir, sockDir := writeCase(t, tc, enableDebug)
			started, refSockets, log := runReference(t, bin, mainPath, dir, sockDir)
			if err := os.WriteFile(mainPath, []byte(strings.ReplaceAll(tc.main, "${S}", sockDir)), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(LoadOptions{File: mainPath, Dir: dir, Socket: filepath.Join(sockDir, "default")})
			if started != (err == nil) {
				t.Fatalf("reference started: %v; Load error: %v\nreference output:\n%s", started, err, log)
			}
			if err != nil {
				return
			}
			var ours []string
			for _, s := range c.Services {
				if s.Socket != "" {
					ours = append(ours, filepath.Base(s.Socket))
				}
			}
			if ours = sortedStrings(ours); !reflect.DeepEqual(ours, refSockets) {
				t.Errorf("service sockets: ours %q, reference %q", ours, refSockets)
			}
		})
	}
}

// FuzzParseConfig feeds arbitrary files through the INI parser and the
// interpretation of every option: errors are fine, panics are not, and an
// accepted configuration has services.
func FuzzParseConfig(f *testing.F) {
	for _, tc := range loadCases {
		f.Add([]byte(tc.main))
	}
	for _, p := range []string{"testdata/debian/24-nfs-server.conf", "testdata/debian/examples/99-network-fs-clients.conf"} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[service/a]\nmechs = krb5\neuid = 0\nfilter_flags = +0x1 -12abc +-1 +0x\nenforce_flags = ,+ - +INTEGRITIY\n"))
	lookup := func(name string) (uint32, error) {
		if name == "root" {
			return 0, nil
		}
		return 0, user.UnknownUserError(name)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parseINI("fuzz.conf", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("parse error %v is not a ConfigError", err)
			}
			return
		}
		c := &Config{Socket: DefaultSocket, Files: []string{"fuzz.conf"}}
		if err := c.interpret(file, lookup); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
			return
		}
		if len(c.Services) == 0 {
			t.Fatal("accepted a configuration without services")
		}
		for _, s := range c.Services {
			s.ExpandCredStore(0, func(uint32) (string, error) { return "root", nil })
		}
	})
}
