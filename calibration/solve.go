package calibration

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Errors that Solve wraps; test them with errors.Is.
var (
	ErrTooFewPoints    = errors.New("calibration: at least 4 point pairs are needed")
	ErrInvalidPoint    = errors.New("calibration: invalid point")
	ErrDuplicatePoints = errors.New("calibration: duplicate points")
	ErrCollinear       = errors.New("calibration: points are (nearly) collinear")
	ErrDegenerate      = errors.New("calibration: points do not determine a homography")
	ErrFlipped         = errors.New("calibration: homography folds the points across the horizon")
	ErrNoConsensus     = errors.New("calibration: too many points disagree")
)

// PointError reports a problem tied to specific input points.
type PointError struct {
	// Points are indexes into the input slice, from 0.
	Points []int
	Reason string
	Err    error
}

// Error implements error.
func (e *PointError) Error() string {
	names := make([]string, len(e.Points))
	for i, p := range e.Points {
		names[i] = fmt.Sprintf("points[%d]", p)
	}
	return fmt.Sprintf("calibration: %s: %s", strings.Join(names, ", "), e.Reason)
}

// Unwrap returns the sentinel error.
func (e *PointError) Unwrap() error { return e.Err }

// MaxPoints bounds the point pairs of one calibration.
const MaxPoints = 1000

// Defaults of SolveOptions.
const (
	DefaultInlierThresholdM = 0.25
	DefaultMaxIterations    = 2000
	DefaultMinSpread        = 0.01
)

// SolveOptions tune Solve. The zero value is usable.
type SolveOptions struct {
	// InlierThresholdM is the ground distance in metres under which a point
	// agrees with a RANSAC hypothesis (default DefaultInlierThresholdM).
	InlierThresholdM float64
	// Seed seeds RANSAC's random generator; equal inputs and seeds give
	// equal results.
	Seed uint64
	// MaxIterations caps RANSAC's samples (default DefaultMaxIterations).
	MaxIterations int
	// MinSpread is the smallest accepted ratio between the minor and major
	// spread of a point set (and, for four points or a RANSAC sample, the
	// smallest accepted triangle shape factor) below which the points count
	// as collinear (default DefaultMinSpread).
	MinSpread float64
	// Distortion, when set, is removed from the pixels before solving.
	Distortion *Distortion
}

func (o *SolveOptions) defaults() {
	if !(o.InlierThresholdM > 0) {
		o.InlierThresholdM = DefaultInlierThresholdM
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = DefaultMaxIterations
	}
	if !(o.MinSpread > 0) {
		o.MinSpread = DefaultMinSpread
	}
}

// Solution is a solved homography with its fit statistics.
type Solution struct {
	// H maps undistorted pixels to ground metres; Inverse the other way.
	H, Inverse Homography
	// Inliers marks the points used by the final fit.
	Inliers []bool
	// Residuals are ground distances in metres between each point's surveyed
	// position and its mapped pixel; -1 for an outlier beyond the horizon.
	Residuals []float64
	// RMS and Max summarise the inliers' residuals, metres.
	RMS, Max float64
	Solver   Solver
}

// InlierCount returns how many points the final fit used.
func (s *Solution) InlierCount() int {
	n := 0
	for _, in := range s.Inliers {
		if in {
			n++
		}
	}
	return n
}

