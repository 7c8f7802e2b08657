package uplink

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/internal/testmosquitto"
	"github.com/vigia-pe/vigia/shared/event"
)

// Environment of the helper process of TestFaultSIGKILLMidUploadRealServices.
const (
	helperEnv       = "VIGIA_UPLINK_HELPER" // outbox path
	helperBrokerEnv = "VIGIA_UPLINK_HELPER_BROKER"
	helperS3Env     = "VIGIA_UPLINK_HELPER_S3" // endpoint,bucket,access,secret
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(helperSender(path))
	}
	os.Exit(m.Run())
}

// helperSender runs a Sender on the outbox at path until it is killed.
func helperSender(path string) int {
	log := testLog(stderrTB{})
	ob, err := outbox.Open(path, outbox.Config{}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	parts := strings.Split(os.Getenv(helperS3Env), ",")
	if len(parts) != 4 {
		fmt.Fprintln(os.Stderr, "bad", helperS3Env)
		return 2
	}
	ctx := context.Background()
	up, err := NewS3Uploader(ctx, S3Config{Endpoint: parts[0], Bucket: parts[1], AccessKey: parts[2], SecretKey: parts[3],
		PartSize: 5 << 20}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pub, err := Dial(ctx, Config{BrokerURL: "mqtt://" + os.Getenv(helperBrokerEnv), DeviceID: "HELPER"}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "helper: sender running")
	if err := NewSender(SenderConfig{}, ob, pub, up, log).Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// stderrTB lets testLog write to stderr in the helper process.
type stderrTB struct{ testing.TB }

func (stderrTB) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }

// startSender runs s until the test ends.
func startSender(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sender Run: %v", err)
		}
	})
}

func logCounts(t *testing.T, name string, sent int, c *counter, s *Sender) (lost int) {
	t.Helper()
	distinct, total, dups := c.report()
	st := s.Stats()
	t.Logf("%s: events in=%d, received distinct=%d (lost %d), raw messages=%d (broker-level duplicates %d); "+
		"sender published=%d uploaded=%d skipped=%d failures=%v queue=%d last error=%q",
		name, sent, distinct, sent-distinct, total, dups, st.Published, st.Uploaded, st.UploadSkipped, st.Failures, st.QueueDepth, st.LastError)
	return sent - distinct
}

