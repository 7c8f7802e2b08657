package rules

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// LightConfig sets the fallback signal classifier that reads the traffic
// light from the picture when no controller feed is available.
type LightConfig struct {
	// Region is the signal head's rectangle in source-frame pixels.
	Region image.Rectangle
	// MinValue is the brightness (max of B, G, R, 0–255) a lit lamp pixel
	// must reach. Default 150.
	MinValue uint8
	// MinSaturation is the (max−min)/max a lit lamp pixel must reach, so that
	// white glare and grey housing do not count. Default 0.35.
	MinSaturation float64
	// MinFraction is the share of the region's pixels that must be lit in the
	// winning colour. A lamp is roughly a third of a three-lamp head; the
	// default 0.02 tolerates a loose rectangle.
	MinFraction float64
	// Frames is how many consecutive frames must agree on a new colour
	// before the phase changes (default 3); an unlit or unclear picture must
	// persist 3×Frames frames before the phase becomes unknown, so that LED
	// flicker does not interrupt a phase.
	Frames int
}

func (c *LightConfig) defaults() {
	if c.MinValue == 0 {
		c.MinValue = 150
	}
	if c.MinSaturation == 0 {
		c.MinSaturation = 0.35
	}
	if c.MinFraction == 0 {
		c.MinFraction = 0.02
	}
	if c.Frames == 0 {
		c.Frames = 3
	}
}

// LightClassifier is a SignalSource that classifies a traffic light's region
// of each frame as red, amber or green by counting bright, saturated pixels
// by hue, with a temporal filter. It records confirmed changes in a Timeline,
// dated at the first frame of the agreeing run: the latest moment the change
// can have happened, which never overstates the time into red. Observe is not
// safe for concurrent use; PhaseAt is.
type LightClassifier struct {
	cfg      LightConfig
	tl       *Timeline
	current  Phase
	cand     Phase
	run      int
	runStart time.Time
}

var _ SignalSource = (*LightClassifier)(nil)

// NewLightClassifier checks the configuration and returns a classifier.
func NewLightClassifier(cfg LightConfig) (*LightClassifier, error) {
	cfg.defaults()
	var errs []error
	if cfg.Region.Empty() || cfg.Region.Min.X < 0 || cfg.Region.Min.Y < 0 {
		errs = append(errs, fmt.Errorf("region %v must be a non-empty rectangle at non-negative coordinates", cfg.Region))
	}
	if !(cfg.MinSaturation > 0 && cfg.MinSaturation < 1) {
		errs = append(errs, fmt.Errorf("min saturation must be in (0,1), got %g", cfg.MinSaturation))
	}
	if !(cfg.MinFraction > 0 && cfg.MinFraction <= 1) {
		errs = append(errs, fmt.Errorf("min fraction must be in (0,1], got %g", cfg.MinFraction))
	}
	if cfg.Frames < 1 {
		errs = append(errs, fmt.Errorf("frames must be >= 1, got %d", cfg.Frames))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rules: light classifier: %w", err)
	}
	return &LightClassifier{cfg: cfg, tl: NewTimeline(0, 0)}, nil
}

// Counts is how many lit pixels of each colour a region holds.
type Counts struct {
	Red, Amber, Green, Total int
}

// CountLit counts the bright, saturated red, amber and green pixels of the
// rectangle r of f (clipped to the frame). Hue bands, in degrees: red below
// 20 or from 330, amber 20–65, green 75–200 (signal greens lean to cyan).
func CountLit(f *frame.Frame, r image.Rectangle, minValue uint8, minSat float64) Counts {
	r = r.Intersect(image.Rect(0, 0, f.Width, f.Height))
	var c Counts
	if r.Empty() || len(f.BGR) < f.Height*f.Stride {
		return c
	}
	c.Total = r.Dx() * r.Dy()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.BGR[y*f.Stride : y*f.Stride+3*r.Max.X]
		for x := r.Min.X; x < r.Max.X; x++ {
			b, g, rd := int(row[3*x]), int(row[3*x+1]), int(row[3*x+2])
			mx, mn := max(b, g, rd), min(b, g, rd)
			if mx < int(minValue) || float64(mx-mn) < minSat*float64(mx) || mx == mn {
				continue
			}
			// Hue in degrees, as in the HSV hexcone model.
			d := float64(mx - mn)
			var h float64
			switch mx {
			case rd:
				h = 60 * float64(g-b) / d
				if h < 0 {
					h += 360
				}
			case g:
				h = 60*float64(b-rd)/d + 120
			default:
				h = 60*float64(rd-g)/d + 240
			}
			switch {
			case h < 20 || h >= 330:
				c.Red++
			case h >= 20 && h < 65:
				c.Amber++
			case h >= 75 && h < 200:
				c.Green++
			}
		}
	}
	return c
}

// Classify returns the colour a single frame shows, without filtering.
func (lc *LightClassifier) Classify(f *frame.Frame) Phase {
	c := CountLit(f, lc.cfg.Region, lc.cfg.MinValue, lc.cfg.MinSaturation)
	if c.Total == 0 {
		return PhaseUnknown
	}
	best, n := PhaseRed, c.Red
	if c.Amber > n {
		best, n = PhaseAmber, c.Amber
	}
	if c.Green > n {
		best, n = PhaseGreen, c.Green
	}
	// The winner must be lit enough and clearly ahead of the runner-up;
	// two colours lit alike mean the picture is unclear.
	second := c.Red + c.Amber + c.Green - n - min(c.Red, c.Amber, c.Green)
	if float64(n) < lc.cfg.MinFraction*float64(c.Total) || n < 2*second {
		return PhaseUnknown
	}
	return best
}

// Observe classifies a frame, runs the temporal filter and returns the
// filtered phase.
func (lc *LightClassifier) Observe(f *frame.Frame) Phase {
	p := lc.Classify(f)
	if p != lc.cand {
		lc.cand, lc.run, lc.runStart = p, 0, f.Captured
	}
	lc.run++
	need := lc.cfg.Frames
	if p == PhaseUnknown {
		need *= 3
	}
	if p != lc.current && lc.run >= need {
		lc.current = p
		lc.tl.Set(p, lc.runStart)
	}
	return lc.current
}

// PhaseAt implements SignalSource from the confirmed changes.
func (lc *LightClassifier) PhaseAt(t time.Time) (Phase, time.Time) { return lc.tl.PhaseAt(t) }
