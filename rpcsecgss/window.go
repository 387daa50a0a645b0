package rpcsecgss

// seqWindow is the server's sequence window of RFC 2203 section 5.3.3.1:
// the highest sequence number accepted so far and, for the size-1 numbers
// below it, which have been seen. A number above the highest moves the
// window up; one inside it is accepted once; one below it is too old.
// Either kind of rejection is answered by silence.
//
// It is not safe for concurrent use; a server context guards it.
type seqWindow struct {
	size uint32
	hi   uint32 // the highest number accepted; meaningful once any is
	any  bool
	// bits[0] bit 0 stands for hi, bit i of the whole for hi-i.
	bits []uint64
}

func newSeqWindow(size uint32) seqWindow {
	if size == 0 {
		size = DefaultWindow
	}
	return seqWindow{size: size, bits: make([]uint64, (size+63)/64)}
}

// check reports whether seq would be accepted, without recording it. The
// server checks before it verifies the header's MIC, which is costly, and
// records only after, so that a forged call cannot move the window.
func (w *seqWindow) check(seq uint32) bool {
	if !w.any || seq > w.hi {
		return true
	}
	i := w.hi - seq
	return i < w.size && w.bits[i/64]&(1<<(i%64)) == 0
}

// accept records seq if it is acceptable and reports whether it was.
func (w *seqWindow) accept(seq uint32) bool {
	if !w.any {
		w.any, w.hi = true, seq
		w.bits[0] |= 1
		return true
	}
	if seq > w.hi {
		w.shift(seq - w.hi)
		w.hi = seq
		w.bits[0] |= 1
		return true
	}
	i := w.hi - seq
	if i >= w.size {
		return false
	}
	m := uint64(1) << (i % 64)
	if w.bits[i/64]&m != 0 {
		return false
	}
	w.bits[i/64] |= m
	return true
}

// shift moves every recorded number d places further from the top.
func (w *seqWindow) shift(d uint32) {
	if d >= w.size {
		clear(w.bits)
		return
	}
	words, r := int(d/64), d%64
	for i := len(w.bits) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w.bits[j] << r
			if r != 0 && j > 0 {
				v |= w.bits[j-1] >> (64 - r)
			}
		}
		w.bits[i] = v
	}
	// Bits past size would let a number older than the window look seen;
	// they are never consulted, but keep the state exact.
	if rem := w.size % 64; rem != 0 {
		w.bits[len(w.bits)-1] &= 1<<rem - 1
	}
}
