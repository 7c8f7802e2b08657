package app

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/calibration"
)

// ReadSignalSchedule reads a traffic-signal schedule for a replay: one
// phase change per line, "<seconds from the start of the file> <red|amber|green>"
// ('#' starts a comment), as a controller log would give it. Times are
// anchored at start (the capture time of the file's first frame).
func ReadSignalSchedule(path string, start time.Time) (*rules.Timeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signal: %w", err)
	}
	defer f.Close()
	tl := rules.NewTimeline(0, 0)
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("signal: %s:%d: want \"<seconds> <phase>\", got %q", path, line, text)
		}
		sec, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || sec < 0 || sec > 1e6 {
			return nil, fmt.Errorf("signal: %s:%d: %q is not a time in seconds", path, line, fields[0])
		}
		ph, err := rules.ParsePhase(fields[1])
		if err != nil {
			return nil, fmt.Errorf("signal: %s:%d: %w", path, line, err)
		}
		tl.Set(ph, start.Add(time.Duration(sec*float64(time.Second))))
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("signal: %s: %w", path, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("signal: %s holds no phase change", path)
	}
	return tl, nil
}

// redLightApproaches makes one red-light approach per stop line of the
// calibration, governed by sig; a count line named "exit" (or "<stop>-exit")
// is the line the vehicle must then pass.
func redLightApproaches(cal *calibration.Calibration, sig rules.SignalSource) []rules.RedLightConfig {
	var out []rules.RedLightConfig
	names := map[string]bool{}
	for _, l := range cal.Lines {
		names[l.Name] = true
	}
	for _, l := range cal.Lines {
		if l.Kind != calibration.LineStop {
			continue
		}
		rc := rules.RedLightConfig{StopLine: l.Name, Signal: sig}
		for _, exit := range []string{l.Name + "-exit", "exit"} {
			if names[exit] {
				rc.ExitLine = exit
				break
			}
		}
		out = append(out, rc)
	}
	return out
}
