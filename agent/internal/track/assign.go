package track

import "math"

// assigner solves linear assignment problems with the shortest augmenting
// path form of the Hungarian method (Jonker & Volgenant 1987; the O(n^2 m)
// potentials formulation). It keeps its buffers between calls so that a
// tracker update does not allocate once warmed up. Not safe for concurrent use.
type assigner struct {
	rowSol             []int
	parent             []int // union-find over rows then columns
	done               []bool
	compRows, compCols []int
	sub                []float64 // one component's costs
	denseSol           []int
	ext                []float64 // extended square cost matrix, row-major
	u, v, minv         []float64
	p, way             []int
	used               []bool
}

// forbidden marks a pair that must never be matched. It is finite so that the
// potentials stay finite, and far above any admissible total cost.
const forbidden = 1e9

// solve finds the matching between rows and columns of cost (rows x cols,
// row-major) that minimises the sum of matched costs plus limit/2 for every
// row and every column left unmatched. A pair is therefore only matched when
// its cost is below limit (a pair at or above it never beats leaving both
// sides free), which is how ByteTrack's lapjv(cost_limit=thresh) call behaves.
// Entries that are NaN or >= forbidden are never matched. It returns, for
// each row, the matched column or -1; the slice is reused by the next call.
//
// The objective is a sum over the connected components of the graph of
// admissible pairs, so each component is solved on its own: in traffic most
// components are one track and one detection, which need no search at all.
func (s *assigner) solve(cost []float64, rows, cols int, limit float64) []int {
	s.rowSol = resize(s.rowSol, rows)
	for i := range s.rowSol {
		s.rowSol[i] = -1
	}
	if rows == 0 || cols == 0 {
		return s.rowSol
	}
	// Union-find over rows (0..rows-1) and columns (rows..rows+cols-1).
	s.parent = resize(s.parent, rows+cols)
	for k := range s.parent {
		s.parent[k] = k
	}
	for i := range rows {
		for j := range cols {
			if admissibleCost(cost[i*cols+j], limit) {
				s.union(i, rows+j)
			}
		}
	}
	// Visit each component once, from its first row.
	s.compRows, s.compCols = s.compRows[:0], s.compCols[:0]
	s.done = resize(s.done, rows+cols)
	clear(s.done)
	for i0 := range rows {
		root := s.find(i0)
		if s.done[root] {
			continue
		}
		s.done[root] = true
		s.compRows, s.compCols = s.compRows[:0], s.compCols[:0]
		for i := i0; i < rows; i++ {
			if s.find(i) == root {
				s.compRows = append(s.compRows, i)
			}
		}
		for j := range cols {
			if s.find(rows+j) == root {
				s.compCols = append(s.compCols, j)
			}
		}
		r, c := len(s.compRows), len(s.compCols)
		switch {
		case c == 0:
			// A row with no admissible pair stays unmatched.
		case r == 1 && c == 1:
			s.rowSol[s.compRows[0]] = s.compCols[0]
		default:
			s.sub = resize(s.sub, r*c)
			for a, i := range s.compRows {
				for b, j := range s.compCols {
					s.sub[a*c+b] = cost[i*cols+j]
				}
			}
			sol := s.solveDense(s.sub, r, c, limit)
			for a, b := range sol {
				if b >= 0 {
					s.rowSol[s.compRows[a]] = s.compCols[b]
				}
			}
		}
	}
	return s.rowSol
}

func admissibleCost(c, limit float64) bool { return c < limit && c < forbidden } // false for NaN

func (s *assigner) find(k int) int {
	for s.parent[k] != k {
		s.parent[k] = s.parent[s.parent[k]]
		k = s.parent[k]
	}
	return k
}

func (s *assigner) union(a, b int) {
	if ra, rb := s.find(a), s.find(b); ra != rb {
		s.parent[ra] = rb
	}
}

// solveDense solves one problem of solve's form by extending it to a square
// (rows+cols) matrix: row i may take its own dummy column cols+i at limit/2,
// column j may be taken by its own dummy row rows+j at limit/2, and dummy rows
// take dummy columns for free. The result slice is reused by the next call.
func (s *assigner) solveDense(cost []float64, rows, cols int, limit float64) []int {
	n := rows + cols
	half := limit / 2
	s.ext = resize(s.ext, n*n)
	for i := range n {
		row := s.ext[i*n : (i+1)*n]
		for j := range n {
			var c float64
			switch {
			case i < rows && j < cols:
				c = cost[i*cols+j]
				if !admissibleCost(c, limit) {
					// Never better than the two dummies; capped so that huge
					// or infinite inputs cannot upset the potentials.
					c = forbidden
				}
			case i < rows: // real row, dummy column
				c = forbidden
				if j-cols == i {
					c = half
				}
			case j < cols: // dummy row, real column
				c = forbidden
				if i-rows == j {
					c = half
				}
			default: // dummy row, dummy column
				c = 0
			}
			row[j] = c
		}
	}
	colOf := s.hungarian(n, n, s.ext)
	s.denseSol = resize(s.denseSol, rows)
	for i := range rows {
		s.denseSol[i] = -1
		if j := colOf[i]; j >= 0 && j < cols && s.ext[i*n+j] < forbidden {
			s.denseSol[i] = j
		}
	}
	return s.denseSol
}

// hungarian solves the rectangular problem rows <= cols exactly (every row is
// assigned) and returns the column of each row. cost is row-major rows x cols.
// This is the classic e-maxx formulation with 1-based indices internally.
func (s *assigner) hungarian(rows, cols int, cost []float64) []int {
	inf := math.Inf(1)
	s.u = resize(s.u, rows+1)
	s.v = resize(s.v, cols+1)
	s.p = resize(s.p, cols+1)
	s.way = resize(s.way, cols+1)
	s.minv = resize(s.minv, cols+1)
	s.used = resize(s.used, cols+1)
	u, v, p, way, minv, used := s.u, s.v, s.p, s.way, s.minv, s.used
	clear(u)
	clear(v)
	clear(p)
	clear(way)
	for i := 1; i <= rows; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = inf
			used[j] = false
		}
		for {
			used[j0] = true
			i0 := p[j0]
			delta := inf
			j1 := 0
			row := cost[(i0-1)*cols : i0*cols]
			ui := u[i0]
			for j := 1; j <= cols; j++ {
				if used[j] {
					continue
				}
				cur := row[j-1] - ui - v[j]
				if cur < minv[j] {
					minv[j] = cur
					way[j] = j0
				}
				if minv[j] < delta {
					delta = minv[j]
					j1 = j
				}
			}
			if j1 == 0 {
				// Cannot happen with finite costs; bail out rather than loop.
				break
			}
			for j := 0; j <= cols; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	// way is no longer needed: reuse it for the result (len(way) > rows).
	colOf := way[:rows]
	for i := range colOf {
		colOf[i] = -1
	}
	for j := 1; j <= cols; j++ {
		if p[j] != 0 && p[j] <= rows {
			colOf[p[j]-1] = j - 1
		}
	}
	return colOf
}

// resize returns s with length n, reusing its storage when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
