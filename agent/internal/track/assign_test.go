package track

import (
	"math"
	"math/rand/v2"
	"testing"
)

// objective is what solve minimises: matched costs plus limit/2 for every
// unmatched row and column.
func objective(cost []float64, rows, cols int, limit float64, sol []int) float64 {
	total := 0.0
	matched := 0
	for i, j := range sol {
		if j >= 0 {
			total += cost[i*cols+j]
			matched++
		}
	}
	return total + float64(rows+cols-2*matched)*limit/2
}

// admissible reports whether pair (i, j) may be matched at all.
func admissible(c, limit float64) bool { return !math.IsNaN(c) && c < limit && c < forbidden }

// bruteForce enumerates every partial matching and returns the best objective.
func bruteForce(cost []float64, rows, cols int, limit float64) float64 {
	best := math.Inf(1)
	sol := make([]int, rows)
	usedCol := make([]bool, cols)
	var rec func(i int)
	rec = func(i int) {
		if i == rows {
			best = min(best, objective(cost, rows, cols, limit, sol))
			return
		}
		sol[i] = -1
		rec(i + 1)
		for j := range cols {
			if usedCol[j] || !admissible(cost[i*cols+j], limit) {
				continue
			}
			usedCol[j] = true
			sol[i] = j
			rec(i + 1)
			usedCol[j] = false
		}
		sol[i] = -1
	}
	rec(0)
	return best
}

// checkSolution verifies that sol is a valid matching of admissible pairs.
func checkSolution(t *testing.T, cost []float64, rows, cols int, limit float64, sol []int) {
	t.Helper()
	if len(sol) != rows {
		t.Fatalf("solution has %d rows, want %d", len(sol), rows)
	}
	seen := make(map[int]bool)
	for i, j := range sol {
		if j < 0 {
			continue
		}
		if j >= cols {
			t.Fatalf("row %d matched to column %d of %d", i, j, cols)
		}
		if seen[j] {
			t.Fatalf("column %d matched twice in %v", j, sol)
		}
		seen[j] = true
		if !admissible(cost[i*cols+j], limit) {
			t.Fatalf("row %d matched to inadmissible column %d (cost %v, limit %v)", i, j, cost[i*cols+j], limit)
		}
	}
}

func TestAssignCases(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name       string
		rows, cols int
		cost       []float64
		limit      float64
		want       []int
	}{
		{name: "no rows", rows: 0, cols: 3, cost: nil, limit: 0.8, want: []int{}},
		{name: "no columns", rows: 2, cols: 0, cost: nil, limit: 0.8, want: []int{-1, -1}},
		{name: "identity", rows: 3, cols: 3, limit: 0.8, cost: []float64{
			0.1, 0.9, 0.9,
			0.9, 0.1, 0.9,
			0.9, 0.9, 0.1,
		}, want: []int{0, 1, 2}},
		{name: "everything above the limit", rows: 2, cols: 2, limit: 0.5, cost: []float64{
			0.6, 0.7,
			0.9, 0.5,
		}, want: []int{-1, -1}},
		{name: "two good pairs beat the single best one", rows: 2, cols: 2, limit: 0.8, cost: []float64{
			0.1, 0.2,
			0.15, 0.9,
		}, want: []int{1, 0}},
		{name: "more columns than rows", rows: 2, cols: 3, limit: 0.8, cost: []float64{
			0.5, 0.4, 0.1,
			0.3, 0.2, 0.05,
		}, want: []int{2, 1}},
		{name: "more rows than columns", rows: 3, cols: 1, limit: 0.8, cost: []float64{
			0.5,
			0.3,
			0.6,
		}, want: []int{-1, 0, -1}},
		{name: "forbidden, infinite and NaN entries", rows: 2, cols: 2, limit: 0.8, cost: []float64{
			inf, 0.3,
			math.NaN(), forbidden,
		}, want: []int{1, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s assigner
			got := s.solve(tc.cost, tc.rows, tc.cols, tc.limit)
			checkSolution(t, tc.cost, tc.rows, tc.cols, tc.limit, got)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestAssignMatchesBruteForce compares the solver's objective with exhaustive
// search on random rectangular matrices, reusing one solver across sizes.
func TestAssignMatchesBruteForce(t *testing.T) {
	tests := []struct {
		name      string
		maxSize   int
		limit     float64
		forbidden float64 // fraction of entries made inadmissible
		trials    int
	}{
		{name: "tracker-like limit", maxSize: 7, limit: 0.8, trials: 400},
		{name: "tight limit", maxSize: 7, limit: 0.3, trials: 300},
		{name: "no effective limit", maxSize: 6, limit: 1e6, trials: 300},
		{name: "sparse admissible pairs", maxSize: 7, limit: 0.8, forbidden: 0.6, trials: 300},
		{name: "integer costs with ties", maxSize: 6, limit: 5, trials: 300},
	}
	var s assigner
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ti), 42))
			for trial := range tc.trials {
				rows, cols := rng.IntN(tc.maxSize+1), rng.IntN(tc.maxSize+1)
				cost := make([]float64, rows*cols)
				for k := range cost {
					switch {
					case rng.Float64() < tc.forbidden:
						cost[k] = math.Inf(1)
					case tc.limit == 5:
						cost[k] = float64(rng.IntN(7))
					default:
						cost[k] = rng.Float64()
					}
				}
				got := s.solve(cost, rows, cols, tc.limit)
				checkSolution(t, cost, rows, cols, tc.limit, got)
				gotObj := objective(cost, rows, cols, tc.limit, got)
				wantObj := bruteForce(cost, rows, cols, tc.limit)
				if math.Abs(gotObj-wantObj) > 1e-9 {
					t.Fatalf("trial %d (%dx%d): objective %v, brute force %v\ncost=%v\nsol=%v",
						trial, rows, cols, gotObj, wantObj, cost, got)
				}
			}
		})
	}
}

func BenchmarkAssign30x30(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 30
	cost := make([]float64, n*n)
	for k := range cost {
		cost[k] = 1
		if rng.Float64() < 0.1 {
			cost[k] = rng.Float64()
		}
	}
	var s assigner
	b.ReportAllocs()
	for b.Loop() {
		s.solve(cost, n, n, 0.8)
	}
}
