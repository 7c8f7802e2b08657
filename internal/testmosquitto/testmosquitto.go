// Package testmosquitto starts a private Mosquitto broker for outage tests:
// on its own port, with persistence in a directory of the test's, so that it
// can be stopped and started again with its sessions and queued QoS 1
// messages intact. The system broker on 1883 is shared by every test and is
// never stopped.
package testmosquitto

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

// Server is one running (or stopped) broker.
type Server struct {
	Addr, Dir string
	cmd       *exec.Cmd
	done      chan struct{}
	out       *lockedBuf
}

// Start launches Mosquitto on addr with persistence in dir; it is stopped at
// test end. Start it again on the same addr and dir to restart it.
func Start(t testing.TB, addr, dir string) *Server {
	t.Helper()
	bin := testenv.RequireTool(t, "mosquitto")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("testmosquitto: address %q: %v", addr, err)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n", port, dir)
	if os.Geteuid() == 0 {
		text += "user root\n" // otherwise it drops to user mosquitto, who cannot write dir
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: addr, Dir: dir, done: make(chan struct{}), out: &lockedBuf{}}
	s.cmd = exec.Command(bin, "-c", conf)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("testmosquitto: start: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("testmosquitto: exited early:\n%s", s.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testmosquitto: not listening on %s after 10 s:\n%s", addr, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the broker with SIGTERM, so that it saves its persistence file
// (idempotent).
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Output is what the broker printed.
func (s *Server) Output() string { return s.out.String() }

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
