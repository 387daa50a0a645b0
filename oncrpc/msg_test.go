package oncrpc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An AUTH_SYS call laid out word by word as RFC 5531 section 9 (rpc_msg,
// call_body) and appendix A (authsys_parms) define it.
const sysCallHex = `
	12345678  00000000  00000002       # xid, CALL, rpcvers 2
	000186a3  00000003  00000001       # prog 100003, vers 3, proc 1
	00000001  00000024                 # cred: AUTH_SYS, 36 bytes
	  00000000                         #   stamp
	  00000005 686f737431000000        #   machinename "host1"
	  000003e8  00000064               #   uid 1000, gid 100
	  00000002 0000000a 0000000b       #   gids <10, 11>
	00000000  00000000                 # verf: AUTH_NONE, 0 bytes
	deadbeef                           # arguments`

func TestCallHeaderVector(t *testing.T) {
	want := unhex(t, sysCallHex)
	sys := &AuthSys{MachineName: "host1", UID: 1000, GID: 100, GIDs: []uint32{10, 11}}

	// Built the way a Client builds it.
	var e Encoder
	appendCallPrefix(&e, 0x12345678, 100003, 3, 1)
	hdr, _, err := sys.MarshalCred(e.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := append(hdr, 0xde, 0xad, 0xbe, 0xef)
	if !bytes.Equal(got, want) {
		t.Fatalf("call:\n got %x\nwant %x", got, want)
	}

	// And with CallHeader.MarshalXDR.
	h := CallHeader{Xid: 0x12345678, Prog: 100003, Vers: 3, Proc: 1,
		Cred: OpaqueAuth{Flavor: FlavorSys, Body: Marshal(nil, sys)}}
	if got := Marshal(nil, &h); !bytes.Equal(got, want[:len(want)-4]) {
		t.Fatalf("CallHeader:\n got %x\nwant %x", got, want[:len(want)-4])
	}

	ph, credEnd, args, ce := parseCall(want)
	if ce != callOK {
		t.Fatalf("parse: %v", ce)
	}
	if ph.Xid != 0x12345678 || ph.Prog != 100003 || ph.Vers != 3 || ph.Proc != 1 ||
		ph.Cred.Flavor != FlavorSys || len(ph.Cred.Body) != 36 || ph.Verf.Flavor != FlavorNone {
		t.Fatalf("parsed %+v", ph)
	}
	if credEnd != 4*8+36 || !bytes.Equal(args, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Fatalf("credEnd %d args %x", credEnd, args)
	}
	var back AuthSys
	if err := Unmarshal(ph.Cred.Body, &back); err != nil || back.MachineName != "host1" ||
		back.UID != 1000 || back.GID != 100 || len(back.GIDs) != 2 || back.GIDs[1] != 11 {
		t.Fatalf("credential %+v %v", back, err)
	}
}

func TestParseCallErrors(t *testing.T) {
	good := unhex(t, sysCallHex)
	for _, tc := range []struct {
		name string
		msg  []byte
		want callError
		xid  bool
	}{
		{"empty", nil, callMalformed, false},
		{"reply", unhex(t, "12345678 00000001 00000000"), callMalformed, false},
		{"short header", good[:20], callMalformed, false},
		{"rpcvers 3", unhex(t, "12345678 00000000 00000003 00000001 00000001 00000000"), callRPCMismatch, true},
		{"cred body over 400", unhex(t, "12345678 00000000 00000002 00000001 00000001 00000000 00000001 00000194"), callBadCred, true},
		{"cred truncated", good[:40], callBadCred, true},
		{"verf truncated", good[:4*8+36+4], callBadVerf, true},
	} {
		h, _, _, ce := parseCall(tc.msg)
		if ce != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, ce, tc.want)
		}
		if tc.xid && h.Xid != 0x12345678 {
			t.Errorf("%s: xid %x not kept for the reply", tc.name, h.Xid)
		}
	}
}

