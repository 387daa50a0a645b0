package rpcsecgss

import (
	"context"

	"github.com/gsskit/gsskit/gss"
)

// An Acceptor establishes the server's contexts in its place, the way the
// Linux NFS server hands INIT and CONTINUE_INIT to gss-proxy: it gets each
// init token and returns the token to send back and, once the context is
// complete, the context to use for the DATA calls.
type Acceptor interface {
	// Accept takes one step. state is what the previous step of the same
	// context returned (nil at first). When the context is complete it
	// returns it in sc; while it is not, sc is nil. An error fails the
	// context: a *gss.Error's major and minor status go to the client.
	Accept(ctx context.Context, req *AcceptRequest) (out []byte, sc *gss.SecContext, state any, err error)
}

// AcceptRequest is one step of context creation.
type AcceptRequest struct {
	Prog, Vers uint32
	Token      []byte // aliases the call; valid until Accept returns
	State      any
}
