package plate

import (
	"strings"
	"testing"
)

// slotProbs builds reader output: one map per slot from character to
// probability, the rest of each slot's mass spread evenly over the other
// characters; slots past the maps are confident padding.
func slotProbs(slots ...map[byte]float32) []float32 {
	n := len(Alphabet)
	out := make([]float32, ocrSlots*n)
	for s := 0; s < ocrSlots; s++ {
		m := map[byte]float32{'_': 1}
		if s < len(slots) {
			m = slots[s]
		}
		var used float32
		for _, p := range m {
			used += p
		}
		rest := (1 - used) / float32(n-len(m))
		for i := 0; i < n; i++ {
			p, ok := m[Alphabet[i]]
			if !ok {
				p = rest
			}
			out[s*n+i] = p
		}
	}
	return out
}

// sure turns text into slots the reader is sure of (p each).
func sure(text string, p float32) []map[byte]float32 {
	var out []map[byte]float32
	for i := 0; i < len(text); i++ {
		out = append(out, map[byte]float32{text[i]: p})
	}
	return out
}

func with(slots []map[byte]float32, i int, m map[byte]float32) []map[byte]float32 {
	out := append([]map[byte]float32(nil), slots...)
	out[i] = m
	return out
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		slots    []map[byte]float32
		format   Format
		want     string
		layout   string
		readable bool
	}{
		{"peru car", sure("ABC123", 0.98), FormatPeru, "ABC-123", "peru-car", true},
		{"peru newer series with a digit second", sure("A1B234", 0.97), FormatPeru, "A1B-234", "peru-car", true},
		{"peru motorcycle digits first", sure("1234AB", 0.95), FormatPeru, "1234-AB", "peru-moto", true},
		{"peru motorcycle letters first", sure("AB1234", 0.95), FormatPeru, "AB-1234", "peru-moto-letters-first", true},
		{"8 read in a letter slot becomes B", with(sure("ABC123", 0.98), 0, map[byte]float32{'8': 0.55, 'B': 0.44}), FormatPeru, "BBC-123", "peru-car", true},
		{"O read in a digit slot becomes 0", with(sure("ABC123", 0.98), 4, map[byte]float32{'O': 0.6, '0': 0.39}), FormatPeru, "ABC-103", "peru-car", true},
		{"S read in a digit slot becomes 5", with(sure("ABC123", 0.98), 5, map[byte]float32{'S': 0.8, '5': 0.19}), FormatPeru, "ABC-125", "peru-car", true},
		{"I and Z read in digit slots", with(with(sure("ABC123", 0.98), 3, map[byte]float32{'I': 0.7, '1': 0.29}), 4, map[byte]float32{'Z': 0.9, '2': 0.09}), FormatPeru, "ABC-123", "peru-car", true},
		{"second peru slot accepts both, keeps the argmax", with(sure("ABC123", 0.98), 1, map[byte]float32{'8': 0.9, 'B': 0.09}), FormatPeru, "A8C-123", "peru-car", true},
		{"doubtful character is unreadable", with(sure("ABC123", 0.98), 2, map[byte]float32{'C': 0.5, 'G': 0.45}), FormatPeru, "", "peru-car", false},
		{"look-alike without a twin is not merged", with(sure("ABC123", 0.98), 0, map[byte]float32{'4': 0.55, 'A': 0.44}), FormatPeru, "", "peru-car", false},
		{"extra character where the layout expects padding", sure("ABC1234", 0.98), FormatPeru, "", "", false},
		{"brazil old", sure("AYO9034", 0.99), FormatBrazil, "AYO-9034", "brazil-old", true},
		{"brazil mercosul", sure("ABC1D23", 0.99), FormatBrazil, "ABC1D23", "brazil-mercosul", true},
		{"brazil 0 in a letter slot", with(sure("OYO9034", 0.99), 0, map[byte]float32{'0': 0.7, 'O': 0.29}), FormatBrazil, "OYO-9034", "brazil-old", true},
		{"any keeps the argmax", sure("AB12C", 0.9), FormatAny, "AB12C", "any", true},
		{"any with a doubtful slot", with(sure("AB12C", 0.9), 1, map[byte]float32{'B': 0.4, '8': 0.35}), FormatAny, "", "any", false},
		{"empty plate is unreadable", nil, FormatPeru, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Resolve(slotProbs(tc.slots...), tc.format, DefaultMinConfidence)
			if got.Text != tc.want || got.Readable != tc.readable {
				t.Errorf("Resolve = %q readable=%v (conf %.3f, layout %s, raw %q), want %q readable=%v",
					got.Text, got.Readable, got.Confidence, got.Layout, got.Raw, tc.want, tc.readable)
			}
			if tc.layout != "" && got.Layout != tc.layout {
				t.Errorf("Layout = %q, want %q", got.Layout, tc.layout)
			}
			if got.Confidence < 0 || got.Confidence > 1 {
				t.Errorf("Confidence %v out of [0,1]", got.Confidence)
			}
		})
	}
}