// Solve estimates the image→ground homography from point pairs: the
// normalised DLT (Hartley & Zisserman, "Multiple View Geometry", alg. 4.2) for
// exactly four points; with more, RANSAC on minimal samples scored by MSAC,
// then a DLT and Levenberg–Marquardt refit of the ground residuals on the
// inliers. Degenerate input is refused with a wrapped sentinel error.
func Solve(pairs []PointPair, opt SolveOptions) (Solution, error) {
	opt.defaults()
	n := len(pairs)
	if n < 4 {
		return Solution{}, fmt.Errorf("%w (got %d)", ErrTooFewPoints, n)
	}
	if n > MaxPoints {
		return Solution{}, fmt.Errorf("calibration: %d point pairs, at most %d", n, MaxPoints)
	}
	img := make([]Point, n)
	gnd := make([]Point, n)
	for i, p := range pairs {
		if !p.Image.finite() || !p.Ground.finite() {
			return Solution{}, &PointError{Points: []int{i}, Reason: "coordinates must be finite numbers", Err: ErrInvalidPoint}
		}
		img[i], gnd[i] = p.Image, p.Ground
		if opt.Distortion != nil {
			u, _, err := opt.Distortion.Undistort(p.Image)
			if err != nil {
				return Solution{}, &PointError{Points: []int{i}, Reason: "pixel cannot be undistorted with the lens model", Err: ErrInvalidPoint}
			}
			img[i] = u
		}
	}
	tp, tq := hartley(img), hartley(gnd)
	pn, qn := tp.applyAll(img), tq.applyAll(gnd)
	if err := checkDuplicates(pn, "image"); err != nil {
		return Solution{}, err
	}
	if err := checkDuplicates(qn, "ground"); err != nil {
		return Solution{}, err
	}
	for _, set := range []struct {
		name string
		pts  []Point
	}{{"image", pn}, {"ground", qn}} {
		if r := spread(set.pts); r < opt.MinSpread {
			return Solution{}, fmt.Errorf("%w: the %s points lie along a line (spread ratio %.2g < %.2g)", ErrCollinear, set.name, r, opt.MinSpread)
		}
	}

	var (
		hn      Homography
		inliers = make([]bool, n)
		solver  Solver
	)
	if n == 4 {
		for _, set := range []struct {
			name string
			pts  []Point
		}{{"image", pn}, {"ground", qn}} {
			if a, b, c, ok := collinearTriple(set.pts, []int{0, 1, 2, 3}, opt.MinSpread); ok {
				return Solution{}, &PointError{Points: []int{a, b, c}, Reason: "(nearly) collinear in the " + set.name + "; four points need no three on a line", Err: ErrCollinear}
			}
		}
		h, err := dlt(pn, qn)
		if err != nil {
			return Solution{}, err
		}
		hn = h
		for i := range inliers {
			inliers[i] = true
		}
		solver = Solver{Method: "dlt"}
	} else {
		h, in, err := ransac(pn, qn, tq.s, opt)
		if err != nil {
			return Solution{}, err
		}
		hn, inliers = h, in
		solver = Solver{Method: "ransac", InlierThresholdM: opt.InlierThresholdM, Seed: opt.Seed}
	}

	// Every inlier must lie on the same side of the horizon.
	if idx, ok := foldedPoints(&hn, pn, inliers); !ok {
		return Solution{}, &PointError{Points: idx, Reason: "mapped across the horizon from the others (mislabelled or mirrored points?)", Err: ErrFlipped}
	}
	h := tq.inverseMatrix().Mul(hn).Mul(tp.matrix())
	h, err := normaliseSign(h, img, inliers)
	if err != nil {
		return Solution{}, err
	}
	inv, err := h.Inverse()
	if err != nil {
		return Solution{}, fmt.Errorf("%w: the homography is singular", ErrDegenerate)
	}
	inv, err = normaliseSign(inv, gnd, inliers)
	if err != nil {
		return Solution{}, err
	}
	sol := Solution{H: h, Inverse: inv, Inliers: inliers, Residuals: make([]float64, n), Solver: solver}
	sum := 0.0
	for i := range n {
		x, y, w := h.apply(img[i].X, img[i].Y)
		r := math.Hypot(x-gnd[i].X, y-gnd[i].Y)
		if !(w > 0) || !isFinite(r) {
			r = -1
		}
		sol.Residuals[i] = r
		if inliers[i] {
			sum += r * r
			sol.Max = max(sol.Max, r)
		}
	}
	sol.RMS = math.Sqrt(sum / float64(sol.InlierCount()))
	return sol, nil
}

// normaliseSign scales h so that h[2][2] = ±1 (or the Frobenius norm is 1
// when h[2][2] is nearly 0) with the homogeneous w positive at the inliers.
func normaliseSign(h Homography, pts []Point, inliers []bool) (Homography, error) {
	k := 1 / h.norm()
	if math.Abs(h[2][2]) > 1e-9*h.norm() {
		k = 1 / math.Abs(h[2][2])
	}
	h = h.scaled(k)
	for i, p := range pts {
		if !inliers[i] {
			continue
		}
		_, _, w := h.apply(p.X, p.Y)
		if w < 0 {
			h = h.scaled(-1)
		}
		break
	}
	for i, p := range pts {
		if !inliers[i] {
			continue
		}
		if _, _, w := h.apply(p.X, p.Y); !(w > 0) {
			return Homography{}, &PointError{Points: []int{i}, Reason: "lies on the horizon", Err: ErrFlipped}
		}
	}
	if !h.finite() {
		return Homography{}, fmt.Errorf("%w: the homography is not finite", ErrDegenerate)
	}
	return h, nil
}

