package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLiveWatchGolden(t *testing.T) {
	tests := []struct {
		file  string
		want  LiveWatch
		valid bool
	}{
		{file: "watch.json", valid: true, want: LiveWatch{Watcher: "0193b7a4-5c1e-7d2a-9f00-4b6c2d1e8a77", TTLMs: 30000,
			Until: time.Date(2026, 11, 28, 18, 30, 30, 0, time.UTC)}},
		{file: "stop.json", valid: true, want: LiveWatch{Watcher: "0193b7a4-5c1e-7d2a-9f00-4b6c2d1e8a77"}},
		{file: "watch_unknown_fields.json", valid: true, want: LiveWatch{Watcher: "hub-b", TTLMs: 5000}},
		{file: "invalid/bad_watcher.json"},
		{file: "invalid/negative_ttl.json"},
		{file: "invalid/no_watcher.json"},
		{file: "invalid/not_object.json"},
		{file: "invalid/truncated.json"},
		{file: "invalid/ttl_string.json"},
		{file: "invalid/ttl_too_long.json"},
	}
	files, _ := filepath.Glob("testdata/live/v1/*.json")
	bad, _ := filepath.Glob("testdata/live/v1/invalid/*.json")
	if len(files)+len(bad) != len(tests) {
		t.Fatalf("%d golden files but %d cases: add a case for every file", len(files)+len(bad), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/live/v1", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseLiveWatch(b)
			if !tc.valid {
				if err == nil || ReasonOf(err) == "" {
					t.Fatalf("want an error with a reason code, got %v (%+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("golden watch refused: %v", err)
			}
			if got.Watcher != tc.want.Watcher || got.TTLMs != tc.want.TTLMs || !got.Until.Equal(tc.want.Until) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLiveWatchRoundTrip(t *testing.T) {
	w := LiveWatch{Watcher: "hub-1", TTLMs: 30000, Until: time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLiveWatch(b)
	if err != nil || got.Watcher != w.Watcher || got.TTL() != 30*time.Second || !got.Until.Equal(w.Until) {
		t.Fatalf("%s: got %+v, %v", b, got, err)
	}
	stop, _ := json.Marshal(LiveWatch{Watcher: "hub-1"})
	if string(stop) != `{"watcher":"hub-1","ttl_ms":0}` {
		t.Errorf("stop encodes as %s", stop)
	}
}

func TestLiveTopics(t *testing.T) {
	if got := LiveTopic("EDGE-1", "CAM-2"); got != "traffic/v1/EDGE-1/live/CAM-2" {
		t.Errorf("LiveTopic = %q", got)
	}
	if got := LiveWatchFilter("EDGE-1"); got != "traffic/v1/EDGE-1/live/+/watch" {
		t.Errorf("LiveWatchFilter = %q", got)
	}
	tests := []struct {
		topic, want string
	}{
		{LiveWatchTopic("EDGE-1", "CAM-2"), "CAM-2"},
		{"traffic/v1/EDGE-1/live/CAM-2", ""},
		{"traffic/v1/EDGE-2/live/CAM-2/watch", ""},
		{"traffic/v1/EDGE-1/live/a/b/watch", ""},
		{"traffic/v1/EDGE-1/live//watch", ""},
		{"traffic/v1/EDGE-1/signal/CAM-2", ""},
	}
	for _, tc := range tests {
		got, err := ParseLiveWatchTopic("EDGE-1", tc.topic)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseLiveWatchTopic(%q) = %q, %v; want %q", tc.topic, got, err, tc.want)
		}
	}
}

func FuzzParseLiveWatch(f *testing.F) {
	for _, glob := range []string{"testdata/live/v1/*.json", "testdata/live/v1/invalid/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseLiveWatch(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		if w.Validate() != nil || w.TTL() < 0 || w.TTL() > MaxLiveWatchTTL {
			t.Fatalf("accepted an invalid watch %+v", w)
		}
	})
}
