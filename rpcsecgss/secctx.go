package rpcsecgss

import (
	"sync"

	"github.com/gsskit/gsskit/gss"
)

// secCtx serializes the per-message calls on one GSS context: a
// gss.SecContext, like a C context handle, is not safe for concurrent use,
// and RPCSEC_GSS calls on one context run concurrently on both sides.
//
// Supplementary status (duplicate, old, unsequenced or gap token) is not an
// error here: RPCSEC_GSS detects replays with its own sequence window over
// the call header, and concurrent calls produce and check tokens out of
// order by design, so a mechanism's per-token sequencing has nothing to add.
type secCtx struct {
	mu      sync.Mutex
	sc      *gss.SecContext
	deleted bool
}

func (s *secCtx) getMIC(dst, msg []byte, qop gss.QOP) ([]byte, error) {
	s.mu.Lock()
	out, err := s.sc.GetMIC(dst, msg, qop)
	s.mu.Unlock()
	return out, err
}

func (s *secCtx) verifyMIC(msg, mic []byte) (gss.QOP, error) {
	s.mu.Lock()
	qop, err := s.sc.VerifyMIC(msg, mic)
	s.mu.Unlock()
	if err != nil && !gss.IsFatal(err) {
		err = nil
	}
	return qop, err
}

func (s *secCtx) wrap(dst, msg []byte, qop gss.QOP) ([]byte, bool, error) {
	s.mu.Lock()
	out, conf, err := s.sc.Wrap(dst, msg, true, qop)
	s.mu.Unlock()
	return out, conf, err
}

func (s *secCtx) unwrap(dst, tok []byte) ([]byte, gss.MessageInfo, error) {
	s.mu.Lock()
	out, info, err := s.sc.Unwrap(dst, tok)
	s.mu.Unlock()
	if err != nil && !gss.IsFatal(err) {
		err = nil
	}
	return out, info, err
}

func (s *secCtx) wrapSizeLimit(conf bool, qop gss.QOP, maxOutput int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sc.WrapSizeLimit(conf, qop, maxOutput)
}

func (s *secCtx) delete() {
	s.mu.Lock()
	if s.sc != nil {
		s.sc.Delete()
	}
	s.deleted = true
	s.mu.Unlock()
}

// micLen measures the mechanism's MIC token for a 4-byte message, the
// size of every reply verifier and, for Kerberos, of every MIC.
func (s *secCtx) micLen(qop gss.QOP) (int, error) {
	var buf [64]byte
	b := seqBytes(0)
	out, err := s.getMIC(buf[:0], b[:], qop)
	return len(out), err
}
