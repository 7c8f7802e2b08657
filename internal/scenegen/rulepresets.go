package scenegen

import (
	"math"
	"math/rand/v2"
)

// passTimeFor returns the PassTime of a constant-speed car in lane that
// is at ground y = at when t = tAt.
func passTimeFor(s *Scene, lane int, kmh, at, tAt float64) float64 {
	d := s.Road.LaneDirection(lane).sign() * (at - s.RefY)
	return tAt - d/(kmh/3.6)
}

// uniform returns a value in [lo, hi) rounded to 0.01.
func uniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Round((lo+rng.Float64()*(hi-lo))*100) / 100
}

// RedLightScene returns a 10 s, 25 fps, 1280x720 clip of the speed
// camera's four-lane road with a stop line (and a crosswalk beyond it) at
// 25 m across the two lanes driving towards the camera, and a signal that
// is green from 0 s, amber from 3 s and red from 6 s. Cars towards the
// camera (their front bumper is the ground point): one crossing the stop
// line on green, one on amber, one running the red more than 1.5 s after
// it began (constant speed), and one braking to a standstill 2.5–3.5 m
// before the line after red began and staying there; plus one car driving
// away on the other side, which the stop line does not govern. Speeds
// stay under 60 km/h; the seed varies the speeds, times and photos.
func RedLightScene(seed uint64) Scene { return mustPreset("redlight", seed) }

// LaneScene returns a 10 s, 25 fps, 1280x720 clip of the speed camera's
// four-lane road whose two lanes towards the camera are separated by a
// solid line, with the right-hand away lane a bus lane (no car uses it).
// One car moves across the solid line into the kerb lane over 2 s,
// crossing it 35 m from the camera; the others keep their lanes. Speeds stay
// under 60 km/h; the seed varies speeds, times and photos.
func LaneScene(seed uint64) Scene { return mustPreset("lane", seed) }

// Red-light preset layout.
const (
	redLightStopY = 25.0
	redLightAmber = 3.0
	redLightRed   = 6.0
)

func redLightPreset(seed uint64, opt PresetOptions) Scene {
	road := DefaultRoad()
	road.Markers = MarkerGrid{FromY: 10, ToY: 45, StepM: 5, SizeM: 1.0}
	road.StopLine, road.StopLineY, road.StopLineDir, road.Crosswalk = true, redLightStopY, Toward, true
	s := Scene{Name: "redlight", Seed: seed, Camera: speedCamera(road, 1280, 720), Road: road, FPS: 25, Duration: 10,
		RefY: 40, NoiseSigma: 2, PhotoDir: DefaultPhotoDir(),
		Signal: []SignalPhase{{PhaseGreen, 0}, {PhaseAmber, redLightAmber}, {PhaseRed, redLightRed}}}
	applyOptions(&s, opt)
	_, _, lineY := road.StopLineSpan()
	rng := rand.New(rand.NewPCG(seed, 0x4ed1))

	car := func(id, lane int, crossAt float64) Car {
		v := uniform(rng, 40, 50)
		return Car{ID: id, Lane: lane, SpeedKmh: v, PassTime: passTimeFor(&s, lane, v, lineY, crossAt)}
	}
	green := car(1, 0, uniform(rng, 1.2, 2.0))
	amber := car(2, 0, uniform(rng, 4.0, 4.6))
	runner := car(3, 0, redLightRed+uniform(rng, 1.5, 2.3))
	// The stopper halts short of the line, after red began, from under
	// 60 km/h: v = a·(stop time) at t = 0.
	a := uniform(rng, 1.8, 2.2)
	stopAt := uniform(rng, 6.3, 6.8)
	stopY := lineY + uniform(rng, 2.5, 3.5)
	vRef := math.Sqrt(2 * a * (s.RefY - stopY))
	stopper := Car{ID: 4, Lane: 1, SpeedKmh: vRef * 3.6, AccelMS2: -a, Stops: true, PassTime: stopAt - vRef/a}
	away := car(5, 2, redLightRed+uniform(rng, 0.5, 1.5))
	s.Cars = []Car{green, amber, runner, stopper, away}
	return s
}

// laneCrossY is where the lane changer crosses the solid line.
const laneCrossY = 35.0

func lanePreset(seed uint64, opt PresetOptions) Scene {
	road := DefaultRoad()
	road.Markers = MarkerGrid{FromY: 10, ToY: 45, StepM: 5, SizeM: 1.0}
	road.SolidDividers = []int{1}
	road.BusLanes = []int{3}
	s := Scene{Name: "lane", Seed: seed, Camera: speedCamera(road, 1280, 720), Road: road, FPS: 25, Duration: 10,
		RefY: 27.5, NoiseSigma: 2, PhotoDir: DefaultPhotoDir()}
	applyOptions(&s, opt)
	rng := rand.New(rand.NewPCG(seed, 0x1a4e))
	at := uniform(rng, 3.5, 4.5)
	v := uniform(rng, 40, 50)
	// Half-way through the change (on the solid line) at laneCrossY, so
	// that the car is seen settled in its new lane well before it leaves.
	pass := passTimeFor(&s, 1, v, laneCrossY, at+1)
	changer := Car{ID: 1, Lane: 1, SpeedKmh: v, PassTime: pass,
		LaneChange: &LaneChange{AtS: at, DurationS: 2, ToLane: 0}}
	ahead := Car{ID: 2, Lane: 0, SpeedKmh: uniform(rng, 40, 50), PassTime: pass - uniform(rng, 3, 3.5)}
	behind := Car{ID: 3, Lane: 1, SpeedKmh: uniform(rng, 40, 50), PassTime: pass + uniform(rng, 3, 3.5)}
	away := Car{ID: 4, Lane: 2, SpeedKmh: uniform(rng, 40, 50), PassTime: uniform(rng, 4, 6)}
	s.Cars = []Car{changer, ahead, behind, away}
	return s
}

func applyOptions(s *Scene, opt PresetOptions) {
	if opt.Duration > 0 {
		s.Duration = opt.Duration
	}
	if opt.FPS > 0 {
		s.FPS = opt.FPS
	}
}
