package oncrpc

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestAuthSysLimits(t *testing.T) {
	max := &AuthSys{MachineName: strings.Repeat("m", MaxMachineName), GIDs: make([]uint32, MaxGIDs)}
	hdr, _, err := max.MarshalCred(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The largest AUTH_SYS credential still fits MaxAuthBytes.
	body := hdr[8 : len(hdr)-8]
	if len(body) > MaxAuthBytes {
		t.Fatalf("largest AUTH_SYS body is %d bytes", len(body))
	}
	var back AuthSys
	if err := Unmarshal(body, &back); err != nil || back.MachineName != max.MachineName || len(back.GIDs) != MaxGIDs {
		t.Fatalf("round trip: %v", err)
	}

	for _, a := range []*AuthSys{
		{MachineName: strings.Repeat("m", MaxMachineName+1)},
		{GIDs: make([]uint32, MaxGIDs+1)},
	} {
		if _, _, err := a.MarshalCred(nil); err == nil {
			t.Errorf("MarshalCred accepted %d-byte name, %d gids", len(a.MachineName), len(a.GIDs))
		}
	}
}

func TestSysAuthenticator(t *testing.T) {
	good := Marshal(nil, &AuthSys{Stamp: 9, MachineName: "h", UID: 1, GID: 2, GIDs: []uint32{3}})
	for _, tc := range []struct {
		name string
		cred []byte
		verf Flavor
		want error
	}{
		{"good", good, FlavorNone, nil},
		{"trailing byte", append(append([]byte{}, good...), 0, 0, 0, 0), FlavorNone, AuthBadCred},
		{"truncated", good[:len(good)-4], FlavorNone, AuthBadCred},
		{"17 gids", Marshal(nil, &AuthSys{GIDs: make([]uint32, 17)}), FlavorNone, AuthBadCred},
		{"sys verifier", good, FlavorSys, AuthBadVerf},
	} {
		c := &Call{CallHeader: CallHeader{Cred: OpaqueAuth{FlavorSys, tc.cred}, Verf: OpaqueAuth{Flavor: tc.verf}}}
		sa, err := SysAuthenticator{}.Authenticate(context.Background(), c)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err == nil {
			sys, ok := sa.(*AuthSys)
			if !ok || sys.Stamp != 9 || sys.MachineName != "h" || sys.UID != 1 || sys.GID != 2 || len(sys.GIDs) != 1 {
				t.Errorf("%s: %#v", tc.name, sa)
			}
		}
	}
	c := &Call{CallHeader: CallHeader{Verf: OpaqueAuth{Flavor: FlavorGSS}}}
	if _, err := (AuthNone{}).Authenticate(context.Background(), c); err != AuthBadVerf {
		t.Errorf("AUTH_NONE with a GSS verifier: %v", err)
	}
}

func TestAuthNoneMarshal(t *testing.T) {
	hdr, ca, err := AuthNone{}.MarshalCred([]byte{1})
	if err != nil || !bytes.Equal(hdr, append([]byte{1}, make([]byte, 16)...)) {
		t.Fatalf("%x %v", hdr, err)
	}
	if _, ok := ca.(AuthNone); !ok {
		t.Fatalf("call auth %T", ca)
	}
}

// FuzzAuthSys: decoding a credential body either fails or yields values
// within the RFC 5531 limits that encode back to the same length.
func FuzzAuthSys(f *testing.F) {
	f.Add(Marshal(nil, &AuthSys{Stamp: 1, MachineName: "host", UID: 1000, GID: 1000, GIDs: []uint32{4, 24, 27}}))
	f.Add(Marshal(nil, &AuthSys{MachineName: strings.Repeat("x", 255), GIDs: make([]uint32, 16)}))
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		var a AuthSys
		if err := Unmarshal(body, &a); err != nil {
			return
		}
		if len(a.MachineName) > MaxMachineName || len(a.GIDs) > MaxGIDs {
			t.Fatalf("limits exceeded: %d, %d", len(a.MachineName), len(a.GIDs))
		}
		if n := len(Marshal(nil, &a)); n != len(body) {
			t.Fatalf("re-encoded %d bytes of %d", n, len(body))
		}
	})
}
