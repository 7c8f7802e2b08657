package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

func TestReadInfractionFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	env, err := event.New("EDGE-1", now, &event.Infraction{Type: event.SpeedViolation, CameraID: "CAM1", DetectedAt: now,
		DetectedSpeed: 80, SpeedLimit: 60})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := env.Encode()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Replay output: track lines are skipped, infraction envelopes kept with their ids.
	envs, p, err := readInfractionFile(write("replay.jsonl", `{"type":"track","track_id":1}`+"\n"+string(line)+"\n"))
	if err != nil || p != nil || len(envs) != 1 || envs[0].ID != env.ID {
		t.Fatalf("replay file: %v %v %v", envs, p, err)
	}
	// A bare payload is wrapped later in a new envelope.
	envs, p, err = readInfractionFile(write("payload.json", `{"type":"OTHER","camera_id":"CAM1","detected_at":"2025-11-01T10:00:00Z"}`))
	if err != nil || envs != nil || p == nil || p.Type != event.OtherViolation {
		t.Fatalf("payload file: %v %v %v", envs, p, err)
	}
	// A broken infraction line is an error naming the line, never skipped silently.
	bad := strings.Replace(string(line), `"v":1`, `"v":9`, 1)
	if _, _, err := readInfractionFile(write("bad.jsonl", `{"type":"track"}`+"\n"+bad+"\n")); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("bad line: %v", err)
	}
	if _, _, err := readInfractionFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
}
