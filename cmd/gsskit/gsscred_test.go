package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/rpcsecgss"
)

// `gsskit gsscred add|del|list` edits the table a server reads.
func TestGSSCredCLI(t *testing.T) {
	r := krbtest.StartT(t, krbtest.Config{Users: map[string]string{"alice": "gsscred-pw"}})
	r.Setenv(t)
	file := filepath.Join(t.TempDir(), "gsscred_db")
	gsscred := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"gsscred", "-f", file}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, args := range [][]string{
		{"add", "-n", "alice", "-u", "4242", "-g", "100"},
		{"add", "-n", "bob@" + r.Name(), "-u", "5000"},
		{"add", "-n", "nfs/client.example@" + r.Name(), "-u", "0", "-c", "the client machine"},
	} {
		if code, _, errs := gsscred(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	code, out, _ := gsscred("list")
	want := "alice@" + r.Name() + "\t4242\t100\talice@" + r.Name() + "\n" +
		"bob@" + r.Name() + "\t5000\t-\tbob@" + r.Name() + "\n" +
		"nfs/client.example@" + r.Name() + "\t0\t-\tthe client machine\n"
	if code != 0 || out != want {
		t.Fatalf("list: %d\n%s\nwant\n%s", code, out, want)
	}
	if _, out, _ := gsscred("list", "-u", "5000"); !strings.HasPrefix(out, "bob@") || strings.Count(out, "\n") != 1 {
		t.Fatalf("list -u 5000: %q", out)
	}

	// A server's table sees the entries, by the principal's exported name.
	p, err := rpcsecgss.GetPrincipalName("kerberos_v5", "alice", "", r.Name())
	if err != nil {
		t.Fatal(err)
	}
	uc, ok, err := rpcsecgss.OpenGSSCred(file).Lookup(p)
	if err != nil || !ok || uc.UID != 4242 || uc.GID != 100 {
		t.Fatalf("lookup of alice: %+v %v %v", uc, ok, err)
	}

	if code, _, errs := gsscred("del", "-n", "alice"); code != 0 {
		t.Fatalf("del alice: %s", errs)
	}
	if code, _, _ := gsscred("del", "-n", "alice"); code != 1 {
		t.Fatalf("deleting alice twice: exit %d", code)
	}
	if code, _, errs := gsscred("del", "-u", "5000"); code != 0 {
		t.Fatalf("del -u 5000: %s", errs)
	}
	if _, out, _ := gsscred("list"); out != "nfs/client.example@"+r.Name()+"\t0\t-\tthe client machine\n" {
		t.Fatalf("after deletions: %q", out)
	}
	for _, args := range [][]string{{}, {"add", "-n", "alice"}, {"add", "-u", "1"}, {"del"}, {"bogus"}, {"add", "-n", "x", "-u", "nope"}} {
		if code, _, _ := gsscred(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
