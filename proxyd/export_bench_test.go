package proxyd

import (
	"context"

	"github.com/gsskit/gsskit/oncrpc"
)

// InProcessHandler is the daemon's handler for proc, called as if the
// call had come from caller, without a socket: for benchmarks of the
// daemon's own work per call.
func (d *Daemon) InProcessHandler(caller *Caller, proc uint32) func(ctx context.Context, args []byte, res *oncrpc.Encoder) error {
	h := d.procs()[proc]
	conn := &callerConn{caller: caller, d: d}
	return func(ctx context.Context, args []byte, res *oncrpc.Encoder) error {
		rc := &oncrpc.Call{Conn: conn}
		rc.Proc = proc
		return h(ctx, rc, args, res)
	}
}
