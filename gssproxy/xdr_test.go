package gssproxy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gsskit/gsskit/gss"
	. "github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/internal/proxytest"
	"github.com/gsskit/gsskit/oncrpc"
)

const transcriptDir = "testdata/transcripts"

// decoded is one transcript record with its body decoded.
type decoded struct {
	file string
	idx  int
	rec  proxytest.Record
	hdr  proxytest.RPCHeader
	body []byte
	msg  Message
}

// decodeTranscripts decodes every record of every transcript and requires
// each body to re-encode to exactly the bytes that crossed the socket.
func decodeTranscripts(t *testing.T) map[string][]decoded {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in %s: %v", transcriptDir, err)
	}
	out := make(map[string][]decoded)
	for _, f := range files {
		tr, err := proxytest.ReadTranscriptFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tr.Records) == 0 {
			t.Fatalf("%s: no records", f)
		}
		name := filepath.Base(f)
		for i, rec := range tr.Records {
			out[name] = append(out[name], decodeRecord(t, name, i, rec))
		}
	}
	return out
}

func decodeRecord(t *testing.T, file string, i int, rec proxytest.Record) decoded {
	t.Helper()
	where := file + " record " + strconv.Itoa(i) + " (" + rec.Dir.String() + " " + ProcName(rec.Proc) + ")"
	hdr, err := proxytest.ParseRPC(rec.Msg)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	body := rec.Msg[hdr.BodyOffset:]
	var m Message
	if rec.Dir == proxytest.Call {
		if hdr.Prog != Program || hdr.Vers != Version || hdr.Proc != rec.Proc {
			t.Fatalf("%s: call header prog %d vers %d proc %d", where, hdr.Prog, hdr.Vers, hdr.Proc)
		}
		m = NewArg(rec.Proc)
	} else {
		if hdr.ReplyStat != 0 || hdr.AcceptStat != 0 {
			t.Fatalf("%s: reply not accepted/success: %d/%d", where, hdr.ReplyStat, hdr.AcceptStat)
		}
		m = NewRes(rec.Proc)
	}
	if m == nil {
		t.Fatalf("%s: no type for procedure %d", where, rec.Proc)
	}
	if err := oncrpc.Unmarshal(body, m); err != nil {
		t.Fatalf("%s: decode: %v", where, err)
	}
	if again := oncrpc.Marshal(nil, m); !bytes.Equal(again, body) {
		t.Fatalf("%s: re-encoding differs (%d bytes vs %d), first difference at %d",
			where, len(again), len(body), firstDiff(again, body))
	}
	return decoded{file: file, idx: i, rec: rec, hdr: hdr, body: body, msg: m}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTranscriptsRoundTrip(t *testing.T) {
	all := decodeTranscripts(t)
	n := 0
	for file, recs := range all {
		n += len(recs)
		// Every reply answers the call before it on the same connection.
		xids := map[uint32]uint32{}
		for _, d := range recs {
			if d.rec.Dir == proxytest.Call {
				xids[d.hdr.XID] = d.rec.Proc
				cc := callCtx(d.msg)
				if cc == nil {
					t.Fatalf("%s: %T has no call context", file, d.msg)
				}
				if cc.Locale != "" || len(cc.ServerCtx) != 0 {
					t.Errorf("%s record %d: unexpected call context %+v", file, d.idx, cc)
				}
				continue
			}
			if p, ok := xids[d.hdr.XID]; !ok || p != d.rec.Proc {
				t.Errorf("%s record %d: reply xid %#x matches no %s call", file, d.idx, d.hdr.XID, ProcName(d.rec.Proc))
			}
			st := status(d.msg)
			if st.Major>>32 != 0 {
				t.Errorf("%s record %d: major status %#x does not fit 32 bits", file, d.idx, st.Major)
			}
			if st.Major == 0 && (st.MajorText != "" || st.MinorText != "") {
				t.Errorf("%s record %d: success with status texts %q %q", file, d.idx, st.MajorText, st.MinorText)
			}
		}
	}
	t.Logf("%d transcripts, %d records decoded and re-encoded byte for byte", len(all), n)
}

func callCtx(m Message) *CallCtx {
	v := reflect.ValueOf(m).Elem().FieldByName("CallCtx")
	if !v.IsValid() {
		return nil
	}
	return v.Addr().Interface().(*CallCtx)
}

func status(m Message) *Status {
	return reflect.ValueOf(m).Elem().FieldByName("Status").Addr().Interface().(*Status)
}

func TestTranscriptServerAccept(t *testing.T) {
	recs := decodeTranscripts(t)["gss_server_accept.txt"]
	if len(recs) != 10 {
		t.Fatalf("%d records, want 10", len(recs))
	}

	im := recs[1].msg.(*IndicateMechsRes)
	if im.Status.Major != 0 {
		t.Fatalf("INDICATE_MECHS major %#x", im.Status.Major)
	}
	var krb *MechInfo
	var mechs []string
	for i := range im.Mechs {
		mechs = append(mechs, im.Mechs[i].Mech.String())
		if im.Mechs[i].Mech == gss.MechKrb5 {
			krb = &im.Mechs[i]
		}
	}
	for _, want := range []gss.OID{gss.MechKrb5, gss.MechIAKerb, gss.MechSPNEGO} {
		if !strings.Contains(strings.Join(mechs, " "), want.String()) {
			t.Errorf("INDICATE_MECHS lacks %s: %v", want, mechs)
		}
	}
	if krb == nil || !krb.NameTypes.Contains(gss.NTHostbasedService) || !krb.NameTypes.Contains(gss.NTKrb5Principal) {
		t.Fatalf("krb5 mech info lacks the expected name types: %+v", krb)
	}
	if len(krb.MechAttrs) == 0 || len(im.MechAttrDescs) == 0 {
		t.Errorf("no mech attributes: %d attrs, %d descriptions", len(krb.MechAttrs), len(im.MechAttrDescs))
	}

	acq := recs[2].msg.(*AcquireCredArg)
	if acq.DesiredName == nil || string(acq.DesiredName.Display) != "host@localhost\x00" ||
		acq.DesiredName.NameType != gss.NTHostbasedService || acq.Usage != CredAccept || acq.InputCredHandle != nil {
		t.Errorf("first ACQUIRE_CRED: %+v", acq)
	}
	acqRes := recs[3].msg.(*AcquireCredRes)
	if acqRes.Status.Major != 0 || acqRes.OutputCred == nil || len(acqRes.OutputCred.HandleRef) == 0 ||
		acqRes.OutputCred.NeedsRelease {
		t.Fatalf("ACQUIRE_CRED result: %+v", acqRes)
	}
	if len(acqRes.OutputCred.Elements) != 1 || acqRes.OutputCred.Elements[0].Mech != gss.MechKrb5 ||
		acqRes.OutputCred.Elements[0].Usage != CredAccept {
		t.Errorf("credential elements: %+v", acqRes.OutputCred.Elements)
	}
	acq2 := recs[4].msg.(*AcquireCredArg)
	if acq2.InputCredHandle == nil || !bytes.Equal(acq2.InputCredHandle.HandleRef, acqRes.OutputCred.HandleRef) {
		t.Errorf("second ACQUIRE_CRED does not carry the first handle")
	}

	acc := recs[6].msg.(*AcceptSecContextArg)
	if acc.Cred == nil || acc.Context != nil || len(acc.InputToken) == 0 || acc.InputCB != nil || acc.RetDelegCred {
		t.Errorf("ACCEPT_SEC_CONTEXT args: cred %v ctx %v token %d", acc.Cred != nil, acc.Context != nil, len(acc.InputToken))
	}
	if mech, _, err := gss.ParseInitialToken(acc.InputToken); err != nil || mech != gss.MechKrb5 {
		t.Errorf("input token is not a krb5 initial token: %v %v", mech, err)
	}
	ares := recs[7].msg.(*AcceptSecContextRes)
	if ares.Status.Major != 0 || ares.Context == nil || !ares.Context.Open || ares.Context.LocallyInitiated ||
		ares.OutputToken == nil || len(*ares.OutputToken) == 0 || ares.DelegatedCred != nil {
		t.Fatalf("ACCEPT_SEC_CONTEXT result: %+v", ares)
	}
	if ares.Context.Mech != gss.MechKrb5 {
		t.Errorf("context mech %s", ares.Context.Mech)
	}
	mech, inner, err := gss.ParseExportedContext(ares.Context.ExportedToken)
	if err != nil || mech != gss.MechKrb5 || len(inner) == 0 {
		t.Errorf("exported context framing: %s %d %v", mech, len(inner), err)
	}
	if string(ares.Context.SrcName.Display) != "alice@GSSKIT.TEST" ||
		string(ares.Context.TargName.Display) != "host/localhost@GSSKIT.TEST" {
		t.Errorf("context names %q -> %q", ares.Context.SrcName.Display, ares.Context.TargName.Display)
	}
	if m, blob, err := gss.ParseExportedName(ares.Context.SrcName.Exported); err != nil || m != gss.MechKrb5 ||
		string(blob) != "alice@GSSKIT.TEST" {
		t.Errorf("exported source name: %s %q %v", m, blob, err)
	}

	// gss_localname travels as an option of the call and of the result.
	canon := recs[8].msg.(*ImportAndCanonNameArg)
	if string(canon.InputName.Display) != "alice@GSSKIT.TEST" || canon.InputName.NameType != gss.NTKrb5Principal ||
		len(canon.Options) != 1 || string(canon.Options[0].Name) != "localname\x00" || len(canon.Options[0].Value) != 0 {
		t.Errorf("IMPORT_AND_CANON_NAME args: %+v", canon)
	}
	if m, _, err := gss.ParseExportedName(canon.InputName.Exported); err != nil || m != gss.MechKrb5 {
		t.Errorf("input name's exported form: %s %v", m, err)
	}
	cres := recs[9].msg.(*ImportAndCanonNameRes)
	if v, ok := FindOption(cres.Options, OptLocalName); cres.Status.Major != 0 || cres.OutputName != nil ||
		!ok || string(v) != "alice" {
		t.Errorf("IMPORT_AND_CANON_NAME result: %+v", cres)
	}
}

func TestTranscriptClientInit(t *testing.T) {
	recs := decodeTranscripts(t)["gss_client_init.txt"]
	acq := recs[0].msg.(*AcquireCredArg)
	if acq.DesiredName != nil || len(acq.DesiredMechs) != 0 || acq.Usage != CredInitiate {
		t.Errorf("ACQUIRE_CRED args: %+v", acq)
	}
	first := recs[2].msg.(*InitSecContextArg)
	if first.Context != nil || first.InputToken != nil || first.Mech != gss.MechKrb5 || first.ReqFlags != 6 ||
		first.TargetName == nil || string(first.TargetName.Display) != "host@localhost" {
		t.Errorf("first INIT_SEC_CONTEXT: %+v", first)
	}
	if v, ok := FindOption(first.Options, OptSyncModifiedCreds); !ok || string(v) != "default\x00" {
		t.Errorf("sync_modified_creds option: %q %v", v, ok)
	}
	if string(first.Options[0].Name) != "sync_modified_creds\x00" {
		t.Errorf("option name not NUL-terminated: %q", first.Options[0].Name)
	}
	r1 := recs[3].msg.(*InitSecContextRes)
	if r1.Status.Major != uint64(gss.ContinueNeeded) || r1.Context == nil || r1.Context.Open ||
		!r1.Context.LocallyInitiated || r1.OutputToken == nil {
		t.Fatalf("first INIT_SEC_CONTEXT result: %+v", r1.Status)
	}
	second := recs[6].msg.(*InitSecContextArg)
	if second.Context == nil || !bytes.Equal(second.Context.ExportedToken, r1.Context.ExportedToken) ||
		second.InputToken == nil || len(*second.InputToken) == 0 {
		t.Errorf("second INIT_SEC_CONTEXT does not continue the first")
	}
	r2 := recs[7].msg.(*InitSecContextRes)
	if r2.Status.Major != 0 || r2.Context == nil || !r2.Context.Open || r2.OutputToken != nil {
		t.Errorf("second INIT_SEC_CONTEXT result: %+v", r2.Status)
	}
	if string(r2.Context.SrcName.Display) != "alice@GSSKIT.TEST" {
		t.Errorf("initiator name %q", r2.Context.SrcName.Display)
	}
}

func TestTranscriptAcquireConflict(t *testing.T) {
	recs := decodeTranscripts(t)["python_acquire_conflict.txt"]
	for _, i := range []int{6, 8} {
		a := recs[i].msg.(*AcquireCredArg)
		if a.InputCredHandle == nil || a.Usage != CredAccept ||
			a.InputCredHandle.Elements[0].Usage != CredInitiate {
			t.Errorf("record %d: %+v", i, a)
		}
		r := recs[i+1].msg.(*AcquireCredRes)
		if r.Status.Major != uint64(gss.Failure) || r.Status.Minor != 0 || r.OutputCred != nil {
			t.Errorf("record %d: %+v", i+1, r.Status)
		}
		if !strings.HasPrefix(r.Status.MajorText, "Unspecified GSS failure") || !strings.HasSuffix(r.Status.MajorText, "\x00") {
			t.Errorf("major text %q", r.Status.MajorText)
		}
		e := r.Status.Err()
		if !errors.Is(e, gss.ErrFailure) {
			t.Errorf("status error %v does not match ErrFailure", e)
		}
	}
}

func TestTranscriptKernel(t *testing.T) {
	all := decodeTranscripts(t)
	for _, f := range []string{"kernel_accept_nobody.txt", "kernel_accept_unmapped.txt", "kernel_accept_defective.txt"} {
		recs := all[f]
		call := recs[0].msg.(*AcceptSecContextArg)
		want := []Option{CStringOption(OptExportedContextType, ValLinuxLucidV1), CStringOption(OptExportedCredsType, ValLinuxCredsV1)}
		if !reflect.DeepEqual(call.CallCtx.Options, want) {
			t.Errorf("%s: call options %q", f, call.CallCtx.Options)
		}
		if recs[0].hdr.XID != 0x4b524e4c {
			t.Errorf("%s: xid %#x", f, recs[0].hdr.XID)
		}
		res := recs[1].msg.(*AcceptSecContextRes)
		if f == "kernel_accept_defective.txt" {
			if res.Status.Major != uint64(gss.Failure) || res.Status.Minor != 0x96c73a1f || res.Context != nil ||
				res.Status.Mech != "" || res.OutputToken != nil || len(res.Options) != 0 {
				t.Errorf("%s: %+v", f, res)
			}
			e := res.Status.Err()
			var ge *gss.Error
			if !errors.As(e, &ge) || ge.Major != gss.Failure || ge.Minor != 0x96c73a1f ||
				!strings.Contains(ge.Message, "Decrypt integrity check failed") || strings.Contains(ge.Message, "\x00") {
				t.Errorf("%s: status as error: %#v", f, e)
			}
			continue
		}
		if res.Status.Major != 0 || res.Context == nil || !res.Context.Open || len(res.Context.ExportedToken) != 52 ||
			res.Context.Flags != 0x1b2 || res.Context.SrcName.ExportedComposite != nil {
			t.Errorf("%s: context %+v", f, res.Context)
		}
		lucid, err := proxytest.ParseLucid(res.Context.ExportedToken, binary.LittleEndian)
		if err != nil || lucid.Enctype != 18 || len(lucid.Key) != 32 {
			t.Errorf("%s: lucid %+v %v", f, lucid, err)
		}
		v, ok := FindOption(res.Options, ValLinuxCredsV1)
		if !ok {
			t.Fatalf("%s: no linux_creds_v1 option", f)
		}
		creds, err := proxytest.ParseLinuxCreds(v, binary.LittleEndian)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == "kernel_accept_nobody.txt" && (creds.UID != 65534 || creds.GID != 65534) {
			t.Errorf("%s: creds %+v", f, creds)
		}
		if f == "kernel_accept_unmapped.txt" && (creds.UID != 0xffffffff || len(creds.Groups) != 0) {
			t.Errorf("%s: creds %+v", f, creds)
		}
	}
}

// The .bin files are the raw kernel call and reply; the call must also be
// what this package's types encode from scratch.
func TestKernelBinaries(t *testing.T) {
	callMsg, err := os.ReadFile(filepath.Join(transcriptDir, "kernel_accept_call.bin"))
	if err != nil {
		t.Fatal(err)
	}
	replyMsg, err := os.ReadFile(filepath.Join(transcriptDir, "kernel_accept_reply.bin"))
	if err != nil {
		t.Fatal(err)
	}
	c := decodeRecord(t, "kernel_accept_call.bin", 0, proxytest.Record{Conn: 1, Dir: proxytest.Call, Proc: ProcAcceptSecContext, Msg: callMsg})
	decodeRecord(t, "kernel_accept_reply.bin", 1, proxytest.Record{Conn: 1, Dir: proxytest.Reply, Proc: ProcAcceptSecContext, Msg: replyMsg})

	arg := c.msg.(*AcceptSecContextArg)
	built := &AcceptSecContextArg{
		CallCtx: CallCtx{Options: []Option{
			CStringOption(OptExportedContextType, ValLinuxLucidV1),
			CStringOption(OptExportedCredsType, ValLinuxCredsV1),
		}},
		InputToken: arg.InputToken,
	}
	if got := oncrpc.Marshal(nil, built); !bytes.Equal(got, c.body) {
		t.Errorf("hand-built kernel call differs at byte %d", firstDiff(got, c.body))
	}
	if want := proxytest.KernelAcceptCall(0x4b524e4c, arg.InputToken); !bytes.Equal(want, callMsg) {
		t.Errorf("kernel_accept_call.bin is not what proxytest.KernelAcceptCall builds")
	}
}

// Every procedure's argument and result, with every field set (most are
// never seen in the transcripts), must survive a round trip.
func TestAllTypesRoundTrip(t *testing.T) {
	for proc := uint32(1); proc <= ProcWrapSizeLimit; proc++ {
		if ProcName(proc) == "" {
			t.Fatalf("procedure %d has no name", proc)
		}
		for _, m := range []Message{NewArg(proc), NewRes(proc)} {
			fill(reflect.ValueOf(m).Elem(), new(int))
			roundTrip(t, ProcName(proc), m)
			// Zero values too: every optional absent, every array empty.
			zero := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
			if r, ok := zero.(*ReleaseHandleArg); ok {
				r.Handle.Ctx = new(Ctx) // the zero union is an (empty) context
			}
			roundTrip(t, ProcName(proc)+" zero", zero)
		}
	}
	if NewArg(0) != nil || NewRes(16) != nil || ProcName(16) != "" {
		t.Error("undefined procedures have types or names")
	}
	empty := []byte{}
	for _, h := range []Handle{
		{Type: HandleCred, Cred: &Cred{HandleRef: []byte{1, 2, 3}, NeedsRelease: true}},
		{Type: HandleSecCtx, Ctx: &Ctx{State: []byte{9}, Open: true}},
		{Type: 7, Extensions: []byte{1, 2, 3, 4, 5}},
	} {
		roundTrip(t, "release handle", &ReleaseHandleArg{Handle: h})
	}
	roundTrip(t, "present empty token", &InitSecContextRes{OutputToken: &empty})
	f, tr := false, true
	roundTrip(t, "conf false", &WrapRes{ConfState: &f})
	roundTrip(t, "conf true", &UnwrapRes{ConfState: &tr})
}

func roundTrip(t *testing.T, what string, m Message) {
	t.Helper()
	b := oncrpc.Marshal(nil, m)
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes, not a multiple of 4", what, len(b))
	}
	got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
	if err := oncrpc.Unmarshal(b, got); err != nil {
		t.Fatalf("%s (%T): %v", what, m, err)
	}
	normalize(reflect.ValueOf(m).Elem())
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("%s: round trip changed the value:\n got %+v\nwant %+v", what, got, m)
	}
	if again := oncrpc.Marshal(nil, got); !bytes.Equal(again, b) {
		t.Fatalf("%s: second encoding differs", what)
	}
	// Every proper prefix is rejected, and so is a trailing word.
	for n := 0; n < len(b); n += 4 {
		if err := oncrpc.Unmarshal(b[:n], reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)); err == nil {
			t.Fatalf("%s: %d-byte prefix of %d decoded", what, n, len(b))
		}
	}
	if err := oncrpc.Unmarshal(append(b, 0, 0, 0, 0), got); !errors.Is(err, oncrpc.ErrTrailingData) {
		t.Fatalf("%s: trailing word: %v", what, err)
	}
}

