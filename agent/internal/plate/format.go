package plate

import (
	"fmt"
	"math"
	"strings"
)

// Alphabet is the reader's output alphabet, slot by slot; '_' is padding.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"

// padIndex is the index of the padding character in Alphabet.
const padIndex = len(Alphabet) - 1

// Format selects the plate layouts a reader accepts.
type Format int

const (
	// FormatPeru accepts Peruvian car plates (ABC-123, A1B-234) and motorcycle
	// plates (1234-AB, AB-1234).
	FormatPeru Format = iota
	// FormatBrazil accepts the old Brazilian grey plates (ABC-1234) and
	// Mercosul plates (ABC1D23).
	FormatBrazil
	// FormatAny accepts whatever the reader outputs (per-slot argmax).
	FormatAny
)

// ParseFormat reads a format name: peru, brazil or any.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "peru", "pe", "":
		return FormatPeru, nil
	case "brazil", "br":
		return FormatBrazil, nil
	case "any":
		return FormatAny, nil
	}
	return 0, fmt.Errorf("plate: unknown plate format %q (want peru, brazil or any)", s)
}

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case FormatPeru:
		return "peru"
	case FormatBrazil:
		return "brazil"
	case FormatAny:
		return "any"
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// class is the set of characters allowed in one slot of a layout.
type class uint8

const (
	letter class = 1 << iota
	digit
	either = letter | digit
)

func (c class) allows(ch byte) bool {
	switch {
	case ch >= '0' && ch <= '9':
		return c&digit != 0
	case ch >= 'A' && ch <= 'Z':
		return c&letter != 0
	}
	return false
}

// layout is one official plate layout.
type layout struct {
	name  string
	slots []class
	// dash is the number of characters before the '-' of the official
	// written form; 0 for none.
	dash int
}

// layouts returns the layouts of a format (none for FormatAny).
//
// Peru (Reglamento Nacional de Placas, series since 2010): cars are three
// characters, a dash and three digits; the first and third characters are
// letters and the second is a letter in the older series (ABC-123) and a
// digit in the newer ones (A1B-234), so that slot accepts both. Motorcycles
// carry four digits and two letters, written 1234-AB on the older series and
// AB-1234 on others; both are accepted because the reader cannot tell a
// motorcycle plate from the picture alone. Brazil: the old grey plates are
// three letters and four digits (ABC-1234, the dash stands for the
// separator dot), Mercosul plates are LLLDLDD without separator.
func layouts(f Format) []layout {
	switch f {
	case FormatPeru:
		return []layout{
			{name: "peru-car", slots: []class{letter, either, letter, digit, digit, digit}, dash: 3},
			{name: "peru-moto", slots: []class{digit, digit, digit, digit, letter, letter}, dash: 4},
			{name: "peru-moto-letters-first", slots: []class{letter, letter, digit, digit, digit, digit}, dash: 2},
		}
	case FormatBrazil:
		return []layout{
			{name: "brazil-old", slots: []class{letter, letter, letter, digit, digit, digit, digit}, dash: 3},
			{name: "brazil-mercosul", slots: []class{letter, letter, letter, digit, letter, digit, digit}},
		}
	}
	return nil
}

// written inserts the layout's dash into compact text.
func (l layout) written(compact string) string {
	if l.dash <= 0 || l.dash >= len(compact) {
		return compact
	}
	return compact[:l.dash] + "-" + compact[l.dash:]
}

// Read is the text read from one plate.
type Read struct {
	// Text is the plate in its official written form (e.g. "ABC-123");
	// empty when the read is not Readable: a doubtful read is never guessed.
	Text string `json:"text"`
	// Confidence is the smallest probability among the chosen characters of
	// every slot, padding slots included (0..1).
	Confidence float32 `json:"confidence"`
	// Readable is true when Confidence reached the reader's threshold.
	Readable bool `json:"readable"`
	// Layout names the matched layout (e.g. "peru-car"; "any" for FormatAny).
	Layout string `json:"format"`
	// Raw is the model's per-slot argmax without padding, for diagnostics
	// only: never report it as the plate.
	Raw string `json:"-"`
}

// Compact returns text without separators ("ABC-123" -> "ABC123").
func Compact(text string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '.' || r == '·' {
			return -1
		}
		return r
	}, text)
}

