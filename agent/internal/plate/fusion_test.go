package plate

import "testing"

func rd(text string, conf float32) Read {
	return Read{Text: text, Confidence: conf, Readable: conf >= DefaultMinConfidence, Layout: "peru-car"}
}

func TestFusion(t *testing.T) {
	tests := []struct {
		name     string
		k        int
		reads    []Read
		want     string
		wantDone bool
		// doneAt is the 1-based index of the Add that first reports done (0: never).
		doneAt int
	}{
		{
			name:  "no reads",
			k:     3,
			reads: nil,
			want:  "",
		},
		{
			name:     "single read with k 1",
			k:        1,
			reads:    []Read{rd("ABC-123", 0.9)},
			want:     "ABC-123",
			wantDone: true,
			doneAt:   1,
		},
		{
			name:     "three agreeing reads stop at the third",
			k:        3,
			reads:    []Read{rd("ABC-123", 0.9), rd("ABC-123", 0.8), rd("ABC-123", 0.95), rd("ABC-123", 0.95)},
			want:     "ABC-123",
			wantDone: true,
			doneAt:   3,
		},
		{
			name: "per-position vote fixes a different character in each read",
			k:    2,
			reads: []Read{
				rd("ABC-123", 0.9), rd("A8C-123", 0.75), rd("ABC-128", 0.75), rd("ABC-123", 0.9),
			},
			want:     "ABC-123",
			wantDone: true,
			doneAt:   4,
		},
		{
			name:  "unreadable reads are ignored",
			k:     2,
			reads: []Read{{Text: "", Confidence: 0.3}, rd("XYZ-789", 0.9), {Confidence: 0.1}},
			want:  "XYZ-789",
		},
		{
			name: "confidence weighs the vote",
			k:    5,
			reads: []Read{
				rd("ABC-123", 0.99), rd("ABC-123", 0.99), rd("ABD-123", 0.71),
			},
			want: "ABC-123",
		},
		{
			name: "an even split is unreadable",
			k:    2,
			reads: []Read{
				rd("ABC-123", 0.9), rd("XYZ-789", 0.9),
			},
			want: "",
		},
		{
			name: "layout with the most weight wins",
			k:    2,
			reads: []Read{
				{Text: "1234-AB", Confidence: 0.8, Readable: true, Layout: "peru-moto"},
				rd("ABC-123", 0.9), rd("ABC-123", 0.9),
			},
			want:     "ABC-123",
			wantDone: true,
			doneAt:   3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFusion(tc.k, 0)
			doneAt := 0
			for i, r := range tc.reads {
				if f.Add(r) && doneAt == 0 {
					doneAt = i + 1
				}
			}
			got := f.Result()
			if got.Text != tc.want {
				t.Errorf("Result().Text = %q (conf %.3f), want %q", got.Text, got.Confidence, tc.want)
			}
			if got.Readable != (tc.want != "") {
				t.Errorf("Result().Readable = %v, want %v", got.Readable, tc.want != "")
			}
			if f.Done() != tc.wantDone {
				t.Errorf("Done() = %v, want %v", f.Done(), tc.wantDone)
			}
			if doneAt != tc.doneAt {
				t.Errorf("first done at read %d, want %d", doneAt, tc.doneAt)
			}
		})
	}
}

func TestFusionConfidence(t *testing.T) {
	f := NewFusion(3, 0.5)
	f.Add(rd("ABC-123", 0.9))
	f.Add(rd("ABC-123", 0.7))
	f.Add(rd("ABX-123", 0.8))
	got := f.Result()
	// Position 3: C wins 0.9+0.7 of the 2.4 total weight.
	if want := float32(1.6 / 2.4); got.Confidence < want-1e-5 || got.Confidence > want+1e-5 {
		t.Errorf("Confidence = %v, want %v", got.Confidence, want)
	}
	if !got.Readable || got.Text != "ABC-123" {
		t.Errorf("Result = %+v, want readable ABC-123", got)
	}
	one := NewFusion(1, 0)
	one.Add(rd("ABC-123", 0.75))
	if c := one.Result().Confidence; c != 0.75 {
		t.Errorf("single read: Confidence = %v, want its own 0.75", c)
	}
	if f.Len() != 3 {
		t.Errorf("Len = %d, want 3", f.Len())
	}
}
