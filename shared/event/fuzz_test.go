package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must survive a re-encode and a second parse.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/v1/*.json", "testdata/v1/invalid/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, p, err := Parse(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		out, err := env.Encode()
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		env2, p2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		if env2.ID != env.ID || p2.Kind() != p.Kind() {
			t.Fatalf("identity changed: %s/%s vs %s/%s", env.ID, p.Kind(), env2.ID, p2.Kind())
		}
	})
}

// stdParse is Parse with encoding/json: the reference the fast decoder is
// held to.
func stdParse(b []byte) (Envelope, Payload, error) {
	var e Envelope
	if len(b) > MaxPayloadBytes {
		return e, nil, &Error{Reason: ReasonTooLarge}
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, nil, &Error{Reason: ReasonMalformed, Msg: err.Error()}
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, nil, err
	}
	p, err := NewPayload(e.Type)
	if err != nil {
		return Envelope{}, nil, err
	}
	if err := json.Unmarshal(e.Data, p); err != nil {
		return Envelope{}, nil, &Error{Reason: ReasonMalformed, Field: "data", Msg: err.Error()}
	}
	if err := p.Validate(); err != nil {
		return Envelope{}, nil, err
	}
	return e, p, nil
}

// FuzzDecodeMatchesStdlib holds the fast decoder (segmentio/encoding/json)
// to encoding/json: for any bytes, both accept or both refuse with the same
// reason, and what they accept decodes to the same envelope and payload.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	for _, glob := range []string{"testdata/v1/*.json", "testdata/v1/invalid/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"V":1,"TYPE":"metrics","id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63","device_id":"E1","ts":"2025-11-01T14:36:00Z","data":{"camera_id":"C\u00e9","Camera_ID":"C2","fps":1e2}}`))
	f.Add([]byte("{\"v\":1,\"type\":\"metrics\",\"id\":\"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63\",\"device_id\":\"E1\",\"ts\":\"2025-11-01T14:36:00Z\",\"data\":{\"camera_id\":\"C\xff\",\"fps\":-0}} x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, p, err := Parse(b)
		senv, sp, serr := stdParse(b)
		if (err == nil) != (serr == nil) {
			t.Fatalf("fast decoder error %v, encoding/json error %v", err, serr)
		}
		if err != nil {
			// The two libraries word syntax errors differently; the stable
			// reason code must agree.
			if ReasonOf(err) != ReasonOf(serr) {
				t.Fatalf("reason %q (%v), encoding/json %q (%v)", ReasonOf(err), err, ReasonOf(serr), serr)
			}
			return
		}
		if !reflect.DeepEqual(env, senv) || !reflect.DeepEqual(p, sp) {
			t.Fatalf("decoded differently:\nfast %+v %+v\nstd  %+v %+v", env, p, senv, sp)
		}
	})
}
