package app

import (
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

// TestSignalFeedCitesOnlyOnFreshRed drives a vehicle over a stop line
// through the rules engine with the live feed as its signal source: a fresh
// red cites it; a feed that fell silent (stale), or said "unknown", does not.
func TestSignalFeedCitesOnlyOnFreshRed(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cal := &calibration.Calibration{Lines: []calibration.Line{
		{Name: "stop", Kind: calibration.LineStop, Ground: []calibration.Point{{X: 30, Y: -7}, {X: 30, Y: 7}}},
		{Name: "exit", Kind: calibration.LineCount, Ground: []calibration.Point{{X: 50, Y: -7}, {X: 50, Y: 7}}},
	}}
	type msg struct {
		phase string
		at    time.Duration // from t0; the controller's ts
	}
	tests := []struct {
		name string
		msgs []msg
		cite bool
	}{
		{name: "red with keep-alives", msgs: []msg{{"red", 0}, {"red", time.Second}, {"red", 2 * time.Second}, {"red", 3 * time.Second}}, cite: true},
		{name: "red, then silence longer than stale_after", msgs: []msg{{"red", 0}}, cite: false},
		{name: "controller says unknown", msgs: []msg{{"red", 0}, {"off", 2 * time.Second}, {"off", 3 * time.Second}}, cite: false},
		{name: "green", msgs: []msg{{"green", 0}, {"green", 2 * time.Second}, {"green", 3 * time.Second}}, cite: false},
		{name: "no message at all", cite: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			feed := newSignalFeed("CAM-1", config.SignalMQTT, 1500*time.Millisecond, nil)
			var arrival time.Time
			feed.now = func() time.Time { return arrival }
			for _, m := range tc.msgs {
				arrival = t0.Add(m.at + 50*time.Millisecond) // network delay
				if err := feed.observe(event.SignalPhase{Phase: m.phase, TS: t0.Add(m.at)}); err != nil {
					t.Fatal(err)
				}
			}
			rc := rules.DefaultConfig()
			rc.RedLights = redLightApproaches(cal, feed)
			e, err := rules.New(cal, rc, nil)
			if err != nil {
				t.Fatal(err)
			}
			// 10 m/s from x=0: crosses the stop line at 3 s, the exit at 5 s.
			var vs []rules.Violation
			for at := time.Duration(0); at <= 6*time.Second; at += 100 * time.Millisecond {
				x := 10 * at.Seconds()
				vs = append(vs, e.Update(rules.Update{TrackID: 1, Class: "car",
					Observation: rules.Observation{At: t0.Add(at), Ground: calibration.Point{X: x, Y: 1}}})...)
			}
			vs = append(vs, e.End(1, nil)...)
			if got := len(vs) == 1 && vs[0].Rule == rules.RuleRedLight; got != tc.cite || (!tc.cite && len(vs) != 0) {
				t.Fatalf("violations %+v, want cited=%v", vs, tc.cite)
			}
		})
	}
}

func TestSignalFeedObserve(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	reg := health.NewRegistry("CAM-1")
	feed := newSignalFeed("CAM-1", config.SignalHTTP, 5*time.Second, reg)
	feed.now = func() time.Time { return now }
	if st, _ := reg.Signal("CAM-1"); !st.Stale(now) || st.Source != "http" {
		t.Fatalf("a feed that never spoke: %+v, want stale", st)
	}
	tests := []struct {
		name      string
		msg       event.SignalPhase
		wantErr   bool
		wantPhase rules.Phase
	}{
		{name: "no ts takes arrival time", msg: event.SignalPhase{Phase: "red"}, wantPhase: rules.PhaseRed},
		{name: "yellow is amber", msg: event.SignalPhase{Phase: "YELLOW"}, wantPhase: rules.PhaseAmber},
		{name: "other camera refused", msg: event.SignalPhase{Phase: "green", CameraID: "CAM-2"}, wantErr: true, wantPhase: rules.PhaseAmber},
		{name: "bad phase refused", msg: event.SignalPhase{Phase: "purple"}, wantErr: true, wantPhase: rules.PhaseAmber},
		{name: "own camera named", msg: event.SignalPhase{Phase: "green", CameraID: "CAM-1"}, wantPhase: rules.PhaseGreen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(time.Second)
			err := feed.observe(tc.msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if ph, _ := feed.PhaseAt(now); ph != tc.wantPhase {
				t.Fatalf("phase %v, want %v", ph, tc.wantPhase)
			}
			if st, _ := reg.Signal("CAM-1"); st.Phase != tc.wantPhase.String() || st.Stale(now) {
				t.Fatalf("health %+v, want fresh %v", st, tc.wantPhase)
			}
		})
	}
	feeds := &signalFeeds{feeds: map[string]*signalFeed{"CAM-1": feed}}
	if a := feeds.staleAlarms(now.Add(4 * time.Second)); len(a) != 0 {
		t.Fatalf("alarms on a fresh feed: %v", a)
	}
	if a := feeds.staleAlarms(now.Add(6 * time.Second)); len(a) != 1 {
		t.Fatalf("alarms %v, want one for the silent feed", a)
	}
}

// TestSignalFeedKeepAliveWithStartTime: a controller whose repeats carry
// the phase's start time (not the current time) still keeps the feed fresh;
// a late, older message does not change the phase in force.
func TestSignalFeedKeepAliveWithStartTime(t *testing.T) {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now := start
	feed := newSignalFeed("CAM-1", config.SignalMQTT, 2*time.Second, nil)
	feed.now = func() time.Time { return now }
	for i := 0; i < 10; i++ {
		now = start.Add(time.Duration(i) * time.Second)
		if err := feed.observe(event.SignalPhase{Phase: "red", TS: start}); err != nil {
			t.Fatal(err)
		}
	}
	if ph, since := feed.PhaseAt(now); ph != rules.PhaseRed || !since.Equal(start) {
		t.Fatalf("phase %v since %v after 9 s of keep-alives, want red since %v", ph, since, start)
	}
	// A delayed message about an older green does not override red now.
	if err := feed.observe(event.SignalPhase{Phase: "green", TS: start.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if ph, _ := feed.PhaseAt(now); ph != rules.PhaseRed {
		t.Fatalf("phase %v after a late older message, want red", ph)
	}
	if ph, _ := feed.PhaseAt(now.Add(3 * time.Second)); ph != rules.PhaseUnknown {
		t.Fatalf("phase %v 3 s after the last keep-alive, want unknown", ph)
	}
}
