package cfx

import (
	"crypto/cipher"
	"encoding"
	"encoding/binary"
	"hash"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Large messages use a second core when one is free, and must never be
// slower for it when none is. RFC 3962 MACs the plaintext, known before
// encryption on send, and RFC 8009 the ciphertext, known before decryption
// on receive: there a worker hashes while the caller runs AES. RFC 8009
// sends feed the worker the ciphertext as it appears. RFC 3962 receives
// split the CBC decryption instead: the worker decrypts chunks from the
// back while the caller decrypts from the front and hashes everything in
// order (the MAC needs the plaintext, which the caller then has in cache).
//
// A worker is a thread the OS may deschedule at any moment, most likely
// when another process wants its core. When the worker owned a whole job,
// the caller then waited out the preemption, and on a 2-CPU VM with the
// other core busy Wrap ran at 280 MB/s against 383 with GOMAXPROCS=1. So
// nothing the caller needs is left in the worker's sole hands for long:
//
//   - The work is cut into chunks, each claimed by a compare-and-swap on the
//     job's control word, so a chunk is done by exactly one side.
//   - The worker touches the caller's memory only while it copies a claimed
//     chunk into its own buffer, or (decryption) the result back out: a few
//     hundred nanoseconds per 8 KiB. That window is flagged in the control
//     word and is the only thing the caller ever waits for; it must, since
//     the memory is the caller's once the call returns.
//   - The long part, hashing or decrypting, runs in the private buffer. The
//     caller never waits for it. A worker that hashes publishes its hash
//     state after every chunk; the caller, once done with AES, hashes on
//     from the latest published state itself and jumps ahead whenever the
//     worker publishes a later one, so work done on either core counts and
//     a descheduled worker costs nothing. For decryption the caller takes
//     over a chunk whose worker has stopped making progress.
//
// Every job carries a ticket, unique for the process, in its control word;
// a worker that wakes late holds a stale ticket and its compare-and-swaps
// fail, so a reused job is safe from it. Workers are long-lived and a
// job's state lives in its Protector, so a hand-off allocates nothing.
// Whether a job is offered at all is decided by measurement (chooser).

// parallelThreshold is the message size below which everything runs on the
// calling goroutine: under it the hand-off costs more than it saves.
const parallelThreshold = 16 << 10

// A job has at most maxChunks chunks of at least minChunk bytes. Smaller
// chunks let the caller take over sooner but cost a claim and a published
// state each.
const (
	minChunk  = 8 << 10
	maxChunks = 64
)

func chunkSize(n int) int {
	s := max(minChunk, (n+maxChunks-1)/maxChunks)
	return (s + 127) &^ 127 // whole AES blocks and hash blocks
}

// The control word: ticket<<tkShift | state<<stShift | a<<idxBits | b.
//
// MAC jobs: b is the next chunk to claim (by either side, in order); the
// state is ctlCopy while the worker copies chunk b-1 in.
//
// Decryption jobs: a is the caller's next chunk (it claims from the front),
// b the worker's lowest (it claims from the back, one at a time); chunks in
// [a, b) are unclaimed. The state is that of the worker's chunk b: ctlCopy
// while it copies the ciphertext in, ctlDecrypt while it decrypts it in its
// own buffer, ctlOut while it copies the plaintext out, ctlIdle when done.
const (
	idxBits = 7 // chunk indexes 0..maxChunks
	idxMask = 1<<idxBits - 1
	stShift = 2 * idxBits
	stMask  = 3 << stShift
	tkShift = 16

	ctlIdle    = 0
	ctlCopy    = 1
	ctlDecrypt = 2
	ctlOut     = 3
)

// tickets numbers jobs; 48 bits do not wrap in the life of a process.
var tickets atomic.Uint64

// ckBytes holds a marshaled SHA-1, SHA-256 or SHA-384 state (at most 204
// bytes), rounded up to whole words.
const ckBytes = 208

const (
	modeMAC = iota + 1
	modeDecrypt
)

// parJob is the state of one direction's large-message job, shared with
// the worker. The atomics are the protocol; the plain fields after them
// belong to the caller, except start, which the worker reads while it
// holds the first chunk's copy window.
type parJob struct {
	ctl   atomic.Uint64
	avail atomic.Uint64          // MAC: bytes of src the caller has made ready
	prog  atomic.Uint64          // decryption: ticket<<20 | pieces the worker decrypted
	w     atomic.Pointer[worker] // MAC: whose published hash states to read
	// decBusy is held by the worker that uses the job's decrypter; one that
	// the caller overtook may still be decrypting privately with it.
	decBusy atomic.Bool

	t          uint64 // current ticket
	on         bool   // handed to a worker
	src, dst   []byte
	n, size, k int
	startLen   int
	start      [ckBytes]byte // MAC: hash state before chunk 0
	ck         [ckBytes]byte // scratch for a published state
}

type handoff struct {
	j          *parJob
	t          uint64
	mode       uint8
	kind       uint8 // hash, for the worker's reusable hash states
	newHash    func() hash.Hash
	src, dst   []byte
	n, size, k int
	dec        cipher.BlockMode
}

// worker is one pool goroutine. Its published hash state is a seqlock of
// atomics, written only by the worker itself.
type worker struct {
	ckSeq atomic.Uint64 // odd while being written
	ckTag atomic.Uint64 // ticket
	ckPos atomic.Uint64 // chunks hashed
	ckLen atomic.Uint64
	ckW   [ckBytes / 8]atomic.Uint64

	buf  []byte        // private copy of the chunk in hand
	hs   [3]hash.Hash  // one per hash kind, reused
	ckb  [ckBytes]byte // marshaling scratch
	calm time.Time     // do not spin for jobs before this

	// hook, when set (tests only), is called at each step of a chunk; a
	// test blocks in it to play a descheduled worker.
	hook func(step string, chunk int)
}

var (
	poolOnce sync.Once
	poolCh   chan handoff
)

func startPool() {
	// One worker per spare CPU: the caller's goroutine is the other half.
	n := max(runtime.NumCPU()-1, 1)
	poolCh = make(chan handoff, n)
	for i := 0; i < n; i++ {
		go newWorker().run()
	}
}

func newWorker() *worker { return &worker{buf: make([]byte, 16+minChunk)} }

// spinFor is how long an idle worker polls for the next job before it
// blocks. A parked worker starts some 65 µs after the hand-off on a 2-CPU
// VM (the thread's wake-up, and the Go scheduler's pause before it steals
// a goroutine queued to run next on a busy P), so back-to-back calls find
// the worker awake. But a polling worker is a busy thread to the OS: if it
// finds it was descheduled for longer than brief interruptions take,
// another process wants the CPU, and it stops polling for calmFor, so as
// not to take the core from the caller or be sliced in mid-job.
const (
	spinFor  = 100 * time.Microsecond
	lostCPU  = 250 * time.Microsecond
	calmFor  = 20 * time.Millisecond
	stallFor = 10 * time.Microsecond // decryption: no progress this long and the caller takes the chunk
)

func (w *worker) next() handoff {
	select {
	case ho := <-poolCh:
		return ho
	default:
	}
	if start := time.Now(); start.After(w.calm) {
		last := start
		for i := 1; ; i++ {
			select {
			case ho := <-poolCh:
				return ho
			default:
			}
			if i%32 == 0 {
				now := time.Now()
				if now.Sub(last) > lostCPU {
					w.calm = now.Add(calmFor)
					break
				}
				if now.Sub(start) > spinFor {
					break
				}
				last = now
			}
		}
	}
	return <-poolCh
}

func (w *worker) run() {
	for {
		ho := w.next()
		w.do(&ho)
	}
}

func (w *worker) do(ho *handoff) {
	if need := 16 + ho.size; cap(w.buf) < need {
		w.buf = make([]byte, need)
	}
	switch ho.mode {
	case modeMAC:
		w.mac(ho)
	case modeDecrypt:
		w.decrypt(ho)
	}
	*ho = handoff{} // do not keep the caller's buffers reachable
}

func (w *worker) step(s string, k int) {
	if w.hook != nil {
		w.hook(s, k)
	}
}

func (w *worker) hash(ho *handoff) hash.Hash {
	if w.hs[ho.kind] == nil {
		w.hs[ho.kind] = ho.newHash()
	}
	return w.hs[ho.kind]
}

func (w *worker) mac(ho *handoff) {
	j, t := ho.j, ho.t
	var h hash.Hash
	for i := 0; i < ho.k; i++ {
		lo, hi := i*ho.size, min((i+1)*ho.size, ho.n)
		if !j.waitAvail(t, i, hi) {
			return
		}
		if !j.ctl.CompareAndSwap(t<<tkShift|uint64(i), t<<tkShift|ctlCopy<<stShift|uint64(i+1)) {
			return // the caller got here first
		}
		w.step("copy", i)
		if i == 0 {
			h = w.hash(ho)
			if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(j.start[:j.startLen]) != nil {
				panic("cfx: worker cannot restore a hash state")
			}
			j.w.Store(w)
		}
		b := w.buf[:copy(w.buf[:hi-lo], ho.src[lo:hi])]
		j.ctl.Store(t<<tkShift | uint64(i+1))
		w.step("hash", i)
		h.Write(b)
		w.publish(t, i+1, h)
	}
}

// waitAvail waits for the caller to make src[:hi] ready; false means the
// job moved on or the caller stopped producing.
func (j *parJob) waitAvail(t uint64, i, hi int) bool {
	if j.avail.Load() >= uint64(hi) {
		return true
	}
	start := time.Now()
	seen := j.avail.Load()
	for n := 1; ; n++ {
		if a := j.avail.Load(); a >= uint64(hi) {
			return true
		} else if a != seen {
			seen, start = a, time.Now()
		}
		if j.ctl.Load() != t<<tkShift|uint64(i) {
			return false
		}
		if n%64 == 0 && time.Since(start) > spinFor {
			return false
		}
	}
}

func (w *worker) publish(t uint64, pos int, h hash.Hash) {
	b, _ := h.(encoding.BinaryAppender).AppendBinary(w.ckb[:0])
	w.ckSeq.Add(1)
	w.ckTag.Store(t)
	w.ckPos.Store(uint64(pos))
	w.ckLen.Store(uint64(len(b)))
	for i := 0; i*8 < len(b); i++ {
		w.ckW[i].Store(binary.LittleEndian.Uint64(w.ckb[i*8:]))
	}
	w.ckSeq.Add(1)
}

// setState moves the worker's chunk k from one state to another, keeping
// the caller's front, and reports whether the chunk was still the worker's.
func (j *parJob) setState(t uint64, k int, from, to uint64) bool {
	for {
		cur := j.ctl.Load()
		if cur>>tkShift != t || cur>>stShift&3 != from || int(cur&idxMask) != k {
			return false
		}
		if j.ctl.CompareAndSwap(cur, cur&^stMask|to<<stShift) {
			return true
		}
	}
}

// decPiece is how much the worker decrypts between progress reports.
const decPiece = 1 << 10

func (w *worker) decrypt(ho *handoff) {
	j, t := ho.j, ho.t
	if !j.decBusy.CompareAndSwap(false, true) {
		return
	}
	defer j.decBusy.Store(false)
	iv := ho.dec.(ivSetter)
	var pieces uint64
	for {
		cur := j.ctl.Load()
		if cur>>tkShift != t || cur&stMask != 0 {
			return
		}
		a, b := int(cur>>idxBits&idxMask), int(cur&idxMask)
		if b <= a {
			return // met the caller
		}
		k := b - 1
		if !j.ctl.CompareAndSwap(cur, cur&^(stMask|idxMask)|ctlCopy<<stShift|uint64(k)) {
			continue
		}
		w.step("copy", k)
		// src starts one block before the first chunk, so chunk k's IV, the
		// ciphertext block before it, is src[lo:lo+16].
		lo, hi := k*ho.size, min((k+1)*ho.size, ho.n)
		b16 := w.buf[:copy(w.buf[:16+hi-lo], ho.src[lo:16+hi])]
		j.setState(t, k, ctlCopy, ctlDecrypt)
		w.step("decrypt", k)
		iv.SetIV(b16[:16])
		for p := 16; p < len(b16); p += decPiece {
			e := min(p+decPiece, len(b16))
			ho.dec.CryptBlocks(b16[p:e], b16[p:e])
			pieces++
			j.prog.Store(t<<20 | pieces&(1<<20-1))
		}
		if !j.setState(t, k, ctlDecrypt, ctlOut) {
			return // the caller took the chunk over
		}
		w.step("out", k)
		copy(ho.dst[lo:hi], b16[16:])
		j.setState(t, k, ctlOut, ctlIdle)
	}
}

// begin sets up a new ticket; the caller fills the job before offer.
func (j *parJob) begin(src, dst []byte, n int) {
	j.t = tickets.Add(1)
	j.on = false
	j.src, j.dst, j.n = src, dst, n
	j.size = chunkSize(n)
	j.k = (n + j.size - 1) / j.size
}

// parallelOK reports whether a job of n bytes should be offered to a
// worker.
func parallelOK(n int) bool { return n >= parallelThreshold && runtime.GOMAXPROCS(0) >= 2 }

func (j *parJob) handoff(ho handoff) handoff {
	ho.j, ho.t, ho.src, ho.dst, ho.n, ho.size, ho.k = j, j.t, j.src, j.dst, j.n, j.size, j.k
	return ho
}

// Offering a job can cost more than it saves even when the job is cut
// into chunks: a parked worker is woken with a system call (several
// microseconds on a VM) and starts tens of microseconds later, and when no
// CPU is free the woken thread takes the caller's own. So each kind of job
// keeps the caller's recent wall times per byte with and without a worker
// and goes the faster way, by the median of the last few calls, which one
// preempted call does not move. Now and then it explores the other way for
// a few calls in a row (the first of which may find the worker parked):
// every minExplore calls after the choice changed, then at doubling
// intervals while it holds, so that a settled choice costs little.
type chooser struct {
	// samples[0] without a worker, [1] with one: ns per KiB, 0 if none yet.
	samples [2][chooserSamples]atomic.Uint32
	next    [2]atomic.Uint32

	until   atomic.Int32 // calls before the next exploration
	burst   atomic.Int32 // calls left in the current one
	explore atomic.Bool  // the way being explored
	gap     atomic.Int32 // calls between explorations
	last    atomic.Bool  // the choice when the last exploration began
}

const (
	chooserSamples = 5
	exploreBurst   = 4
	minExplore     = 64
	maxExplore     = 2048
)

// Kinds of job: direction and whether the MAC covers the ciphertext.
const (
	kindSend3962 = iota
	kindSend8009
	kindRecv3962
	kindRecv8009
)

var choosers [4]chooser

func (c *chooser) parallel() bool {
	if c.burst.Load() > 0 && c.burst.Add(-1) >= 0 {
		return c.explore.Load()
	}
	p, s := c.median(1), c.median(0)
	prefer := p == 0 || s == 0 || p <= s
	if c.until.Add(-1) > 0 {
		return prefer
	}
	gap := c.gap.Load()
	if prefer != c.last.Load() || gap < minExplore {
		gap = minExplore
	} else {
		gap = min(2*gap, maxExplore)
	}
	c.gap.Store(gap)
	c.last.Store(prefer)
	c.until.Store(gap)
	c.explore.Store(!prefer)
	c.burst.Store(exploreBurst - 1)
	return !prefer
}

func (c *chooser) median(mode int) uint32 {
	var v [chooserSamples]uint32
	n := 0
	for i := range c.samples[mode] {
		if x := c.samples[mode][i].Load(); x != 0 {
			j := n
			for ; j > 0 && v[j-1] > x; j-- {
				v[j] = v[j-1]
			}
			v[j] = x
			n++
		}
	}
	return v[n/2]
}

// record adds a call of n bytes that took d, with a worker or without.
func (c *chooser) record(par bool, d time.Duration, n int) {
	mode := 0
	if par {
		mode = 1
	}
	v := uint32(max(min(int64(d)*1024/int64(n), math.MaxUint32), 1))
	c.samples[mode][c.next[mode].Add(1)%chooserSamples].Store(v)
}

func (j *parJob) offer(ho handoff) {
	poolOnce.Do(startPool)
	select {
	case poolCh <- ho:
		j.on = true
	default: // every worker has a job queued: do it here
	}
}

// startMAC begins the MAC of src after the prefix h has absorbed, for a
// caller that found parallelOK; ready bytes of src are final now, the rest
// are announced with produced. If no worker is free, finishMAC does all the
// hashing.
func (j *parJob) startMAC(pr *profile, h *hmacState, src []byte, ready int) {
	j.offer(j.prepMAC(pr, h, src, ready))
}

func (j *parJob) prepMAC(pr *profile, h *hmacState, src []byte, ready int) handoff {
	j.begin(src, nil, len(src))
	j.startLen = len(h.appendInner(j.start[:0]))
	j.w.Store(nil)
	j.avail.Store(uint64(ready))
	j.ctl.Store(j.t << tkShift)
	return j.handoff(handoff{mode: modeMAC, kind: pr.hashKind, newHash: pr.newHash})
}

// produced announces that src[:n] is final.
func (j *parJob) produced(n int) {
	if j.on {
		j.avail.Store(uint64(n))
	}
}

// finishMAC leaves h having absorbed the prefix and all of src. It hashes
// whatever the worker has not, from the worker's latest published state,
// and returns once the worker no longer reads src.
func (j *parJob) finishMAC(h *hmacState) {
	if !j.on {
		h.write(j.src)
		j.src = nil
		return
	}
	t := j.t
	for pos := 0; ; pos++ {
		pos = j.jump(h, pos)
		if pos == j.k {
			break
		}
		// Claim the chunk so that the worker stops here; if it is ahead,
		// hash the chunk anyway: it may have been descheduled.
		j.ctl.CompareAndSwap(t<<tkShift|uint64(pos), t<<tkShift|uint64(pos+1))
		h.write(j.src[pos*j.size : min((pos+1)*j.size, j.n)])
	}
	end := t<<tkShift | uint64(j.k)
	for wt := (waiter{}); ; wt.wait() {
		cur := j.ctl.Load()
		if cur == end || cur&stMask == 0 && j.ctl.CompareAndSwap(cur, end) {
			break
		}
	}
	j.src = nil
}

// jump restores into h the worker's published state if it covers more
// than pos chunks, and returns the chunks h now covers.
func (j *parJob) jump(h *hmacState, pos int) int {
	w := j.w.Load()
	if w == nil {
		return pos
	}
	seq := w.ckSeq.Load()
	if seq&1 != 0 || w.ckTag.Load() != j.t {
		return pos
	}
	p := int(w.ckPos.Load())
	n := int(w.ckLen.Load())
	if p <= pos || n > ckBytes {
		return pos
	}
	for i := 0; i*8 < n; i++ {
		binary.LittleEndian.PutUint64(j.ck[i*8:], w.ckW[i].Load())
	}
	if w.ckSeq.Load() != seq {
		return pos
	}
	if h.restoreInner(j.ck[:n]) != nil {
		panic("cfx: cannot restore a published hash state")
	}
	return p
}

// startDecrypt offers the CBC decryption of src[16:] into dst (whole
// blocks; src[:16] is the IV) with dec, which only the worker uses, for a
// caller that found parallelOK.
func (j *parJob) startDecrypt(dec cipher.BlockMode, src, dst []byte) {
	j.offer(j.prepDecrypt(dec, src, dst))
}

func (j *parJob) prepDecrypt(dec cipher.BlockMode, src, dst []byte) handoff {
	j.begin(src, dst, len(dst))
	j.prog.Store(0)
	j.ctl.Store(j.t<<tkShift | uint64(j.k))
	return j.handoff(handoff{mode: modeDecrypt, dec: dec})
}

// decrypt decrypts with dec, from the front, the chunks the worker has
// not, and hashes all of dst into h in order. On return the worker no
// longer touches src or dst.
func (j *parJob) decrypt(dec cipher.BlockMode, h *hmacState) {
	iv := dec.(ivSetter)
	own := func(k int) {
		lo, hi := k*j.size, min((k+1)*j.size, j.n)
		iv.SetIV(j.src[lo : lo+16])
		dec.CryptBlocks(j.dst[lo:hi], j.src[16+lo:16+hi])
	}
	if !j.on {
		for k := 0; k < j.k; k++ {
			own(k)
			h.write(j.dst[k*j.size : min((k+1)*j.size, j.n)])
		}
		j.src, j.dst = nil, nil
		return
	}
	t := j.t
	for k := 0; k < j.k; k++ {
		var wt waiter
		var st stallWatch
		for {
			cur := j.ctl.Load()
			b, state := int(cur&idxMask), cur>>stShift&3
			if k < b { // unclaimed (k is the front): claim it
				if j.ctl.CompareAndSwap(cur, cur+1<<idxBits) {
					own(k)
					break
				}
				continue
			}
			if k > b || state == ctlIdle {
				break // the worker decrypted it
			}
			if state == ctlDecrypt {
				if st.stalled(j.prog.Load()) {
					// Take the chunk: the worker's later chunks are done, and
					// its compare-and-swap to copy this one out will fail.
					if j.ctl.CompareAndSwap(cur, t<<tkShift|uint64(k+1)<<idxBits|uint64(k+1)) {
						own(k)
						break
					}
				}
				continue
			}
			wt.wait()
		}
		h.write(j.dst[k*j.size : min((k+1)*j.size, j.n)])
	}
	j.src, j.dst = nil, nil
}

// stallWatch tells when to stop waiting for a worker's chunk: when its
// progress counter stopped moving, or when the worker, though moving, has
// taken longer than a chunk should (it may be sharing a CPU).
type stallWatch struct {
	last         uint64
	first, since time.Time
}

func (s *stallWatch) stalled(p uint64) bool {
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	if s.since.IsZero() || p != s.last {
		s.last, s.since = p, now
	}
	return now.Sub(s.since) > stallFor || now.Sub(s.first) > 3*stallFor
}

// waiter paces a caller that waits for a worker's copy window. The window
// takes well under a microsecond, so the caller polls; if it stays open,
// the worker was descheduled in it, perhaps in favour of this very caller
// on the same CPU, so the caller then sleeps. Go rounds such a sleep up to
// about a millisecond; it is rare, since a preemption has to land in the
// window, a few percent of the worker's time.
type waiter struct {
	n     int
	start time.Time
}

func (w *waiter) wait() {
	w.n++
	if w.n < 64 {
		return
	}
	if w.start.IsZero() {
		w.start = time.Now()
		return
	}
	if time.Since(w.start) > 20*time.Microsecond {
		time.Sleep(20 * time.Microsecond)
	}
}