// fill sets every field of v to a distinct non-zero value. Handles get a
// consistent union arm. Byte lengths cycle through 1..5 so that every
// amount of padding occurs.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Handle]() {
			c := new(Cred)
			fill(reflect.ValueOf(c).Elem(), n)
			v.Set(reflect.ValueOf(Handle{Type: HandleCred, Cred: c}))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, 1+*n%5)
			for i := range b {
				b[i] = byte(*n + i)
			}
			v.SetBytes(b)
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.String:
		v.SetString(strings.Repeat("x", 1+*n%5))
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n) * 0x01010101)
	case reflect.Bool:
		v.SetBool(true)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// normalize turns empty slices into nil, as decoding produces them (the wire
// cannot tell them apart), except behind a pointer where presence matters.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			normalize(v.Field(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem()) // the pointer itself stays: presence is on the wire
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	}
}

// Byte layouts checked against gss_proxy.x by hand, independent of the
// round trip: a round trip alone cannot catch two fields in the wrong order
// on both sides.
func TestLayouts(t *testing.T) {
	tok := []byte{0xaa, 0xbb}
	got := oncrpc.Marshal(nil, &InitSecContextArg{
		Mech:       gss.OID([]byte{1, 2, 3}),
		ReqFlags:   0x22,
		TimeReq:    0x33,
		InputCB:    &CB{InitiatorAddrType: 4, ApplicationData: []byte{5}},
		InputToken: &tok,
		Options:    []Option{{Name: []byte("n"), Value: []byte("vv")}},
	})
	want := hexBytes(t, ""+
		"00000000 00000000 00000000"+ // call_ctx: locale, server_ctx, options
		"00000000 00000000 00000000"+ // context_handle, cred_handle, target_name absent
		"00000003 01020300"+ // mech_type
		"0000000000000022"+ // req_flags
		"0000000000000033"+ // time_req
		"00000001 0000000000000004 00000000 0000000000000000 00000000 00000001 05000000"+ // input_cb
		"00000001 00000002 aabb0000"+ // input_token
		"00000001 00000001 6e000000 00000002 76760000") // options
	if !bytes.Equal(got, want) {
		t.Errorf("INIT_SEC_CONTEXT args:\n got %x\nwant %x", got, want)
	}

	got = oncrpc.Marshal(nil, &Status{Major: 0xd0000, Mech: gss.OID([]byte{7}), Minor: 0x96c73a1f,
		MajorText: "a", MinorText: "bc", ServerCtx: []byte{1, 2, 3, 4}})
	want = hexBytes(t, "00000000000d0000 00000001 07000000 0000000096c73a1f 00000001 61000000 00000002 62630000 00000004 01020304 00000000")
	if !bytes.Equal(got, want) {
		t.Errorf("status:\n got %x\nwant %x", got, want)
	}

	got = oncrpc.Marshal(nil, &ReleaseHandleArg{Handle: Handle{Type: HandleCred}})
	want = hexBytes(t, "00000000 00000000 00000000 00000001"+
		"00000000 00000000 00000000 00000000 00000000 00000000"+ // desired_name
		"00000000 00000000 00000000") // elements, handle ref, needs_release
	if !bytes.Equal(got, want) {
		t.Errorf("release handle:\n got %x\nwant %x", got, want)
	}
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	s = strings.ReplaceAll(s, " ", "")
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				v |= byte(c - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		b[i] = v
	}
	return b
}

