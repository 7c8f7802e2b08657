package scenegen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Car is one vehicle of a scene, driving along a lane.
type Car struct {
	// ID is a positive number unique in the scene.
	ID int `json:"id"`
	// Photo names the library photo to use; empty picks one (by the scene's
	// seed) among whole cars showing the side the camera sees.
	Photo string `json:"photo,omitempty"`
	// Lane is the lane index (0 = leftmost); it sets the direction.
	Lane int `json:"lane"`
	// SpeedKmh is the speed at PassTime.
	SpeedKmh float64 `json:"speed_kmh"`
	// AccelMS2 is a constant acceleration (negative brakes); 0 keeps the
	// speed constant.
	AccelMS2 float64 `json:"accel_ms2,omitempty"`
	// PassTime is when the car's ground point crosses y = Scene.RefY,
	// seconds from the first frame (it may lie outside the clip).
	PassTime float64 `json:"pass_time_s"`
	// OffsetM shifts the car across its lane (+x).
	OffsetM float64 `json:"offset_m,omitempty"`
	// WidthM is the car's width (default 1.8 m); the height follows the
	// photo's aspect.
	WidthM float64 `json:"width_m,omitempty"`
	// Stops, with AccelMS2 < 0, makes the car brake to a standstill and
	// stay there (instead of reversing): its speed is max(0, v) and its
	// position stops where the speed reaches zero.
	Stops bool `json:"stops,omitempty"`
	// LaneChange moves the car sideways into another lane of the same
	// direction.
	LaneChange *LaneChange `json:"lane_change,omitempty"`
}

// LaneChange is a smooth sideways move from the car's lane to ToLane,
// starting AtS seconds after the first frame and lasting DurationS: the
// ground x follows smoothstep (3u²−2u³, u the elapsed fraction), so the
// lateral speed is zero at both ends. The car keeps its OffsetM.
type LaneChange struct {
	AtS       float64 `json:"at_s"`
	DurationS float64 `json:"duration_s"`
	ToLane    int     `json:"to_lane"`
}

// DefaultCarWidthM is the width of a car when Car.WidthM is zero.
const DefaultCarWidthM = 1.8

func (c Car) width() float64 {
	if c.WidthM == 0 {
		return DefaultCarWidthM
	}
	return c.WidthM
}

// Scene is everything needed to render a clip.
type Scene struct {
	Name   string `json:"name"`
	Seed   uint64 `json:"seed"`
	Camera Camera `json:"camera"`
	Road   Road   `json:"road"`
	Cars   []Car  `json:"cars"`
	// FPS is the nominal frame rate and Duration the clip length in seconds.
	FPS      float64 `json:"fps"`
	Duration float64 `json:"duration_s"`
	// JitterMs is the largest deviation of a frame time from n/FPS (see the
	// package comment); 0 gives a constant-rate clip.
	JitterMs float64 `json:"jitter_ms,omitempty"`
	// NoiseSigma is the standard deviation, in grey levels, of the sensor
	// noise added to every frame.
	NoiseSigma float64 `json:"noise_sigma"`
	// ClickNoisePx is the standard deviation of the pixel noise added to the
	// marker positions written to points.csv (a technician's clicks).
	ClickNoisePx float64 `json:"click_noise_px,omitempty"`
	// RefY is the y at which Car.PassTime is measured.
	RefY float64 `json:"ref_y"`
	// PhotoDir is the directory of labelled car photos (see LoadLibrary).
	PhotoDir string `json:"photo_dir"`
	// Signal is the schedule of the traffic light governing the stop line
	// (empty: no signal); each phase lasts until the next one.
	Signal []SignalPhase `json:"signal,omitempty"`

	// noShadows leaves out car shadows (tests compare car pixels alone).
	noShadows bool
}

// Limits of a scene.
const (
	MaxCars   = 200
	MaxFrames = 100000
)

// Frames returns the number of frames: those with n/FPS < Duration.
func (s Scene) Frames() int {
	return int(math.Ceil(s.Duration*s.FPS - 1e-9))
}

