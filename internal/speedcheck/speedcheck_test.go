package speedcheck

import (
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/internal/scenegen"
)

func TestCompareMatchesAndScores(t *testing.T) {
	truth := &scenegen.Truth{Scene: scenegen.Scene{FPS: 10}, Cars: []scenegen.CarTruth{
		{ID: 1, Plate: "ABC1234", SpeedKmh: 50, FullFrom: 0, Track: []scenegen.CarFrame{
			{T: 0.0, SpeedKmh: 50, Box: [4]float64{0, 0, 10, 10}}, {T: 1.0, SpeedKmh: 50, Box: [4]float64{100, 100, 120, 120}}}},
		{ID: 2, Plate: "XYZ9876", SpeedKmh: 80, FullFrom: 0, Track: []scenegen.CarFrame{
			{T: 1.0, SpeedKmh: 80, Box: [4]float64{300, 300, 340, 340}}}},
		{ID: 3, SpeedKmh: 30, FullFrom: 0, Track: []scenegen.CarFrame{{T: 1.0, Box: [4]float64{600, 600, 640, 640}}}},
	}}
	tracks, err := DecodeTracks(strings.NewReader(`{"type":"track","track_id":7,"speed_kmh":51,"speed_uncertainty_kmh":1.5,"t_start":0,"t_end":1.0,"last_box":[101,101,121,121],"plate":"ABC-1234"}
{"type":"infraction","id":"x"}
{"type":"track","track_id":8,"speed_kmh":77,"speed_uncertainty_kmh":1,"t_start":0.5,"t_end":1.0,"last_box":[300,300,340,341],"plate":"XYZ-9875"}
{"type":"track","track_id":9,"speed_kmh":null,"t_end":1.0,"last_box":[900,900,950,950]}
`))
	if err != nil || len(tracks) != 3 {
		t.Fatalf("decode: %d tracks, %v", len(tracks), err)
	}
	rep := Compare(truth, tracks)
	if len(rep.Matches) != 2 || rep.MaxAbsKmh != 3 || rep.MeanAbsKmh != 2 {
		t.Fatalf("matches %+v mean %.2f max %.2f", rep.Matches, rep.MeanAbsKmh, rep.MaxAbsKmh)
	}
	if rep.PlatesRight != 1 || rep.PlatesWrong != 1 || len(rep.Unmatched) != 1 || len(rep.MissedCars) != 1 || rep.MissedCars[0] != 3 {
		t.Fatalf("report %+v", rep)
	}
	if rep.WithinOneSigma != 1 || rep.WithinTwoSigmas != 1 {
		t.Fatalf("sigma coverage %d/%d", rep.WithinOneSigma, rep.WithinTwoSigmas)
	}
	if _, err := DecodeTracks(strings.NewReader("{broken\n")); err == nil {
		t.Fatal("broken line accepted")
	}
}
