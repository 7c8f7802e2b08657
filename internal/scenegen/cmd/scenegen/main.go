// Command scenegen renders a synthetic traffic clip with known speeds:
// clip.mp4, truth.json, points.csv and frame.jpg in the output directory
// (plus geometry.json and signal.txt for the redlight and lane presets).
//
//	go run ./internal/scenegen/cmd/scenegen --out DIR [--preset speed|side|2k|redlight|lane] [--seed N] [--duration S]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/vigia-pe/vigia/internal/scenegen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var (
		out      = flag.String("out", "", "output directory (required)")
		preset   = flag.String("preset", "speed", "scene preset: speed, side, 2k, redlight or lane")
		seed     = flag.Uint64("seed", 1, "random seed (same seed, same clip)")
		duration = flag.Float64("duration", 0, "clip length in seconds (0: the preset's)")
		fps      = flag.Float64("fps", 0, "frame rate (0: the preset's)")
		jitter   = flag.Float64("jitter-ms", 0, "frame-time jitter amplitude in ms (0: constant rate)")
		click    = flag.Float64("click-noise", 0, "pixel noise (std dev) of the points.csv clicks")
		photos   = flag.String("photos", "", "directory of labelled car photos (default: the shared plates-br-openalpr/full)")
		verbose  = flag.Bool("v", false, "debug logging")
	)
	flag.Parse()
	if *out == "" {
		flag.Usage()
		return fmt.Errorf("scenegen: --out is required")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	s, err := scenegen.Preset(*preset, *seed, scenegen.PresetOptions{Duration: *duration, FPS: *fps})
	if err != nil {
		return err
	}
	s.JitterMs, s.ClickNoisePx = *jitter, *click
	if *photos != "" {
		s.PhotoDir = *photos
	}
	lib, err := scenegen.LoadLibrary(s.PhotoDir, scenegen.LibraryOptions{Logger: logger})
	if err != nil {
		return fmt.Errorf("%w (set --photos or VIGIA_SHARED)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t0 := time.Now()
	truth, err := scenegen.NewRenderer(lib, logger).Render(ctx, s, *out)
	if err != nil {
		return err
	}
	clickable := 0
	for _, m := range truth.Markers {
		if m.Clickable {
			clickable++
		}
	}
	fmt.Printf("%s: %d frames %dx%d at %g fps, %d cars, %d markers in points.csv, %.1fs\n",
		*out, len(truth.Frames), s.Camera.Width, s.Camera.Height, s.FPS, len(truth.Cars), clickable, time.Since(t0).Seconds())
	for _, c := range truth.Cars {
		fmt.Printf("  car %d  %-11s %-7s lane %d %-6s %6.1f km/h  full frames %d..%d",
			c.ID, c.Photo, c.Plate, c.Lane, c.Direction, c.SpeedKmh, c.FullFrom, c.FullTo)
		if c.ExpectedViolations != nil {
			fmt.Printf("  expected %v", c.ExpectedViolations)
		}
		if c.StopLineCrossT != nil {
			fmt.Printf("  stop line at %.2fs", *c.StopLineCrossT)
		}
		if c.SolidLineCrossT != nil {
			fmt.Printf("  solid line at %.2fs", *c.SolidLineCrossT)
		}
		if c.StoppedAtS != nil {
			fmt.Printf("  stopped at %.2fs", *c.StoppedAtS)
		}
		fmt.Println()
	}
	return nil
}
