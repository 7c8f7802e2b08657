package ingest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// FuzzDecodeMatchesStdlib holds the hub's fast decoder to encoding/json: for
// any bytes, both accept or both refuse with the same reason, and what they
// accept decodes to the same envelope and payload.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	for _, glob := range []string{"*.json", "invalid/*.json"} {
		files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "shared", "event", "testdata", "v1", glob))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"V":1,"TYPE":"metrics","id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63","device_id":"E1","ts":"2025-11-01T14:36:00Z","data":{"camera_id":"C\u00e9","Camera_ID":"C2","fps":1e2}}`))
	f.Add([]byte("{\"v\":1,\"type\":\"metrics\",\"id\":\"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63\",\"device_id\":\"E1\",\"ts\":\"2025-11-01T14:36:00Z\",\"data\":{\"camera_id\":\"C\xff\",\"fps\":-0}} x"))
	// Found by this fuzz test against the fast decoder alone: timestamps its
	// ISO 8601 parser refuses and time.Time accepts, and invalid JSON in an
	// unknown field that a lenient decoder skipped.
	f.Add([]byte("{\"v\":1,\"tYpe\":\"infraction\",\"id\":\"00000000000000000000000000\",\"deviCe_id\":\"0\",\"ts\":\"2000-01-01T0:00:00Z\",\"dAtA\":{\"deteCted_At\":\"0000-01-01T0:00:00,0Z\"}}"))
	f.Add([]byte(`{"":{0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, p, err := parseMessage(b)
		senv, sp, serr := event.Parse(b)
		if (err == nil) != (serr == nil) {
			t.Fatalf("fast decoder error %v, encoding/json error %v", err, serr)
		}
		if err != nil {
			if err.Error() != serr.Error() {
				t.Fatalf("refusal %q, encoding/json %q", err, serr)
			}
			return
		}
		if !reflect.DeepEqual(env, senv) || !reflect.DeepEqual(p, sp) {
			t.Fatalf("decoded differently:\nfast %+v %+v\nstd  %+v %+v", env, p, senv, sp)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"metrics", "infraction_speed", "status_online"} {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "shared", "event", "testdata", "v1", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		for _, dec := range []struct {
			name  string
			parse func([]byte) (event.Envelope, event.Payload, error)
		}{{"encoding-json", event.Parse}, {"fast", parseMessage}} {
			b.Run(name+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					if _, _, err := dec.parse(raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
