package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNeverPrinted(t *testing.T) {
	s := String("hunter2")
	type cfg struct{ Password String }
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "pw", s, "cfg", cfg{s})
	j, _ := json.Marshal(cfg{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, cfg{s}, cfg{s}, s), logs.String(), string(j)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "hunter2" || String("").String() != "" {
		t.Fatal("Reveal or empty value wrong")
	}
}