// Fault 1: the broker is unreachable when the agent starts, comes up, then
// goes away again mid-run and comes back. A persistent subscriber session
// (saved by Mosquitto across its restarts) counts what the hub would see.
func TestFaultBrokerDownRealMosquitto(t *testing.T) {
	addr, dir := testenv.FreeAddr(t), t.TempDir()
	device := testDevice()
	topic := event.Topic(device, event.KindInfraction)

	// Create the subscriber's persistent session, then stop the broker.
	m := startMosquitto(t, addr, dir)
	cnt := subscribeCounter(t, addr, topic, true)
	m.Stop()

	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	t.Cleanup(func() { ob.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pub := NewRedialer(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device, WaitConnect: time.Second}, quietLog())
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	s := NewSender(SenderConfig{MaxBackoff: 2 * time.Second}, ob, pub, nil, testLog(t))
	startSender(t, s)

	const n = 200
	put := func(from, to int) {
		for range to - from {
			if _, _, err := ob.Put(newEntry(t, device)); err != nil {
				t.Error(err)
			}
			s.Notify()
		}
	}
	put(0, n/2)
	time.Sleep(3 * time.Second) // nothing listens
	if st := s.Stats(); st.Published != 0 || st.Failures[FailBroker] == 0 {
		t.Fatalf("while the broker is down: %+v", st)
	}
	up := time.Now()
	m = startMosquitto(t, addr, dir)
	waitFor(t, 30*time.Second, "first deliveries", func() bool { return s.Stats().Published > 0 })
	t.Logf("broker down/up: first event acknowledged %s after the broker started", time.Since(up))
	// Second outage on an established link, while events keep coming.
	stopped := make(chan struct{})
	go func(m *testmosquitto.Server) {
		defer close(stopped)
		put(n/2, 3*n/4)
		m.Stop()
	}(m)
	<-stopped
	put(3*n/4, n)
	time.Sleep(2 * time.Second)
	startMosquitto(t, addr, dir)
	waitFor(t, 60*time.Second, "all events received", func() bool {
		d, _, _ := cnt.report()
		return d == n && s.Stats().QueueDepth == 0
	})
	time.Sleep(300 * time.Millisecond) // let late duplicates arrive before counting
	if lost := logCounts(t, "broker down/up", n, cnt, s); lost != 0 {
		t.Fatalf("%d events lost", lost)
	}
	if bad := cnt.undecodable(); bad != 0 {
		t.Fatalf("%d undecodable messages", bad)
	}
}

// Fault 2: MinIO stops mid-run and comes back on the same address and data.
func TestFaultMinIORestartRealServices(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	srv := newMinIO(t)
	ctx := testenv.Context(t, 3*time.Minute)
	up, err := NewS3Uploader(ctx, srv.config("evidence"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	device := testDevice()
	cnt := subscribeCounter(t, addr, event.Topic(device, event.KindInfraction), false)
	pub, err := Dial(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	t.Cleanup(func() { ob.Close() })
	s := NewSender(SenderConfig{MaxBackoff: time.Second}, ob, pub, up, testLog(t))
	startSender(t, s)

	const n = 30
	dir := t.TempDir()
	var files []outbox.FileRef
	put := func(from, to int) {
		for i := from; i < to; i++ {
			a := writeEvidence(t, dir, fmt.Sprintf("%s/%03d/plate.jpg", device, i), 300<<10)
			b := writeEvidence(t, dir, fmt.Sprintf("%s/%03d/clip.mp4", device, i), 700<<10)
			files = append(files, a, b)
			if _, _, err := ob.Put(newEntry(t, device, a, b)); err != nil {
				t.Fatal(err)
			}
			s.Notify()
		}
	}
	put(0, 10)
	waitFor(t, 30*time.Second, "first deliveries", func() bool { d, _, _ := cnt.report(); return d >= 5 })
	t0 := time.Now()
	srv.Stop()
	t.Logf("minio stopped in %s", time.Since(t0))
	put(10, n)
	time.Sleep(2 * time.Second)
	if st := s.Stats(); st.Failures[FailStorage] == 0 || st.QueueDepth == 0 {
		t.Fatalf("MinIO is down, yet: %+v", st)
	}
	t0 = time.Now()
	srv.Restart(t)
	t.Logf("minio restarted in %s", time.Since(t0))
	waitFor(t, 60*time.Second, "all events received", func() bool {
		d, _, _ := cnt.report()
		return d == n && s.Stats().QueueDepth == 0
	})
	t.Logf("all delivered %s after the restart", time.Since(t0))
	time.Sleep(300 * time.Millisecond)
	if lost := logCounts(t, "minio restart", n, cnt, s); lost != 0 {
		t.Fatalf("%d events lost", lost)
	}
	for _, f := range files {
		size, sum := objectSHA(t, up, f.Key)
		if size != f.Size || sum != f.SHA256 {
			t.Fatalf("%s: stored %d bytes %s, want %d bytes %s", f.Key, size, sum, f.Size, f.SHA256)
		}
	}
	t.Logf("minio restart: %d objects verified by download and SHA-256", len(files))
}

// Fault 3: the agent process is SIGKILLed while a large evidence file is
// being uploaded (multipart in progress); a new sender on the same outbox
// must deliver the event once (after dedup by id) with a complete object.
func TestFaultSIGKILLMidUploadRealServices(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	srv := newMinIO(t)
	ctx := testenv.Context(t, 3*time.Minute)
	const bucket = "evidence"
	up, err := NewS3Uploader(ctx, srv.config(bucket), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	device := testDevice()
	cnt := subscribeCounter(t, addr, event.Topic(device, event.KindInfraction), false)

	obPath := filepath.Join(t.TempDir(), "outbox.db")
	ob := openOutbox(t, obPath)
	big := writeEvidence(t, t.TempDir(), device+"/clip.mp4", 96<<20)
	e := newEntry(t, device, big)
	if _, _, err := ob.Put(e); err != nil {
		t.Fatal(err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"="+obPath, helperBrokerEnv+"="+addr,
		helperS3Env+"="+strings.Join([]string{srv.Endpoint, bucket, srv.AccessKey, srv.SecretKey}, ","))
	out := &lockedBuf{}
	child.Stdout, child.Stderr = out, out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = child.Wait(); close(exited) }()
	t.Cleanup(func() { _ = child.Process.Kill(); <-exited })

	// Kill it as soon as MinIO shows the multipart upload in progress.
	caught := false
	deadline := time.Now().Add(30 * time.Second)
	for !caught && time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("helper exited before it was killed:\n%s", out.String())
		default:
		}
		for info := range up.client.ListIncompleteUploads(ctx, bucket, big.Key, true) {
			if info.Err == nil && info.Key == big.Key {
				caught = true
			}
		}
		if !caught {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if !caught {
		t.Fatalf("never saw the upload in progress; helper output:\n%s", out.String())
	}
	if _, err := up.client.StatObject(ctx, bucket, big.Key, minio.StatObjectOptions{}); err == nil {
		t.Fatal("object complete although the upload was killed mid-way")
	}
	t.Logf("sigkill: helper killed with a multipart upload in progress and no object stored")

	// Restart on the same outbox.
	ob = openOutbox(t, obPath)
	t.Cleanup(func() { ob.Close() })
	pending, err := ob.Pending(0)
	if err != nil || len(pending) != 1 || pending[0].Published || pending[0].Evidence[0].Uploaded {
		t.Fatalf("after the kill the outbox holds %+v (%v), want the undelivered entry", pending, err)
	}
	pub, err := Dial(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	s := NewSender(SenderConfig{}, ob, pub, up, testLog(t))
	startSender(t, s)
	waitFor(t, 60*time.Second, "event delivered", func() bool { return cnt.count(e.EventID) > 0 && s.Stats().QueueDepth == 0 })
	time.Sleep(300 * time.Millisecond)
	logCounts(t, "sigkill mid-upload", 1, cnt, s)
	if d, _, _ := cnt.report(); d != 1 {
		t.Fatalf("received %d distinct events, want exactly 1", d)
	}
	size, sum := objectSHA(t, up, big.Key)
	if size != big.Size || sum != big.SHA256 {
		t.Fatalf("stored %d bytes %s, want %d bytes %s", size, sum, big.Size, big.SHA256)
	}
	left := 0
	for info := range up.client.ListIncompleteUploads(ctx, bucket, big.Key, true) {
		if info.Err == nil {
			left++
		}
	}
	if left != 0 {
		t.Fatalf("%d incomplete multipart uploads left behind", left)
	}
}

// BenchmarkSenderPublishRealMosquitto measures events/s from the outbox to
// the broker (QoS 1, acknowledged, outbox updated) for small events.
func BenchmarkSenderPublishRealMosquitto(b *testing.B) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(b, addr)
	ctx := testenv.Context(b, 5*time.Minute)
	device := testDevice()
	pub, err := Dial(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close(context.Background())
	ob := openOutbox(b, filepath.Join(b.TempDir(), "outbox.db"))
	defer ob.Close()
	for range b.N {
		if _, _, err := ob.Put(newEntry(b, device)); err != nil {
			b.Fatal(err)
		}
	}
	s := NewSender(SenderConfig{}, ob, pub, nil, quietLog())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := s.drain(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if st := s.Stats(); st.Published != uint64(b.N) || st.QueueDepth != 0 {
		b.Fatalf("published %d of %d, queue %d", st.Published, b.N, st.QueueDepth)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}