// Resolve turns the reader's per-slot probabilities (slots x len(Alphabet),
// row-major) into plate text under format f.
//
// For each layout of f, every character slot takes the most probable
// character of the slot's class and the remaining slots take the padding
// character. Look-alike pairs (0/O, 1/I, 2/Z, 5/S, 8/B) are one glyph on a
// plate, so in a slot that admits only one side of a pair, the probability
// of the other side counts for it: an "8" at 0.55 with "B" at 0.44 in a
// letter slot is a "B" at 0.99. The layout whose chosen characters have the
// highest joint probability (without look-alike merging) wins. The confidence is the minimum chosen probability over
// all slots (minimum rather than product: it is what a human would call
// "every character at least this sure", independent of plate length), so a
// single doubtful character, or a character where the layout expects
// padding, makes the read unreadable. Reads below minConf are returned with
// Readable false and no Text.
func Resolve(probs []float32, f Format, minConf float32) Read {
	n := len(Alphabet)
	slots := len(probs) / n
	if slots == 0 {
		return Read{Layout: f.String()}
	}
	raw := argmaxText(probs, slots)
	var best Read
	bestLog := math.Inf(-1)
	try := func(name, written string, logp float64, conf float32) {
		if logp > bestLog {
			bestLog = logp
			best = Read{Text: written, Confidence: conf, Layout: name}
		}
	}
	if f == FormatAny {
		var logp float64
		conf := float32(1)
		for s := 0; s < slots; s++ {
			row := probs[s*n : (s+1)*n]
			i := argmax(row)
			logp += logProb(row[i])
			conf = min(conf, row[i])
		}
		try("any", raw, logp, conf)
	}
	buf := make([]byte, 0, slots)
	for _, l := range layouts(f) {
		if len(l.slots) > slots {
			continue
		}
		buf = buf[:0]
		var logp float64
		conf := float32(1)
		for s := 0; s < slots; s++ {
			row := probs[s*n : (s+1)*n]
			// The layout is chosen on the chosen characters' own
			// probabilities: look-alike merging would otherwise favour a
			// layout that needs more substitutions.
			i, p := padIndex, row[padIndex]
			if s < len(l.slots) {
				i, p = bestOfClass(row, l.slots[s])
				buf = append(buf, Alphabet[i])
			}
			logp += logProb(row[i])
			conf = min(conf, p)
		}
		try(l.name, l.written(string(buf)), logp, conf)
	}
	best.Raw = raw
	if best.Confidence < 0 || best.Confidence != best.Confidence {
		best.Confidence = 0
	}
	best.Readable = best.Confidence >= minConf && best.Text != ""
	if !best.Readable {
		best.Text = ""
	}
	return best
}

func logProb(p float32) float64 {
	return math.Log(math.Max(float64(p), 1e-12))
}

func argmax(row []float32) int {
	b := 0
	for i, v := range row {
		if v > row[b] {
			b = i
		}
	}
	return b
}

// bestOfClass returns the index and probability of the most probable
// character of class c, a look-alike of the other class adding its
// probability to its twin.
func bestOfClass(row []float32, c class) (int, float32) {
	b, bp := -1, float32(-1)
	for i := 0; i < padIndex && i < len(row); i++ {
		ch := Alphabet[i]
		if !c.allows(ch) {
			continue
		}
		p := row[i]
		if t, ok := twin(ch); ok && !c.allows(t) {
			p += row[strings.IndexByte(Alphabet, t)]
		}
		if p > bp {
			b, bp = i, p
		}
	}
	return b, min(bp, 1)
}

// twin returns the look-alike of ch in the other class (0/O, 1/I, 2/Z,
// 5/S, 8/B): the pairs the plate fonts draw nearly alike.
func twin(ch byte) (byte, bool) {
	switch ch {
	case '0':
		return 'O', true
	case 'O':
		return '0', true
	case '1':
		return 'I', true
	case 'I':
		return '1', true
	case '2':
		return 'Z', true
	case 'Z':
		return '2', true
	case '5':
		return 'S', true
	case 'S':
		return '5', true
	case '8':
		return 'B', true
	case 'B':
		return '8', true
	}
	return 0, false
}

// argmaxText is the per-slot argmax with padding removed.
func argmaxText(probs []float32, slots int) string {
	n := len(Alphabet)
	var sb strings.Builder
	for s := 0; s < slots; s++ {
		if i := argmax(probs[s*n : (s+1)*n]); i != padIndex {
			sb.WriteByte(Alphabet[i])
		}
	}
	return sb.String()
}

// Normalize parses plate text typed or received from outside (any case,
// with or without spaces, dots or dashes) and returns it in the official
// written form of the first layout of f it fits, fixing look-alike
// characters that do not fit their slot (a 0 in a letter slot becomes O;
// the pairs are those of twin).
// It returns the layout name. With FormatAny the text is only upper-cased
// and stripped of separators, and must be 1 to 10 characters of Alphabet.
func Normalize(s string, f Format) (text, layoutName string, err error) {
	if len(s) > 64 {
		return "", "", fmt.Errorf("plate: text too long (%d bytes)", len(s))
	}
	compact := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '-' || ch == ' ' || ch == '.' || ch == '\t':
			continue
		case ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		case ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		default:
			return "", "", fmt.Errorf("plate: %q: invalid character %q", s, ch)
		}
		compact = append(compact, ch)
	}
	if f == FormatAny {
		if len(compact) == 0 || len(compact) > 10 {
			return "", "", fmt.Errorf("plate: %q: want 1 to 10 characters", s)
		}
		return string(compact), "any", nil
	}
	// Prefer a layout the text fits exactly; only then try look-alikes.
	for _, fix := range []bool{false, true} {
		for _, l := range layouts(f) {
			if out, ok := fitLayout(compact, l, fix); ok {
				return l.written(out), l.name, nil
			}
		}
	}
	return "", "", fmt.Errorf("plate: %q does not fit any %s plate layout", s, f)
}

func fitLayout(compact []byte, l layout, fix bool) (string, bool) {
	if len(compact) != len(l.slots) {
		return "", false
	}
	out := make([]byte, len(compact))
	for i, ch := range compact {
		c := l.slots[i]
		switch {
		case c.allows(ch):
			out[i] = ch
		case !fix:
			return "", false
		default:
			r, ok := twin(ch)
			if !ok || !c.allows(r) {
				return "", false
			}
			out[i] = r
		}
	}
	return string(out), true
}
