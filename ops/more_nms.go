package ops

import (
	"fmt"
	"math"
	"sort"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "NonMaxSuppression", nmsKernel, floatTypes...)
}

// nmsKernel: per batch and class, boxes scoring above score_threshold are taken in
// order of decreasing score (ties by index) unless their IoU with a box already taken
// exceeds iou_threshold, up to max_output_boxes_per_class.
func nmsKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	boxes, err := in[0].Floats()
	if err != nil {
		return nil, err
	}
	scores, err := in[1].Floats()
	if err != nil {
		return nil, err
	}
	if in[0].Rank() != 3 || in[0].Shape[2] != 4 || in[1].Rank() != 3 || in[1].Shape[0] != in[0].Shape[0] || in[1].Shape[2] != in[0].Shape[1] {
		return nil, fmt.Errorf("NonMaxSuppression: boxes %v and scores %v do not fit", in[0].Shape, in[1].Shape)
	}
	B, N, C := in[0].Shape[0], in[0].Shape[1], in[1].Shape[1]
	scalar := func(i int, def float64) (float64, error) {
		t := input(in, i)
		if t == nil || t.Len() == 0 {
			return def, nil
		}
		v, err := t.Floats()
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	maxOut, err := scalar(2, 0)
	if err != nil {
		return nil, err
	}
	iouTh, err := scalar(3, 0)
	if err != nil {
		return nil, err
	}
	scoreTh, err := scalar(4, math.Inf(-1))
	if err != nil {
		return nil, err
	}
	center := attrs.Int("center_point_box", 0) != 0
	corners := func(b, i int) (y1, x1, y2, x2 float64) {
		p := boxes[(b*N+i)*4:][:4]
		if center {
			xc, yc, w, h := p[0], p[1], p[2], p[3]
			return yc - h/2, xc - w/2, yc + h/2, xc + w/2
		}
		return math.Min(p[0], p[2]), math.Min(p[1], p[3]), math.Max(p[0], p[2]), math.Max(p[1], p[3])
	}
	iou := func(b, i, j int) float64 {
		ay1, ax1, ay2, ax2 := corners(b, i)
		by1, bx1, by2, bx2 := corners(b, j)
		ih := math.Max(0, math.Min(ay2, by2)-math.Max(ay1, by1))
		iw := math.Max(0, math.Min(ax2, bx2)-math.Max(ax1, bx1))
		inter := ih * iw
		union := (ay2-ay1)*(ax2-ax1) + (by2-by1)*(bx2-bx1) - inter
		if inter <= 0 || union <= 0 {
			return 0
		}
		return inter / union
	}
	var sel []int64
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			sc := scores[(b*C+c)*N:][:N]
			var cand []int
			for i, s := range sc {
				if s > scoreTh {
					cand = append(cand, i)
				}
			}
			sort.SliceStable(cand, func(x, y int) bool { return sc[cand[x]] > sc[cand[y]] })
			var kept []int
			for _, i := range cand {
				if float64(len(kept)) >= maxOut {
					break
				}
				ok := true
				for _, j := range kept {
					if iou(b, i, j) > iouTh {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, i)
					sel = append(sel, int64(b), int64(c), int64(i))
				}
			}
		}
	}
	return one(MustFromSlice([]int{len(sel) / 3, 3}, sel)), nil
}
