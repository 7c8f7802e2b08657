package app

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/annotate"
	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/evidence/clip"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/buildinfo"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// The specification's evidence window: 10 s before the moment, 5 s after.
const (
	clipBefore = 10 * time.Second
	clipAfter  = 5 * time.Second
)

// citer turns the pipeline's violations into infraction events with their
// evidence packages: an annotated snapshot and a plate crop from the frame
// where the vehicle looked largest, and the clip cut from the encoded
// stream (no re-encoding) once the stream has passed the moment + 5 s.
type citer struct {
	deviceID, cameraID string
	cal                *calibration.Calibration
	writer             *evidence.Writer // nil: events without evidence files
	plates             *plate.Recognizer
	models             map[string]shared.Model
	ring               *clip.Ring
	tmp                string
	log                *slog.Logger
	emit               func(event.Envelope, *event.Infraction) error
	// onCommitted, when set, hears each committed infraction's timing.
	onCommitted func(InfractionTiming)
	// entered is when the frame being handled entered the pipeline (set by
	// the sink before it processes the frame).
	entered time.Time

	origin  time.Time // Captured - PTS of the stream
	started bool
	best    map[int64]*bestFrame
	pending []pendingCite
	lastPTS time.Duration
	synced  bool
	count   int
}

type bestFrame struct {
	f   frame.Frame
	box infer.Box
}

type pendingCite struct {
	v      pipeline.Violation
	shot   *bestFrame
	due    time.Duration // PTS after which the clip is complete
	timing InfractionTiming
}

func newCiter(deviceID, cameraID string, cal *calibration.Calibration, w *evidence.Writer, plates *plate.Recognizer,
	models map[string]shared.Model, log *slog.Logger, emit func(event.Envelope, *event.Infraction) error) (*citer, error) {
	tmp, err := os.MkdirTemp("", "vigia-cite-")
	if err != nil {
		return nil, fmt.Errorf("cite: %w", err)
	}
	return &citer{deviceID: deviceID, cameraID: cameraID, cal: cal, writer: w, plates: plates, models: models,
		ring: clip.NewRing(clipBefore + clipAfter + 5*time.Second), tmp: tmp, log: log, emit: emit,
		best: map[int64]*bestFrame{}}, nil
}

func (c *citer) close() { os.RemoveAll(c.tmp) }

func (c *citer) onPacket(p ingest.Packet) { c.ring.Push(p) }

// onFrame keeps each vehicle's best frame, queues new violations and
// finishes those whose clip is complete.
func (c *citer) onFrame(f *frame.Frame, r pipeline.FrameResult) error {
	if !c.started {
		c.origin, c.started = f.Captured.Add(-f.PTS), true
	}
	c.lastPTS, c.synced = f.PTS, f.ClockSynced
	for _, a := range r.Active {
		b := c.best[a.TrackID]
		if b == nil {
			b = &bestFrame{}
			c.best[a.TrackID] = b
		}
		// Keep the frame where the vehicle looks largest, but copy only on a
		// clear gain (10 % taller): an approaching vehicle grows every frame,
		// and a full-frame copy per frame per track is the costliest thing here.
		if b.box.H() == 0 || a.Box.H() >= 1.1*b.box.H() {
			// Copy the pixels into this track's own buffer: the decoder reuses
			// f's, and annotation draws on it.
			buf := b.f.BGR
			b.box = a.Box
			b.f = *f
			b.f.BGR = append(buf[:0], f.BGR[:f.Height*f.Stride]...)
		}
	}
	for _, v := range r.Violations {
		shot := c.best[v.TrackID]
		if shot == nil {
			continue
		}
		cp := *shot
		cp.f.BGR = append([]byte(nil), shot.f.BGR...)
		at := v.At.Sub(c.origin)
		due := at + clipAfter
		// f is the deciding frame: its analysis returned the violation.
		tm := InfractionTiming{Type: v.Type, CameraID: c.cameraID, Captured: f.Captured, Moment: v.At, Entered: c.entered,
			Decided: time.Now(), PostWindow: max(0, due-f.PTS)}
		c.pending = append(c.pending, pendingCite{v: v, shot: &cp, due: due, timing: tm})
	}
	for _, t := range r.Ended {
		delete(c.best, t.TrackID)
	}
	return c.flush(false)
}

// flush finishes the pending citations whose clips are complete (all of
// them at the end of the stream).
func (c *citer) flush(all bool) error {
	keep := c.pending[:0]
	for _, p := range c.pending {
		if !all && c.lastPTS < p.due {
			keep = append(keep, p)
			continue
		}
		if err := c.cite(p); err != nil {
			return err
		}
	}
	c.pending = keep
	return nil
}

func (c *citer) cite(p pendingCite) error {
	tm := p.timing
	tm.CompletingEntered, tm.CiteStarted = c.entered, time.Now()
	v := p.v
	inf := v.Infraction(c.cameraID)
	inf.DetectedAt = inf.DetectedAt.UTC()
	inf.DetectedSpeed, inf.SpeedUncertainty = round2(inf.DetectedSpeed), round2(inf.SpeedUncertainty)
	inf.ConfidenceScore = math.Min(1, v.Track.MeanScore)
	if inf.BBox == nil {
		b := p.shot.box
		inf.BBox = []float64{float64(b.X1), float64(b.Y1), float64(b.X2), float64(b.Y2)}
	}
	if v.Track.Plate != "" {
		inf.Plate, inf.PlateReadable, inf.OCRConfidence = strings.ToUpper(v.Track.Plate), true, v.Track.PlateConfidence
	}
	if c.cal != nil {
		inf.CalibrationSHA256 = strings.TrimPrefix(c.cal.Hash, "sha256:")
		if l := c.cal.Location; l != nil {
			inf.Location = &event.Location{Lat: l.Lat, Lon: l.Lon}
		}
	}
	env, err := event.New(c.deviceID, time.Now(), inf)
	if err != nil {
		return fmt.Errorf("cite: %w", err)
	}
	if c.writer != nil {
		if err := c.package_(&env, inf, p); err != nil {
			return err
		}
		if env, err = rewrap(env, inf); err != nil {
			return err
		}
	}
	c.count++
	if err := c.emit(env, inf); err != nil {
		return err
	}
	if c.onCommitted != nil {
		tm.EventID, tm.Committed = env.ID, time.Now()
		c.onCommitted(tm)
	}
	return nil
}

