// Package oncrpc implements ONC RPC version 2 (RFC 5531) over stream
// transports (TCP and Unix sockets): XDR encoding (RFC 4506), record
// marking, call and reply messages, the AUTH_NONE and AUTH_SYS flavors, and
// a concurrent Client and Server. Other flavors plug in through Auth (client)
// and Authenticator (server); package rpcsecgss provides RPCSEC_GSS that way.
// The package knows no program's procedures.
//
// # XDR
//
// Program packages write their types by hand as Marshaler and Unmarshaler
// implementations over an append-style Encoder and a bounds-checked Decoder:
//
//	func (a *Args) MarshalXDR(e *oncrpc.Encoder) {
//		e.Uint32(a.Flags)
//		e.Opaque(a.Token)
//	}
//
//	func (a *Args) UnmarshalXDR(d *oncrpc.Decoder) (err error) {
//		if a.Flags, err = d.Uint32(); err != nil {
//			return err
//		}
//		a.Token, err = d.Opaque(maxToken) // a copy; OpaqueView aliases
//		return err
//	}
//
// Decoding never panics and never allocates for a length or count before
// checking it against the declared bound and the bytes actually present.
//
// # Server
//
//	srv := oncrpc.NewServer(&oncrpc.Config{})
//	srv.Register(prog, vers, oncrpc.Procs{
//		1: func(ctx context.Context, c *oncrpc.Call, args []byte, res *oncrpc.Encoder) error {
//			var a Args
//			if err := oncrpc.Unmarshal(args, &a); err != nil {
//				return oncrpc.GarbageArgs
//			}
//			reply(&a).MarshalXDR(res)
//			return nil
//		},
//	})
//	go srv.Serve(listener)
//	...
//	srv.Shutdown(ctx)
//
// Calls run concurrently, up to Config.MaxInFlight per connection, and
// each reply is written as soon as it is ready, so replies on one
// connection may go out in a different order than the calls came. (The
// only call in flight on a connection, as from a client that waits for
// each reply, runs on the goroutine that read it, which saves waking
// another; should it run for more than a millisecond or two, another
// goroutine goes on reading the connection.)
// The server answers PROG_UNAVAIL, PROG_MISMATCH (with the registered
// version range), PROC_UNAVAIL (Procs), RPC_MISMATCH and AUTH_ERROR itself.
// A record that is not a decodable CALL closes its connection, as libtirpc
// does; a record over Config.MaxRecordSize closes it before being read.
//
// # Client
//
//	c, err := oncrpc.Dial(ctx, "unix", path, &oncrpc.Config{Auth: &oncrpc.AuthSys{UID: 1000}})
//	var out Result
//	err = c.Call(ctx, prog, vers, 1, &args, &out)
//	var st oncrpc.AuthStat
//	if errors.As(err, &st) { ... } // or errors.Is(err, oncrpc.ProcUnavail), ...
//
// Raw passes bytes already in XDR form as arguments or results.
//
// # Authentication
//
// A client Auth appends the credential and verifier to the call header and
// returns a CallAuth that may transform the arguments and results and checks
// the reply verifier. A server Authenticator checks a call's credential and
// verifier, given the raw header they cover, and returns a ServerAuth that
// may transform the arguments and results and supplies the reply verifier;
// it may also drop the call silently (ErrDrop), reject it with an AuthStat,
// or answer the call itself (by returning a ServerAuth that is a Handler), as
// RPCSEC_GSS does for context creation. See the comments in auth.go for the
// order of the steps.
//
// Two ordering guarantees serve sequence-numbered flavors: a Client sends
// calls in the order their credentials were made (MarshalCred), and a
// Server authenticates the calls of a connection one at a time in the
// order they arrived, before handing them to concurrent handlers.
package oncrpc
