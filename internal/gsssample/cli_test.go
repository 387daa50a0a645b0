package gsssample

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// TestClientMain runs `gsskit sample client` with MIT's option names against
// a Go server using the toy mechanism, and checks each option reached the
// wire.
func TestClientMain(t *testing.T) {
	msgFile := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msgFile, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args      []string
		msg       string
		sessions  int
		messages  int
		encrypted bool
		mics      int
		flags     gss.Flags
		noFlags   gss.Flags
		auth      bool
	}{
		{args: nil, msg: "plain", sessions: 1, messages: 1, encrypted: true, mics: 1, flags: DefaultFlags, auth: true},
		{args: []string{"-nx", "-mcount", "3"}, msg: "nx", sessions: 1, messages: 3, mics: 3, auth: true},
		{args: []string{"-noconf", "-nomic"}, msg: "aliases", sessions: 1, messages: 1, auth: true},
		{args: []string{"-d", "-seq", "-noreplay", "-nomutual"}, msg: "flags", sessions: 1, messages: 1, encrypted: true, mics: 1,
			flags: gss.FlagDeleg | gss.FlagSequence, noFlags: gss.FlagReplay | gss.FlagMutual, auth: true},
		{args: []string{"-ccount", "2", "-nm"}, msg: "twice", sessions: 2, messages: 1, encrypted: true, auth: true},
		{args: []string{"-na"}, msg: "clear", sessions: 1, messages: 1},
		{args: []string{"-v1", "-q"}, msg: "old", sessions: 1, messages: 1, encrypted: true, mics: 1, auth: true},
		{args: []string{"-f"}, msg: msgFile, sessions: 1, messages: 1, encrypted: true, mics: 1, auth: true},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := make(chan *Session, 10)
			srv := &Server{Handle: func(s *Session, err error) {
				if err != nil {
					t.Errorf("server: %v", err)
				}
				got <- s
			}}
			done := make(chan struct{})
			go func() { srv.Serve(ctx, ln, false); close(done) }()
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			args := append([]string{"-port", port, "-mech", toyOID.String()}, tc.args...)
			args = append(args, "127.0.0.1", "sample@toyhost", tc.msg)
			var stdout, stderr bytes.Buffer
			code := ClientMain(ctx, args, &stdout, &stderr)
			if code != 0 {
				cancel()
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var sessions []*Session
			for len(sessions) < tc.sessions {
				select {
				case s := <-got:
					sessions = append(sessions, s)
				case <-ctx.Done():
					t.Fatalf("%d sessions, want %d", len(sessions), tc.sessions)
				}
			}
			cancel()
			<-done
			want := tc.msg
			if tc.msg == msgFile {
				want = "from a file"
			}
			for _, s := range sessions {
				if s.Authenticated != tc.auth || len(s.Messages) != tc.messages || s.MICsSent != tc.mics {
					t.Errorf("session: auth %v, %d messages, %d MICs; want %v, %d, %d", s.Authenticated, len(s.Messages), s.MICsSent, tc.auth, tc.messages, tc.mics)
				}
				for i, m := range s.Messages {
					if string(m) != want || s.Encrypted[i] != tc.encrypted {
						t.Errorf("message %q encrypted %v, want %q %v", m, s.Encrypted[i], want, tc.encrypted)
					}
				}
				if s.Flags&tc.flags != tc.flags || s.Flags&tc.noFlags != 0 {
					t.Errorf("flags %s, want %s and not %s", FlagString(s.Flags), FlagString(tc.flags), FlagString(tc.noFlags))
				}
			}
			quiet := len(tc.args) > 0 && tc.args[len(tc.args)-1] == "-q"
			if quiet != (stdout.Len() == 0) {
				t.Errorf("quiet=%v but stdout is %q", quiet, stdout.String())
			}
		})
	}
}

func TestMainUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{nil, {"host", "svc"}, {"-ccount", "0", "h", "s", "m"}, {"-bogus", "h", "s", "m"}, {"-port", "70000", "h", "s", "m"}} {
		var out, errb bytes.Buffer
		if code := ClientMain(ctx, args, &out, &errb); code != 2 {
			t.Errorf("ClientMain(%q) = %d, want 2", args, code)
		}
	}
	for _, args := range [][]string{nil, {"-x"}, {"a", "b"}, {"-port", "-1", "svc@h"}} {
		var out, errb bytes.Buffer
		if code := ServerMain(ctx, args, &out, &errb); code != 2 {
			t.Errorf("ServerMain(%q) = %d, want 2", args, code)
		}
	}
	var out, errb bytes.Buffer
	if code := ClientMain(ctx, []string{"-mech", "no-such-mech", "h", "s", "m"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "unknown mechanism") {
		t.Errorf("unknown mechanism: exit %d, %q", code, errb.String())
	}
}

func TestParseMech(t *testing.T) {
	for in, want := range map[string]gss.OID{
		"krb5":                     gss.MechKrb5,
		"1.2.840.113554.1.2.2":     gss.MechKrb5,
		"{ 1 2 840 113554 1 2 2 }": gss.MechKrb5,
		"gsssample-toy":            toyOID,
		toyOID.String():            toyOID,
	} {
		got, err := ParseMech(in)
		if err != nil || got != want {
			t.Errorf("ParseMech(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
