package attn

// Scratch keeps the workers of finished calls for the next ones. Unlike a sync.Pool,
// the garbage collector does not empty it: a worker allocates its buffers on its first
// run, so a pool emptied by a collection between two calls would make the next call
// allocate again. It holds at most as many workers as ever ran at once (the worker
// count), up to a bound.
type Scratch[T any] struct{ free chan *T }

// NewScratch returns a Scratch keeping up to n workers.
func NewScratch[T any](n int) *Scratch[T] { return &Scratch[T]{free: make(chan *T, n)} }

// Get returns a kept worker, or a new one.
func (s *Scratch[T]) Get() *T {
	select {
	case w := <-s.free:
		return w
	default:
		return new(T)
	}
}

// Put keeps w for a later Get (or drops it beyond the bound).
func (s *Scratch[T]) Put(w *T) {
	select {
	case s.free <- w:
	default:
	}
}
