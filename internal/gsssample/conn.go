package gsssample

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// stream is one side of a sample-protocol connection: buffered reads, token
// writes, the size limit, and the format in use.
type stream struct {
	ctx context.Context
	r   *bufio.Reader
	w   io.Writer
	max int
	v1  bool
	log io.Writer
	who string // "client" or "server", for the trace
}

func newStream(ctx context.Context, rw io.ReadWriter, max int, log io.Writer, who string) *stream {
	return &stream{ctx: ctx, r: bufio.NewReader(rw), w: rw, max: max, log: log, who: who}
}

// cause names the context's end as the reason for an I/O error that watch
// provoked by expiring the connection's deadline.
func (s *stream) cause(err error) error {
	if cerr := s.ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

func (s *stream) send(flags TokenFlags, body []byte) error {
	if s.v1 {
		flags = V1
	}
	if err := WriteToken(s.w, flags, body); err != nil {
		return fmt.Errorf("gsssample: %s sending %s token (%d bytes): %w", s.who, flags, len(body), s.cause(err))
	}
	return nil
}

func (s *stream) recv() (TokenFlags, []byte, error) {
	f, b, err := ReadToken(s.r, s.max)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gsssample: %s receiving a token: %w", s.who, s.cause(err))
	}
	return f, b, err
}

func (s *stream) logf(format string, args ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, s.who+": "+format+"\n", args...)
	}
}

// watch makes blocking reads and writes on rw give up when ctx ends, if rw
// can take a deadline (a net.Conn can). The returned stop must be called.
func watch(ctx context.Context, rw io.ReadWriter) (stop func() bool) {
	d, ok := rw.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return func() bool { return true }
	}
	if dl, has := ctx.Deadline(); has {
		d.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { d.SetDeadline(time.Unix(1, 0)) })
}

// FlagString names the set context flags the way MIT's display_ctx_flags
// does (deleg, mutual, replay, sequence, conf, integ), plus the others.
func FlagString(f gss.Flags) string {
	names := []struct {
		f gss.Flags
		n string
	}{
		{gss.FlagDeleg, "deleg"}, {gss.FlagMutual, "mutual"}, {gss.FlagReplay, "replay"},
		{gss.FlagSequence, "sequence"}, {gss.FlagConf, "conf"}, {gss.FlagInteg, "integ"},
		{gss.FlagAnon, "anon"}, {gss.FlagProtReady, "prot_ready"}, {gss.FlagTrans, "trans"},
		{gss.FlagDelegPolicy, "ok_as_delegate"},
	}
	var out []string
	for _, n := range names {
		if f&n.f != 0 {
			out = append(out, n.n)
			f &^= n.f
		}
	}
	if f != 0 {
		out = append(out, fmt.Sprintf("0x%x", uint32(f)))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "|")
}

// displayName is the printable form of n, or "" for nil.
func displayName(n *gss.Name) string {
	if n == nil {
		return ""
	}
	s, _ := n.Display()
	return s
}

// printable quotes msg if it is text, the way gss-server decides whether to
// print a message or dump it.
func printable(msg []byte) string {
	for _, c := range msg {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return fmt.Sprintf("(%d bytes of binary data)", len(msg))
		}
	}
	return fmt.Sprintf("%q", msg)
}
