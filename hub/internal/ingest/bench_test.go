package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// The ingestion benchmark: simulated agents publish through the real
// Mosquitto into the real PostgreSQL. In the same run it measures the two
// limits of the pipeline on this machine:
//
//   - bare/s: the broker's delivery rate to a subscriber that does nothing
//     (same agents, same messages, same flow control);
//   - copy/s: a raw COPY of the same rows into the same database;
//
// and reports the consumer's sustained events/s, its ratio to the lower
// limit, and the p95 time from publish to committed row.
const (
	benchAgents = 8
	// benchWindow bounds the messages published but not yet handled, across
	// all agents, as an agent's outbox does (it waits for acks). Without it the
	// benchmark would measure the length of the broker's queue, not the
	// pipeline, and Mosquitto drops QoS 1 messages beyond its queue limits.
	benchWindow = 500
	// benchInfractionEvery: one message in this many is an infraction, the
	// rest are metrics. Real fleets send far fewer infractions than metrics
	// (a camera reports metrics every 10 s); 1 in 10 is a pessimistic mix.
	// VIGIA_BENCH_INFRACTION_EVERY overrides it.
	defaultInfractionEvery = 10
)

var benchInfractionEvery = func() int {
	if n, err := strconv.Atoi(os.Getenv("VIGIA_BENCH_INFRACTION_EVERY")); err == nil && n > 0 {
		return n
	}
	return defaultInfractionEvery
}()

// benchAgent is one simulated agent with its own MQTT connection.
type benchAgent struct {
	id  string
	cli *paho.Client
}

func dialAgent(b *testing.B, brokerURL, id string) *benchAgent {
	b.Helper()
	u, _ := url.Parse(brokerURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		b.Fatalf("agent connect: %v", err)
	}
	b.Cleanup(func() { _ = cli.Disconnect(&paho.Disconnect{}) })
	return &benchAgent{id: id, cli: cli}
}

// benchPayload is message i of an agent: metrics, or every
// benchInfractionEvery-th an infraction.
func benchPayload(agent string, i int, ts time.Time) event.Payload {
	if i%benchInfractionEvery == benchInfractionEvery-1 {
		return &event.Infraction{Type: event.SpeedViolation, CameraID: agent, DetectedAt: ts, DetectedSpeed: 70 + float64(i%50),
			SpeedLimit: 60, SpeedUncertainty: 1.5, ConfidenceScore: 0.9, OCRConfidence: 0.8,
			Plate: fmt.Sprintf("B%02d-%03d", i%89, i%997), PlateReadable: true}
	}
	return &event.Metrics{CameraID: agent, WindowStart: ts.Add(-10 * time.Second), WindowEnd: ts, FPS: 12.5, LatencyMs: 33,
		CPUUtilization: 71, MemoryMB: 612, DetectionsCount: int64(i % 40), InfractionsCount: int64(i % 3)}
}

// publishAll makes the agents publish n messages in all, each taking a slot
// of window before publishing (slots are returned by the receiving side).
func publishAll(b *testing.B, agents []*benchAgent, n int, window chan struct{}) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	for a, ag := range agents {
		share := n / len(agents)
		if a < n%len(agents) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range share {
				window <- struct{}{}
				env, err := event.New(ag.id, time.Now(), benchPayload(ag.id, i, time.Now()))
				if err != nil {
					failed.Store(err)
					return
				}
				body, _ := json.Marshal(env)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = ag.cli.Publish(ctx, &paho.Publish{Topic: event.Topic(ag.id, env.Type), QoS: 1, Payload: body})
				cancel()
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("publish: %v", err)
	}
}

// waitCount waits until counter reaches n (or fails after timeout).
func waitCount(b *testing.B, counter *atomic.Int64, n int, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for counter.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages arrived within %s", counter.Load(), n, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// bareRate measures the broker's delivery rate of n messages to a subscriber
// that only counts them (QoS 1, acknowledged at once).
func bareRate(b *testing.B, brokerURL string, agents []*benchAgent, n int) float64 {
	b.Helper()
	u, _ := url.Parse(brokerURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	window := make(chan struct{}, benchWindow)
	var got atomic.Int64
	id := unique("bare-")
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
			got.Add(1)
			<-window
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Like the hub, announce a Receive Maximum above the window, or Mosquitto
	// keeps only 20 messages in flight to this subscriber.
	rm := uint16(receiveMaximum)
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &rm}}); err != nil {
		b.Fatal(err)
	}
	defer cli.Disconnect(&paho.Disconnect{}) //nolint:errcheck
	var subs []paho.SubscribeOptions
	for _, a := range agents {
		subs = append(subs, paho.SubscribeOptions{Topic: event.TopicPrefix + "/" + a.id + "/#", QoS: 1})
	}
	if _, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	publishAll(b, agents, n, window)
	waitCount(b, &got, n, time.Minute)
	return float64(n) / time.Since(start).Seconds()
}