// Replies of every kind, laid out per RFC 5531 section 9 (reply_body,
// accepted_reply, rejected_reply), and the error each means to a caller.
func TestReplyVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rh   replyHeader
		hex  string
		want error
	}{
		{"success", replyHeader{xid: 1, stat: msgAccepted, verf: noneAuth, accept: Success},
			"00000001 00000001 00000000 00000000 00000000 00000000", nil},
		{"prog unavail", replyHeader{xid: 2, stat: msgAccepted, verf: noneAuth, accept: ProgUnavail},
			"00000002 00000001 00000000 00000000 00000000 00000001", ProgUnavail},
		{"prog mismatch", replyHeader{xid: 3, stat: msgAccepted, verf: noneAuth, accept: ProgMismatch, low: 2, high: 4},
			"00000003 00000001 00000000 00000000 00000000 00000002 00000002 00000004", &ProgMismatchError{2, 4}},
		{"proc unavail", replyHeader{xid: 4, stat: msgAccepted, verf: noneAuth, accept: ProcUnavail},
			"00000004 00000001 00000000 00000000 00000000 00000003", ProcUnavail},
		{"garbage args", replyHeader{xid: 5, stat: msgAccepted, verf: noneAuth, accept: GarbageArgs},
			"00000005 00000001 00000000 00000000 00000000 00000004", GarbageArgs},
		{"system err", replyHeader{xid: 6, stat: msgAccepted, verf: noneAuth, accept: SystemErr},
			"00000006 00000001 00000000 00000000 00000000 00000005", SystemErr},
		{"rpc mismatch", replyHeader{xid: 7, stat: msgDenied, reject: rejectRPCMismatch, low: 2, high: 2},
			"00000007 00000001 00000001 00000000 00000002 00000002", &RPCMismatchError{2, 2}},
		{"auth too weak", denied(8, AuthTooWeak),
			"00000008 00000001 00000001 00000001 00000005", AuthTooWeak},
		{"gss credproblem", denied(9, RPCSECGSSCredProblem),
			"00000009 00000001 00000001 00000001 0000000d", RPCSECGSSCredProblem},
		{"gss ctxproblem", denied(10, RPCSECGSSCtxProblem),
			"0000000a 00000001 00000001 00000001 0000000e", RPCSECGSSCtxProblem},
		{"verifier", replyHeader{xid: 11, stat: msgAccepted, verf: OpaqueAuth{FlavorGSS, []byte{1, 2, 3, 4, 5}}},
			"0000000b 00000001 00000000 00000006 00000005 0102030405000000 00000000", nil},
	} {
		want := unhex(t, tc.hex)
		var e Encoder
		tc.rh.encode(&e)
		if !bytes.Equal(e.Bytes(), want) {
			t.Errorf("%s: encoded\n %x\nwant %x", tc.name, e.Bytes(), want)
			continue
		}
		d := NewDecoder(want)
		rh, err := decodeReply(d)
		if err != nil {
			t.Errorf("%s: decode: %v", tc.name, err)
			continue
		}
		if rh.xid != tc.rh.xid || rh.verf.Flavor != tc.rh.verf.Flavor || !bytes.Equal(rh.verf.Body, tc.rh.verf.Body) {
			t.Errorf("%s: decoded %+v", tc.name, rh)
		}
		err = rh.err()
		switch w := tc.want.(type) {
		case nil:
			if err != nil {
				t.Errorf("%s: error %v", tc.name, err)
			}
		case *ProgMismatchError:
			var pm *ProgMismatchError
			if !errors.As(err, &pm) || *pm != *w || !errors.Is(err, ProgMismatch) {
				t.Errorf("%s: error %v", tc.name, err)
			}
		case *RPCMismatchError:
			var rm *RPCMismatchError
			if !errors.As(err, &rm) || *rm != *w {
				t.Errorf("%s: error %v", tc.name, err)
			}
		default:
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
			}
		}
	}
}

