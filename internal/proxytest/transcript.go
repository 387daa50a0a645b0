package proxytest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gsskit/gsskit/gssproxy"
)

// ProcName is the gss_proxy.x name of a procedure ("GSSX_ACQUIRE_CRED"), or
// "PROC_<n>" for numbers the protocol does not define.
func ProcName(proc uint32) string {
	if n := gssproxy.ProcName(proc); n != "" {
		return n
	}
	return fmt.Sprintf("PROC_%d", proc)
}

// procByName inverts ProcName.
func procByName(name string) (uint32, error) {
	// Procedure numbers start at 1 and run without gaps in gss_proxy.x.
	for p := uint32(1); gssproxy.ProcName(p) != ""; p++ {
		if gssproxy.ProcName(p) == name {
			return p, nil
		}
	}
	if s, ok := strings.CutPrefix(name, "PROC_"); ok {
		v, err := strconv.ParseUint(s, 10, 32)
		if err == nil {
			return uint32(v), nil
		}
	}
	return 0, fmt.Errorf("unknown procedure name %q", name)
}

// Direction says which way a record travelled.
type Direction uint8

const (
	// Call is a record from the client (interposer, kernel) to the daemon.
	Call Direction = iota + 1
	// Reply is a record from the daemon to the client.
	Reply
)