// Validate reports every problem of the scene at once.
func (s Scene) Validate() error {
	var errs []error
	if err := s.Camera.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("camera: %w", err))
	}
	if err := s.Road.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("road: %w", err))
	}
	if !(s.FPS >= 1 && s.FPS <= 240) {
		errs = append(errs, fmt.Errorf("fps %v must be within 1..240", s.FPS))
	}
	if !(s.Duration > 0) || !(s.Duration*s.FPS <= MaxFrames) {
		errs = append(errs, fmt.Errorf("duration %v s must be positive and give at most %d frames", s.Duration, MaxFrames))
	}
	if s.FPS > 0 && !(s.JitterMs >= 0 && s.JitterMs/1000 < 0.45/s.FPS) {
		errs = append(errs, fmt.Errorf("jitter %v ms must be within 0 and 45%% of the frame period (frames must stay in order)", s.JitterMs))
	}
	if !(s.NoiseSigma >= 0 && s.NoiseSigma <= 30) {
		errs = append(errs, fmt.Errorf("noise sigma %v must be within 0..30", s.NoiseSigma))
	}
	if !(s.ClickNoisePx >= 0 && s.ClickNoisePx <= 20) {
		errs = append(errs, fmt.Errorf("click noise %v px must be within 0..20", s.ClickNoisePx))
	}
	if !finite(s.RefY) {
		errs = append(errs, errors.New("ref y must be finite"))
	}
	if len(s.Cars) > MaxCars {
		errs = append(errs, fmt.Errorf("%d cars, at most %d", len(s.Cars), MaxCars))
	}
	ids := map[int]bool{}
	for i, c := range s.Cars {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("car %d (id %d): %s", i, c.ID, fmt.Sprintf(format, a...)))
		}
		if c.ID <= 0 || ids[c.ID] {
			bad("id must be positive and unique")
		}
		ids[c.ID] = true
		if c.Lane < 0 || c.Lane >= s.Road.Lanes() {
			bad("lane %d outside 0..%d", c.Lane, s.Road.Lanes()-1)
		}
		if !(c.SpeedKmh > 0 && c.SpeedKmh <= 300) {
			bad("speed %v km/h must be within (0, 300]", c.SpeedKmh)
		}
		if !(math.Abs(c.AccelMS2) <= 10) {
			bad("acceleration %v m/s² must be within ±10", c.AccelMS2)
		}
		if !finite(c.PassTime) || !finite(c.OffsetM) || math.Abs(c.OffsetM) > s.Road.LaneWidthM/2 {
			bad("pass time and offset must be finite, |offset| at most half a lane")
		}
		if c.WidthM != 0 && !(c.WidthM >= 1 && c.WidthM <= 3) {
			bad("width %v m must be within 1..3", c.WidthM)
		}
		// Constant acceleration: the speed must stay positive over the clip
		// (a stopping car only has to be moving at its start).
		ends := []float64{0, s.Duration}
		if c.Stops {
			ends = ends[:1]
			if !(c.AccelMS2 < 0) {
				bad("a stopping car needs a negative acceleration")
			}
		}
		for _, t := range ends {
			if v := c.SpeedKmh/3.6 + c.AccelMS2*(t-c.PassTime); !(v > 0) {
				bad("speed would reach %.1f m/s at t=%v s; keep it positive over the clip", v, t)
				break
			}
		}
		if lc := c.LaneChange; lc != nil {
			if !finite(lc.AtS) || !(lc.DurationS > 0 && lc.DurationS <= 30) {
				bad("lane change start must be finite and its duration within (0, 30] s")
			}
			if lc.ToLane < 0 || lc.ToLane >= s.Road.Lanes() || s.Road.LaneDirection(lc.ToLane) != s.Road.LaneDirection(c.Lane) {
				bad("lane change to lane %d: want a lane of the same direction", lc.ToLane)
			}
		}
	}
	if err := validateSignal(s.Signal); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Motion of a car.

// stopDT returns, for a car that stops, the time from PassTime to the
// standstill (+Inf otherwise).
func (c Car) stopDT() float64 {
	if !c.Stops || !(c.AccelMS2 < 0) {
		return math.Inf(1)
	}
	return -c.SpeedKmh / 3.6 / c.AccelMS2
}

// distance returns the signed distance driven since PassTime, metres.
func (c Car) distance(t float64) float64 {
	dt := min(t-c.PassTime, c.stopDT())
	return c.SpeedKmh/3.6*dt + 0.5*c.AccelMS2*dt*dt
}

// speedAt returns the speed at time t, km/h.
func (c Car) speedAt(t float64) float64 {
	if t-c.PassTime >= c.stopDT() {
		return 0
	}
	return c.SpeedKmh + 3.6*c.AccelMS2*(t-c.PassTime)
}

// groundPoint returns the car's ground point at time t.
func (s *Scene) groundPoint(c Car, t float64) (x, y float64) {
	dir := s.Road.LaneDirection(c.Lane).sign()
	x = s.Road.LaneCentreX(c.Lane) + c.OffsetM
	if lc := c.LaneChange; lc != nil {
		x += (s.Road.LaneCentreX(lc.ToLane) - s.Road.LaneCentreX(c.Lane)) * smoothstep(lc.AtS, lc.AtS+lc.DurationS, t)
	}
	return x, s.RefY + dir*c.distance(t)
}

// Presets.

// speedCamera looks along the road from a pole arm over the right shoulder.
func speedCamera(road Road, w, h int) Camera {
	return Camera{Width: w, Height: h, HFOVDeg: 50, X: road.RightEdgeX() + 0.5, Y: 0, HeightM: 7, PitchDeg: 15, YawDeg: -9}
}

// PresetOptions overrides parts of a preset before its cars are placed.
type PresetOptions struct {
	// Duration (seconds) and FPS replace the preset's when positive.
	Duration, FPS float64
}

