package zmtp

// SocketType is a ZeroMQ socket type as READY's Socket-Type names it.
type SocketType string

// The socket types this package implements.
const (
	REQ    SocketType = "REQ"
	REP    SocketType = "REP"
	DEALER SocketType = "DEALER"
	ROUTER SocketType = "ROUTER"
	PUB    SocketType = "PUB"
	SUB    SocketType = "SUB"
)

// sendsIdentity reports whether READY carries an Identity property for
// this type: libzmq sends one for the types whose peers may route by it.
func (t SocketType) sendsIdentity() bool {
	return t == REQ || t == DEALER || t == ROUTER
}

// valid reports whether the package implements t.
func (t SocketType) valid() bool {
	switch t {
	case REQ, REP, DEALER, ROUTER, PUB, SUB:
		return true
	}
	return false
}

// compatible reports whether a socket of type t may talk to a peer that
// says it is peer (RFC 28, 29 and libzmq's table, which also lets XPUB and
// XSUB in).
func (t SocketType) compatible(peer string) bool {
	switch t {
	case REQ:
		return peer == "REP" || peer == "ROUTER"
	case REP:
		return peer == "REQ" || peer == "DEALER"
	case DEALER:
		return peer == "REP" || peer == "DEALER" || peer == "ROUTER"
	case ROUTER:
		return peer == "REQ" || peer == "DEALER" || peer == "ROUTER"
	case PUB:
		return peer == "SUB" || peer == "XSUB"
	case SUB:
		return peer == "PUB" || peer == "XPUB"
	}
	return false
}