func TestDecodeLimits(t *testing.T) {
	// An OID set claiming a million members in a 16-byte body.
	body := hexBytes(t, "00000000 00000000 00000000 000f4240")
	if err := oncrpc.Unmarshal(body, new(GetCallContextArg)); err == nil {
		t.Error("absurd option count decoded")
	}
	// A bool that is 2 where an optional's discriminant should be.
	body = hexBytes(t, "00000000 00000000 00000000 00000002")
	if err := oncrpc.Unmarshal(body, new(AcceptSecContextArg)); !errors.Is(err, oncrpc.ErrBadBool) {
		t.Errorf("bad optional discriminant: %v", err)
	}
	// An OID longer than maxOID.
	var e oncrpc.Encoder
	(&Status{Mech: gss.OID(make([]byte, MaxOIDForTest+1))}).MarshalXDR(&e)
	if err := oncrpc.Unmarshal(e.Bytes(), new(Status)); !errors.Is(err, oncrpc.ErrTooLong) {
		t.Errorf("long OID: %v", err)
	}
}

// The fuzz targets decode arbitrary bodies as each procedure's argument or
// result. Whatever decodes must re-encode to the same length, differing
// from the input only in padding bytes (which the decoder does not judge),
// and decode again to an equal value.

func FuzzDecodeArg(f *testing.F) { fuzzDecode(f, proxytest.Call, NewArg) }
func FuzzDecodeRes(f *testing.F) { fuzzDecode(f, proxytest.Reply, NewRes) }

