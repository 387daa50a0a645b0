package cfx

import (
	"crypto/cipher"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Large messages use a second core. RFC 3962 MACs the plaintext, known
// before encryption on send, and RFC 8009 the ciphertext, known before
// decryption on receive: there a worker computes the MAC while the calling
// goroutine runs AES. RFC 8009 sends are fed to the worker chunk by chunk
// as the ciphertext appears. RFC 3962 receives instead split the CBC
// decryption: a worker decrypts the second half while the caller decrypts
// the first and MACs it (feeding a MAC with plaintext freshly written by
// another core measured no faster than doing it all on one). Workers are
// long-lived and the jobs are embedded in the Protector, so a hand-off
// costs no allocation.
//
// On a busy machine the worker may not get a CPU before the caller is done
// with the cipher. The caller then takes the MAC back and computes it
// itself, and a generation number in the job's state keeps a worker that
// wakes late from touching a job that has since been reused. Once a worker
// has claimed a job the caller must wait for it, so when other processes
// saturate the CPUs the parallel path can be slower than the inline one
// (seen once on a 2-CPU VM under load: Wrap aes256-sha1 64 KiB at about
// 300 MB/s against about 520 inline and 800 parallel when quiet).

// parallelThreshold is the message size below which the MAC is computed
// inline: under it the hand-off costs more than it saves.
const parallelThreshold = 16 << 10

// chunkSize is the unit in which a pipelined MAC is fed to the worker.
const chunkSize = 8 << 10

const (
	jobPending = iota
	jobWorker  // a worker owns this generation
	jobCaller  // the caller took it back
)

type macJob struct {
	h     hash.Hash
	segs  chan []byte // nil ends the input
	done  chan struct{}
	state atomic.Uint64 // gen<<2 | jobPending/jobWorker/jobCaller
	gen   uint64
	// finished is the last generation whose MAC the worker completed; it is
	// set after the send on done, so a caller that sees it can receive
	// from done without blocking.
	finished atomic.Uint64
	sum      [64]byte
	inline   bool

	// Decrypt mode: the worker CBC-decrypts src into dst with its own
	// BlockMode, starting from iv (see startDecrypt).
	isDec              bool
	dec                cipher.BlockMode
	decDst, decSrc, iv []byte
}

type handoff struct {
	j   *macJob
	gen uint64
}

func newMacJob() *macJob {
	return &macJob{segs: make(chan []byte, 64), done: make(chan struct{}, 1)}
}

var (
	poolOnce sync.Once
	poolCh   chan handoff
)

// spinFor is how long an idle worker keeps polling for the next job before
// it blocks. Waking a parked thread can take longer than encrypting 64 KiB
// (notably on virtual machines), so back-to-back calls find the worker
// still running; a caller that arrives later loses nothing, because it
// takes the MAC back if the worker is late.
const spinFor = 100 * time.Microsecond

// finishSpin bounds how long a caller polls for the worker's MAC before
// it parks; the caller has nothing else to do meanwhile.
const finishSpin = 200 * time.Microsecond

func startPool() {
	// One worker per spare CPU: the caller's goroutine is the other half.
	n := max(runtime.NumCPU()-1, 1)
	poolCh = make(chan handoff, n)
	for i := 0; i < n; i++ {
		go macWorker()
	}
}

// spinRecv receives from ch, polling for up to spinFor before it blocks.
// It does not yield: with two CPUs a yielded goroutine can sit in the
// global run queue while its P runs the caller, which is the very wait the
// spin is there to avoid. (Go preempts a spinning goroutine if others need
// the CPU.)
func spinRecv[T any](ch chan T) T {
	select {
	case v := <-ch:
		return v
	default:
	}
	start := time.Now()
	for i := 1; ; i++ {
		select {
		case v := <-ch:
			return v
		default:
		}
		if i%64 == 0 && time.Since(start) > spinFor {
			return <-ch
		}
	}
}

func macWorker() {
	for {
		ho := spinRecv(poolCh)
		j := ho.j
		if !j.state.CompareAndSwap(ho.gen<<2|jobPending, ho.gen<<2|jobWorker) {
			continue // the caller already took it back
		}
		if j.isDec {
			j.runDecrypt()
		} else {
			for {
				s := spinRecv(j.segs)
				if s == nil {
					break
				}
				j.h.Write(s)
			}
			j.h.Sum(j.sum[:0])
		}
		j.done <- struct{}{}
		j.finished.Store(ho.gen)
	}
}

func (j *macJob) runDecrypt() {
	j.dec.(ivSetter).SetIV(j.iv)
	j.dec.CryptBlocks(j.decDst, j.decSrc)
}

// offer hands the current generation to a worker if one can take it.
func (j *macJob) offer() {
	poolOnce.Do(startPool)
	if j.segs == nil {
		// A Protector's jobs get their channels on first hand-off:
		// contexts that never protect a large message need none.
		j.segs, j.done = make(chan []byte, 64), make(chan struct{}, 1)
	}
	j.gen++
	j.state.Store(j.gen<<2 | jobPending)
	select {
	case poolCh <- handoff{j, j.gen}:
		j.inline = false
	default:
	}
}

// wait waits for the worker that claimed this generation; it reports false
// if no worker had claimed it, in which case the caller now owns the job.
func (j *macJob) wait() bool {
	if j.state.CompareAndSwap(j.gen<<2|jobPending, j.gen<<2|jobCaller) {
		return false
	}
	// Poll briefly rather than park: waking a parked goroutine costs more
	// than the rest of the worker's job usually takes.
	start := time.Now()
	for i := 1; j.finished.Load() != j.gen; i++ {
		if i%64 == 0 && time.Since(start) > finishSpin {
			break
		}
	}
	<-j.done
	return true
}

// startDecrypt lets a worker CBC-decrypt src (whole blocks) into dst with
// dec, chaining from iv, while the caller does other work; finishDecrypt
// must follow. CBC decryption has no dependency between blocks beyond the
// previous ciphertext block, so halves of a message decrypt independently.
func (j *macJob) startDecrypt(dec cipher.BlockMode, dst, src, iv []byte) {
	j.isDec, j.dec, j.decDst, j.decSrc, j.iv = true, dec, dst, src, iv
	j.inline = true
	if runtime.GOMAXPROCS(0) < 2 {
		return
	}
	j.offer()
}

func (j *macJob) finishDecrypt() {
	if j.inline || !j.wait() {
		j.runDecrypt()
	}
	j.isDec, j.dec, j.decDst, j.decSrc, j.iv = false, nil, nil, nil, nil
}

// start begins a MAC with h. If parallel is asked for, the job is offered
// to the workers; if their queue is full (e.g. under a concurrent Wrap and
// Unwrap) it runs inline, and a queued job that no worker claims in time is
// taken back by finish, so a caller never waits for a busy worker.
func (j *macJob) start(h hash.Hash, parallel bool) {
	h.Reset()
	j.h = h
	j.inline = true
	if !parallel || runtime.GOMAXPROCS(0) < 2 {
		return
	}
	j.offer()
}

func (j *macJob) write(b []byte) {
	if len(b) == 0 {
		return
	}
	if j.inline {
		j.h.Write(b)
		return
	}
	j.segs <- b
}

// finish returns the untruncated MAC; it is valid until the next start.
func (j *macJob) finish() []byte {
	if j.inline {
		return j.h.Sum(j.sum[:0])
	}
	j.segs <- nil
	if !j.wait() {
		// No worker got to it: hash what was queued here.
		for s := range j.segs {
			if s == nil {
				break
			}
			j.h.Write(s)
		}
		return j.h.Sum(j.sum[:0])
	}
	return j.sum[:j.h.Size()]
}
