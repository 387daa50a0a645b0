package cfx

import (
	"encoding/binary"
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// State format, version 1 (all integers big-endian):
//
//	"CFX" version(1) enctype(4) flags(1) rrc(2) keylen(2) key
//	sendSeq(8) recvBase(8) recvNext(8) recvMap(8)
//
// flags: 1 initiator, 2 acceptor subkey, 4 replay, 8 sequence. The window
// is kept in MIT's relative form so an import resumes exactly where the
// export left off.
const (
	stateMagic   = "CFX"
	stateVersion = 1
	stateFixed   = 3 + 1 + 4 + 1 + 2 + 2 + 8*4
)

// AppendState appends the complete state (configuration, key, sequence
// numbers and replay window) for context export.
func (p *Protector) AppendState(dst []byte) []byte {
	p.sendMu.Lock()
	send := p.sendSeq
	p.sendMu.Unlock()
	p.recvMu.Lock()
	win := p.win
	p.recvMu.Unlock()
	var fl byte
	if p.cfg.Initiator {
		fl |= 1
	}
	if p.cfg.AcceptorSubkey {
		fl |= 2
	}
	if p.cfg.Replay {
		fl |= 4
	}
	if p.cfg.Sequence {
		fl |= 8
	}
	dst = append(dst, stateMagic...)
	dst = append(dst, stateVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.cfg.Enctype))
	dst = append(dst, fl)
	dst = binary.BigEndian.AppendUint16(dst, p.cfg.RRC)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.cfg.Key)))
	dst = append(dst, p.cfg.Key...)
	dst = binary.BigEndian.AppendUint64(dst, send)
	dst = binary.BigEndian.AppendUint64(dst, win.base)
	dst = binary.BigEndian.AppendUint64(dst, win.next)
	dst = binary.BigEndian.AppendUint64(dst, win.recvmap)
	return dst
}

func stateErr(msg string) error {
	return gss.NewError(gss.DefectiveToken, 0, gss.MechKrb5, "krb5 per-message state: "+msg)
}

// ParseState parses a state made by AppendState and returns the bytes
// after it.
func ParseState(b []byte) (*Protector, []byte, error) {
	if len(b) < stateFixed {
		return nil, b, stateErr("truncated: " + strconv.Itoa(len(b)) + " bytes, need at least " + strconv.Itoa(stateFixed))
	}
	if string(b[:3]) != stateMagic {
		return nil, b, stateErr("bad magic")
	}
	if b[3] != stateVersion {
		return nil, b, stateErr("unsupported version " + strconv.Itoa(int(b[3])))
	}
	cfg := Config{Enctype: int32(binary.BigEndian.Uint32(b[4:8]))}
	fl := b[8]
	if fl&^15 != 0 {
		return nil, b, stateErr("unknown flag bits " + strconv.Itoa(int(fl)))
	}
	cfg.Initiator, cfg.AcceptorSubkey, cfg.Replay, cfg.Sequence = fl&1 != 0, fl&2 != 0, fl&4 != 0, fl&8 != 0
	cfg.RRC = binary.BigEndian.Uint16(b[9:11])
	kl := int(binary.BigEndian.Uint16(b[11:13]))
	if len(b) < stateFixed+kl {
		return nil, b, stateErr("truncated key")
	}
	cfg.Key = b[13 : 13+kl]
	r := b[13+kl:]
	cfg.SendSeq = binary.BigEndian.Uint64(r[0:8])
	win := seqWindow{
		base:    binary.BigEndian.Uint64(r[8:16]),
		next:    binary.BigEndian.Uint64(r[16:24]),
		recvmap: binary.BigEndian.Uint64(r[24:32]),
	}
	cfg.RecvSeq = win.base
	p, err := New(cfg)
	if err != nil {
		return nil, b, gss.WrapError(gss.DefectiveToken, 0, gss.MechKrb5, "krb5 per-message state: unusable configuration", err)
	}
	p.win = win
	return p, r[32:], nil
}
