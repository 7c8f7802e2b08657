package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
//
// The agents run in a child process; the bare and hub phases alternate in
// benchRounds rounds; and each phase reports the CPU time per message of each
// part (this process, the agents, Mosquitto, PostgreSQL) and how busy the
// cores were, so a result can be explained, not only read:
//
//	go test -run '^$' -bench IngestMosquitto -benchtime 144000x ./hub/internal/ingest/
//
// (24,000 messages a round, about a second of hub time: shorter rounds weigh
// each round's ramp-up and read up to 0.05 lower.)
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

func dialAgent(brokerURL, id string) (*benchAgent, error) {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		return nil, fmt.Errorf("agent %s connect: %w", id, err)
	}
	return &benchAgent{id: id, cli: cli}, nil
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

// The agents run in a child process (this test binary, re-executed with
// publisherEnv set), as real agents run on other machines: the hub's process
// then holds only the hub, and the CPU each side spends is measured apart.
// The child publishes only while it holds a slot of the window: the parent
// returns one slot (one byte on the child's stdin) per message handled.
const publisherEnv = "VIGIA_BENCH_PUBLISHER"

// publisherSpec is what the child process publishes.
type publisherSpec struct {
	Broker string   `json:"broker"`
	Agents []string `json:"agents"`
	N      int      `json:"n"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(publisherEnv); spec != "" {
		if err := runPublishers(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "publisher:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runPublishers is the child process: it connects the agents, says "ready",
// and publishes spec.N messages in all, one per slot read from credits.
func runPublishers(specJSON string, credits io.Reader, out io.Writer) error {
	var spec publisherSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	agents := make([]*benchAgent, len(spec.Agents))
	for i, id := range spec.Agents {
		a, err := dialAgent(spec.Broker, id)
		if err != nil {
			return err
		}
		defer a.cli.Disconnect(&paho.Disconnect{}) //nolint:errcheck
		agents[i] = a
	}
	slots := make(chan struct{}, spec.N+benchWindow)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := credits.Read(buf)
			for range k {
				slots <- struct{}{}
			}
			if err != nil {
				return
			}
		}
	}()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(agents))
	for a, ag := range agents {
		share := spec.N / len(agents)
		if a < spec.N%len(agents) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range share {
				<-slots
				env, err := event.New(ag.id, time.Now(), benchPayload(ag.id, i, time.Now()))
				if err != nil {
					errs <- err
					return
				}
				body, _ := json.Marshal(env)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = ag.cli.Publish(ctx, &paho.Publish{Topic: event.Topic(ag.id, env.Type), QoS: 1, Payload: body})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("agent %s publish: %w", ag.id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// publisherProc is a running child process of agents.
type publisherProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	slots   chan struct{}
	stderr  bytes.Buffer
	waitErr chan error
}

// startPublishers starts the child process and waits until its agents are
// connected; publishing starts with open.
func startPublishers(b *testing.B, brokerURL string, agents []string, n int) *publisherProc {
	b.Helper()
	spec, _ := json.Marshal(publisherSpec{Broker: brokerURL, Agents: agents, N: n})
	p := &publisherProc{slots: make(chan struct{}, n+benchWindow), waitErr: make(chan error, 1)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), publisherEnv+"="+string(spec), fmt.Sprintf("VIGIA_BENCH_INFRACTION_EVERY=%d", benchInfractionEvery))
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("start publishers: %v", err)
	}
	b.Cleanup(func() { _ = p.cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		b.Fatalf("publishers did not start: %q %v: %s", line, err, p.stderr.String())
	}
	go func() { p.waitErr <- p.cmd.Wait() }()
	go p.feed()
	return p
}

// open gives the child its window of slots: publishing starts.
func (p *publisherProc) open() {
	for range benchWindow {
		p.slots <- struct{}{}
	}
}

// release returns one slot (a message was handled); it never blocks.
func (p *publisherProc) release() { p.slots <- struct{}{} }

// feed writes returned slots to the child's stdin, several per write.
func (p *publisherProc) feed() {
	buf := make([]byte, 0, 4096)
	for range p.slots {
		buf = append(buf[:0], 1)
	more:
		for len(buf) < cap(buf) {
			select {
			case <-p.slots:
				buf = append(buf, 1)
			default:
				break more
			}
		}
		if _, err := p.stdin.Write(buf); err != nil {
			return
		}
	}
}

// wait waits for the child to publish everything and exit, and returns the
// CPU time it used.
func (p *publisherProc) wait(b *testing.B) time.Duration {
	b.Helper()
	select {
	case err := <-p.waitErr:
		if err != nil {
			b.Fatalf("publishers: %v: %s", err, p.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		b.Fatalf("publishers still running after 2 minutes: %s", p.stderr.String())
	}
	_ = p.stdin.Close()
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
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

// cpuTimes is the CPU time used so far by this process, by the broker and by
// the database server (all processes named mosquitto and postgres: the
// benchmark runs alone on the machine).
type cpuTimes struct{ self, broker, db time.Duration }

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{a.self - b.self, a.broker - b.broker, a.db - b.db}
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

func readCPU() cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime (14th) stime (15th)
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		comm := string(b[open+1 : close])
		f := strings.Fields(string(b[close+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		used := time.Duration(ut+st) * clockTick
		switch comm {
		case "mosquitto":
			t.broker += used
		case "postgres":
			t.db += used
		}
	}
	return t
}

// phaseCPU is the CPU used by each part during one phase of the benchmark.
type phaseCPU struct {
	cpuTimes
	agents  time.Duration
	n       int
	elapsed time.Duration
}

func (p phaseCPU) add(q phaseCPU) phaseCPU {
	return phaseCPU{cpuTimes{p.self + q.self, p.broker + q.broker, p.db + q.db}, p.agents + q.agents, p.n + q.n, p.elapsed + q.elapsed}
}

// report reports the CPU time per message of each part, in microseconds
// (parts without a process in the phase are left out), and how busy the
// machine's CPUs were (1 = every core all the time).
func (p phaseCPU) report(b *testing.B, prefix string) {
	for _, part := range []struct {
		name string
		used time.Duration
	}{{"self", p.self}, {"agents", p.agents}, {"broker", p.broker}, {"db", p.db}} {
		if part.used > 0 {
			b.ReportMetric(float64(part.used.Nanoseconds())/1e3/float64(p.n), prefix+part.name+"-us/msg")
		}
	}
	total := p.self + p.broker + p.db + p.agents
	b.ReportMetric(float64(total)/float64(p.elapsed)/float64(runtime.NumCPU()), prefix+"cpu-busy")
}

// bareRate measures the broker's delivery rate of n messages to a subscriber
// that only counts them (QoS 1, acknowledged at once).
func bareRate(b *testing.B, brokerURL string, agents []string, n int) (float64, phaseCPU) {
	b.Helper()
	u, _ := url.Parse(brokerURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	pubs := startPublishers(b, brokerURL, agents, n)
	var got atomic.Int64
	id := unique("bare-")
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
			got.Add(1)
			pubs.release()
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
		subs = append(subs, paho.SubscribeOptions{Topic: event.TopicPrefix + "/" + a + "/#", QoS: 1})
	}
	if _, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		b.Fatal(err)
	}
	cpu0 := readCPU()
	start := time.Now()
	pubs.open()
	waitCount(b, &got, n, time.Minute)
	elapsed := time.Since(start)
	used := readCPU().sub(cpu0)
	return float64(n) / elapsed.Seconds(), phaseCPU{used, pubs.wait(b), n, elapsed}
}

// copyRate measures a raw COPY of n rows shaped as the agents' messages
// (metrics and infractions in the same mix) into the same tables.
func copyRate(b *testing.B, s *db.Store, agents []string, n int) float64 {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var metrics, infractions, vehicles [][]any
	plates := map[string]bool{}
	for i := range n {
		ag := agents[i%len(agents)]
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

// benchRounds is how many times the benchmark alternates the bare-broker
// and the hub phases (VIGIA_BENCH_ROUNDS overrides it). Shared machines drift
// by tens of percent within a minute; alternating short phases lets the
// drift hit both sides of the ratio alike.
var benchRounds = func() int {
	if n, err := strconv.Atoi(os.Getenv("VIGIA_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 6
}()

func BenchmarkIngestMosquittoIntegration(b *testing.B) {
	broker := mosquitto(b)
	agentIDs := make([]string, benchAgents)
	for i := range agentIDs {
		agentIDs[i] = fmt.Sprintf("%s-%02d", unique("BA"), i)
	}
	s, _ := openStore(b, agentIDs...)
	n := b.N
	rounds := min(benchRounds, n)
	// The collector target hub serve runs with (this process holds the hub,
	// and the bare subscriber of the other phase).
	TuneGC(os.Getenv)

	// (b) the database alone.
	copied := copyRate(b, s, agentIDs, n)

	// (c) the broker alone and (a) the hub, in alternating rounds.
	var bareCPU, hubCPU phaseCPU
	var hub hubRound
	var roundRatios []float64
	b.ResetTimer()
	for r := range rounds {
		m := n / rounds
		if r < n%rounds {
			m++
		}
		bareRound, used := bareRate(b, broker, agentIDs, m)
		bareCPU = bareCPU.add(used)
		hubUsed := hub.run(b, broker, s, agentIDs, m)
		hubCPU = hubCPU.add(hubUsed)
		roundRatios = append(roundRatios, float64(m)/hubUsed.elapsed.Seconds()/min(copied, bareRound))
	}
	b.StopTimer()

	rate := float64(n) / hubCPU.elapsed.Seconds()
	bare := float64(n) / bareCPU.elapsed.Seconds()
	slices.Sort(hub.lat)
	p95 := hub.lat[min(len(hub.lat)-1, len(hub.lat)*95/100)]
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(copied, "copy/s")
	b.ReportMetric(bare, "bare/s")
	b.ReportMetric(rate/min(copied, bare), "ratio")
	// The spread of the rounds' own ratios shows how much the machine drifted.
	b.ReportMetric(slices.Min(roundRatios), "ratio-min")
	b.ReportMetric(slices.Max(roundRatios), "ratio-max")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(hub.stats.SeriesWriteNanos.Load())/float64(hubCPU.elapsed), "series-busy")
	b.ReportMetric(float64(hub.stats.InfractionWriteNanos.Load())/float64(hubCPU.elapsed), "infr-busy")
	reportBatches(b, &hub.stats, n)
	hubCPU.report(b, "")
	bareCPU.report(b, "bare-")
}

// hubRound runs the hub phases of the benchmark and adds up their results.
type hubRound struct {
	lat   []time.Duration
	stats Stats // summed over the rounds' consumers
}

// run starts a consumer, has the agents publish m messages through it,
// checks every one was stored, and stops it.
func (h *hubRound) run(b *testing.B, broker string, s *db.Store, agentIDs []string, m int) phaseCPU {
	b.Helper()
	ours := map[string]bool{}
	for _, id := range agentIDs {
		ours[id] = true
	}
	var handled atomic.Int64
	var latMu sync.Mutex
	var pubs *publisherProc
	// No session is kept after a round (SessionExpiry 0): the next bare phase
	// publishes on the same topics.
	cfg := Config{BrokerURL: broker, ClientID: unique("hub-"), ShareGroup: unique("g"), BatchDelay: benchDelay,
		OnHandled: func(env event.Envelope) {
			if !ours[env.DeviceID] {
				return // another test's traffic on the shared broker
			}
			d := time.Since(env.TS)
			latMu.Lock()
			h.lat = append(h.lat, d)
			latMu.Unlock()
			handled.Add(1)
			pubs.release()
		}}
	c := New(cfg, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pubs = startPublishers(b, broker, agentIDs, m)
	// Goroutines started from here on (the consumer's, paho's, pgx's) carry
	// the label phase=hub: go tool pprof -tagfocus phase=hub shows the hub alone.
	ctx, cancel := context.WithCancel(pprof.WithLabels(context.Background(), pprof.Labels("phase", "hub")))
	pprof.SetGoroutineLabels(ctx)
	defer pprof.SetGoroutineLabels(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(15 * time.Second); !c.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("consumer not subscribed")
		}
	}
	cpu0 := readCPU()
	start := time.Now()
	pubs.open()
	waitCount(b, &handled, m, 2*time.Minute)
	elapsed := time.Since(start)
	used := readCPU().sub(cpu0)
	if st := c.Stats.Stored.Load(); st != int64(m) {
		dl, _ := s.ListDeadLetters(context.Background(), 5)
		b.Fatalf("stored %d of %d (duplicates %d, dead letters %d: %+v)", st, m, c.Stats.Duplicates.Load(), c.Stats.DeadLetters.Load(), dl)
	}
	for _, x := range []struct{ sum, v *atomic.Int64 }{{&h.stats.Batches, &c.Stats.Batches}, {&h.stats.InfractionBatches, &c.Stats.InfractionBatches},
		{&h.stats.SeriesWriteNanos, &c.Stats.SeriesWriteNanos}, {&h.stats.InfractionWriteNanos, &c.Stats.InfractionWriteNanos}} {
		x.sum.Add(x.v.Load())
	}
	return phaseCPU{used, pubs.wait(b), m, elapsed}
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
