package uplink

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

// BenchmarkSenderEvidenceRealServices measures the end-to-end rate of
// infractions with evidence: each entry's snapshot (100 KiB) and clip
// (1 MiB) uploaded to a real MinIO with hash check, the event published
// QoS 1 to the real Mosquitto and acknowledged, the outbox updated and the
// entry removed. Reported as events/s and evidence MB/s.
func BenchmarkSenderEvidenceRealServices(b *testing.B) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(b, addr)
	srv := newMinIO(b)
	ctx := testenv.Context(b, 10*time.Minute)
	up, err := NewS3Uploader(ctx, srv.config("bench"), quietLog())
	if err != nil {
		b.Fatal(err)
	}
	device := testDevice()
	pub, err := Dial(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close(ctx)
	ob := openOutbox(b, filepath.Join(b.TempDir(), "outbox.db"))
	defer ob.Close()
	dir := b.TempDir()
	var bytes int64
	for i := range b.N {
		shot := writeEvidence(b, dir, fmt.Sprintf("%s/%06d/snapshot.jpg", device, i), 100<<10)
		clip := writeEvidence(b, dir, fmt.Sprintf("%s/%06d/clip.mp4", device, i), 1<<20)
		bytes += shot.Size + clip.Size
		if _, _, err := ob.Put(newEntry(b, device, shot, clip)); err != nil {
			b.Fatal(err)
		}
	}
	s := NewSender(SenderConfig{}, ob, pub, up, quietLog())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := s.drain(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if st := s.Stats(); st.Published != uint64(b.N) || st.QueueDepth != 0 || st.Uploaded != uint64(2*b.N) {
		b.Fatalf("published %d of %d, uploaded %d, queue %d", st.Published, b.N, st.Uploaded, st.QueueDepth)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/1e6/el.Seconds(), "MB/s")
}
