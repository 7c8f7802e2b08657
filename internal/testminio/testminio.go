// Package testminio starts a real MinIO server (the binary `make setup`
// builds into the cache) on a free loopback port for a test.
package testminio

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

// Server is a running MinIO.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	bin, dir  string
	cmd       *exec.Cmd
	out       *lockedBuf
	done      chan struct{}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Start launches MinIO with a fresh data directory; it is stopped at test end.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.RequireFile(t, testenv.MinIOBinary())
	s := &Server{Endpoint: testenv.FreeAddr(t), AccessKey: "vigiatest", SecretKey: "vigiatest-secret-key", bin: bin, dir: t.TempDir()}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

// Restart starts a stopped server again on the same address and data
// directory (for outage tests): the objects it held are still there.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint, "--console-address", testenv.FreeAddr(t), s.dir)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	s.out = &lockedBuf{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("testminio: start: %v", err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// /minio/health/cluster answers 200 only once the storage has write quorum;
		// /ready can answer before the drives are initialised.
		resp, err := http.Get("http://" + s.Endpoint + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("testminio: exited early:\n%s", s.out.b.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("testminio: not ready after 60 s:\n%s", s.out.b.String())
}

// Stop terminates the server (idempotent).
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
