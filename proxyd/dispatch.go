package proxyd

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/gssproxy"
	"github.com/gsskit/gsskit/oncrpc"
)

// Program and Version are what the daemon serves: GSS-PROXY, program 400112
// version 1.
const (
	Program = gssproxy.Program
	Version = gssproxy.Version
)

// call is one GSS-PROXY call with everything its procedure needs: the
// caller, the service chosen for it under the configuration in force when
// the call started, and that service's handle sealer.
type call struct {
	ctx    context.Context
	d      *Daemon
	st     *daemonState
	svc    *Service
	caller *Caller
	sealer *HandleSealer
	creds  *credCache
	proc   uint32
	log    *slog.Logger
	reg    *gss.Registry

	// owned are credentials made for this call alone, released when it
	// ends; credentials from the daemon's cache are not among them.
	owned []*gss.Credential

	logh callHandler
}

// own makes cred the call's, to be released when the call ends.
func (c *call) own(cred *gss.Credential) *gss.Credential {
	c.owned = append(c.owned, cred)
	return cred
}

type procFunc func(c *call, arg gssproxy.Message) gssproxy.Message

func (d *Daemon) procs() oncrpc.Procs {
	table := map[uint32]procFunc{
		gssproxy.ProcIndicateMechs:      (*call).indicateMechs,
		gssproxy.ProcGetCallContext:     (*call).getCallContext,
		gssproxy.ProcImportAndCanonName: (*call).importAndCanonName,
		gssproxy.ProcExportCred:         (*call).exportCred,
		gssproxy.ProcImportCred:         (*call).importCred,
		gssproxy.ProcAcquireCred:        (*call).acquireCred,
		gssproxy.ProcStoreCred:          (*call).storeCred,
		gssproxy.ProcInitSecContext:     (*call).initSecContext,
		gssproxy.ProcAcceptSecContext:   (*call).acceptSecContext,
		gssproxy.ProcReleaseHandle:      (*call).releaseHandle,
		gssproxy.ProcGetMIC:             (*call).getMIC,
		gssproxy.ProcVerify:             (*call).verifyMIC,
		gssproxy.ProcWrap:               (*call).wrap,
		gssproxy.ProcUnwrap:             (*call).unwrap,
		gssproxy.ProcWrapSizeLimit:      (*call).wrapSizeLimit,
	}
	procs := oncrpc.Procs{}
	for proc, fn := range table {
		procs[proc] = d.handler(proc, fn)
	}
	return procs
}

// handler decodes a call's arguments, finds its service and runs fn. A
// caller whose connection no service takes any more (after a reload) is
// cut off without a reply, as the reference does.
func (d *Daemon) handler(proc uint32, fn procFunc) oncrpc.HandlerFunc {
	name := gssproxy.ProcName(proc)
	return func(ctx context.Context, rc *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
		cc, ok := rc.Conn.(*callerConn)
		if !ok {
			// Connections come only from the daemon's own listeners.
			return oncrpc.SystemErr
		}
		st := d.state.Load()
		svc, err := st.cfg.SelectService(cc.caller)
		if err != nil {
			d.log.Info("closing connection: no service matches the caller any more",
				append(callerAttrs(cc.caller), "proc", name)...)
			cc.Close()
			return oncrpc.ErrDrop
		}
		arg := gssproxy.NewArg(proc)
		if err := oncrpc.Unmarshal(args, arg); err != nil {
			d.log.Warn("undecodable arguments", append(callerAttrs(cc.caller), "service", svc.Name, "proc", name, "err", err)...)
			return oncrpc.GarbageArgs
		}
		c := &call{
			ctx: ctx, d: d, st: st, svc: svc, caller: cc.caller, sealer: st.sealers[svc], creds: st.creds[svc],
			proc: proc, reg: d.reg,
		}
		c.logh = callHandler{base: d.log.Handler(), attrs: [...]slog.Attr{
			slog.Any("pid", cc.caller.PID), slog.Any("uid", cc.caller.UID), slog.Any("program", cc.caller.Program),
			slog.Any("service", svc.Name), slog.Any("proc", name),
		}}
		c.log = slog.New(&c.logh)
		defer func() {
			for _, cr := range c.owned {
				cr.Release()
			}
		}()
		fn(c, arg).MarshalXDR(res)
		return nil
	}
}

// callHandler adds the caller, service and procedure to a call's records.
// It applies them to the daemon's handler (WithAttrs, which formats them)
// at the call's first record that the level lets through, rather than for
// every call, most of which log nothing.
type callHandler struct {
	base  slog.Handler
	attrs [5]slog.Attr
	once  sync.Once
	h     slog.Handler
}

func (h *callHandler) with() slog.Handler {
	h.once.Do(func() { h.h = h.base.WithAttrs(h.attrs[:]) })
	return h.h
}

func (h *callHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.base.Enabled(ctx, l) }
func (h *callHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.with().Handle(ctx, r)
}
func (h *callHandler) WithAttrs(a []slog.Attr) slog.Handler { return h.with().WithAttrs(a) }
func (h *callHandler) WithGroup(n string) slog.Handler      { return h.with().WithGroup(n) }

// status converts a result into gssx_status, with the texts
// gss_display_status gives: the routine error, and for the minor status
// what went wrong in words (the Kerberos error, the name, the file), not a
// bare number. Texts carry the C terminator, as the reference's do.
func (c *call) status(err error, mech gss.OID) gssproxy.Status {
	st := gssproxy.Status{Mech: mech}
	if err == nil {
		return st
	}
	var ge *gss.Error
	if !errors.As(err, &ge) {
		ge = gss.WrapError(gss.Failure, 0, mech, err.Error(), err)
	}
	st.Major = uint64(ge.Major)
	st.Minor = uint64(ge.Minor)
	if ge.Mech != "" && st.Mech == "" {
		st.Mech = ge.Mech
	}
	if t := ge.Major.MajorText(); len(t) > 0 {
		st.MajorText = strings.Join(t, ", ") + "\x00"
	}
	if mt := minorText(c.reg, ge); mt != "" {
		st.MinorText = mt + "\x00"
	}
	lvl := slog.LevelInfo
	if !ge.Fatal() {
		lvl = LevelCalls
	}
	c.log.Log(c.ctx, lvl, "call failed", "major", st.MajorText, "minor", st.Minor, "error", strings.TrimSuffix(st.MinorText, "\x00"))
	return st
}

func minorText(reg *gss.Registry, e *gss.Error) string {
	var parts []string
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	if e.Minor != 0 && e.Mech != "" {
		if m := reg.DisplayMinor(e.Mech, e.Minor); m != "" && m != e.Message {
			parts = append(parts, m)
		}
	}
	if e.Err != nil {
		if s := e.Err.Error(); s != "" && !strings.Contains(e.Message, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

func gssErr(major gss.MajorStatus, msg string) error {
	return gss.NewError(major, 0, "", msg)
}

// einval is the reference's answer to an option value it refuses.
const einval = 22

func optBuf(b []byte) *[]byte {
	if b == nil {
		b = []byte{}
	}
	return &b
}

func u64p(v uint64) *uint64 { return &v }
func boolp(v bool) *bool    { return &v }
