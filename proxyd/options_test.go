package proxyd

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/gsskit/gsskit/gssproxy"
)

func opt(name, value string) Option { return Option{Name: []byte(name), Value: []byte(value)} }

func TestKernelCallOptionsWire(t *testing.T) {
	// The kernel's gss_rpc_xdr.c sends sizeof() of each string: with NUL.
	want := []Option{
		opt("exported_context_type\x00", "linux_lucid_v1\x00"),
		opt("exported_creds_type\x00", "linux_creds_v1\x00"),
	}
	if got := KernelCallOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("KernelCallOptions = %q", got)
	}
}

func TestParseCallOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want CallOptions
		err  string // option named in the OptionError
	}{
		{"none", nil, CallOptions{}, ""},
		{"kernel", KernelCallOptions(), CallOptions{ContextExportLinuxLucidV1, CredsExportLinuxV1}, ""},
		{"without NULs", []Option{opt("exported_context_type", "linux_lucid_v1"), opt("exported_creds_type", "linux_creds_v1")},
			CallOptions{ContextExportLinuxLucidV1, CredsExportLinuxV1}, ""},
		{"NUL on the name only", []Option{opt("exported_context_type\x00", "linux_lucid_v1")}, CallOptions{ContextExport: ContextExportLinuxLucidV1}, ""},
		{"unknown names ignored", []Option{opt("frobnicate\x00", "x"), opt("exported_creds_type\x00", "linux_creds_v1\x00")},
			CallOptions{CredsExport: CredsExportLinuxV1}, ""},
		{"two NULs do not match", []Option{opt("exported_context_type\x00\x00", "bogus")}, CallOptions{}, ""},
		{"prefix does not match", []Option{opt("exported_context", "bogus")}, CallOptions{}, ""},
		{"unknown context type", []Option{opt("exported_context_type\x00", "linux_lucid_v2\x00")}, CallOptions{}, gssproxy.OptExportedContextType},
		{"empty context type", []Option{opt("exported_context_type\x00", "")}, CallOptions{}, gssproxy.OptExportedContextType},
		{"unknown creds type", []Option{opt("exported_creds_type\x00", "posix\x00")}, CallOptions{}, gssproxy.OptExportedCredsType},
		{"first option wins", []Option{opt("exported_context_type\x00", "linux_lucid_v1\x00"), opt("exported_context_type\x00", "bad")},
			CallOptions{ContextExport: ContextExportLinuxLucidV1}, ""},
		{"first option wins, even when bad", []Option{opt("exported_context_type\x00", "bad"), opt("exported_context_type\x00", "linux_lucid_v1\x00")},
			CallOptions{}, gssproxy.OptExportedContextType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCallOptions(tc.opts)
			if tc.err != "" {
				var oe *OptionError
				if !errors.As(err, &oe) || oe.Option != tc.err {
					t.Fatalf("err = %v, want an OptionError for %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	_, err := ParseCallOptions([]Option{opt("exported_creds_type\x00", "posix\x00")})
	if err == nil || err.Error() != `proxyd: option exported_creds_type has unsupported value "posix"` {
		t.Errorf("message: %v", err)
	}
}

func TestParseCallSpecificOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want bool
	}{
		{nil, false},
		{[]Option{gssproxy.CStringOption(gssproxy.OptSyncModifiedCreds, gssproxy.ValSyncDefault)}, true},
		{[]Option{opt("sync_modified_creds", "default")}, true},
		{[]Option{opt("sync_modified_creds\x00", "always\x00")}, false},
		{[]Option{opt("sync_modified_creds\x00", "")}, false},
	} {
		if got := ParseInitSecContextOptions(tc.opts).SyncModifiedCreds; got != tc.want {
			t.Errorf("sync %q = %v", tc.opts, got)
		}
	}

	if a, err := ParseAcquireCredOptions([]Option{gssproxy.CStringOption(gssproxy.OptAcquireType, gssproxy.ValImpersonateName)}); err != nil || !a.ImpersonateName {
		t.Errorf("impersonate_name: %+v, %v", a, err)
	}
	if a, err := ParseAcquireCredOptions(nil); err != nil || a.ImpersonateName {
		t.Errorf("no options: %+v, %v", a, err)
	}
	var oe *OptionError
	if _, err := ParseAcquireCredOptions([]Option{opt("acquire_type\x00", "s4u2proxy\x00")}); !errors.As(err, &oe) {
		t.Errorf("unknown acquire_type: %v", err)
	}

	if !ParseImportNameOptions([]Option{opt("localname\x00", "")}).LocalName ||
		!ParseImportNameOptions([]Option{opt("localname", "anything")}).LocalName ||
		ParseImportNameOptions([]Option{opt("local\x00", "")}).LocalName {
		t.Error("localname")
	}

	for _, tc := range []struct {
		got  Option
		name string
	}{
		{LocalNameOption([]byte("alice")), "localname\x00"},
		{SyncCredsOption([]byte{1, 2}), "sync_creds\x00"},
		{NoCIFlagsOption(), "krb5_set_no_ci_flags\x00"},
		{AllowedEnctypesOption(nil), "krb5_set_allowed_enctype_values\x00"},
	} {
		if string(tc.got.Name) != tc.name {
			t.Errorf("option name %q, want %q", tc.got.Name, tc.name)
		}
	}
	if v := LocalNameOption([]byte("alice")).Value; string(v) != "alice" {
		t.Errorf("localname value %q", v)
	}
}

// hostBytes is an int32 as C's memcpy of a krb5_enctype array lays it out.
func hostBytes(v int32) []byte {
	b := *(*[4]byte)(unsafe.Pointer(&v))
	return b[:]
}

func TestCredElementOptions(t *testing.T) {
	enctypes := []int32{18, 17, 20, -1}
	o := AllowedEnctypesOption(enctypes)
	var want []byte
	for _, e := range enctypes {
		want = append(want, hostBytes(e)...)
	}
	if !bytes.Equal(o.Value, want) {
		t.Errorf("enctype value %x, want host order %x", o.Value, want)
	}

	for _, tc := range []struct {
		name string
		opts []Option
		want CredElementOptions
	}{
		{"none", nil, CredElementOptions{}},
		{"enctypes", []Option{o}, CredElementOptions{AllowedEnctypes: enctypes}},
		{"enctypes then no-CI (the reference loses the second)", []Option{o, NoCIFlagsOption()},
			CredElementOptions{AllowedEnctypes: enctypes, NoCIFlags: true}},
		{"no-CI without NUL", []Option{opt("krb5_set_no_ci_flags", "")}, CredElementOptions{NoCIFlags: true}},
		{"trailing partial int32 ignored", []Option{{Name: o.Name, Value: append(hostBytes(18), 1, 2, 3)}},
			CredElementOptions{AllowedEnctypes: []int32{18}}},
		{"empty list is no list", []Option{{Name: o.Name, Value: []byte{1, 2}}}, CredElementOptions{}},
		{"first list wins", []Option{AllowedEnctypesOption([]int32{17}), AllowedEnctypesOption([]int32{18})},
			CredElementOptions{AllowedEnctypes: []int32{17}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCredElementOptions(tc.opts); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