// foldedPoints reports whether all inliers share the sign of w; if not it
// returns the minority's indexes.
func foldedPoints(h *Homography, p []Point, inliers []bool) ([]int, bool) {
	var pos, neg []int
	for i, pt := range p {
		if !inliers[i] {
			continue
		}
		if _, _, w := h.apply(pt.X, pt.Y); w > 0 {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	switch {
	case len(neg) == 0 || len(pos) == 0:
		return nil, true
	case len(neg) <= len(pos):
		return neg, false
	default:
		return pos, false
	}
}

// similarity is the map p → s·p + t.
type similarity struct{ s, tx, ty float64 }

// hartley returns the similarity moving the centroid to the origin and the
// mean distance from it to √2.
func hartley(pts []Point) similarity {
	var cx, cy float64
	for _, p := range pts {
		cx += p.X
		cy += p.Y
	}
	cx /= float64(len(pts))
	cy /= float64(len(pts))
	d := 0.0
	for _, p := range pts {
		d += math.Hypot(p.X-cx, p.Y-cy)
	}
	d /= float64(len(pts))
	s := 1.0
	if d > 0 {
		s = math.Sqrt2 / d
	}
	return similarity{s: s, tx: -s * cx, ty: -s * cy}
}

func (t similarity) apply(p Point) Point { return Point{t.s*p.X + t.tx, t.s*p.Y + t.ty} }

func (t similarity) applyAll(pts []Point) []Point {
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = t.apply(p)
	}
	return out
}

func (t similarity) matrix() Homography {
	return Homography{{t.s, 0, t.tx}, {0, t.s, t.ty}, {0, 0, 1}}
}

func (t similarity) inverseMatrix() Homography {
	return Homography{{1 / t.s, 0, -t.tx / t.s}, {0, 1 / t.s, -t.ty / t.s}, {0, 0, 1}}
}

// checkDuplicates refuses two points at the same place (normalised units).
func checkDuplicates(pts []Point, plane string) error {
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			if pts[i].Dist(pts[j]) < 1e-6 {
				return &PointError{Points: []int{i, j}, Reason: "same " + plane + " position", Err: ErrDuplicatePoints}
			}
		}
	}
	return nil
}