func fuzzDecode(f *testing.F, dir proxytest.Direction, newMsg func(uint32) Message) {
	files, _ := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	for _, file := range files {
		tr, err := proxytest.ReadTranscriptFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, rec := range tr.Records {
			if rec.Dir != dir {
				continue
			}
			body, err := rec.Body()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(rec.Proc), body)
		}
	}
	for proc := uint32(1); proc <= ProcWrapSizeLimit; proc++ {
		m := newMsg(proc)
		fill(reflect.ValueOf(m).Elem(), new(int))
		f.Add(uint8(proc), oncrpc.Marshal(nil, m))
	}
	f.Fuzz(func(t *testing.T, p uint8, data []byte) {
		proc := uint32(p)%ProcWrapSizeLimit + 1
		m := newMsg(proc)
		if err := oncrpc.Unmarshal(data, m); err != nil {
			return
		}
		out := oncrpc.Marshal(nil, m)
		if len(out) != len(data) {
			t.Fatalf("%s: re-encoded %d bytes from %d", ProcName(proc), len(out), len(data))
		}
		for i := range out {
			if out[i] != data[i] && out[i] != 0 {
				t.Fatalf("%s: re-encoding differs at %d outside padding", ProcName(proc), i)
			}
		}
		m2 := newMsg(proc)
		if err := oncrpc.Unmarshal(out, m2); err != nil {
			t.Fatalf("%s: re-encoding does not decode: %v", ProcName(proc), err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s: second decode differs", ProcName(proc))
		}
	})
}
