package calibration_test

import (
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
)

func TestReadPointsCSV(t *testing.T) {
	in := "# survey of 2025-11-20\nu,v,x,y\n100,200,0,10\n\n 150.5 , 210 , 3.5 , 10\n# far row\n300,400,0,-2.5e1\n"
	pairs, lines, err := calibration.ReadPointsCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []calibration.PointPair{
		{Image: calibration.Point{X: 100, Y: 200}, Ground: calibration.Point{X: 0, Y: 10}},
		{Image: calibration.Point{X: 150.5, Y: 210}, Ground: calibration.Point{X: 3.5, Y: 10}},
		{Image: calibration.Point{X: 300, Y: 400}, Ground: calibration.Point{X: 0, Y: -25}},
	}
	wantLines := []int{3, 5, 7}
	if len(pairs) != len(want) {
		t.Fatalf("got %d pairs, want %d", len(pairs), len(want))
	}
	for i := range want {
		if pairs[i] != want[i] || lines[i] != wantLines[i] {
			t.Errorf("row %d: %v at line %d, want %v at line %d", i, pairs[i], lines[i], want[i], wantLines[i])
		}
	}
}

func TestReadPointsCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"only comments", "# nothing\n", "empty"},
		{"wrong header", "x,y,u,v\n1,2,3,4\n", `line 1: header must be "u,v,x,y"`},
		{"header with extra column", "u,v,x,y,name\n", "line 1: header"},
		{"missing field", "u,v,x,y\n1,2,3,4\n1,2,3\n", "line 3: want 4 fields"},
		{"not a number", "u,v,x,y\n1,2,3,4\n1,2,abc,4\n", `line 3: column x: "abc" is not a finite number`},
		{"NaN", "u,v,x,y\n1,NaN,3,4\n", "line 2: column v"},
		{"infinite", "u,v,x,y\n1,2,3,+Inf\n", "line 2: column y"},
		{"bad quoting", "u,v,x,y\n\"1,2,3,4\n", "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := calibration.ReadPointsCSV(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzReadPointsCSV(f *testing.F) {
	f.Add("u,v,x,y\n1,2,3,4\n")
	f.Add("# c\nu,v,x,y\n1e3,2,3,4\n\"5\",6,7,8\n")
	f.Add("u,v,x,y\n1,2\n")
	f.Fuzz(func(t *testing.T, in string) {
		pairs, lines, err := calibration.ReadPointsCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(pairs) != len(lines) {
			t.Fatalf("%d pairs but %d line numbers", len(pairs), len(lines))
		}
		for i := 1; i < len(lines); i++ {
			if lines[i] <= lines[i-1] {
				t.Fatalf("line numbers not increasing: %v", lines)
			}
		}
	})
}
