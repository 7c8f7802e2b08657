package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGoldenV1RoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/v1/*.json")
	if err != nil || len(files) < 7 {
		t.Fatalf("golden files: %v (found %d)", err, len(files))
	}
	seen := map[Kind]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env, p, err := Parse(raw)
			if err != nil {
				t.Fatalf("golden payload refused: %v", err)
			}
			seen[env.Type] = true
			// Re-encode the typed payload in a new envelope and parse again:
			// the typed values must survive unchanged.
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			env2 := env
			env2.Data = data
			b, err := env2.Encode()
			if err != nil {
				t.Fatal(err)
			}
			_, p2, err := Parse(b)
			if err != nil {
				t.Fatalf("re-encoded payload refused: %v", err)
			}
			if !reflect.DeepEqual(p, p2) {
				t.Fatalf("round trip changed the payload:\n got %#v\nwant %#v", p2, p)
			}
		})
	}
	for _, k := range Kinds {
		if !seen[k] {
			t.Errorf("no golden payload for kind %q: add one (never edit existing ones)", k)
		}
	}
}

func TestGoldenInfractionFields(t *testing.T) {
	raw, err := os.ReadFile("testdata/v1/infraction_speed.json")
	if err != nil {
		t.Fatal(err)
	}
	env, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePayload[*Infraction](env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != SpeedViolation || p.Plate != "ABC-123" || p.DetectedSpeed != 78.5 || p.SpeedLimit != 60 ||
		p.Evidence.VideoClip == nil || p.Evidence.VideoClip.SizeBytes != 2345678 || p.Location.Lat != -12.0917 {
		t.Fatalf("fields not decoded as written: %+v", p)
	}
	if env.DeviceID != "EDGE-LIM-001" || !env.TS.Equal(time.Date(2025, 11, 1, 14, 35, 23, 120e6, time.UTC)) {
		t.Fatalf("envelope: %+v", env)
	}
}

func TestInvalidPayloads(t *testing.T) {
	cases := []struct {
		file   string
		reason string
		field  string
	}{
		{"truncated.json", ReasonMalformed, ""},
		{"version2.json", ReasonVersion, "v"},
		{"unknown_type.json", ReasonUnknownType, "type"},
		{"bad_id.json", ReasonInvalid, "id"},
		{"bad_device.json", ReasonInvalid, "device_id"},
		{"missing_ts.json", ReasonInvalid, "ts"},
		{"speed_without_speed.json", ReasonInvalid, "data.detected_speed"},
		{"traversal_key.json", ReasonInvalid, "data.evidence.snapshot.key"},
		{"confidence_range.json", ReasonInvalid, "data.ocr_confidence"},
		{"status_state.json", ReasonInvalid, "data.state"},
		{"ack_bad_command.json", ReasonInvalid, "data.command_id"},
		{"data_array.json", ReasonInvalid, "data"},
	}
	files, _ := filepath.Glob("testdata/v1/invalid/*.json")
	if len(files) != len(cases) {
		t.Fatalf("%d invalid files but %d cases: keep the table in step", len(files), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/v1/invalid", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Parse(raw)
			if err == nil {
				t.Fatal("accepted an invalid payload")
			}
			var e *Error
			if !asError(err, &e) {
				t.Fatalf("error %v is not an *event.Error", err)
			}
			if e.Reason != tc.reason || e.Field != tc.field {
				t.Fatalf("got reason %q field %q (%v), want %q %q", e.Reason, e.Field, err, tc.reason, tc.field)
			}
		})
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestTooLarge(t *testing.T) {
	b := make([]byte, MaxPayloadBytes+1)
	if _, err := Decode(b); ReasonOf(err) != ReasonTooLarge {
		t.Fatalf("got %v, want too_large", err)
	}
}

func TestNewAndTopic(t *testing.T) {
	now := time.Now()
	env, err := New("CAM001", now, &Infraction{Type: OtherViolation, CameraID: "CAM001", DetectedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if !ValidID(env.ID) || env.V != 1 || env.Type != KindInfraction {
		t.Fatalf("bad envelope %+v", env)
	}
	if _, err := New("bad/id", now, &Infraction{Type: OtherViolation, CameraID: "CAM001", DetectedAt: now}); err == nil {
		t.Fatal("accepted a device id with a slash")
	}
	if _, err := New("CAM001", now, &Infraction{Type: "SPEEDING", CameraID: "CAM001", DetectedAt: now}); err == nil {
		t.Fatal("accepted an unknown infraction type")
	}
	topic := Topic("CAM001", KindStatus)
	if topic != "traffic/v1/CAM001/status" {
		t.Fatalf("topic %q", topic)
	}
	dev, k, err := ParseTopic(topic)
	if err != nil || dev != "CAM001" || k != KindStatus {
		t.Fatalf("ParseTopic: %q %q %v", dev, k, err)
	}
	for _, bad := range []string{"traffic/v2/CAM001/status", "traffic/v1/CAM001", "traffic/v1/CAM001/nope", "x/v1/CAM001/status"} {
		if _, _, err := ParseTopic(bad); err == nil {
			t.Errorf("ParseTopic(%q) accepted", bad)
		}
	}
	if Filter(KindInfraction) != "traffic/v1/+/infraction" {
		t.Fatal(Filter(KindInfraction))
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 1000 {
		id := NewID()
		if !ValidID(id) || seen[id] || id[14] != '7' {
			t.Fatalf("bad or duplicate UUIDv7 %q", id)
		}
		if id[:8] < prev[:min(8, len(prev))] {
			t.Fatalf("UUIDv7 not time-ordered: %s after %s", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"rtsp://admin:Abc123456@192.168.1.100:554/h264/ch1/main/av_stream", "rtsp://admin:xxxxx@192.168.1.100:554/h264/ch1/main/av_stream"},
		{"rtsp://192.168.1.100:554/live", "rtsp://192.168.1.100:554/live"},
		{"rtsp://user@host/p", "rtsp://user@host/p"},
		{"rtsp://a:p@ss:w@rd@host/x?y=@", "rtsp://a:xxxxx@host/x?y=@"},
		{"not a url", "not a url"},
	}
	for _, tc := range cases {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "Abc123456") || strings.Contains(got, "ss:w") {
			t.Errorf("password leaked: %q", got)
		}
	}
}

func BenchmarkParseInfraction(b *testing.B) {
	raw, err := os.ReadFile("testdata/v1/infraction_speed.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeInfraction(b *testing.B) {
	now := time.Now()
	p := &Infraction{Type: SpeedViolation, CameraID: "CAM001", DetectedAt: now, DetectedSpeed: 80, SpeedLimit: 60, Plate: "ABC-123", PlateReadable: true}
	b.ReportAllocs()
	for b.Loop() {
		env, err := New("CAM001", now, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
