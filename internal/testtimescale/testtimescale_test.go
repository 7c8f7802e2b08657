package testtimescale

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"

	"github.com/vigia-pe/vigia/migrations"
)

// TestSeriesMigrationsComplete: every migration that touches events or
// inference_metrics is among those SeriesSchema applies, so the TimescaleDB
// tests convert the tables as the hub's migrations really leave them.
func TestSeriesMigrationsComplete(t *testing.T) {
	touches := regexp.MustCompile(`(?i)\b(TABLE|ON|INTO|FROM|UPDATE)\s+(IF\s+EXISTS\s+)?(events|inference_metrics)\b`)
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v %v", names, err)
	}
	found := 0
	for _, name := range names {
		sql, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if touches.Match(sql) {
			found++
			if !slices.Contains(seriesMigrations, name) {
				t.Errorf("%s touches the time series but SeriesSchema does not apply it", name)
			}
		}
	}
	if found != len(seriesMigrations) {
		t.Errorf("%d migrations touch the time series, SeriesSchema applies %d", found, len(seriesMigrations))
	}
}