func TestDecodeReplyErrors(t *testing.T) {
	for name, h := range map[string]string{
		"call":            "00000001 00000000 00000002",
		"bad reply_stat":  "00000001 00000001 00000002",
		"bad reject_stat": "00000001 00000001 00000001 00000002",
		"verf too long":   "00000001 00000001 00000000 00000000 00000191",
		"truncated":       "00000001 00000001 00000000 00000000",
		"mismatch short":  "00000001 00000001 00000000 00000000 00000000 00000002 00000001",
	} {
		if _, err := decodeReply(NewDecoder(unhex(t, h))); err != ErrMalformedMessage {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestStatusText(t *testing.T) {
	for _, err := range []error{ProcUnavail, AcceptStat(99), AuthTooWeak, RPCSECGSSCtxProblem, AuthStat(99),
		&ProgMismatchError{1, 3}, &RPCMismatchError{2, 2}} {
		if s := err.Error(); !strings.HasPrefix(s, "oncrpc: ") || len(s) < 15 {
			t.Errorf("%#v: %q", err, s)
		}
	}
	if FlavorGSS.String() != "RPCSEC_GSS" || Flavor(9).String() != "flavor 9" {
		t.Error("flavor names")
	}
}

// FuzzParseCall: any record either parses as a call whose parts lie inside
// it and re-encode to its bytes, or is classified as an error.
func FuzzParseCall(f *testing.F) {
	f.Add(unhex(f, sysCallHex))
	f.Add(unhex(f, "12345678 00000000 00000003 00000001 00000001 00000000"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, credEnd, args, ce := parseCall(msg)
		if ce != callOK {
			return
		}
		if credEnd < 32 || credEnd > len(msg) || len(h.Cred.Body) > MaxAuthBytes || len(h.Verf.Body) > MaxAuthBytes {
			t.Fatalf("credEnd %d of %d, cred %d, verf %d", credEnd, len(msg), len(h.Cred.Body), len(h.Verf.Body))
		}
		enc := Marshal(nil, &h)
		if len(enc)+len(args) != len(msg) {
			t.Fatalf("re-encoded header of %d, args %d, message %d", len(enc), len(args), len(msg))
		}
		// Equal up to padding content, which decoding does not keep.
		h2, credEnd2, args2, ce2 := parseCall(enc)
		if ce2 != callOK || credEnd2 != credEnd || len(args2) != 0 || h2.Xid != h.Xid || h2.Prog != h.Prog ||
			h2.Vers != h.Vers || h2.Proc != h.Proc || h2.Cred.Flavor != h.Cred.Flavor || h2.Verf.Flavor != h.Verf.Flavor ||
			!bytes.Equal(h2.Cred.Body, h.Cred.Body) || !bytes.Equal(h2.Verf.Body, h.Verf.Body) {
			t.Fatalf("re-encoded header parses differently")
		}
	})
}

// FuzzDecodeReply: any record decodes to a reply or ErrMalformedMessage,
// and a decoded reply maps to an error value (or success) without panic.
func FuzzDecodeReply(f *testing.F) {
	f.Add(unhex(f, "00000001 00000001 00000000 00000000 00000000 00000000 cafe"))
	f.Add(unhex(f, "00000003 00000001 00000000 00000000 00000000 00000002 00000002 00000004"))
	f.Add(unhex(f, "00000008 00000001 00000001 00000001 0000000d"))
	f.Add(unhex(f, "00000007 00000001 00000001 00000000 00000002 00000002"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := NewDecoder(msg)
		rh, err := decodeReply(d)
		if err != nil {
			if err != ErrMalformedMessage {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(rh.verf.Body) > MaxAuthBytes {
			t.Fatalf("verifier of %d", len(rh.verf.Body))
		}
		if e := rh.err(); e != nil && e.Error() == "" {
			t.Fatal("empty error text")
		}
		var e Encoder
		rh.encode(&e)
		if e.Len()+d.Len() != len(msg) {
			t.Fatalf("re-encoded %d + %d left != %d", e.Len(), d.Len(), len(msg))
		}
	})
}
