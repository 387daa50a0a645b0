package cfx

import (
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// seqWindow tracks received sequence numbers with MIT's g_seqstate
// semantics for 64-bit (RFC 4121) numbers: numbers are kept relative to the
// first expected one so that wraparound needs no special case, next is one
// more than the highest number seen, and bit i-1 of recvmap records whether
// next-i has been seen.
type seqWindow struct {
	base    uint64
	next    uint64
	recvmap uint64
}

// check classifies seq and records it. It returns only supplementary bits
// (never a routine error), which is how MIT reports them.
func (w *seqWindow) check(seq uint64, replay, sequence bool) gss.MajorStatus {
	if !replay && !sequence {
		return gss.Complete
	}
	rel := seq - w.base
	if rel >= w.next {
		offset := rel - w.next
		if offset >= 63 {
			// Everything in the window is now older than 64 behind.
			w.recvmap = 1
		} else {
			w.recvmap = w.recvmap<<(offset+1) | 1
		}
		w.next = rel + 1
		if offset > 0 && sequence {
			return gss.GapToken
		}
		return gss.Complete
	}
	offset := w.next - rel
	if offset > 64 {
		if sequence {
			return gss.UnseqToken
		}
		return gss.OldToken
	}
	bit := uint64(1) << (offset - 1)
	if replay && w.recvmap&bit != 0 {
		return gss.DuplicateToken
	}
	w.recvmap |= bit
	if sequence {
		return gss.UnseqToken
	}
	return gss.Complete
}

func seqError(st gss.MajorStatus, seq uint64) error {
	if st == gss.Complete {
		return nil
	}
	var what string
	switch st {
	case gss.DuplicateToken:
		what = "duplicate of an earlier token"
	case gss.OldToken:
		what = "too old to check for replay"
	case gss.UnseqToken:
		what = "out of sequence (a later token was already processed)"
	case gss.GapToken:
		what = "ahead of sequence (earlier tokens are missing)"
	}
	return gss.NewError(st, 0, gss.MechKrb5, "krb5 token with sequence number "+strconv.FormatUint(seq, 10)+" is "+what)
}

// RecvWindow returns the receive window in MIT's g_seqstate form: the
// initial sequence number (base), the next expected number relative to it,
// and the bitmap of the 64 numbers before next. MIT's serialized context
// (ser_sctx.c) carries exactly these, so the export code can write them.
func (p *Protector) RecvWindow() (base, next, recvmap uint64) {
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	return p.win.base, p.win.next, p.win.recvmap
}

// SetRecvWindow restores a receive window taken from RecvWindow or from an
// imported MIT context.
func (p *Protector) SetRecvWindow(base, next, recvmap uint64) {
	p.recvMu.Lock()
	defer p.recvMu.Unlock()
	p.win = seqWindow{base: base, next: next, recvmap: recvmap}
}
