package calibration

import (
	"errors"
	"math"
)

// errSingular reports a linear system without a unique solution.
var errSingular = errors.New("singular matrix")

// Mat2 is a 2x2 matrix, row-major: M[row][col].
type Mat2 [2][2]float64

// Det returns the determinant.
func (m Mat2) Det() float64 { return m[0][0]*m[1][1] - m[0][1]*m[1][0] }

// Homography is a 3x3 projective transform acting on homogeneous column
// vectors, row-major: H[row][col].
type Homography [3][3]float64

// Mul returns h·o.
func (h Homography) Mul(o Homography) Homography {
	var r Homography
	for i := range 3 {
		for j := range 3 {
			r[i][j] = h[i][0]*o[0][j] + h[i][1]*o[1][j] + h[i][2]*o[2][j]
		}
	}
	return r
}

// Det returns the determinant.
func (h Homography) Det() float64 {
	return h[0][0]*(h[1][1]*h[2][2]-h[1][2]*h[2][1]) -
		h[0][1]*(h[1][0]*h[2][2]-h[1][2]*h[2][0]) +
		h[0][2]*(h[1][0]*h[2][1]-h[1][1]*h[2][0])
}

// Inverse returns the inverse, or an error when h is (nearly) singular.
func (h Homography) Inverse() (Homography, error) {
	var adj Homography
	adj[0][0] = h[1][1]*h[2][2] - h[1][2]*h[2][1]
	adj[0][1] = h[0][2]*h[2][1] - h[0][1]*h[2][2]
	adj[0][2] = h[0][1]*h[1][2] - h[0][2]*h[1][1]
	adj[1][0] = h[1][2]*h[2][0] - h[1][0]*h[2][2]
	adj[1][1] = h[0][0]*h[2][2] - h[0][2]*h[2][0]
	adj[1][2] = h[0][2]*h[1][0] - h[0][0]*h[1][2]
	adj[2][0] = h[1][0]*h[2][1] - h[1][1]*h[2][0]
	adj[2][1] = h[0][1]*h[2][0] - h[0][0]*h[2][1]
	adj[2][2] = h[0][0]*h[1][1] - h[0][1]*h[1][0]
	det := h[0][0]*adj[0][0] + h[0][1]*adj[1][0] + h[0][2]*adj[2][0]
	n := h.norm()
	if !(math.Abs(det) > 1e-12*n*n*n) || math.IsInf(det, 0) {
		return Homography{}, errSingular
	}
	for i := range 3 {
		for j := range 3 {
			adj[i][j] /= det
		}
	}
	return adj, nil
}

// norm returns the Frobenius norm.
func (h Homography) norm() float64 {
	s := 0.0
	for i := range 3 {
		for j := range 3 {
			s += h[i][j] * h[i][j]
		}
	}
	return math.Sqrt(s)
}

// scaled returns h·k.
func (h Homography) scaled(k float64) Homography {
	for i := range 3 {
		for j := range 3 {
			h[i][j] *= k
		}
	}
	return h
}

// finite reports whether every entry is a finite number.
func (h Homography) finite() bool {
	for i := range 3 {
		for j := range 3 {
			if !isFinite(h[i][j]) {
				return false
			}
		}
	}
	return true
}

// apply maps (x, y) and also returns the homogeneous scale w.
func (h *Homography) apply(x, y float64) (float64, float64, float64) {
	w := h[2][0]*x + h[2][1]*y + h[2][2]
	return (h[0][0]*x + h[0][1]*y + h[0][2]) / w, (h[1][0]*x + h[1][1]*y + h[1][2]) / w, w
}

// jacobian returns d(apply)/d(x, y) at (x, y).
func (h *Homography) jacobian(x, y float64) Mat2 {
	w := h[2][0]*x + h[2][1]*y + h[2][2]
	px := (h[0][0]*x + h[0][1]*y + h[0][2]) / w
	py := (h[1][0]*x + h[1][1]*y + h[1][2]) / w
	return Mat2{
		{(h[0][0] - px*h[2][0]) / w, (h[0][1] - px*h[2][1]) / w},
		{(h[1][0] - py*h[2][0]) / w, (h[1][1] - py*h[2][1]) / w},
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// svd computes the singular values and right singular vectors of the m×n
// row-major matrix a with the one-sided Jacobi (Hestenes) method, which is
// accurate for the small, well-scaled DLT systems used here. It returns the
// singular values (unsorted) and V (n×n row-major, column j pairs with sv[j]).
// a is overwritten.
func svd(a []float64, m, n int) (sv, v []float64) {
	v = make([]float64, n*n)
	for i := range n {
		v[i*n+i] = 1
	}
	const eps = 1e-13
	// Columns shrunk to rounding noise (a null space) never become exactly
	// orthogonal to the others; leave them alone.
	total := 0.0
	for _, x := range a[:m*n] {
		total += x * x
	}
	tiny := 1e-28 * total
	for sweep := 0; sweep < 60; sweep++ {
		rotated := false
		for p := 0; p < n-1; p++ {
			for q := p + 1; q < n; q++ {
				var alpha, beta, gamma float64
				for i := range m {
					ap, aq := a[i*n+p], a[i*n+q]
					alpha += ap * ap
					beta += aq * aq
					gamma += ap * aq
				}
				if alpha <= tiny || beta <= tiny || math.Abs(gamma) <= eps*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := 1 / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				if zeta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(1+t*t)
				s := c * t
				for i := range m {
					ap, aq := a[i*n+p], a[i*n+q]
					a[i*n+p] = c*ap - s*aq
					a[i*n+q] = s*ap + c*aq
				}
				for i := range n {
					vp, vq := v[i*n+p], v[i*n+q]
					v[i*n+p] = c*vp - s*vq
					v[i*n+q] = s*vp + c*vq
				}
			}
		}
		if !rotated {
			break
		}
	}
	sv = make([]float64, n)
	for j := range n {
		s := 0.0
		for i := range m {
			s += a[i*n+j] * a[i*n+j]
		}
		sv[j] = math.Sqrt(s)
	}
	return sv, v
}

// solveSPD solves a·x = b in place for a symmetric positive-definite n×n
// row-major matrix with a Cholesky factorisation; a and b are overwritten and
// b holds x on return.
func solveSPD(a, b []float64, n int) error {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) {
			return errSingular
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	for i := range n {
		s := b[i]
		for k := range i {
			s -= a[i*n+k] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= a[k*n+i] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
	return nil
}

// invertSPD returns the inverse of a symmetric positive-definite n×n matrix.
func invertSPD(a []float64, n int) ([]float64, error) {
	inv := make([]float64, n*n)
	work := make([]float64, n*n)
	col := make([]float64, n)
	for j := range n {
		copy(work, a)
		clear(col)
		col[j] = 1
		if err := solveSPD(work, col, n); err != nil {
			return nil, err
		}
		for i := range n {
			inv[i*n+j] = col[i]
		}
	}
	return inv, nil
}
