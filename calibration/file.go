package calibration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxFileSize bounds what Decode reads, so a wrong path cannot exhaust memory.
const MaxFileSize = 8 << 20

// Decode reads, strictly parses and validates a calibration file: unknown
// fields, trailing data and any inconsistency are errors.
func Decode(r io.Reader) (*Calibration, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("calibration: read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("calibration: file larger than %d bytes", MaxFileSize)
	}
	return Parse(data)
}

// Parse is Decode for bytes in memory.
func Parse(data []byte) (*Calibration, error) {
	// Read the version alone first so a newer file is reported as such rather
	// than as a list of unknown fields. json.Unmarshal also refuses trailing
	// data after the object.
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, describeJSONError(err, data)
	}
	if head.Version == nil {
		return nil, errors.New("calibration: version: missing (not a calibration file?)")
	}
	if *head.Version != Version {
		return nil, fmt.Errorf("calibration: version: unsupported version %d (this build reads %d)", *head.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Calibration
	if err := dec.Decode(&c); err != nil {
		return nil, describeJSONError(err, data)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// describeJSONError adds the line and column to encoding/json's errors.
func describeJSONError(err error, data []byte) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("calibration: malformed JSON at %s: %v", lineCol(data, syn.Offset), syn)
	case errors.As(err, &typ):
		return fmt.Errorf("calibration: %s: cannot use a JSON %s as %s (at %s)", typ.Field, typ.Value, typ.Type, lineCol(data, typ.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("calibration: malformed JSON: unexpected end of file")
	}
	return fmt.Errorf("calibration: %w", err)
}

// lineCol turns a byte offset into "line L, column C" (both from 1).
func lineCol(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// Encode validates the calibration and writes it as indented JSON; arrays of
// numbers (points, matrix rows) stay on one line so technicians can read it.
func (c *Calibration) Encode(w io.Writer) error {
	b, err := c.MarshalFile()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("calibration: write: %w", err)
	}
	return nil
}

// MarshalFile validates the calibration and returns the file's bytes.
func (c *Calibration) MarshalFile() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	compact, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("calibration: encode: %w", err)
	}
	return indent(compact), nil
}

// Load reads and validates a calibration file.
func Load(path string) (*Calibration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Save validates the calibration and writes it atomically (temporary file,
// sync, rename) so a crash never leaves half a file.
func (c *Calibration) Save(path string) error {
	b, err := c.MarshalFile()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("calibration: save %s: %w", path, err)
	}
	return nil
}

// indent pretty-prints compact JSON with two-space indentation, keeping
// arrays that hold only numbers on one line.
func indent(compact []byte) []byte {
	var out bytes.Buffer
	depth := 0
	newline := func() {
		out.WriteByte('\n')
		for range depth {
			out.WriteString("  ")
		}
	}
	for i := 0; i < len(compact); i++ {
		ch := compact[i]
		switch ch {
		case '"':
			j := i + 1
			for ; j < len(compact) && compact[j] != '"'; j++ {
				if compact[j] == '\\' {
					j++
				}
			}
			out.Write(compact[i : j+1])
			i = j
		case '[':
			if end, ok := flatNumbers(compact, i); ok {
				out.Write(bytes.ReplaceAll(compact[i:end+1], []byte(","), []byte(", ")))
				i = end
				continue
			}
			fallthrough
		case '{':
			if i+1 < len(compact) && (compact[i+1] == ']' || compact[i+1] == '}') {
				out.Write(compact[i : i+2])
				i++
				continue
			}
			out.WriteByte(ch)
			depth++
			newline()
		case ']', '}':
			depth--
			newline()
			out.WriteByte(ch)
		case ',':
			out.WriteByte(ch)
			newline()
		case ':':
			out.WriteString(": ")
		default:
			out.WriteByte(ch)
		}
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// flatNumbers reports whether the array opening at i holds only numbers and
// returns the index of its closing bracket.
func flatNumbers(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == ']':
			return j, j > i+1
		case c == ',' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9'):
		default:
			return 0, false
		}
	}
	return 0, false
}
