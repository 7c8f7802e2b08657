// Package testtimescale starts a real TimescaleDB for a test: TimescaleDB
// 2.23 inside PGlite (PostgreSQL 17 compiled to WebAssembly), served over
// the PostgreSQL wire protocol by pglite-socket under Node.js, as `make
// setup` installs it. No TimescaleDB package is reachable from this machine
// (it is not in Debian), and this build is the real extension's code.
//
// Limits of that server: one client connection at a time (a second waits
// until the first closes), an in-memory database per server, and no PostGIS.
package testtimescale

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/migrations"
)

// Start launches a server with an empty database and returns its URL, with
// a pool of one connection; the server stops when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	node := testenv.RequireTool(t, "node")
	// setup.sh writes "installed" once the packages are in place.
	testenv.RequireFile(t, filepath.Join(testenv.PGliteTimescaleDir(), "installed"))
	script := filepath.Join(testenv.RepoRoot(), "internal", "testtimescale", "server.cjs")
	cmd := exec.Command(node, script, testenv.PGliteTimescaleDir(), "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder // read only once the process has exited
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testtimescale: start node: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case p := <-port:
		// pglite-socket speaks no TLS and accepts any password.
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable&pool_max_conns=1", p)
	case <-done:
		t.Fatalf("testtimescale: the server exited: %s", stderr.String())
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("testtimescale: the server did not listen within 90 s: %s", stderr.String())
	}
	return ""
}

// seriesMigrations are the migrations that shape events and
// inference_metrics.
var seriesMigrations = []string{"002_timeseries.sql", "007_metrics_device_check.sql"}

// SeriesSchema prepares a database of this server for the hub's time series
// as the migrations leave them: PostGIS is missing here, so the tables they
// reference get stand-ins (users and devices with only their keys), then the
// migrations that shape the time series run as written. They stay natively
// partitioned until the hub converts them.
func SeriesSchema(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE users (id UUID PRIMARY KEY);
		CREATE TABLE devices (id VARCHAR(50) PRIMARY KEY)`); err != nil {
		t.Fatalf("testtimescale: stand-in tables: %v", err)
	}
	for _, name := range seriesMigrations {
		sql, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("testtimescale: migration %s: %v", name, err)
		}
	}
}
