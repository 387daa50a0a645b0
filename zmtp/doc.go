// Package zmtp is ZeroMQ over TCP with the GSSAPI security mechanism
// (Kerberos V5), interoperable with libzmq: the ZMTP 3.1 connection layer
// (RFC 23, RFC 37), the GSSAPI mechanism in client and server roles as
// libzmq 4.3 implements RFC 38, ZAP authorization (RFC 27) on the server
// side, and the socket types REQ, REP, DEALER, ROUTER, PUB and SUB.
//
// The Kerberos mechanism comes from package krb5, which the program
// imports for its side effect:
//
//	import _ "github.com/gsskit/gsskit/krb5"
//
//	// Server: keys from a keytab, every client asked about by a ZAP handler.
//	rep, _ := zmtp.NewSocket(zmtp.REP, &zmtp.Config{
//		GSSAPI: &zmtp.GSSAPIConfig{Server: true, Principal: "zmq@host.example.com", Keytab: "/etc/zmq.keytab"},
//		ZAP:    policy,
//	})
//	rep.Listen("tcp://*:5555")
//	m, _ := rep.Recv(ctx)
//	uid, _ := m.Property(zmtp.PropUserID) // what the ZAP handler said
//	rep.Send(ctx, m.Frames...)
//
//	// Client: the ccache's principal by default.
//	req, _ := zmtp.NewSocket(zmtp.REQ, &zmtp.Config{
//		GSSAPI: &zmtp.GSSAPIConfig{ServicePrincipal: "zmq@host.example.com"},
//	})
//	err := req.Dial(ctx, "tcp://host.example.com:5555") // authentication errors surface here
//
// GSSAPIConfig's fields are libzmq's socket options: ZMQ_GSSAPI_SERVER,
// ZMQ_GSSAPI_PRINCIPAL, ZMQ_GSSAPI_SERVICE_PRINCIPAL, their name types
// (NameHostbased 0, NameUser 1, NameKrb5Principal 2, libzmq's numbers) and
// ZMQ_GSSAPI_PLAINTEXT.
//
// # The wire, as libzmq 4.3.4 speaks it
//
// RFC 38 gives no byte layout; libzmq's is followed exactly. The greeting
// names mechanism GSSAPI and its as-server flag is ignored (libzmq sends 0
// on both sides; the role is configuration). The client sends INITIATE
// (name, 4-byte length, the raw Kerberos token), the server answers with
// INITIATE carrying the AP-REP, and the client then sends an empty command
// frame. The server consults ZAP and sends READY, then the client sends
// READY. Unless plaintext was chosen, READY and every later frame travel
// as a MESSAGE command whose token is gss_wrap (with confidentiality) of a
// flags byte (bit 0 MORE, bit 1 COMMAND) followed by the frame; the outer
// frame carries no MORE flag. Plaintext is not negotiated: both sides must
// agree, and a mismatch fails the handshake on both.
//
// # Where this package and libzmq 4.3.4 differ
//
//   - ZAP refusals refuse. libzmq 4.3.4's GSSAPI server sends READY
//     whatever the handler answered; here a 400 or 500 sends ERROR and
//     closes, and a 300 closes silently, before any message is accepted.
//   - Subscriptions. libzmq 4.3.4's encrypting SUB loses the SUBSCRIBE
//     marker inside the wrapped frame, so two libzmq peers cannot do
//     encrypted PUB/SUB. A SUB here sends "\x01topic" messages, which every
//     libzmq PUB understands, and a PUB here also takes libzmq's bare topic
//     on an encrypted connection as a subscription.
//   - A failed accept. libzmq's server neither answers nor closes when it
//     cannot accept the client's token (a wrong service principal, say);
//     our client then fails at Config.HandshakeTimeout. Our server sends
//     ERROR and closes at once.
//
// # Sockets
//
// A Socket listens and dials over TCP; Dial completes the handshake before
// it returns. There is no automatic reconnection, no ipc:// or inproc://,
// no heartbeats of our own (PING is answered) and no NULL-mechanism ZAP.
// ROUTER reports an unknown routing id as ErrUnroutable instead of
// dropping the message. Conn is one connection for programs that route
// themselves; HandshakeStream and Session let another ZMTP implementation
// use the mechanism (see the zmq4gss module for go-zeromq/zmq4, which can
// carry only the plaintext mode).
package zmtp