// spread returns √(λmin/λmax) of the points' scatter matrix: 0 for points on
// a line, 1 for an isotropic cloud.
func spread(pts []Point) float64 {
	var mx, my float64
	for _, p := range pts {
		mx += p.X
		my += p.Y
	}
	mx /= float64(len(pts))
	my /= float64(len(pts))
	var sxx, sxy, syy float64
	for _, p := range pts {
		dx, dy := p.X-mx, p.Y-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	tr, det := sxx+syy, sxx*syy-sxy*sxy
	disc := math.Sqrt(max(0, tr*tr/4-det))
	hi, lo := tr/2+disc, tr/2-disc
	if !(hi > 0) {
		return 0
	}
	return math.Sqrt(max(0, lo) / hi)
}

// triangleShape returns 2·area / (longest side)²: 0 for collinear points,
// √3/2 for an equilateral triangle.
func triangleShape(a, b, c Point) float64 {
	cross := (b.X-a.X)*(c.Y-a.Y) - (b.Y-a.Y)*(c.X-a.X)
	l := max((b.X-a.X)*(b.X-a.X)+(b.Y-a.Y)*(b.Y-a.Y),
		(c.X-a.X)*(c.X-a.X)+(c.Y-a.Y)*(c.Y-a.Y),
		(c.X-b.X)*(c.X-b.X)+(c.Y-b.Y)*(c.Y-b.Y))
	if l == 0 {
		return 0
	}
	return math.Abs(cross) / l
}

// collinearTriple finds three of the indexed points whose triangle shape is
// below tol.
func collinearTriple(pts []Point, idx []int, tol float64) (int, int, int, bool) {
	for i := 0; i < len(idx); i++ {
		for j := i + 1; j < len(idx); j++ {
			for k := j + 1; k < len(idx); k++ {
				if triangleShape(pts[idx[i]], pts[idx[j]], pts[idx[k]]) < tol {
					return idx[i], idx[j], idx[k], true
				}
			}
		}
	}
	return 0, 0, 0, false
}

// dlt solves the homography q ~ H·p by the direct linear transform on
// normalised points, then refines it with refine when there are more than four.
func dlt(p, q []Point) (Homography, error) {
	m := len(p)
	rows := 2 * m
	if rows < 9 {
		rows = 9 // a zero row keeps the system square for four points
	}
	a := make([]float64, rows*9)
	for i := range m {
		u, v := p[i].X, p[i].Y
		x, y := q[i].X, q[i].Y
		r := a[2*i*9 : 2*i*9+9]
		copy(r, []float64{u, v, 1, 0, 0, 0, -x * u, -x * v, -x})
		r = a[(2*i+1)*9 : (2*i+1)*9+9]
		copy(r, []float64{0, 0, 0, u, v, 1, -y * u, -y * v, -y})
	}
	sv, vm := svd(a, rows, 9)
	order := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	slices.SortFunc(order, func(i, j int) int {
		switch {
		case sv[i] < sv[j]:
			return -1
		case sv[i] > sv[j]:
			return 1
		}
		return 0
	})
	// A second (near-)null vector means a family of solutions: fewer than
	// four points in general position.
	if !(sv[order[1]] > 1e-8*sv[order[8]]) {
		return Homography{}, fmt.Errorf("%w: fewer than four points in general position (no three on a line)", ErrDegenerate)
	}
	var h Homography
	for k := range 9 {
		h[k/3][k%3] = vm[k*9+order[0]]
	}
	if m > 4 {
		h = refine(h, p, q)
	}
	return h, nil
}

// ransac finds the largest consistent subset and returns the refitted
// normalised homography and the inlier mask. sq is the ground normalisation
// scale (normalised units per metre).
func ransac(p, q []Point, sq float64, opt SolveOptions) (Homography, []bool, error) {
	n := len(p)
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	thr := opt.InlierThresholdM * sq
	thr2 := thr * thr
	var (
		bestH    Homography
		bestCost = math.Inf(1)
		found    bool
		sample   [4]int
		sp, sqp  [4]Point
		needed   = opt.MaxIterations
	)
	const minIterations = 100
	for it := 0; it < opt.MaxIterations && (it < minIterations || it < needed); it++ {
		for k := 0; k < 4; {
			if s := rng.IntN(n); !slices.Contains(sample[:k], s) {
				sample[k] = s
				k++
			}
		}
		for k, s := range sample {
			sp[k], sqp[k] = p[s], q[s]
		}
		if _, _, _, bad := collinearTriple(sp[:], []int{0, 1, 2, 3}, opt.MinSpread); bad {
			continue
		}
		if _, _, _, bad := collinearTriple(sqp[:], []int{0, 1, 2, 3}, opt.MinSpread); bad {
			continue
		}
		h, err := dlt(sp[:], sqp[:])
		if err != nil {
			continue
		}
		sign := 0.0
		consistent := true
		for k := range 4 {
			_, _, w := h.apply(sp[k].X, sp[k].Y)
			if sign == 0 {
				sign = math.Copysign(1, w)
			} else if w*sign <= 0 {
				consistent = false
			}
		}
		if !consistent {
			continue
		}
		cost, count := 0.0, 0
		for i := range n {
			r2 := residual2(&h, p[i], q[i], sign)
			if r2 < thr2 {
				cost += r2
				count++
			} else {
				cost += thr2
			}
		}
		if cost < bestCost {
			bestCost, bestH, found = cost, h, true
			eps := float64(count) / float64(n)
			if eps >= 1 {
				needed = 0
			} else {
				needed = int(math.Ceil(math.Log(1e-4) / math.Log(1-math.Pow(eps, 4))))
			}
		}
	}
	if !found {
		return Homography{}, nil, fmt.Errorf("%w: no four points in general position (three or more of every four lie on a line)", ErrDegenerate)
	}
	// Refit on the inliers until the set stops changing.
	h := bestH
	inliers := make([]bool, n)
	classify := func(h *Homography) int {
		sign := wSignMajority(h, p)
		count := 0
		for i := range n {
			inliers[i] = residual2(h, p[i], q[i], sign) < thr2
			if inliers[i] {
				count++
			}
		}
		return count
	}
	count := classify(&h)
	for range 10 {
		if count < 4 {
			break
		}
		ip, iq := make([]Point, 0, count), make([]Point, 0, count)
		prev := slices.Clone(inliers)
		for i := range n {
			if inliers[i] {
				ip, iq = append(ip, p[i]), append(iq, q[i])
			}
		}
		nh, err := dlt(ip, iq)
		if err != nil {
			return Homography{}, nil, err
		}
		h = nh
		count = classify(&h)
		if slices.Equal(prev, inliers) {
			break
		}
	}
	// Any four points fit exactly, so a consensus needs a fifth to confirm it,
	// and at least half of the survey.
	if count < 5 || 2*count < n {
		var out []int
		for i, in := range inliers {
			if !in {
				out = append(out, i)
			}
		}
		return Homography{}, nil, &PointError{Points: out, Reason: fmt.Sprintf("farther than %g m from the best fit; only %d of %d points agree", opt.InlierThresholdM, count, n), Err: ErrNoConsensus}
	}
	return h, inliers, nil
}

// wSignMajority returns the sign of w shared by most points.
func wSignMajority(h *Homography, p []Point) float64 {
	s := 0
	for _, pt := range p {
		if _, _, w := h.apply(pt.X, pt.Y); w > 0 {
			s++
		} else {
			s--
		}
	}
	if s >= 0 {
		return 1
	}
	return -1
}

// residual2 returns the squared transfer distance of p through h to q, or
// +Inf when p falls on the wrong side of the horizon (w of the wrong sign).
func residual2(h *Homography, p, q Point, sign float64) float64 {
	x, y, w := h.apply(p.X, p.Y)
	if w*sign <= 0 {
		return math.Inf(1)
	}
	dx, dy := x-q.X, y-q.Y
	return dx*dx + dy*dy
}

// paramJacobian returns the mapped point and the derivatives of its two
// coordinates with respect to the nine entries of h (row-major).
func paramJacobian(h *Homography, u, v float64) (fx, fy float64, jx, jy [9]float64) {
	w := h[2][0]*u + h[2][1]*v + h[2][2]
	fx = (h[0][0]*u + h[0][1]*v + h[0][2]) / w
	fy = (h[1][0]*u + h[1][1]*v + h[1][2]) / w
	jx = [9]float64{u / w, v / w, 1 / w, 0, 0, 0, -fx * u / w, -fx * v / w, -fx / w}
	jy = [9]float64{0, 0, 0, u / w, v / w, 1 / w, -fy * u / w, -fy * v / w, -fy / w}
	return fx, fy, jx, jy
}

// gauge scales h to unit norm and returns the index of its largest entry,
// which stays fixed during refinement (the other eight are free).
func gauge(h Homography) (Homography, int) {
	h = h.scaled(1 / h.norm())
	k, best := 0, 0.0
	for i := range 9 {
		if a := math.Abs(h[i/3][i%3]); a > best {
			k, best = i, a
		}
	}
	return h, k
}

// normalEquations accumulates JᵀJ (8×8) and Jᵀr over the points for the
// free parameters of h (all but entry k), and returns the squared error.
func normalEquations(h *Homography, k int, p, q []Point, jtj, jtr []float64) float64 {
	clear(jtj)
	clear(jtr)
	cost := 0.0
	var jx8, jy8 [8]float64
	for i := range p {
		fx, fy, jx, jy := paramJacobian(h, p[i].X, p[i].Y)
		rx, ry := q[i].X-fx, q[i].Y-fy
		cost += rx*rx + ry*ry
		c := 0
		for j := range 9 {
			if j == k {
				continue
			}
			jx8[c], jy8[c] = jx[j], jy[j]
			c++
		}
		for a := range 8 {
			jtr[a] += jx8[a]*rx + jy8[a]*ry
			for b := range 8 {
				jtj[a*8+b] += jx8[a]*jx8[b] + jy8[a]*jy8[b]
			}
		}
	}
	return cost
}

// refine minimises the squared ground residuals over h with
// Levenberg–Marquardt (normalised coordinates, one entry fixed as gauge).
func refine(h Homography, p, q []Point) Homography {
	h, k := gauge(h)
	jtj := make([]float64, 64)
	jtr := make([]float64, 8)
	a := make([]float64, 64)
	step := make([]float64, 8)
	cost := normalEquations(&h, k, p, q, jtj, jtr)
	lambda := 1e-3
	for range 100 {
		copy(a, jtj)
		for i := range 8 {
			a[i*8+i] += lambda * max(jtj[i*8+i], 1e-12)
		}
		copy(step, jtr)
		if err := solveSPD(a, step, 8); err != nil {
			lambda *= 10
			continue
		}
		cand := h
		c := 0
		for j := range 9 {
			if j == k {
				continue
			}
			cand[j/3][j%3] += step[c]
			c++
		}
		ncost := residualCost(&cand, p, q)
		if ncost < cost {
			done := cost-ncost <= 1e-15*cost
			h, cost = cand, ncost
			normalEquations(&h, k, p, q, jtj, jtr)
			lambda = max(lambda/10, 1e-12)
			if done {
				break
			}
		} else {
			lambda *= 10
			if lambda > 1e12 {
				break
			}
		}
	}
	return h
}

func residualCost(h *Homography, p, q []Point) float64 {
	cost := 0.0
	for i := range p {
		x, y, _ := h.apply(p[i].X, p[i].Y)
		dx, dy := q[i].X-x, q[i].Y-y
		cost += dx*dx + dy*dy
	}
	if math.IsNaN(cost) {
		return math.Inf(1)
	}
	return cost
}
