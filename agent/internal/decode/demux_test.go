package decode

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func truncatedCopy(t *testing.T, src string, frac float64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "cut-"+filepath.Base(src), b[:int(float64(len(b))*frac)])
}

// TestDemuxErrors feeds broken and non-video files: each must give an error
// naming the file, at open or while reading, never a crash or a silent EOF.
func TestDemuxErrors(t *testing.T) {
	parking := testenv.RequireData(t, "video-parkinglot-topdown-intel/car-detection.mp4")
	intersection := testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
	garbage := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		path func(t *testing.T) string
		want string // substring of the error
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.mp4") }, "No such file"},
		{"empty file", func(t *testing.T) string { return writeFile(t, "empty.mp4", nil) }, "open"},
		{"random bytes", func(t *testing.T) string { return writeFile(t, "noise.mp4", garbage) }, "open"},
		{"text file", func(t *testing.T) string {
			return writeFile(t, "notes.mp4", []byte(strings.Repeat("not a video\n", 100)))
		}, "open"},
		{"audio only", func(t *testing.T) string {
			return ffmpegClip(t, "tone.m4a", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac")
		}, "no video stream"},
		{"cut before index (moov at end)", func(t *testing.T) string { return truncatedCopy(t, intersection, 0.6) }, "open"},
		{"cut inside data (moov at start)", func(t *testing.T) string { return truncatedCopy(t, parking, 0.5) }, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			err := readUntilError(path)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("error %q should contain %q and the file name", err, tc.want)
			}
		})
	}
}

func readUntilError(path string) error {
	dm, err := OpenFile(path)
	if err != nil {
		return err
	}
	defer dm.Close()
	for {
		if _, err := dm.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// TestDemuxRewind reads a clip twice through Rewind: same packet count and
// timestamps, audio track skipped.
func TestDemuxRewind(t *testing.T) {
	path := testenv.RequireData(t, "video-parkinglot-topdown-intel/car-detection.mp4")
	dm, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	var passes [2][]time.Duration
	for pass := range passes {
		for {
			p, err := dm.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if pass == 0 && len(passes[0]) == 0 && (!p.Keyframe || !IsKeyframe(H264, p.NALUs)) {
				t.Fatal("first packet is not a keyframe with an IDR")
			}
			passes[pass] = append(passes[pass], p.PTS)
		}
		if err := dm.Rewind(); err != nil {
			t.Fatal(err)
		}
	}
	if len(passes[0]) != int(dm.Info().Frames) || len(passes[1]) != len(passes[0]) {
		t.Fatalf("passes read %d and %d packets, index has %d", len(passes[0]), len(passes[1]), dm.Info().Frames)
	}
	for i := range passes[0] {
		if passes[0][i] != passes[1][i] {
			t.Fatalf("packet %d: PTS %v then %v", i, passes[0][i], passes[1][i])
		}
	}
	if passes[0][0] != 0 || passes[0][1] != 80*time.Millisecond {
		t.Errorf("first PTS %v, %v; want 0, 80ms (12.5 fps)", passes[0][0], passes[0][1])
	}
}
