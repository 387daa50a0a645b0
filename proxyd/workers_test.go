package proxyd

import (
	"strings"
	"sync"
	"testing"
)

func TestWorkerPool(t *testing.T) {
	p := newWorkerPool(1)
	ran := false
	p.run(func() { ran = true })
	if !ran {
		t.Fatal("run returned before the function ran")
	}

	// Every worker busy: the call runs where it is rather than wait.
	n := p.n
	release := make(chan struct{})
	var busy sync.WaitGroup
	busy.Add(n)
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			p.run(func() { busy.Done(); <-release })
		}()
	}
	busy.Wait()
	inline := false
	p.run(func() { inline = true })
	if !inline {
		t.Error("a call with every worker busy did not run")
	}
	close(release)
	done.Wait()

	// A panic on a worker reaches the caller, which oncrpc recovers. (A
	// call that finds no worker back at the channel yet runs here and
	// panics plainly; try again.)
	var got any
	for range 1000 {
		got = func() (v any) {
			defer func() { v = recover() }()
			p.run(func() { panic("boom") })
			return nil
		}()
		if _, ok := got.(*workerPanic); ok {
			break
		}
	}
	if wp, ok := got.(*workerPanic); !ok || wp.value != "boom" || !strings.Contains(wp.String(), "worker goroutine") {
		t.Errorf("recovered %v", got)
	}

	p.stop()
	after := false
	p.run(func() { after = true })
	if !after {
		t.Error("a call after stop did not run")
	}
}
