// Package zmq4gss gives sockets of github.com/go-zeromq/zmq4 the ZeroMQ
// GSSAPI mechanism (Kerberos V5) of github.com/gsskit/gsskit/zmtp: a
// zmq4.Security for zmq4.WithSecurity.
//
// Only GSSAPI's plaintext mode works (ZMQ_GSSAPI_PLAINTEXT on the libzmq
// side): the peers authenticate each other with Kerberos, and the server
// may ask a ZAP handler, but messages then travel unencrypted. zmq4's
// Security interface (v0.17.0) cannot carry GSSAPI encryption: it writes a
// frame's length header from the plaintext size before calling Encrypt,
// while GSSAPI replaces each frame with a longer MESSAGE command, and it
// takes a frame's MORE flag from the outer header, which GSSAPI moves into
// the wrapped bytes. For encryption use package zmtp's own sockets, which
// speak the full mechanism, or zmtp.HandshakeStream and zmtp.Session from
// a ZMTP implementation that lets the mechanism frame its messages.
//
// The adapter is a module of its own so that gsskit does not depend on
// zmq4.
package zmq4gss

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-zeromq/zmq4"
	"github.com/gsskit/gsskit/zmtp"
)

// ErrEncryption is returned by New for a configuration that asks for
// encryption, which zmq4's Security interface cannot carry.
var ErrEncryption = errors.New("zmq4gss: zmq4's Security interface cannot carry GSSAPI encryption; " +
	"set GSSAPIConfig.Plaintext (and ZMQ_GSSAPI_PLAINTEXT on libzmq peers) or use package zmtp's sockets")

// Security is a zmq4.Security running the GSSAPI mechanism.
type Security struct {
	cfg zmtp.Config
	// Peer, if set, is called with each authenticated peer, for example
	// to log the Kerberos principal that connected.
	Peer func(*zmtp.Peer)
}

// New returns the GSSAPI security for cfg, which must set Plaintext. The
// GSSAPI role is cfg.Server, independent of which side listens. zap, if
// not nil, is asked on the server side (RFC 27), as in zmtp.Config.
func New(cfg *zmtp.GSSAPIConfig, zap zmtp.ZAPHandler) (*Security, error) {
	if cfg == nil {
		return nil, errors.New("zmq4gss: nil GSSAPIConfig")
	}
	if !cfg.Plaintext {
		return nil, ErrEncryption
	}
	return &Security{cfg: zmtp.Config{GSSAPI: cfg, ZAP: zap}}, nil
}

// Type is "GSSAPI", the greeting's mechanism name.
func (s *Security) Type() zmq4.SecurityType { return "GSSAPI" }

// Handshake runs the GSSAPI exchange and READY over the connection that
// zmq4 has greeted, and hands the peer's properties to zmq4.
func (s *Security) Handshake(conn *zmq4.Conn, _ bool) error {
	cfg := s.cfg
	cfg.Identity = []byte(conn.Meta[zmtp.PropIdentity])
	sess, err := zmtp.HandshakeStream(context.Background(), conn, conn.Meta[zmtp.PropSocketType], &cfg)
	if err != nil {
		return fmt.Errorf("zmq4gss: %w", err)
	}
	defer sess.Close()
	if sess.Encrypted() {
		return ErrEncryption // cannot happen: New insists on plaintext
	}
	peer := sess.Peer()
	for k, v := range peer.Metadata {
		conn.Peer.Meta[k] = v
	}
	// zmq4 looks the socket type up by its exact spelling.
	conn.Peer.Meta[zmtp.PropSocketType] = string(peer.SocketType)
	if s.Peer != nil {
		s.Peer(peer)
	}
	return nil
}

// Encrypt passes data through: in plaintext mode frames are not wrapped.
func (s *Security) Encrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }

// Decrypt passes data through.
func (s *Security) Decrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }

var _ zmq4.Security = (*Security)(nil)
