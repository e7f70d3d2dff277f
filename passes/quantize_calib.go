package passes

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/npy"
)

// Static calibration: the float graph runs on each calibration sample; the inputs of the
// layers to quantize are observed, and each gets a u8 scale and zero point from its range.
//
//	minmax      [min(0, min x), max(0, max x)] over all samples
//	percentile  the 0.01% and 99.99% points of a 2048-bin histogram (clips rare outliers)
//	entropy     the |x| threshold whose 128-level quantization of the histogram loses the
//	            least information (KL divergence, as TensorRT calibrates)

const calibBins = 2048

// loadCalib reads calibration samples from dir: each subfolder (in name order) is one
// sample holding <input name>.npy per graph input; a dir holding .npy files itself is
// one sample.
func loadCalib(dir string, g *ir.Graph) ([]map[string]*ops.Tensor, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-calib: %v", err)
	}
	var folders []string
	hasNpy := false
	for _, e := range ents {
		switch {
		case e.IsDir():
			folders = append(folders, filepath.Join(dir, e.Name()))
		case strings.HasSuffix(e.Name(), ".npy"):
			hasNpy = true
		}
	}
	sort.Strings(folders)
	if hasNpy {
		folders = append([]string{dir}, folders...)
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("-calib %s: no samples (want one folder per sample with <input>.npy files)", dir)
	}
	var samples []map[string]*ops.Tensor
	var problems []string
	for _, f := range folders {
		s := map[string]*ops.Tensor{}
		for _, v := range g.Inputs {
			path := filepath.Join(f, v.Name+".npy")
			t, err := npy.ReadFile(path)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if t.DType != v.Type.DType || t.Rank() != len(v.Type.Shape) {
				problems = append(problems, fmt.Sprintf("%s: %s%v does not fit input %s: %s", path, t.DType, t.Shape, v.Name, v.Type))
				continue
			}
			s[v.Name] = t
		}
		samples = append(samples, s)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("-calib %s:\n\t%s", dir, strings.Join(problems, "\n\t"))
	}
	return samples, nil
}

// observer collects the range and histograms of one activation.
type observer struct {
	lo, hi, amax float64
	hist         []float64 // values over [lo, hi]
	ahist        []float64 // |values| over [0, amax]
}

func (o *observer) first(x []float32) {
	for _, v := range x {
		f := float64(v)
		o.lo, o.hi = math.Min(o.lo, f), math.Max(o.hi, f)
		o.amax = math.Max(o.amax, math.Abs(f))
	}
}

func (o *observer) second(x []float32) {
	if o.hist == nil {
		o.hist, o.ahist = make([]float64, calibBins), make([]float64, calibBins)
	}
	for _, v := range x {
		f := float64(v)
		if o.hi > o.lo {
			o.hist[min(calibBins-1, int((f-o.lo)/(o.hi-o.lo)*calibBins))]++
		}
		if o.amax > 0 {
			o.ahist[min(calibBins-1, int(math.Abs(f)/o.amax*calibBins))]++
		}
	}
}

// rangeOf returns the activation range the method chooses; it always contains 0.
func (o *observer) rangeOf(method string) (float64, float64) {
	lo, hi := o.lo, o.hi
	switch method {
	case "percentile":
		lo, hi = percentileRange(o.hist, o.lo, o.hi, 1e-4)
	case "entropy":
		t := entropyThreshold(o.ahist, o.amax)
		lo, hi = math.Max(lo, -t), math.Min(hi, t)
	}
	return math.Min(lo, 0), math.Max(hi, 0)
}

// percentileRange returns the points below which tail and above which tail of the
// histogram's mass (over [lo, hi]) lie.
func percentileRange(hist []float64, lo, hi, tail float64) (float64, float64) {
	total := 0.0
	for _, c := range hist {
		total += c
	}
	if total == 0 || hi <= lo {
		return lo, hi
	}
	w := (hi - lo) / float64(len(hist))
	a, b := lo, hi
	cum := 0.0
	for i, c := range hist {
		cum += c
		if cum >= tail*total {
			a = lo + float64(i)*w
			break
		}
	}
	cum = 0
	for i := len(hist) - 1; i >= 0; i-- {
		cum += hist[i]
		if cum >= tail*total {
			b = lo + float64(i+1)*w
			break
		}
	}
	return a, b
}