func (d Direction) String() string {
	switch d {
	case Call:
		return "call"
	case Reply:
		return "reply"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Record is one ONC RPC message as it crossed a Unix socket, with the
// record marking removed and its fragments joined.
type Record struct {
	// Conn numbers the client connection the record travelled on, from 1,
	// in the order the connections were accepted.
	Conn int
	Dir  Direction
	// Proc is the procedure of a call, and for a reply the procedure of
	// the call with the same xid on the same connection (0 if none was
	// seen).
	Proc uint32
	// Msg is the RPC message: xid, header, then the procedure's
	// arguments or results.
	Msg []byte
}

// RPCHeader holds the fixed fields of an RPC message (RFC 5531).
type RPCHeader struct {
	XID  uint32
	Type uint32 // 0 call, 1 reply

	// Calls.
	RPCVers, Prog, Vers, Proc uint32
	CredFlavor                uint32
	Cred                      []byte
	VerfFlavor                uint32

	// Replies.
	ReplyStat  uint32 // 0 accepted, 1 denied
	AcceptStat uint32 // 0 success

	// BodyOffset is where the arguments (call) or results (accepted
	// reply) start in the message.
	BodyOffset int
}

// ParseRPC decodes the header of an RPC call or reply.
func ParseRPC(msg []byte) (RPCHeader, error) {
	r := &xdrReader{b: msg}
	var h RPCHeader
	h.XID = r.u32()
	h.Type = r.u32()
	switch {
	case r.err != nil:
	case h.Type == 0:
		h.RPCVers, h.Prog, h.Vers, h.Proc = r.u32(), r.u32(), r.u32(), r.u32()
		h.CredFlavor = r.u32()
		h.Cred = r.opaque()
		h.VerfFlavor = r.u32()
		r.opaque()
	case h.Type == 1:
		h.ReplyStat = r.u32()
		if h.ReplyStat == 0 {
			h.VerfFlavor = r.u32()
			r.opaque()
			h.AcceptStat = r.u32()
		}
	default:
		r.fail(fmt.Errorf("proxytest: RPC message type %d is neither call nor reply", h.Type))
	}
	h.BodyOffset = r.off
	return h, r.err
}

// Body returns the procedure arguments of a call or the results of an
// accepted reply.
func (rec Record) Body() ([]byte, error) {
	h, err := ParseRPC(rec.Msg)
	if err != nil {
		return nil, err
	}
	return rec.Msg[h.BodyOffset:], nil
}

// Transcript is a recorded conversation with a gss-proxy daemon, in the
// text form documented in gssproxy/testdata/transcripts/README.md:
//
//	# free-text comment
//	@ key: value
//	call 1 GSSX_ACQUIRE_CRED 0a1b2c...
//	reply 1 GSSX_ACQUIRE_CRED 0a1b2c...
//
// A record line is direction, connection number, procedure name and the
// whole RPC message in lower-case hex, record marking removed. Nothing
// time-dependent (arrival times, daemon log stamps) is stored.
type Transcript struct {
	Comments []string
	Meta     []MetaField
	Records  []Record
}

// MetaField is one "@ key: value" line.
type MetaField struct{ Key, Value string }

// Get returns the value of the first metadata field named key.
func (t *Transcript) Get(key string) string {
	for _, m := range t.Meta {
		if m.Key == key {
			return m.Value
		}
	}
	return ""
}

// Set replaces or appends a metadata field.
func (t *Transcript) Set(key, value string) {
	for i := range t.Meta {
		if t.Meta[i].Key == key {
			t.Meta[i].Value = value
			return
		}
	}
	t.Meta = append(t.Meta, MetaField{key, value})
}

// Procs lists "call GSSX_..."/"reply GSSX_..." for each record, the shape
// that stays the same from one run to the next.
func (t *Transcript) Procs() []string {
	out := make([]string, len(t.Records))
	for i, r := range t.Records {
		out[i] = r.Dir.String() + " " + ProcName(r.Proc)
	}
	return out
}

// WriteTo writes the transcript in its text form.
func (t *Transcript) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	var n int64
	p := func(format string, args ...any) {
		c, _ := fmt.Fprintf(bw, format, args...)
		n += int64(c)
	}
	for _, c := range t.Comments {
		if c == "" {
			p("#\n")
		} else {
			p("# %s\n", c)
		}
	}
	for _, m := range t.Meta {
		p("@ %s: %s\n", m.Key, m.Value)
	}
	for _, r := range t.Records {
		p("%s %d %s %s\n", r.Dir, r.Conn, ProcName(r.Proc), hex.EncodeToString(r.Msg))
	}
	return n, bw.Flush()
}

// WriteFile writes the transcript to path.
func (t *Transcript) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := t.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadTranscript parses the text form.
func ReadTranscript(r io.Reader) (*Transcript, error) {
	t := &Transcript{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 8*maxOpaque)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		switch {
		case strings.TrimSpace(s) == "":
		case strings.HasPrefix(s, "#"):
			t.Comments = append(t.Comments, strings.TrimPrefix(strings.TrimPrefix(s, "#"), " "))
		case strings.HasPrefix(s, "@"):
			k, v, ok := strings.Cut(strings.TrimSpace(s[1:]), ":")
			if !ok {
				return nil, fmt.Errorf("transcript line %d: metadata without ':'", line)
			}
			t.Meta = append(t.Meta, MetaField{strings.TrimSpace(k), strings.TrimSpace(v)})
		default:
			f := strings.Fields(s)
			if len(f) != 4 {
				return nil, fmt.Errorf("transcript line %d: want 4 fields, have %d", line, len(f))
			}
			var rec Record
			switch f[0] {
			case "call":
				rec.Dir = Call
			case "reply":
				rec.Dir = Reply
			default:
				return nil, fmt.Errorf("transcript line %d: direction %q", line, f[0])
			}
			c, err := strconv.Atoi(f[1])
			if err != nil || c < 1 {
				return nil, fmt.Errorf("transcript line %d: connection %q", line, f[1])
			}
			rec.Conn = c
			if rec.Proc, err = procByName(f[2]); err != nil {
				return nil, fmt.Errorf("transcript line %d: %v", line, err)
			}
			if rec.Msg, err = hex.DecodeString(f[3]); err != nil {
				return nil, fmt.Errorf("transcript line %d: %v", line, err)
			}
			t.Records = append(t.Records, rec)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.Records) == 0 {
		return nil, errors.New("transcript has no records")
	}
	return t, nil
}

// ReadTranscriptFile parses the transcript at path.
func ReadTranscriptFile(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadTranscript(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Redact replaces every occurrence of secret in the records' bytes with a
// placeholder of the same length, so that lengths, padding and offsets
// stay valid and the records still decode. It returns how many occurrences
// it replaced. The reference's MIT-serialized contexts carry the
// krb5_context's profile, i.e. the absolute path of the daemon's
// krb5.conf; captures redact that path before they are committed.
func (t *Transcript) Redact(secret string) (int, error) {
	const head, tail = "/REDACTED", "/" // "/REDACTED___/" keeps it a path
	if secret == "" {
		return 0, nil
	}
	base := secret[strings.LastIndex(secret, "/")+1:]
	if len(secret) < len(head)+len(tail)+len(base) {
		return 0, fmt.Errorf("proxytest: cannot redact %q: shorter than its placeholder", secret)
	}
	ph := head + strings.Repeat("_", len(secret)-len(head)-len(tail)-len(base)) + tail + base
	n := 0
	for i := range t.Records {
		c := bytes.Count(t.Records[i].Msg, []byte(secret))
		if c > 0 {
			t.Records[i].Msg = bytes.ReplaceAll(t.Records[i].Msg, []byte(secret), []byte(ph))
			n += c
		}
	}
	return n, nil
}
