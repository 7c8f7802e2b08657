package scenegen

import (
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vigia-pe/vigia/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// photosRel is the car photo directory under testenv.DataDir().
const photosRel = "plates-br-openalpr/full"

// sharedLib caches the photo library (and its cut sprites) across tests:
// cutting a sprite takes a few hundred milliseconds.
var sharedLib struct {
	once sync.Once
	lib  *Library
	err  error
}

// testLibrary returns the shared photo library, or skips (fails under CI)
// when the photos are missing.
func testLibrary(t testing.TB) *Library {
	t.Helper()
	dir := testenv.RequireData(t, photosRel)
	sharedLib.once.Do(func() { sharedLib.lib, sharedLib.err = LoadLibrary(dir, LibraryOptions{}) })
	if sharedLib.err != nil {
		t.Fatal(sharedLib.err)
	}
	return sharedLib.lib
}

// smallScene is a quick scene: 640x360 at 10 fps, 2 s, three cars with
// named photos (one toward, two away), no noise.
func smallScene(seed uint64) Scene {
	road := DefaultRoad()
	road.Markers = MarkerGrid{FromY: 10, ToY: 45, StepM: 5, SizeM: 1.0}
	return Scene{
		Name: "small", Seed: seed, Camera: speedCamera(road, 640, 360), Road: road,
		FPS: 10, Duration: 2, RefY: 25, PhotoDir: filepath.Join(testenv.DataDir(), photosRel),
		Cars: []Car{
			{ID: 1, Photo: "AYO9034.jpg", Lane: 1, SpeedKmh: 50, PassTime: 1},
			{ID: 2, Photo: "PAG5219.png", Lane: 2, SpeedKmh: 90, PassTime: 0.8},
			{ID: 3, Photo: "PWC0633.jpg", Lane: 3, SpeedKmh: 30, PassTime: 1.2, AccelMS2: -1},
		},
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
