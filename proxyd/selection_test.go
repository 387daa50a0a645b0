package proxyd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) *Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gssproxy.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(LoadOptions{File: path, Socket: "/gp/default.sock"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type selectCase struct {
	name   string
	caller Caller
	want   string // service name, "" for none
}

func checkSelection(t *testing.T, c *Config, cases []selectCase) {
	t.Helper()
	for _, tc := range cases {
		s, err := c.SelectService(&tc.caller)
		got := ""
		if err == nil {
			got = s.Name
		} else if !errors.Is(err, ErrNoService) {
			t.Errorf("%s: error %v does not match ErrNoService", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: selected %q, want %q (err %v)", tc.name, got, tc.want, err)
		}
	}
}

// The reference's t_basic: a trusted service for the test user and one for
// uid 123, both on the default socket.
func TestSelectByEuid(t *testing.T) {
	c := loadText(t, `[service/test]
  mechs = krb5
  trusted = yes
  euid = 1000
[service/badkeytab]
  mechs = krb5
  euid = 123
`)
	const def = "/gp/default.sock"
	checkSelection(t, c, []selectCase{
		{"test user", Caller{UID: 1000, Socket: def}, "test"},
		{"uid 123", Caller{UID: 123, Socket: def}, "badkeytab"},
		{"other uid", Caller{UID: 1001, Socket: def}, ""},
		{"gid does not count", Caller{UID: 7, GID: 1000, Socket: def}, ""},
		{"another socket", Caller{UID: 1000, Socket: "/gp/other.sock"}, ""},
		{"same path spelled differently", Caller{UID: 1000, Socket: "/gp//default.sock"}, ""},
	})
	test := c.Services[0]
	if !test.TrustedFor(&Caller{UID: 1000}) || test.TrustedFor(&Caller{UID: 1001}) || c.Services[1].TrustedFor(&Caller{UID: 123}) {
		t.Error("TrustedFor")
	}
}

// The reference's t_program: the service takes only its program.
func TestSelectByProgram(t *testing.T) {
	c := loadText(t, `[service/t_acquire]
  mechs = krb5
  euid = 1000
  program = /srv/tests/t_acquire
[service/fallback]
  mechs = krb5
  euid = 1000
  socket = /gp/fallback.sock
`)
	const def = "/gp/default.sock"
	checkSelection(t, c, []selectCase{
		{"the program", Caller{UID: 1000, Program: "/srv/tests/t_acquire", Socket: def}, "t_acquire"},
		{"another program", Caller{UID: 1000, Program: "/usr/bin/kinit", Socket: def}, ""},
		{"the negative test's path", Caller{UID: 1000, Program: "//bad/path/t_acquire", Socket: def}, ""},
		{"unknown program", Caller{UID: 1000, Socket: def}, ""},
		{"the program, other uid", Caller{UID: 1, Program: "/srv/tests/t_acquire", Socket: def}, ""},
		{"a program-less service takes any program", Caller{UID: 1000, Program: "/usr/bin/kinit", Socket: "/gp/fallback.sock"}, "fallback"},
		{"and no program", Caller{UID: 1000, Socket: "/gp/fallback.sock"}, "fallback"},
	})
}

// Services for one euid told apart by program: the reference checks them
// in order, and a program-less one after a program one is the fallback.
func TestSelectProgramThenFallback(t *testing.T) {
	c := loadText(t, `[service/nfs-client]
  mechs = krb5
  euid = 0
  program = /usr/sbin/rpc.gssd
[service/root]
  mechs = krb5
  euid = 0
`)
	const def = "/gp/default.sock"
	checkSelection(t, c, []selectCase{
		{"gssd", Caller{UID: 0, Program: "/usr/sbin/rpc.gssd", Socket: def}, "nfs-client"},
		{"other root program", Caller{UID: 0, Program: "/usr/bin/kinit", Socket: def}, "root"},
	})
}

// allow_any_uid listed last catches every uid the earlier services do not
// take; listed first the reference refuses the configuration (see
// TestLoadCases), because nothing after it could ever be selected.
func TestSelectAllowAnyUIDLast(t *testing.T) {
	c := loadText(t, `[service/apache]
  mechs = krb5
  euid = 48
[service/network-fs-clients]
  mechs = krb5
  euid = 0
  allow_any_uid = yes
  trusted = yes
`)
	const def = "/gp/default.sock"
	checkSelection(t, c, []selectCase{
		{"apache", Caller{UID: 48, Socket: def}, "apache"},
		{"root", Caller{UID: 0, Socket: def}, "network-fs-clients"},
		{"any user", Caller{UID: 1000, Socket: def}, "network-fs-clients"},
		{"any user, other socket", Caller{UID: 1000, Socket: "/run/gssproxy.sock"}, ""},
	})
	nfs := c.Services[1]
	if !nfs.TrustedFor(&Caller{UID: 0}) || nfs.TrustedFor(&Caller{UID: 1000}) {
		t.Error("trusted must apply only to the configured euid")
	}
}

// The reference's t_impersonate: three services for one user, one socket
// each; and t_reloading's move of a service to a second socket.
func TestSelectBySocket(t *testing.T) {
	c := loadText(t, `[service/impersonate]
  socket = /t/impersonate.socket
  mechs = krb5
  allow_protocol_transition = yes
  allow_constrained_delegation = yes
  euid = 1000
[service/selfonly]
  socket = /t/impersonate-selfonly.socket
  mechs = krb5
  allow_protocol_transition = yes
  euid = 1000
[service/proxyonly]
  socket = /t/impersonate-proxyonly.socket
  mechs = krb5
  allow_constrained_delegation = yes
  euid = 1000
`)
	checkSelection(t, c, []selectCase{
		{"impersonate", Caller{UID: 1000, Socket: "/t/impersonate.socket"}, "impersonate"},
		{"selfonly", Caller{UID: 1000, Socket: "/t/impersonate-selfonly.socket"}, "selfonly"},
		{"proxyonly", Caller{UID: 1000, Socket: "/t/impersonate-proxyonly.socket"}, "proxyonly"},
		{"default socket", Caller{UID: 1000, Socket: "/gp/default.sock"}, ""},
		{"wrong uid", Caller{UID: 1, Socket: "/t/impersonate.socket"}, ""},
	})
	if got := c.Sockets(); len(got) != 4 || got[0] != "/gp/default.sock" {
		t.Errorf("Sockets() = %q", got)
	}
}

// Debian's 24-nfs-server.conf: the kernel's connection arrives on
// /run/gssproxy.sock from a kernel thread (no program).
func TestSelectDebianNFSServer(t *testing.T) {
	c, err := Load(LoadOptions{File: "testdata/debian/gssproxy.conf", Dir: "testdata/debian"})
	if err != nil {
		t.Fatal(err)
	}
	checkSelection(t, c, []selectCase{
		{"kernel", Caller{UID: 0, Socket: "/run/gssproxy.sock"}, "nfs-server"},
		{"root on the default socket", Caller{UID: 0, Socket: DefaultSocket}, ""},
		{"user on the kernel's socket", Caller{UID: 1000, Socket: "/run/gssproxy.sock"}, ""},
	})
}

func TestSelectSELinux(t *testing.T) {
	c := loadText(t, `[service/nfsd]
  mechs = krb5
  euid = 0
  selinux_context = system_u:system_r:nfsd_t:s0
[service/root]
  mechs = krb5
  euid = 0
  socket = /gp/root.sock
`)
	const def = "/gp/default.sock"
	checkSelection(t, c, []selectCase{
		{"matching context", Caller{UID: 0, Socket: def, SELinuxContext: "system_u:system_r:nfsd_t:s0"}, "nfsd"},
		{"no range on the peer", Caller{UID: 0, Socket: def, SELinuxContext: "system_u:system_r:nfsd_t"}, "nfsd"},
		{"other type", Caller{UID: 0, Socket: def, SELinuxContext: "system_u:system_r:init_t:s0"}, ""},
		{"other range", Caller{UID: 0, Socket: def, SELinuxContext: "system_u:system_r:nfsd_t:s1"}, ""},
		{"no context", Caller{UID: 0, Socket: def}, ""},
		{"AppArmor label", Caller{UID: 0, Socket: def, SELinuxContext: "unconfined"}, ""},
	})
}

func TestNoServiceError(t *testing.T) {
	c := loadText(t, "[service/a]\nmechs = krb5\neuid = 0\n")
	_, err := c.SelectService(&Caller{PID: 42, UID: 1000, Socket: "/gp/default.sock"})
	var nse *NoServiceError
	if !errors.As(err, &nse) || !errors.Is(err, ErrNoService) || nse.Caller.UID != 1000 {
		t.Fatalf("err = %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "uid 1000") || !strings.Contains(msg, "pid 42") ||
		!strings.Contains(msg, "/gp/default.sock") {
		t.Errorf("message %q", msg)
	}
}

func TestSelectEmptySocketIsUnreachable(t *testing.T) {
	c := loadText(t, "[service/a]\nmechs = krb5\neuid = 0\nsocket =\n[service/b]\nmechs = krb5\neuid = 0\nallow_any_uid = yes\n")
	checkSelection(t, c, []selectCase{
		{"default socket", Caller{UID: 0, Socket: "/gp/default.sock"}, "b"},
		{"empty socket name", Caller{UID: 0, Socket: ""}, ""},
	})
}
