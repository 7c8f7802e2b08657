package rules

import (
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type set struct {
		p Phase
		s float64
	}
	cases := []struct {
		name      string
		sets      []set
		stale     time.Duration
		query     float64
		want      Phase
		wantSince float64 // ignored when want is PhaseUnknown
	}{
		{"before any event", []set{{PhaseRed, 10}}, 0, 5, PhaseUnknown, 0},
		{"in a phase", []set{{PhaseGreen, 0}, {PhaseAmber, 30}, {PhaseRed, 33}}, 0, 31, PhaseAmber, 30},
		{"at the change instant", []set{{PhaseGreen, 0}, {PhaseRed, 33}}, 0, 33, PhaseRed, 33},
		{"out-of-order events", []set{{PhaseRed, 33}, {PhaseGreen, 0}, {PhaseAmber, 30}}, 0, 32, PhaseAmber, 30},
		{"repeat keeps the earlier start", []set{{PhaseRed, 10}, {PhaseRed, 12}}, 0, 15, PhaseRed, 10},
		{"late repeat moves a start earlier", []set{{PhaseGreen, 0}, {PhaseRed, 12}, {PhaseRed, 10}}, 0, 11, PhaseRed, 10},
		{"stale feed is unknown", []set{{PhaseRed, 10}}, 60 * time.Second, 100, PhaseUnknown, 0},
		{"keep-alive keeps it fresh", []set{{PhaseRed, 10}, {PhaseRed, 60}}, 60 * time.Second, 100, PhaseRed, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := NewTimeline(0, tc.stale)
			for _, s := range tc.sets {
				tl.Set(s.p, at(s.s))
			}
			p, since := tl.PhaseAt(at(tc.query))
			if p != tc.want {
				t.Fatalf("phase %v, want %v", p, tc.want)
			}
			if p != PhaseUnknown && !since.Equal(at(tc.wantSince)) {
				t.Fatalf("since %v, want %v", since.Sub(t0), at(tc.wantSince).Sub(t0))
			}
		})
	}
}

func TestTimelineBounded(t *testing.T) {
	tl := NewTimeline(4, 0)
	phases := []Phase{PhaseGreen, PhaseAmber, PhaseRed}
	for i := range 30 {
		tl.Set(phases[i%3], t0.Add(time.Duration(i)*time.Second))
	}
	if n := len(tl.changes); n != 4 {
		t.Fatalf("kept %d changes, want 4", n)
	}
	if p, _ := tl.PhaseAt(t0.Add(29 * time.Second)); p != phases[29%3] {
		t.Fatalf("latest phase %v, want %v", p, phases[29%3])
	}
}

func TestParsePhase(t *testing.T) {
	cases := []struct {
		in   string
		want Phase
		err  bool
	}{
		{"red", PhaseRed, false}, {" RED ", PhaseRed, false}, {"yellow", PhaseAmber, false},
		{"amber", PhaseAmber, false}, {"Green", PhaseGreen, false}, {"off", PhaseUnknown, false},
		{"blue", PhaseUnknown, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePhase(tc.in)
			if p != tc.want || (err != nil) != tc.err {
				t.Fatalf("ParsePhase(%q) = %v, %v", tc.in, p, err)
			}
		})
	}
}

func FuzzParsePhase(f *testing.F) {
	for _, s := range []string{"red", "amber", "green", "unknown", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhase(s)
		if err != nil {
			if p != PhaseUnknown || len(err.Error()) > 200 {
				t.Fatalf("ParsePhase(%q) = %v, %v", s, p, err)
			}
			return
		}
		if q, err := ParsePhase(p.String()); err != nil || q != p {
			t.Fatalf("round trip of %v: %v, %v", p, q, err)
		}
	})
}

func TestTimelineConcurrent(t *testing.T) {
	tl := NewTimeline(16, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			tl.Set(Phase(1+i%3), t0.Add(time.Duration(i)*time.Millisecond))
		}
	}()
	for i := range 1000 {
		if p, since := tl.PhaseAt(t0.Add(time.Duration(i) * time.Millisecond)); p != PhaseUnknown && since.IsZero() {
			t.Fatalf("phase %v without a start", p)
		}
	}
	<-done
	if p, _ := tl.PhaseAt(t0.Add(time.Second)); p != Phase(1+999%3) {
		t.Fatalf("final phase %v, want %v", p, Phase(1+999%3))
	}
}
