package llama2c

import (
	"math"
	"sort"
)

// Sampler picks the next token from logits as llama2.c's run.c does: argmax at
// temperature 0; otherwise softmax(logits / temperature) and one draw of its xorshift
// generator, sampling from the whole distribution (top-p <= 0 or >= 1) or from the
// smallest set of most likely tokens whose probabilities exceed top-p. The same seed
// gives the same tokens as run.c for the same logits.
type Sampler struct {
	Temperature, TopP float32
	rng               uint64
	probs             []float32
	cand              []probIndex
}

type probIndex struct {
	prob  float32
	index int
}

// NewSampler returns a sampler with run.c's generator seeded with seed (which must not
// be 0: xorshift would stay at 0).
func NewSampler(temperature, topp float32, seed uint64) *Sampler {
	return &Sampler{Temperature: temperature, TopP: topp, rng: seed}
}

// RandomU32 is run.c's random_u32: xorshift64* keeping the high 32 bits.
func (s *Sampler) RandomU32() uint32 {
	s.rng ^= s.rng >> 12
	s.rng ^= s.rng << 25
	s.rng ^= s.rng >> 27
	return uint32((s.rng * 0x2545F4914F6CDD1D) >> 32)
}

// RandomF32 is run.c's random_f32: a float32 in [0, 1) from 24 random bits.
func (s *Sampler) RandomF32() float32 { return float32(s.RandomU32()>>8) / 16777216.0 }

// Sample returns the next token. logits is not modified.
func (s *Sampler) Sample(logits []float32) int {
	if s.Temperature == 0 {
		return argmax(logits)
	}
	p := append(s.probs[:0], logits...)
	s.probs = p
	for i := range p {
		p[i] /= s.Temperature
	}
	softmax(p)
	coin := s.RandomF32()
	if s.TopP <= 0 || s.TopP >= 1 {
		return sampleMult(p, coin)
	}
	return s.sampleTopP(p, coin)
}

// argmax returns the first index of the largest value.
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// softmax is run.c's: float32, maximum subtracted, exponentials summed in order.
func softmax(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - m)))
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

func sampleMult(p []float32, coin float32) int {
	var cdf float32
	for i, v := range p {
		cdf += v
		if coin < cdf {
			return i
		}
	}
	return len(p) - 1 // rounding
}

func (s *Sampler) sampleTopP(p []float32, coin float32) int {
	n := len(p)
	// Tokens below (1-topp)/(n-1) cannot be in the top-p set: run.c drops them
	// before sorting.
	cutoff := (1 - s.TopP) / float32(n-1)
	c := s.cand[:0]
	for i, v := range p {
		if v >= cutoff {
			c = append(c, probIndex{v, i})
		}
	}
	s.cand = c
	// Descending by probability; ties keep index order (glibc's qsort is a stable
	// merge sort for arrays this small).
	sort.SliceStable(c, func(i, j int) bool { return c[i].prob > c[j].prob })
	var cum float32
	last := len(c) - 1
	for i, e := range c {
		cum += e.prob
		if cum > s.TopP {
			last = i
			break
		}
	}
	r := coin * cum
	var cdf float32
	for _, e := range c[:last+1] {
		cdf += e.prob
		if r < cdf {
			return e.index
		}
	}
	return c[last].index
}
