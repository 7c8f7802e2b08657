package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/shared/event"
)

// BenchmarkPipelineIntegration measures the hub alone: the messages of
// BenchmarkIngestMosquittoIntegration (same agents, mix and window) are handed
// straight to the pipeline, without a broker, and stored in the real
// PostgreSQL. Compared with the Mosquitto benchmark it tells whether the hub
// or the rest (broker, publishers, shared CPU) limits ingestion.
func BenchmarkPipelineIntegration(b *testing.B) {
	agentIDs := make([]string, benchAgents)
	for i := range agentIDs {
		agentIDs[i] = fmt.Sprintf("%s-%02d", unique("PL"), i)
	}
	s, _ := openStore(b, agentIDs...)
	n := b.N
	pbs := make([]*paho.Publish, n)
	for i := range n {
		ag := agentIDs[i%len(agentIDs)]
		env, err := event.New(ag, time.Now(), benchPayload(ag, i/len(agentIDs), time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		body, err := json.Marshal(env)
		if err != nil {
			b.Fatal(err)
		}
		pbs[i] = &paho.Publish{Topic: event.Topic(ag, env.Type), QoS: 1, Payload: body}
	}
	window := make(chan struct{}, benchWindow)
	var handled atomic.Int64
	c := New(Config{BatchDelay: benchDelay, OnHandled: func(event.Envelope) {
		handled.Add(1)
		<-window
	}}, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p := newPipeline(c)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p.start(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()

	TuneGC(os.Getenv) // as hub serve runs
	b.ResetTimer()
	cpu0 := readCPU()
	start := time.Now()
	for _, pb := range pbs {
		window <- struct{}{}
		p.submit(ctx, delivery{pb: pb, received: time.Now()})
	}
	for deadline := time.Now().Add(2 * time.Minute); handled.Load() < int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages handled", handled.Load(), n)
		}
	}
	elapsed := time.Since(start)
	used := readCPU().sub(cpu0)
	b.StopTimer()
	if st := c.Stats.Stored.Load(); st != int64(n) {
		b.Fatalf("stored %d of %d (duplicates %d, dead letters %d)", st, n, c.Stats.Duplicates.Load(), c.Stats.DeadLetters.Load())
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(c.Stats.SeriesWriteNanos.Load())/float64(elapsed), "series-busy")
	b.ReportMetric(float64(c.Stats.InfractionWriteNanos.Load())/float64(elapsed), "infr-busy")
	reportBatches(b, &c.Stats, n)
	phaseCPU{cpuTimes: used, n: n, elapsed: elapsed}.report(b, "")
}