// rewrap re-encodes the payload after the evidence references were added.
func rewrap(env event.Envelope, inf *event.Infraction) (event.Envelope, error) {
	e2, err := event.New(env.DeviceID, env.TS, inf)
	if err != nil {
		return env, fmt.Errorf("cite: %w", err)
	}
	e2.ID = env.ID
	return e2, nil
}

// package_ writes the signed evidence package and records its files in inf.
func (c *citer) package_(env *event.Envelope, inf *event.Infraction, p pendingCite) error {
	lines := []string{
		fmt.Sprintf("%s  camera %s  %s", inf.Type, c.cameraID, inf.DetectedAt.Format("2006-01-02 15:04:05.000 MST")),
		fmt.Sprintf("track #%d %s  plate %s", inf.TrackID, inf.VehicleClass, orDash(inf.Plate)),
	}
	if inf.Type == event.SpeedViolation {
		lines = append(lines, fmt.Sprintf("speed %.1f km/h +- %.1f  limit %.0f km/h  tolerance %.0f km/h",
			inf.DetectedSpeed, inf.SpeedUncertainty, inf.SpeedLimit, inf.ToleranceKmh))
	}
	shot, err := annotate.Snapshot(&p.shot.f, [4]float32{p.shot.box.X1, p.shot.box.Y1, p.shot.box.X2, p.shot.box.Y2}, lines)
	if err != nil {
		return err
	}
	files := []evidence.File{{Name: "snapshot.jpg", Role: shared.RoleSnapshot, Data: shot}}
	if c.plates != nil {
		if res, err := c.plates.RecognizeVehicle(&p.shot.f, p.shot.box); err == nil && len(res) > 0 {
			b := res[0].Box
			for _, r := range res[1:] {
				if r.Confidence > res[0].Confidence {
					b = r.Box
				}
			}
			pad := 0.15 * float64(b.W())
			rect := image.Rect(int(float64(b.X1)-pad), int(float64(b.Y1)-pad), int(float64(b.X2)+pad), int(float64(b.Y2)+pad))
			if png, err := annotate.PNG(&p.shot.f, rect); err == nil {
				files = append(files, evidence.File{Name: "plate.png", Role: shared.RolePlateCrop, Data: png})
			}
		}
	}
	var window *shared.ClipWindow
	if cl, err := c.ring.Cut(inf.DetectedAt.Sub(c.origin), clipBefore, clipAfter); err == nil {
		path := filepath.Join(c.tmp, env.ID+".mp4")
		if err := cl.WriteMP4(context.Background(), "ffmpeg", path); err != nil {
			return err
		}
		defer os.Remove(path)
		files = append(files, evidence.File{Name: "clip.mp4", Role: shared.RoleVideoClip, Path: path})
		w := cl.Window(clipBefore, clipAfter)
		window = &w
	} else {
		c.log.Warn("no clip for infraction", "event_id", env.ID, "err", err)
	}
	source := "system"
	if c.synced {
		source = "rtcp-ntp"
	}
	in := evidence.Infraction{EventID: env.ID, CameraID: c.cameraID, Type: string(inf.Type), DetectedAt: inf.DetectedAt,
		Files: files, Models: c.models, Clock: shared.Clock{Synced: c.synced, Source: source}, Clip: window}
	if c.cal != nil {
		in.Calibration = shared.Calibration{ID: c.cal.DeviceID, SHA256: inf.CalibrationSHA256}
	}
	m, hash, err := c.writer.Write(in)
	if err != nil {
		return err
	}
	rel := evidence.PackageRel(m)
	for _, f := range m.Files {
		ef := &event.EvidenceFile{Key: rel + "/" + f.Name, SHA256: f.SHA256, SizeBytes: f.Size, ContentType: f.ContentType}
		switch f.Role {
		case shared.RoleSnapshot:
			inf.Evidence.Snapshot = ef
		case shared.RolePlateCrop:
			inf.Evidence.PlateCrop = ef
		case shared.RoleVideoClip:
			inf.Evidence.VideoClip = ef
		}
	}
	inf.Evidence.Manifest = &event.EvidenceFile{Key: rel + "/" + shared.ManifestFile, SHA256: strings.TrimPrefix(hash, "sha256:"),
		ContentType: "application/json"}
	inf.Evidence.ManifestSHA256 = inf.Evidence.Manifest.SHA256
	if st, err := os.Stat(filepath.Join(c.writer.Dir(), filepath.FromSlash(rel), shared.ManifestFile)); err == nil {
		inf.Evidence.Manifest.SizeBytes = st.Size()
	}
	c.log.Info("infraction cited", "event_id", env.ID, "type", inf.Type, "track", inf.TrackID, "plate", inf.Plate,
		"evidence", filepath.Join(c.writer.Dir(), filepath.FromSlash(rel)))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "(unreadable)"
	}
	return s
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// agentVersion is recorded in every manifest.
func agentVersion() string { return buildinfo.Get().Version }