// entropyThreshold picks the clipping threshold of |x| (histogram over [0, amax]) that
// minimises KL(P || Q), P the clipped distribution and Q its 128-level quantization.
func entropyThreshold(hist []float64, amax float64) float64 {
	const levels = 128
	if amax == 0 || len(hist) < levels {
		return amax
	}
	// Zeros (ReLU outputs; the first bin) are represented exactly whatever the threshold: they
	// must not pull it down. A sparse histogram is merged until its bins hold a few
	// values each, or its noise decides the threshold.
	hist = append([]float64{}, hist...)
	hist[0] = 0
	total := 0.0
	for _, c := range hist {
		total += c
	}
	for len(hist) >= 4*levels && total/float64(len(hist)) < 8 {
		merged := make([]float64, len(hist)/2)
		for i := range merged {
			merged[i] = hist[2*i] + hist[2*i+1]
		}
		hist = merged
	}
	n := len(hist)
	w := amax / float64(n)
	best, bestKL := n, math.Inf(1)
	for i := levels; i <= n; i++ {
		p := append([]float64{}, hist[:i]...)
		for _, c := range hist[i:] {
			p[i-1] += c // outliers clip to the last bin
		}
		q := make([]float64, i)
		for l := 0; l < levels; l++ {
			a, b := l*i/levels, (l+1)*i/levels
			sum, nz := 0.0, 0
			for k := a; k < b; k++ {
				sum += hist[k]
				if hist[k] != 0 {
					nz++
				}
			}
			for k := a; k < b; k++ {
				if hist[k] != 0 {
					q[k] = sum / float64(nz)
				}
			}
		}
		if kl := klDivergence(p, q); kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return float64(best) * w
}

func klDivergence(p, q []float64) float64 {
	sp, sq := 0.0, 0.0
	for i := range p {
		sp += p[i]
		sq += q[i]
	}
	if sp == 0 || sq == 0 {
		return math.Inf(1)
	}
	kl := 0.0
	for i := range p {
		if p[i] == 0 {
			continue
		}
		pi := p[i] / sp
		qi := q[i] / sq
		if qi == 0 {
			qi = 1e-10 // a clipped bin Q cannot represent: a large but finite penalty
		}
		kl += pi * math.Log(pi/qi)
	}
	return kl
}

// scaleZero turns a range containing 0 into a u8 scale and zero point.
func scaleZero(lo, hi float64) (float32, uint8) {
	s := float32((hi - lo) / 255)
	if s == 0 {
		return 1, 0 // an all-zero activation: any scale represents it exactly
	}
	z := math.RoundToEven(-lo / float64(s))
	return s, uint8(min(max(z, 0), 255))
}

// calibrate sets the static activation scale and zero point of every layer to quantize.
func calibrate(c *Context, g *ir.Graph, layers []*layer, samples []map[string]*ops.Tensor) error {
	e, err := newEvaluator(g)
	if err != nil {
		return err
	}
	obs := map[*ir.Value]*observer{}
	for _, l := range layers {
		if l.keep == "" && l.kind == kindDense && obs[l.x] == nil {
			obs[l.x] = &observer{}
		}
	}
	method := calibMethod(c.Config)
	passes := 1
	if method != "minmax" {
		passes = 2 // histograms need the range first
	}
	var bar *progressbar.ProgressBar
	if c.Progress != nil {
		bar = progressbar.NewOptions(passes*len(samples), progressbar.OptionSetWriter(c.Progress),
			progressbar.OptionSetDescription("calibrating ("+method+")"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
	}
	for pass := 0; pass < passes; pass++ {
		for _, s := range samples {
			if _, err := e.run(s, nil, func(v *ir.Value, t *ops.Tensor) {
				if o := obs[v]; o != nil && t.DType == ir.F32 {
					if pass == 0 {
						o.first(t.F32())
					} else {
						o.second(t.F32())
					}
				}
			}); err != nil {
				return fmt.Errorf("calibration: %v", err)
			}
			if bar != nil {
				bar.Add(1)
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	for _, l := range layers {
		if l.keep == "" && l.kind == kindDense {
			l.xs, l.xz = scaleZero(obs[l.x].rangeOf(method))
		}
	}
	return nil
}
