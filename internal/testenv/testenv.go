// Package testenv locates the real services, models and footage that the
// project's tests run against, and decides what happens when one is missing:
// on a developer's machine the test is skipped with the reason printed; under
// CI (CI=true) the test fails, because `make setup` must have provided it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// RepoRoot returns the directory holding the project's go.mod.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the directory of provided models and footage:
// $VIGIA_SHARED, or ../shared beside the repository.
func SharedDir() string {
	if d := os.Getenv("VIGIA_SHARED"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared")
}

// CacheDir returns the build cache outside git ($VIGIA_CACHE or ~/.cache/vigia).
func CacheDir() string {
	if d := os.Getenv("VIGIA_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "vigia")
}

// ModelsDir returns the models directory used by tests.
func ModelsDir() string { return filepath.Join(SharedDir(), "models") }

// DataDir returns the footage/plates directory used by tests.
func DataDir() string { return filepath.Join(SharedDir(), "data") }

// ORTLibrary returns the path of libonnxruntime.so.1 ($ORT_LIBRARY or the cache).
func ORTLibrary() string {
	if p := os.Getenv("ORT_LIBRARY"); p != "" {
		return p
	}
	return filepath.Join(CacheDir(), "lib", "libonnxruntime.so.1")
}

// MinIOBinary returns the path of the cached MinIO server binary.
func MinIOBinary() string {
	if p := os.Getenv("MINIO_BINARY"); p != "" {
		return p
	}
	return filepath.Join(CacheDir(), "bin", "minio")
}

// PGliteTimescaleDir returns where `make setup` installs PGlite with
// TimescaleDB and pglite-socket (the tests' TimescaleDB server).
func PGliteTimescaleDir() string { return filepath.Join(CacheDir(), "pglite-timescale") }

// InCI reports whether the tests run under CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips the test with the reason, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required by CI but missing: %s (run `make setup`)", msg)
	}
	t.Skipf("skipped: %s (run `make setup`)", msg)
}

// RequireFile returns path if it exists, else skips/fails the test.
func RequireFile(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "file %s: %v", path, err)
	}
	return path
}

// RequireModel returns the path of a model file under ModelsDir.
func RequireModel(t testing.TB, rel string) string {
	t.Helper()
	return RequireFile(t, filepath.Join(ModelsDir(), rel))
}

// RequireData returns the path of a data file under DataDir.
func RequireData(t testing.TB, rel string) string {
	t.Helper()
	return RequireFile(t, filepath.Join(DataDir(), rel))
}

// RequireORT returns the ONNX Runtime shared library path.
func RequireORT(t testing.TB) string {
	t.Helper()
	return RequireFile(t, ORTLibrary())
}

// RequireTool returns the path of an executable on PATH.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "tool %s not on PATH", name)
	}
	return p
}

// RequireTCP checks that something listens on addr (host:port).
func RequireTCP(t testing.TB, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, "service at %s: %v", addr, err)
		return
	}
	c.Close()
}

// PostgresURL returns the admin connection URL of the local PostgreSQL
// ($VIGIA_TEST_PG or postgres://postgres@127.0.0.1:5432/postgres).
func PostgresURL() string {
	if u := os.Getenv("VIGIA_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// MosquittoAddr returns the address of the external MQTT broker used by tests.
func MosquittoAddr() string {
	if a := os.Getenv("VIGIA_TEST_MQTT"); a != "" {
		return a
	}
	return "127.0.0.1:1883"
}

// handedOut holds the addresses FreeAddr has returned in this process.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddr returns a loopback host:port that was free a moment ago and that
// it has not returned before in this process: the kernel may offer a port
// just released again, and a test asking for several addresses before it
// starts its servers (hub, broker, camera simulator) once got the same one
// twice.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: listen: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("testenv: no new free port in 100 tries")
	return ""
}

// Context returns a context cancelled at the end of the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
