package proxytest

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/gsskit/gsskit/gssproxy"
)

// committedRecords seeds the fuzzers with every record of the committed
// transcripts.
func committedRecords(f *testing.F) []Record {
	files, _ := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	var out []Record
	for _, p := range files {
		tr, err := ReadTranscriptFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, tr.Records...)
	}
	return out
}

// The decoders read bytes from real daemons, including gsskit's own while
// it is wrong; they must fail cleanly, never panic or hang.
func FuzzParseAcceptReply(f *testing.F) {
	for _, r := range committedRecords(f) {
		if r.Dir == Reply && r.Proc == gssproxy.ProcAcceptSecContext {
			f.Add(r.Msg)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		res, err := ParseAcceptReply(msg)
		if err == nil && res == nil {
			t.Fatal("nil result without an error")
		}
		ParseRPC(msg)
		ParseLinuxCreds(msg, binary.LittleEndian)
		ParseLucid(msg, binary.BigEndian)
	})
}

func FuzzReadTranscript(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("call 1 GSSX_WRAP 00\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ReadTranscript(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What parses must write back to something that parses the same.
		var out bytes.Buffer
		if _, err := tr.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ReadTranscript(&out)
		if err != nil {
			t.Fatalf("re-reading a written transcript: %v", err)
		}
		if len(again.Records) != len(tr.Records) {
			t.Fatalf("%d records after a round trip, want %d", len(again.Records), len(tr.Records))
		}
		for i := range tr.Records {
			if !bytes.Equal(again.Records[i].Msg, tr.Records[i].Msg) || again.Records[i].Proc != tr.Records[i].Proc {
				t.Fatalf("record %d changed in a round trip", i)
			}
		}
	})
}
