package proxyd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Calls run on a few long-lived goroutines rather than on the one oncrpc
// starts for each call. A new goroutine starts with a small stack, and an
// accept (ASN.1 decoding, key schedules, the context export) outgrows it
// several times over, the runtime copying the whole stack at each step:
// profiles of the daemon under load put that copying at about an eighth
// of its CPU. A worker's stack stays grown between calls (the collector
// halves an idle one now and then, which costs one copy, not one per
// call). When every worker is busy the call runs where it is, as before,
// so a call waiting on the KDC never holds up the others.
//
// There are worker_threads workers, as the reference starts that many
// threads, but at least one per CPU.

type workerPool struct {
	n    int
	jobs chan *workerJob
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type workerJob struct {
	fn    func()
	done  chan struct{}
	panic *workerPanic
}

// workerPanic carries a call's panic back to the goroutine that serves the
// call, where oncrpc recovers it and answers SYSTEM_ERR, as for a panic
// there; on the worker it would end the daemon.
type workerPanic struct {
	value any
	stack []byte
}

func (p *workerPanic) String() string {
	return fmt.Sprintf("%v\n\nworker goroutine:\n%s", p.value, p.stack)
}

var workerJobs = sync.Pool{New: func() any { return &workerJob{done: make(chan struct{}, 1)} }}

func newWorkerPool(n int) *workerPool {
	n = max(n, runtime.GOMAXPROCS(0))
	p := &workerPool{n: n, jobs: make(chan *workerJob), quit: make(chan struct{})}
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p
}

func (p *workerPool) work() {
	defer p.wg.Done()
	for {
		select {
		case j := <-p.jobs:
			j.runCatching()
			j.done <- struct{}{}
		case <-p.quit:
			return
		}
	}
}

func (j *workerJob) runCatching() {
	defer func() {
		if v := recover(); v != nil {
			j.panic = &workerPanic{value: v, stack: debug.Stack()}
		}
	}()
	j.fn()
}

// run runs fn on an idle worker, or here if there is none, and returns
// when it is done.
func (p *workerPool) run(fn func()) {
	j := workerJobs.Get().(*workerJob)
	j.fn = fn
	select {
	case p.jobs <- j:
		<-j.done
	default:
		j.fn = nil
		workerJobs.Put(j)
		fn()
		return
	}
	pv := j.panic
	j.fn, j.panic = nil, nil
	workerJobs.Put(j)
	if pv != nil {
		panic(pv)
	}
}

// stop ends the workers once they finish what they run.
func (p *workerPool) stop() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}
