package modelmanifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot finds the module root from this file (no test helper import, to
// keep this package's test dependencies standard-library only too).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func loadMinimal(t testing.TB) *Manifest {
	t.Helper()
	m, err := Load(filepath.Join("testdata", "minimal.json"))
	if err != nil {
		t.Fatalf("Load minimal: %v", err)
	}
	return m
}

func TestLoadMinimal(t *testing.T) {
	m := loadMinimal(t)
	if m.Name != "tiny-det" || m.Input.Shape[0] != -1 || m.Input.ColourOrder != "RGB" {
		t.Fatalf("unexpected manifest: %+v", m)
	}
	if w, h := m.InputSize(); w != 64 || h != 64 {
		t.Fatalf("InputSize = %dx%d, want 64x64", w, h)
	}
	if got := m.ClassIndex("person"); got != 1 {
		t.Fatalf("ClassIndex(person) = %d, want 1", got)
	}
	if got := m.ClassIndex("bus"); got != -1 {
		t.Fatalf("ClassIndex(bus) = %d, want -1", got)
	}
}

// TestRepoManifests validates every manifest shipped under models/ and, when
// the provided models are present, checks their weights and class lists.
func TestRepoManifests(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "models", "*", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d manifests under models/, want at least 2", len(files))
	}
	shared := os.Getenv("VIGIA_SHARED")
	if shared == "" {
		shared = filepath.Join(root, "..", "shared")
	}
	modelsDir := filepath.Join(shared, "models")
	for _, f := range files {
		dir := filepath.Base(filepath.Dir(f))
		t.Run(dir, func(t *testing.T) {
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != dir {
				t.Errorf("manifest name %q differs from its directory %q", m.Name, dir)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), "README.md")); err != nil {
				t.Errorf("model card missing: %v", err)
			}
			if _, err := os.Stat(m.WeightsPath(modelsDir)); err != nil {
				t.Skipf("weights not provided here (%v); manifest itself is valid", err)
			}
			if err := m.CheckWeights(modelsDir); err != nil {
				t.Errorf("CheckWeights: %v", err)
			}
			coco, err := os.ReadFile(filepath.Join(modelsDir, "yolox-nano", "coco80.txt"))
			if err == nil && len(m.Classes) == 80 {
				want := strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(coco)), " ", "_"))
				for i, c := range m.Classes {
					if strings.ReplaceAll(c, " ", "_") != want[i] {
						t.Errorf("classes[%d] = %q, coco80.txt says %q", i, c, want[i])
					}
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Manifest)
		want   []string // substrings of the error; none = valid
	}{
		{"valid", func(m *Manifest) {}, nil},
		{"schema version", func(m *Manifest) { m.SchemaVersion = 2 }, []string{"schema_version 2"}},
		{"bad name", func(m *Manifest) { m.Name = "Tiny Det" }, []string{"name \"Tiny Det\""}},
		{"no version", func(m *Manifest) { m.Version = " " }, []string{"version is empty"}},
		{"no licence", func(m *Manifest) { m.License.SPDX = "" }, []string{"license.spdx"}},
		{"absolute weights", func(m *Manifest) { m.Weights.File = "/etc/passwd" }, []string{"weights.file"}},
		{"escaping weights", func(m *Manifest) { m.Weights.File = "../x.onnx" }, []string{"weights.file"}},
		{"unclean weights", func(m *Manifest) { m.Weights.File = "a/./b.onnx" }, []string{"weights.file"}},
		{"backslash weights", func(m *Manifest) { m.Weights.File = `a\b.onnx` }, []string{"weights.file"}},
		{"short sha", func(m *Manifest) { m.Weights.SHA256 = "abc" }, []string{"weights.sha256"}},
		{"upper sha", func(m *Manifest) { m.Weights.SHA256 = strings.Repeat("A", 64) }, []string{"weights.sha256"}},
		{"layout", func(m *Manifest) { m.Input.Layout = "NHWC" }, []string{"input.layout"}},
		{"dtype", func(m *Manifest) { m.Input.DType = "uint8" }, []string{"input.dtype"}},
		{"shape rank", func(m *Manifest) { m.Input.Shape = []int64{3, 64, 64} }, []string{"4 dimensions"}},
		{"shape batch", func(m *Manifest) { m.Input.Shape[0] = 0 }, []string{"batch 0"}},
		{"shape channels", func(m *Manifest) { m.Input.Shape[1] = 1 }, []string{"channels 1"}},
		{"stride divides", func(m *Manifest) { m.Input.Shape[3] = 60 }, []string{"does not divide"}},
		{"colour", func(m *Manifest) { m.Input.ColourOrder = "GRAY" }, []string{"colour_order"}},
		{"std zero", func(m *Manifest) { m.Input.Normalize.Std[1] = 0 }, []string{"std[1]"}},
		{"mean count", func(m *Manifest) { m.Input.Normalize.Mean = []float32{1} }, []string{"3 mean"}},
		{"resize mode", func(m *Manifest) { m.Input.Resize.Mode = "crop" }, []string{"resize.mode"}},
		{"letterbox align", func(m *Manifest) {
			m.Input.Resize = Resize{Mode: ResizeLetterbox, Align: "left", Pad: []float32{1, 2, 3}}
		}, []string{"resize.align"}},
		{"letterbox pad", func(m *Manifest) {
			m.Input.Resize = Resize{Mode: ResizeLetterbox, Align: AlignCentre, Pad: []float32{1, 2, 300}}
		}, []string{"pad[2]"}},
		{"duplicate class", func(m *Manifest) { m.Classes = []string{"car", "car"} }, []string{"duplicate"}},
		{"keep unknown", func(m *Manifest) { m.Keep = append(m.Keep, Keep{Class: "bus", Score: 0.5}) }, []string{"\"bus\" is not in classes"}},
		{"keep twice", func(m *Manifest) { m.Keep = append(m.Keep, m.Keep[0]) }, []string{"listed twice"}},
		{"keep score", func(m *Manifest) { m.Keep[0].Score = 0 }, []string{"score 0"}},
		{"keep none", func(m *Manifest) { m.Keep = nil }, []string{"keep is empty"}},
		{"nms", func(m *Manifest) { m.NMS.IoU = 1.5 }, []string{"nms.iou"}},
		{"nms group valid", func(m *Manifest) { m.NMS.Groups = [][]string{{"car", "person"}} }, nil},
		{"nms group unknown", func(m *Manifest) { m.NMS.Groups = [][]string{{"car", "bus"}} }, []string{"groups[0] class \"bus\""}},
		{"nms group single", func(m *Manifest) { m.NMS.Groups = [][]string{{"car"}} }, []string{"at least 2"}},
		{"nms group overlap", func(m *Manifest) { m.NMS.Groups = [][]string{{"car", "person"}, {"person", "car"}} },
			[]string{"already in a group"}},
		{"decoder kind", func(m *Manifest) { m.Decoder.Kind = "ssd" }, []string{"decoder.kind"}},
		{"yolox outputs", func(m *Manifest) { m.Outputs = append(m.Outputs, Output{Name: "z", Role: RolePredictions}) }, []string{"exactly one output"}},
		{"nanodet outputs", func(m *Manifest) {
			m.Decoder = Decoder{Kind: DecoderNanoDet, Strides: []int{8, 16}, RegMax: 7}
			m.Outputs = []Output{{Name: "s8", Role: RoleScores, Stride: 8}, {Name: "b8", Role: RoleBoxes, Stride: 8},
				{Name: "s16", Role: RoleScores, Stride: 16}}
		}, []string{"\"boxes\" output for stride 16"}},
		{"nanodet valid", func(m *Manifest) {
			m.Decoder = Decoder{Kind: DecoderNanoDet, Strides: []int{8}, RegMax: 7}
			m.Outputs = []Output{{Name: "s8", Role: RoleScores, Stride: 8}, {Name: "b8", Role: RoleBoxes, Stride: 8}}
		}, nil},
		{"every problem at once", func(m *Manifest) {
			m.Name = ""
			m.NMS.IoU = 0
			m.Input.Layout = "NHWC"
		}, []string{"name", "nms.iou", "input.layout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadMinimal(t)
			tc.mutate(m)
			err := m.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted the manifest, want error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if len(files) == 0 {
		t.Fatal("no invalid fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err == nil {
				t.Fatalf("Load(%s) accepted an invalid manifest", f)
			} else if !strings.Contains(err.Error(), f) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := Parse(make([]byte, MaxManifestBytes+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized manifest: err = %v, want size limit error", err)
	}
	if _, err := Parse([]byte(`{} {}`)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing data: err = %v, want trailing data error", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	m := loadMinimal(t)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse(b)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	b2, err := m2.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Fatalf("encoding not stable:\n%s\n---\n%s", b, b2)
	}
}

func TestCheckWeights(t *testing.T) {
	dir := t.TempDir()
	content := []byte("not really an onnx file")
	sum := sha256.Sum256(content)
	if err := os.MkdirAll(filepath.Join(dir, "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tiny", "tiny.onnx"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		mutate  func(m *Manifest)
		wantErr string // "" = ok
		missing bool
	}{
		{"ok", dir, func(m *Manifest) {}, "", false},
		{"ok with size", dir, func(m *Manifest) { m.Weights.Bytes = int64(len(content)) }, "", false},
		{"wrong size", dir, func(m *Manifest) { m.Weights.Bytes = 5 }, "has 23 bytes", false},
		{"wrong hash", dir, func(m *Manifest) { m.Weights.SHA256 = strings.Repeat("0", 64) }, "sha256", false},
		{"missing", filepath.Join(dir, "nowhere"), func(m *Manifest) { m.Weights.Source = "example.org/tiny" },
			"models dir " + filepath.Join(dir, "nowhere") + " lacks tiny/tiny.onnx (upstream: example.org/tiny)", true},
		{"directory", dir, func(m *Manifest) { m.Weights.File = "tiny" }, "is a directory", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadMinimal(t)
			m.Weights.SHA256 = hex.EncodeToString(sum[:])
			tc.mutate(m)
			err := m.CheckWeights(tc.dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckWeights: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			var mw *MissingWeightsError
			if got := errors.As(err, &mw); got != tc.missing {
				t.Errorf("errors.As(MissingWeightsError) = %v, want %v", got, tc.missing)
			}
			if tc.missing && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing weights error does not wrap fs.ErrNotExist")
			}
		})
	}
}

// TestStdlibOnly enforces that this over-the-air contract package depends on
// the standard library alone.
func TestStdlibOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/vigia-pe/vigia/shared/modelmanifest" {
			t.Errorf("modelmanifest depends on non-standard package %s", p)
		}
	}
}
