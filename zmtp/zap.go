package zmtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ZAP, the ZeroMQ Authentication Protocol (RFC 27): after a GSSAPI server
// has established the security context it asks a handler whether to let
// the client in. In libzmq the handler is a REP socket at
// inproc://zeromq.zap.01; here it is a Go value, and the RFC 27 frames are
// available (Frames, ParseZAPRequest, ...) for handlers that live
// elsewhere.
//
// Unlike libzmq 4.3.4, whose GSSAPI server sends READY whatever the status
// code, a refusal here closes the connection before READY: a 300 status
// silently, 400 and 500 (and anything else) after an ERROR command that
// carries the status code.

const zapVersion = "1.0"

// ZAP status codes.
const (
	ZAPOK            = "200"
	ZAPTempFailure   = "300"
	ZAPAuthFailure   = "400"
	ZAPInternalError = "500"
)

// ZAPRequest is what the server asks. For GSSAPI the only credential is
// the client's principal as gss displays it ("alice@EXAMPLE.COM"), as
// libzmq sends it.
type ZAPRequest struct {
	Version     string // "1.0"
	RequestID   string
	Domain      string // Config.ZAPDomain
	Address     string // the client's IP address
	Identity    []byte // the server socket's own Identity, as libzmq sends it
	Mechanism   string // "GSSAPI"
	Credentials [][]byte
}

// ZAPReply is the handler's answer. UserID becomes the User-Id property
// of every message from the client, and Metadata (RFC 23 property names)
// further properties.
type ZAPReply struct {
	Version    string // "1.0"; empty is taken as "1.0"
	RequestID  string // empty is taken as the request's
	StatusCode string // "200", "300", "400" or "500"
	StatusText string
	UserID     string
	Metadata   Metadata
}

// ZAPHandler decides whether a client may connect. A nil reply or an
// error refuses the client with status 500.
type ZAPHandler interface {
	AuthenticateZAP(ctx context.Context, req *ZAPRequest) (*ZAPReply, error)
}

// ZAPHandlerFunc adapts a function to ZAPHandler.
type ZAPHandlerFunc func(ctx context.Context, req *ZAPRequest) (*ZAPReply, error)

// AuthenticateZAP calls f.
func (f ZAPHandlerFunc) AuthenticateZAP(ctx context.Context, req *ZAPRequest) (*ZAPReply, error) {
	return f(ctx, req)
}

// ZAPRefusedError is a ZAP handler's refusal, as the server reports it.
type ZAPRefusedError struct {
	Principal  string
	StatusCode string
	StatusText string
}

func (e *ZAPRefusedError) Error() string {
	return fmt.Sprintf("zmtp: ZAP refused %s: %s %s", e.Principal, e.StatusCode, e.StatusText)
}

// applyZAP asks the handler and either records the user id and metadata
// or refuses the client.
func (c *Conn) applyZAP(ctx context.Context, h ZAPHandler, req *ZAPRequest) error {
	rep, err := h.AuthenticateZAP(ctx, req)
	if err == nil && rep == nil {
		err = errors.New("handler returned no reply")
	}
	if err == nil {
		err = rep.check(req)
	}
	if err != nil {
		rep = &ZAPReply{StatusCode: ZAPInternalError, StatusText: err.Error()}
	}
	if rep.StatusCode != ZAPOK {
		if rep.StatusCode != ZAPTempFailure {
			// As libzmq's other mechanisms do, the ERROR carries only the
			// status code; the text stays in the server's log.
			c.writeCommand(appendError(nil, rep.StatusCode))
		}
		return &ZAPRefusedError{Principal: c.peer.Principal, StatusCode: rep.StatusCode, StatusText: rep.StatusText}
	}
	for k := range rep.Metadata {
		if !validPropertyName(k) {
			return &ZAPRefusedError{Principal: c.peer.Principal, StatusCode: ZAPInternalError,
				StatusText: fmt.Sprintf("handler returned bad metadata name %q", k)}
		}
	}
	c.peer.UserID = rep.UserID
	c.peer.ZAPMetadata = rep.Metadata
	c.peer.zapped = true
	return nil
}

// check validates a reply as libzmq does before it believes it.
func (r *ZAPReply) check(req *ZAPRequest) error {
	if r.Version != "" && r.Version != zapVersion {
		return fmt.Errorf("ZAP reply version %q, want %q", r.Version, zapVersion)
	}
	if r.RequestID != "" && r.RequestID != req.RequestID {
		return fmt.Errorf("ZAP reply for request %q, want %q", r.RequestID, req.RequestID)
	}
	switch r.StatusCode {
	case ZAPOK, ZAPTempFailure, ZAPAuthFailure, ZAPInternalError:
		return nil
	}
	return fmt.Errorf("ZAP status code %q is not 200, 300, 400 or 500", r.StatusCode)
}

// Frames encodes the request as RFC 27's frames (without the empty
// delimiter a REQ socket adds).
func (r *ZAPRequest) Frames() [][]byte {
	f := [][]byte{[]byte(r.Version), []byte(r.RequestID), []byte(r.Domain), []byte(r.Address),
		r.Identity, []byte(r.Mechanism)}
	return append(f, r.Credentials...)
}

// ParseZAPRequest decodes RFC 27 request frames (without delimiter).
func ParseZAPRequest(frames [][]byte) (*ZAPRequest, error) {
	if len(frames) < 6 {
		return nil, fmt.Errorf("zmtp: ZAP request of %d frames, want at least 6", len(frames))
	}
	r := &ZAPRequest{
		Version:   string(frames[0]),
		RequestID: string(frames[1]),
		Domain:    string(frames[2]),
		Address:   string(frames[3]),
		Identity:  frames[4],
		Mechanism: string(frames[5]),
	}
	if r.Version != zapVersion {
		return nil, fmt.Errorf("zmtp: ZAP request version %q, want %q", strings.ToValidUTF8(r.Version, "?"), zapVersion)
	}
	r.Credentials = frames[6:]
	return r, nil
}

// Frames encodes the reply as RFC 27's frames (without delimiter).
func (r *ZAPReply) Frames() [][]byte {
	md := appendMetadata([]byte{}, r.Metadata)
	v := r.Version
	if v == "" {
		v = zapVersion
	}
	return [][]byte{[]byte(v), []byte(r.RequestID), []byte(r.StatusCode), []byte(r.StatusText), []byte(r.UserID), md}
}

// ParseZAPReply decodes RFC 27 reply frames (without delimiter).
func ParseZAPReply(frames [][]byte) (*ZAPReply, error) {
	if len(frames) != 6 {
		return nil, fmt.Errorf("zmtp: ZAP reply of %d frames, want 6", len(frames))
	}
	md, err := ParseMetadata(frames[5])
	if err != nil {
		return nil, fmt.Errorf("zmtp: ZAP reply metadata: %w", err)
	}
	r := &ZAPReply{
		Version:    string(frames[0]),
		RequestID:  string(frames[1]),
		StatusCode: string(frames[2]),
		StatusText: string(frames[3]),
		UserID:     string(frames[4]),
		Metadata:   md,
	}
	if r.Version != zapVersion {
		return nil, fmt.Errorf("zmtp: ZAP reply version %q, want %q", strings.ToValidUTF8(r.Version, "?"), zapVersion)
	}
	if err := r.check(&ZAPRequest{RequestID: r.RequestID}); err != nil {
		return nil, fmt.Errorf("zmtp: %w", err)
	}
	return r, nil
}
