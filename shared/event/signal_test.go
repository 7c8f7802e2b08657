package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestSignalGolden(t *testing.T) {
	tests := []struct {
		file  string
		want  SignalPhase
		valid bool
	}{
		{file: "red.json", valid: true, want: SignalPhase{Phase: "red", CameraID: "CAM001", Seq: 1842,
			TS: time.Date(2026, 11, 28, 17, 0, 0, 250e6, time.UTC)}},
		{file: "green_no_camera.json", valid: true, want: SignalPhase{Phase: "green", TS: time.Date(2026, 11, 28, 17, 0, 30, 0, time.UTC)}},
		{file: "amber_unknown_fields_no_ts.json", valid: true, want: SignalPhase{Phase: "amber"}},
		{file: "invalid/bad_phase.json"},
		{file: "invalid/old_ts.json"},
		{file: "invalid/not_object.json"},
		{file: "invalid/bad_camera.json"},
		{file: "invalid/truncated.json"},
	}
	files, _ := filepath.Glob("testdata/signal/v1/*.json")
	bad, _ := filepath.Glob("testdata/signal/v1/invalid/*.json")
	if len(files)+len(bad) != len(tests) {
		t.Fatalf("%d golden files but %d cases: add a case for every file", len(files)+len(bad), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/signal/v1", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSignal(b)
			if !tc.valid {
				if err == nil || ReasonOf(err) == "" {
					t.Fatalf("want an error with a reason code, got %v (%+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("golden signal refused: %v", err)
			}
			if !got.TS.Equal(tc.want.TS) {
				t.Fatalf("ts %v, want %v", got.TS, tc.want.TS)
			}
			got.TS, tc.want.TS = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSignalTopic(t *testing.T) {
	tests := []struct {
		name, topic, cam string
		ok               bool
	}{
		{"own", SignalTopic("EDGE-1", "CAM-1"), "CAM-1", true},
		{"other device", SignalTopic("EDGE-2", "CAM-1"), "", false},
		{"extra level", SignalTopic("EDGE-1", "CAM-1") + "/x", "", false},
		{"empty camera", TopicPrefix + "/EDGE-1/signal/", "", false},
		{"command topic", Topic("EDGE-1", KindCommand), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam, err := ParseSignalTopic("EDGE-1", tc.topic)
			if (err == nil) != tc.ok || cam != tc.cam {
				t.Fatalf("ParseSignalTopic(%q) = %q, %v; want %q ok=%v", tc.topic, cam, err, tc.cam, tc.ok)
			}
		})
	}
	if got := SignalFilter("EDGE-1"); got != "traffic/v1/EDGE-1/signal/+" {
		t.Fatalf("filter %q", got)
	}
}

// FuzzParseSignal: the signal decoder reads bytes from third-party
// controllers; it must never panic, and what it accepts must re-encode and
// parse to the same value.
func FuzzParseSignal(f *testing.F) {
	for _, glob := range []string{"testdata/signal/v1/*.json", "testdata/signal/v1/invalid/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSignal(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("accepted signal does not re-encode: %v", err)
		}
		p2, err := ParseSignal(out)
		if err != nil {
			t.Fatalf("re-encoded signal refused: %v (%s)", err, out)
		}
		if p2.Phase != p.Phase || !p2.TS.Equal(p.TS) || p2.CameraID != p.CameraID || p2.Seq != p.Seq {
			t.Fatalf("round trip changed the signal: %+v vs %+v", p, p2)
		}
	})
}