func TestResolveShortInput(t *testing.T) {
	for _, n := range []int{0, 1, len(Alphabet) - 1, 3 * len(Alphabet)} {
		got := Resolve(make([]float32, n), FormatPeru, DefaultMinConfidence)
		if got.Readable || got.Text != "" {
			t.Errorf("%d probabilities: got %+v, want unreadable", n, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		format  Format
		want    string
		layout  string
		wantErr bool
	}{
		{"peru compact", "abc123", FormatPeru, "ABC-123", "peru-car", false},
		{"peru with dash and spaces", " ABC - 123 ", FormatPeru, "ABC-123", "peru-car", false},
		{"peru newer series", "a1b-234", FormatPeru, "A1B-234", "peru-car", false},
		{"peru zero in a letter slot", "0BC-123", FormatPeru, "OBC-123", "peru-car", false},
		{"peru letters in digit slots", "ABC-IZS", FormatPeru, "ABC-125", "peru-car", false},
		{"peru B and 8", "8BC-1B3", FormatPeru, "BBC-183", "peru-car", false},
		{"peru motorcycle", "1234-ab", FormatPeru, "1234-AB", "peru-moto", false},
		{"peru motorcycle letters first", "AB-1234", FormatPeru, "AB-1234", "peru-moto-letters-first", false},
		{"exact fit beats a look-alike fix", "1BC-123", FormatPeru, "IBC-123", "peru-car", false},
		{"peru too long", "ABC-1234", FormatPeru, "", "", true},
		{"peru no look-alike for 7", "7BC-123", FormatPeru, "", "", true},
		{"brazil old", "ayo·9034", FormatBrazil, "", "", true},
		{"brazil old with dot", "AYO.9034", FormatBrazil, "AYO-9034", "brazil-old", false},
		{"brazil mercosul", "ABC1D23", FormatBrazil, "ABC1D23", "brazil-mercosul", false},
		{"brazil O in slot 5 is mercosul", "AYO9O34", FormatBrazil, "AYO9O34", "brazil-mercosul", false},
		{"brazil 0 in a letter slot", "AY09034", FormatBrazil, "AYO-9034", "brazil-old", false},
		{"any", "x-1.y", FormatAny, "X1Y", "any", false},
		{"any empty", "--", FormatAny, "", "", true},
		{"any too long", "ABCDEFGHIJK", FormatAny, "", "", true},
		{"invalid character", "AB#123", FormatPeru, "", "", true},
		{"empty", "", FormatPeru, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, layout, err := Normalize(tc.in, tc.format)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Normalize(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want || layout != tc.layout {
				t.Errorf("Normalize(%q) = %q, %q; want %q, %q", tc.in, got, layout, tc.want, tc.layout)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"", FormatPeru, false},
		{"peru", FormatPeru, false},
		{"Brazil", FormatBrazil, false},
		{" any ", FormatAny, false},
		{"chile", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseFormat(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err == nil {
				if back, _ := ParseFormat(got.String()); back != got {
					t.Errorf("round trip %v -> %q -> %v", got, got.String(), back)
				}
			}
		})
	}
}

// FuzzNormalize checks that Normalize never panics, that what it accepts is
// in written form made of Alphabet characters and dashes, and that
// normalising its own output changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"ABC-123", "a1b 234", "1234-AB", "0BC123", "AYO.9034", "ABC1D23", "", "-", "ÄBC-123", "\x00"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, fm uint8) {
		format := Format(fm % 3)
		got, layout, err := Normalize(s, format)
		if err != nil {
			if got != "" || layout != "" {
				t.Fatalf("error with output %q %q", got, layout)
			}
			return
		}
		if strings.Trim(got, Alphabet[:padIndex]+"-") != "" {
			t.Fatalf("Normalize(%q) = %q: characters outside the alphabet", s, got)
		}
		again, layout2, err := Normalize(got, format)
		if err != nil || again != got || layout2 != layout {
			t.Fatalf("Normalize(%q) = %q (%s) but Normalize(%q) = %q (%s), %v", s, got, layout, got, again, layout2, err)
		}
	})
}