// Preset returns the named preset scene: "speed" (DefaultSpeedScene),
// "side" (SideScene), "2k" (TwoKScene), "redlight" (RedLightScene) or
// "lane" (LaneScene).
func Preset(name string, seed uint64, opt PresetOptions) (Scene, error) {
	switch name {
	case "redlight":
		return redLightPreset(seed, opt), nil
	case "lane":
		return lanePreset(seed, opt), nil
	}
	road := DefaultRoad()
	var (
		s        Scene
		n        int
		halfZone float64
	)
	switch name {
	case "speed", "2k":
		road.Markers = MarkerGrid{FromY: 10, ToY: 45, StepM: 5, SizeM: 1.0}
		s = Scene{Camera: speedCamera(road, 1280, 720), FPS: 25, Duration: 14, RefY: 27.5}
		n, halfZone = 8, 17.5
		if name == "2k" {
			s.Camera.Width, s.Camera.Height = 2560, 1440
		}
	case "side":
		road.Markers = MarkerGrid{FromY: -15, ToY: 15, StepM: 3, SizeM: 1.0}
		// On a pole in an open lot beside the road, looking across it.
		road.BuildingsLeft = false
		s = Scene{Camera: Camera{Width: 1280, Height: 720, HFOVDeg: 55, X: road.LeftEdgeX() - 21, Y: 0, HeightM: 8, PitchDeg: 17, YawDeg: 90},
			FPS: 25, Duration: 10, RefY: 0}
		n, halfZone = 6, 15
	default:
		return Scene{}, fmt.Errorf("scenegen: unknown preset %q (want speed, side, 2k, redlight or lane)", name)
	}
	s.Name, s.Seed, s.Road, s.NoiseSigma, s.PhotoDir = name, seed, road, 2, DefaultPhotoDir()
	if opt.Duration > 0 {
		s.Duration = opt.Duration
	}
	if opt.FPS > 0 {
		s.FPS = opt.FPS
	}
	s.Cars = SpreadCars(s, n, 20, 120, halfZone)
	return s, nil
}

// mustPreset returns a preset whose name is known to Preset.
func mustPreset(name string, seed uint64) Scene {
	s, _ := Preset(name, seed, PresetOptions{})
	return s
}

// DefaultSpeedScene returns a reproducible 14 s, 25 fps, 1280x720 clip of
// a four-lane road seen along its length from 7.5 m up, with 8 cars whose
// speeds are spread over 20–120 km/h, in all four lanes (so both towards
// and away from the camera), each crossing the whole marker zone (10–45 m)
// within the clip.
func DefaultSpeedScene(seed uint64) Scene { return mustPreset("speed", seed) }

// SideScene returns a 10 s clip seen from the roadside, looking across the
// road: 6 cars cross the image laterally. (The sprites are front and rear
// photos, so the cars look flat from this side; the geometry is exact.)
func SideScene(seed uint64) Scene { return mustPreset("side", seed) }

// TwoKScene is DefaultSpeedScene at 2560x1440, for benchmarks.
func TwoKScene(seed uint64) Scene { return mustPreset("2k", seed) }

// minGapM is the smallest bumper-to-bumper spacing, along y, of two cars
// sharing a lane (billboards would otherwise drive through each other).
const minGapM = 8

// SpreadCars makes n cars with speeds evenly spread over [lo, hi] km/h
// (each moved by up to a third of the step, then shuffled), lanes dealt in
// turn, and pass times drawn so that each car covers ±halfZone metres around
// RefY within the clip and cars sharing a lane keep minGapM apart.
func SpreadCars(s Scene, n int, lo, hi, halfZone float64) []Car {
	rng := rand.New(rand.NewPCG(s.Seed, 0x5ca1ab1e))
	step := (hi - lo) / float64(max(1, n-1))
	speeds := make([]float64, n)
	for i := range speeds {
		v := lo + float64(i)*step + (rng.Float64()*2-1)*step/3
		speeds[i] = math.Round(math.Max(lo, math.Min(hi, v))*10) / 10
	}
	rng.Shuffle(n, func(i, j int) { speeds[i], speeds[j] = speeds[j], speeds[i] })
	lanes := rng.Perm(s.Road.Lanes())
	cars := make([]Car, 0, n)
	for i := range n {
		c := Car{ID: i + 1, Lane: lanes[i%len(lanes)], SpeedKmh: speeds[i]}
		margin := halfZone/(c.SpeedKmh/3.6) + 0.4
		for try := 0; ; try++ {
			c.PassTime = math.Round((margin+rng.Float64()*math.Max(0, s.Duration-2*margin))*100) / 100
			if try == 1000 || !conflicts(s, cars, c) {
				break
			}
		}
		cars = append(cars, c)
	}
	return cars
}

// conflicts reports whether c comes within minGapM of a car in its lane
// at any time of the clip.
func conflicts(s Scene, cars []Car, c Car) bool {
	for _, o := range cars {
		if o.Lane != c.Lane {
			continue
		}
		for t := 0.0; t <= s.Duration; t += 0.05 {
			_, y1 := s.groundPoint(c, t)
			_, y2 := s.groundPoint(o, t)
			if math.Abs(y1-y2) < minGapM {
				return true
			}
		}
	}
	return false
}