// copyRate measures a raw COPY of n rows shaped as the agents' messages
// (metrics and infractions in the same mix) into the same tables.
func copyRate(b *testing.B, s *db.Store, agents []*benchAgent, n int) float64 {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var metrics, infractions, vehicles [][]any
	plates := map[string]bool{}
	for i := range n {
		ag := agents[i%len(agents)].id
		switch p := benchPayload(ag, i/len(agents), now).(type) {
		case *event.Metrics:
			metrics = append(metrics, append([]any{event.NewID(), p.CameraID, ag, now}, p.WindowStart, p.WindowEnd, p.FPS, p.LatencyMs,
				p.GPUUtilization, p.CPUUtilization, p.MemoryMB, p.DetectionsCount, p.InfractionsCount))
		case *event.Infraction:
			plate := "C" + p.Plate[1:]
			if !plates[plate] {
				plates[plate] = true
				vehicles = append(vehicles, []any{plate})
			}
			infractions = append(infractions, []any{event.NewID(), fmt.Sprintf("CPY-%s-%07d", now.Format("20060102"), i), string(p.Type),
				p.CameraID, plate, p.DetectedSpeed, p.SpeedLimit, p.SpeedUncertainty, "", "", []byte(`{}`), p.ConfidenceScore,
				p.OCRConfidence, ag, p.DetectedAt})
		}
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inference_metrics"}, []string{"event_id", "device_id", "source_device_id", "timestamp",
			"window_start", "window_end", "fps", "latency_ms", "gpu_utilization", "cpu_utilization", "memory_mb",
			"detections_count", "infractions_count"}, pgx.CopyFromRows(metrics)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"vehicles"}, []string{"plate"}, pgx.CopyFromRows(vehicles)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"infractions"}, []string{"event_id", "infraction_code", "type", "device_id", "plate",
			"detected_speed", "speed_limit", "speed_uncertainty", "video_url", "snapshot_url", "evidence", "confidence_score",
			"ocr_confidence", "source_device_id", "detected_at"}, pgx.CopyFromRows(infractions))
		return err
	})
	if err != nil {
		b.Fatalf("copy: %v", err)
	}
	return float64(n) / time.Since(start).Seconds()
}

func BenchmarkIngestMosquittoIntegration(b *testing.B) {
	broker := mosquitto(b)
	agentIDs := make([]string, benchAgents)
	for i := range agentIDs {
		agentIDs[i] = fmt.Sprintf("%s-%02d", unique("BA"), i)
	}
	s, _ := openStore(b, agentIDs...)
	ours := map[string]bool{}
	for _, id := range agentIDs {
		ours[id] = true
	}
	agents := make([]*benchAgent, benchAgents)
	for i, id := range agentIDs {
		agents[i] = dialAgent(b, broker, id)
	}
	n := b.N

	// (c) the broker alone.
	bare := bareRate(b, broker, agents, n)
	// (b) the database alone.
	copied := copyRate(b, s, agents, n)

	// (a) the hub: broker → consumer → PostgreSQL.
	window := make(chan struct{}, benchWindow)
	var handled atomic.Int64
	var latMu sync.Mutex
	lat := make([]time.Duration, 0, n)
	cfg := Config{BrokerURL: broker, ClientID: unique("hub-"), ShareGroup: unique("g"), SessionExpiry: time.Second, BatchDelay: benchDelay,
		OnHandled: func(env event.Envelope) {
			if !ours[env.DeviceID] {
				return // another test's traffic on the shared broker
			}
			d := time.Since(env.TS)
			latMu.Lock()
			lat = append(lat, d)
			latMu.Unlock()
			handled.Add(1)
			<-window
		}}
	c := New(cfg, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(15 * time.Second); !c.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("consumer not subscribed")
		}
	}
	b.ResetTimer()
	start := time.Now()
	publishAll(b, agents, n, window)
	waitCount(b, &handled, n, 2*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()

	if st := c.Stats.Stored.Load(); st != int64(n) {
		dl, _ := s.ListDeadLetters(context.Background(), 5)
		b.Fatalf("stored %d of %d (duplicates %d, dead letters %d: %+v)", st, n, c.Stats.Duplicates.Load(), c.Stats.DeadLetters.Load(), dl)
	}
	rate := float64(n) / elapsed.Seconds()
	slices.Sort(lat)
	p95 := lat[min(len(lat)-1, len(lat)*95/100)]
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(copied, "copy/s")
	b.ReportMetric(bare, "bare/s")
	b.ReportMetric(rate/min(copied, bare), "ratio")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(c.Stats.SeriesWriteNanos.Load())/float64(elapsed), "series-busy")
	b.ReportMetric(float64(c.Stats.InfractionWriteNanos.Load())/float64(elapsed), "infr-busy")
	reportBatches(b, &c.Stats, n)
}

// reportBatches reports the mean size of the series and infraction batches.
func reportBatches(b *testing.B, st *Stats, n int) {
	infr, all := st.InfractionBatches.Load(), st.Batches.Load()
	if all > infr {
		b.ReportMetric(float64(n-n/benchInfractionEvery)/float64(all-infr), "series/batch")
	}
	if infr > 0 {
		b.ReportMetric(float64(n/benchInfractionEvery)/float64(infr), "infr/batch")
	}
}

// benchDelay overrides the consumer's BatchDelay (VIGIA_BENCH_BATCH_DELAY, e.g. 20ms) to compare settings.
var benchDelay = func() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("VIGIA_BENCH_BATCH_DELAY"))
	return d
}()
