package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/evquota"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/buildinfo"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// statusSource builds the device's retained status from what the service
// knows: the cameras' reports in the registry, the outbox, the evidence
// quota, the signal feeds and the kernel's clock state.
type statusSource struct {
	ids     []string
	reg     *health.Registry
	ob      *outbox.Outbox
	jan     *evquota.Janitor
	feeds   *signalFeeds
	started time.Time
	clock   func() hostClock // readHostClock; tests replace it
	now     func() time.Time
}

func (s *statusSource) status() *event.Status {
	st := &event.Status{State: event.StateOnline, AgentVersion: buildinfo.Get().Version, StartedAt: s.started,
		Models: s.reg.Models()}
	var clockAlarms []string
	for _, id := range s.ids {
		cs, _ := s.reg.CameraState(id)
		st.Cameras = append(st.Cameras, event.CameraStatus{CameraID: id, State: cs.State, FPS: cs.FPS,
			LastFrameAt: cs.LastFrameAt, DecodeErrors: cs.DecodeErrors, Reconnects: cs.Reconnects,
			EncryptionSuspected: cs.EncryptionSuspected, ClockSynced: cs.ClockSynced, ClockOffsetMs: cs.ClockOffsetMs})
		if cs.ClockSynced && cs.ClockOffsetMs != nil {
			if off := time.Duration(*cs.ClockOffsetMs * float64(time.Millisecond)); off.Abs() > maxCameraClockOffset {
				clockAlarms = append(clockAlarms, fmt.Sprintf("camera %s: its clock is %s off the device's (NTP time in its stream): evidence times follow the camera's clock; check its NTP settings",
					id, off.Round(time.Millisecond)))
			}
		}
	}
	if obs, err := s.ob.Stats(); err == nil {
		st.OutboxDepth = int64(obs.Entries)
	}
	st.DiskUsedBytes = s.jan.Stats().Last.Bytes
	for _, alarm := range []func() (bool, string){s.ob.Alarm, s.jan.Alarm} {
		if on, why := alarm(); on {
			st.State, st.Alarms = event.StateDegraded, append(st.Alarms, why)
		}
	}
	if stale := s.feeds.staleAlarms(s.now()); len(stale) > 0 {
		st.State, st.Alarms = event.StateDegraded, append(st.Alarms, stale...)
	}
	if len(clockAlarms) > 0 {
		st.State, st.Alarms = event.StateDegraded, append(st.Alarms, clockAlarms...)
	}
	s.clock().fill(st)
	return st
}

// evidence is the evidence quota's state for the metrics.
func (s *statusSource) evidence() health.Evidence {
	r := s.jan.Stats().Last
	on, _ := s.jan.Alarm()
	return health.Evidence{Bytes: r.Bytes, PinnedBytes: r.PinnedBytes, Alarm: on}
}

// statusModels turns the models a pipeline loaded into the status's
// name → version map. Models without a manifest (the plate models, whose
// "version" is their weights' file name) are named by their weights' hash.
func statusModels(models map[string]shared.Model) map[string]string {
	if len(models) == 0 {
		return nil
	}
	out := make(map[string]string, len(models))
	for name, m := range models {
		v := m.Version
		if strings.HasSuffix(v, ".onnx") && len(m.SHA256) >= 12 {
			v = "sha256:" + m.SHA256[:12]
		}
		out[name] = v
	}
	return out
}
