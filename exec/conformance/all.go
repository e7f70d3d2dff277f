package conformance

import (
	"runtime"
	"sync"
	"time"
)

// Timed is a Result with the time its test took.
type Timed struct {
	Result
	Dir      string
	Duration time.Duration
}

// Summary counts results as the CLI's last line prints them.
type Summary struct {
	Passed, Failed, Skipped int
}

// Add counts r.
func (s *Summary) Add(r Result) {
	switch r.Status {
	case Pass:
		s.Passed++
	case Fail:
		s.Failed++
	default:
		s.Skipped++
	}
}

// RunAll runs the tests in dirs, parallel of them at a time (0 means one per CPU), and
// calls report with each result in the order of dirs as soon as it and all before it are
// done, so output streams in a deterministic order. It returns every result in order.
func RunAll(dirs []string, opts Options, parallel int, report func(Timed)) []Timed {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	if opts.Workers == 0 && parallel > 1 {
		// Tests run side by side; each keeps to one worker so they do not oversubscribe.
		opts.Workers = 1
	}
	results := make([]Timed, len(dirs))
	done := make([]chan struct{}, len(dirs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				r := Run(dirs[i], opts)
				results[i] = Timed{Result: r, Dir: dirs[i], Duration: time.Since(start)}
				close(done[i])
			}
		}()
	}
	go func() {
		for i := range dirs {
			next <- i
		}
		close(next)
	}()
	for i := range dirs {
		<-done[i]
		if report != nil {
			report(results[i])
		}
	}
	wg.Wait()
	return results
}
