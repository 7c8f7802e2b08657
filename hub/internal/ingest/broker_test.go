package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/hub/internal/broker"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// Helpers for the integration tests that go through the real Mosquitto.

// openStore migrates a fresh database, registers devices and returns the store and its URL.
func openStore(t testing.TB, devices ...string) (*db.Store, string) {
	t.Helper()
	ctx := context.Background()
	dbURL := testdb.New(t)
	s, err := db.Open(ctx, dbURL, time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range devices {
		if err := s.UpsertDevice(ctx, db.Device{ID: id, Name: id, RTSPURL: "rtsp://x"}); err != nil {
			t.Fatal(err)
		}
	}
	return s, dbURL
}

// mosquitto returns the real broker's URL, or stops the test (failing in CI) when it is not running.
func mosquitto(t testing.TB) string {
	t.Helper()
	testenv.RequireTCP(t, testenv.MosquittoAddr())
	return "mqtt://" + testenv.MosquittoAddr()
}

// unique returns a name no other test run uses (client ids, share groups, devices).
func unique(prefix string) string {
	return prefix + event.NewID()[24:]
}

// startConsumer runs a consumer until the returned stop is called (or the
// test ends) and waits until it is subscribed.
func startConsumer(t testing.TB, cfg Config, store Store) (*Consumer, func()) {
	t.Helper()
	if cfg.SessionExpiry == 0 {
		cfg.SessionExpiry = time.Minute // keep Mosquitto from accumulating test sessions
	}
	c := New(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer %s: %v", cfg.ClientID, err)
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(15 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not subscribed after 15 s", cfg.ClientID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, stop
}

// publisher is an agent-side MQTT 5 client publishing QoS 1.
type publisher struct {
	cli *paho.Client
}

func newPublisher(t testing.TB, brokerURL string) *publisher {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		testenv.Missing(t, "MQTT broker at %s: %v", u.Host, err)
	}
	id := unique("pub-")
	cli := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	t.Cleanup(func() { _ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return &publisher{cli: cli}
}

// send publishes an envelope on its topic and waits for the broker's PUBACK.
func (p *publisher) send(t testing.TB, env event.Envelope) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.cli.Publish(ctx, &paho.Publish{Topic: event.Topic(env.DeviceID, env.Type), QoS: 1, Payload: b}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func mustEnv(t testing.TB, device string, at time.Time, p event.Payload) event.Envelope {
	t.Helper()
	env, err := event.New(device, at, p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// stream builds n messages from one agent/camera: mostly metrics, every
// fifth an infraction, every tenth a status.
func stream(t testing.TB, device string, n int, at time.Time) []event.Envelope {
	t.Helper()
	out := make([]event.Envelope, n)
	for i := range out {
		ts := at.Add(time.Duration(i) * time.Millisecond)
		var p event.Payload
		switch {
		case i%5 == 4:
			p = &event.Infraction{Type: event.SpeedViolation, CameraID: device, DetectedAt: ts, DetectedSpeed: 80 + float64(i%40),
				SpeedLimit: 60, Plate: fmt.Sprintf("T%02d-%03d", i%97, i%1000), PlateReadable: true}
		case i%10 == 7:
			p = &event.Status{State: event.StateOnline, AgentVersion: fmt.Sprintf("1.0.%d", i)}
		default:
			p = &event.Metrics{CameraID: device, WindowStart: ts.Add(-10 * time.Second), WindowEnd: ts, FPS: 12, DetectionsCount: int64(i)}
		}
		out[i] = mustEnv(t, device, ts, p)
	}
	return out
}

// stored counts, for the given event ids, the rows in the table of each
// kind, and how many rows there are in total in those tables.
type tally struct{ rows, distinct int }

func countStored(t testing.TB, s *db.Store, envs []event.Envelope) tally {
	t.Helper()
	ids := make([]string, len(envs))
	for i, e := range envs {
		ids[i] = e.ID
	}
	var out tally
	err := s.Pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT event_id) FROM (
			SELECT event_id FROM inference_metrics UNION ALL
			SELECT event_id FROM infractions UNION ALL
			SELECT event_id FROM events WHERE event_type = 'status') r
		WHERE event_id = ANY($1)`, ids).Scan(&out.rows, &out.distinct)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitStored waits until every envelope is stored (or the timeout passes) and returns the last tally.
// The timeouts are generous: the system Mosquitto is shared by every test package running in
// parallel, and wildcard consumers also receive (and dead-letter) the other packages' traffic.
func waitStored(t testing.TB, s *db.Store, envs []event.Envelope, timeout time.Duration) tally {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := countStored(t, s, envs)
		if got.distinct >= len(envs) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkGapFree fails unless the infraction codes are 1..n without gaps per day.
func checkGapFree(t testing.TB, s *db.Store) {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT substring(infraction_code from 5 for 8) AS day,
			count(*), max(split_part(infraction_code, '-', 3)::int), count(DISTINCT infraction_code)
		FROM infractions GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	type dayRow struct {
		day                string
		n, maxSeq, distinc int
	}
	days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dayRow, error) {
		var d dayRow
		err := r.Scan(&d.day, &d.n, &d.maxSeq, &d.distinc)
		return d, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(days) == 0 {
		t.Fatal("no infractions stored")
	}
	for _, d := range days {
		if d.n != d.maxSeq || d.n != d.distinc {
			t.Errorf("day %s: %d infractions, highest code %d, %d distinct codes: not gap-free", d.day, d.n, d.maxSeq, d.distinc)
		}
	}
}

// Integration (real Mosquitto + PostgreSQL): two consumers in one share group
// on one database split the stream; every message is stored exactly once.
func TestSharedSubscriptionSplitsLoadMosquittoIntegration(t *testing.T) {
	broker := mosquitto(t)
	device := unique("SH")
	s, _ := openStore(t, device)
	group := unique("g")
	c1, _ := startConsumer(t, Config{BrokerURL: broker, ClientID: unique("hub1-"), ShareGroup: group}, s)
	c2, _ := startConsumer(t, Config{BrokerURL: broker, ClientID: unique("hub2-"), ShareGroup: group}, s)
	pub := newPublisher(t, broker)
	const n = 300
	envs := stream(t, device, n, time.Date(2026, 3, 1, 15, 0, 0, 0, time.UTC))
	for _, e := range envs {
		pub.send(t, e)
	}
	got := waitStored(t, s, envs, 90*time.Second)
	if got.rows != n || got.distinct != n {
		t.Fatalf("stored %d rows (%d distinct) for %d messages", got.rows, got.distinct, n)
	}
	s1, s2 := c1.Stats.Stored.Load(), c2.Stats.Stored.Load()
	if s1 == 0 || s2 == 0 {
		t.Errorf("the share group did not split the load: consumer 1 stored %d, consumer 2 stored %d", s1, s2)
	}
	if s1+s2 != n {
		t.Errorf("consumers stored %d+%d messages, want %d in all", s1, s2, n)
	}
	if d := c1.Stats.Duplicates.Load() + c2.Stats.Duplicates.Load(); d != 0 {
		t.Errorf("%d duplicates: each message should reach one consumer", d)
	}
	if c1.Stats.Batches.Load()+c2.Stats.Batches.Load() == 0 {
		t.Error("no batch committed")
	}
	checkGapFree(t, s)
	t.Logf("consumer 1 stored %d, consumer 2 stored %d", s1, s2)
}

// publishPaced publishes envs in the background, one every gap, and calls
// at(i) before message i; it returns a channel closed when done.
func publishPaced(t *testing.T, pub *publisher, envs []event.Envelope, gap time.Duration, at func(i int)) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, e := range envs {
			if at != nil {
				at(i)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = pub.cli.Publish(ctx, &paho.Publish{Topic: event.Topic(e.DeviceID, e.Type), QoS: 1, Payload: b})
			cancel()
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
			time.Sleep(gap)
		}
	}()
	return done
}

// databaseOutage terminates every connection to the database named in dbURL
// and refuses new ones for d; it does not touch the PostgreSQL server.
func databaseOutage(t *testing.T, dbURL string, d time.Duration) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{u.Path[1:]}.Sanitize()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
			t.Errorf("restore connections: %v", err)
		}
	}()
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, u.Path[1:]).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	t.Logf("database outage: %d connections terminated, refusing connections for %s", killed, d)
	time.Sleep(d)
}

// Integration (real Mosquitto + PostgreSQL): the database goes away in the
// middle of a stream (connections killed, then refused for 2 s). Nothing is
// acknowledged before it is committed, so after recovery every message is
// stored exactly once and the infraction codes have no gaps.
func TestDatabaseOutageMidStreamMosquittoIntegration(t *testing.T) {
	broker := mosquitto(t)
	device := unique("DB")
	s, dbURL := openStore(t, device)
	c, _ := startConsumer(t, Config{BrokerURL: broker, ClientID: unique("hub-"), ShareGroup: unique("g")}, s)
	pub := newPublisher(t, broker)
	const n = 600
	envs := stream(t, device, n, time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	outage := make(chan struct{})
	done := publishPaced(t, pub, envs, 3*time.Millisecond, func(i int) {
		if i == n/3 {
			go func() { defer close(outage); databaseOutage(t, dbURL, 2*time.Second) }()
		}
	})
	<-done
	<-outage
	got := waitStored(t, s, envs, 90*time.Second)
	if got.rows != n || got.distinct != n {
		t.Fatalf("after the outage: %d rows (%d distinct) for %d messages", got.rows, got.distinct, n)
	}
	if c.Stats.Retries.Load() == 0 {
		t.Error("the outage caused no retry: it did not hit the consumer")
	}
	var dead int
	if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM dead_letters WHERE device_id = $1`, device).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	if dead != 0 {
		t.Errorf("%d messages dead-lettered during a database outage", dead)
	}
	checkGapFree(t, s)
	t.Logf("stored %d, duplicates %d, retries %d, batches %d", c.Stats.Stored.Load(), c.Stats.Duplicates.Load(),
		c.Stats.Retries.Load(), c.Stats.Batches.Load())
}

// Integration (real Mosquitto + PostgreSQL): the hub restarts in the middle
// of a stream. Its persistent session (CleanStart=false, session expiry)
// makes the broker keep and redeliver what was not acknowledged.
func TestConsumerRestartMidStreamMosquittoIntegration(t *testing.T) {
	broker := mosquitto(t)
	device := unique("RS")
	s, _ := openStore(t, device)
	cfg := Config{BrokerURL: broker, ClientID: unique("hub-"), ShareGroup: unique("g")}
	_, stop := startConsumer(t, cfg, s)
	pub := newPublisher(t, broker)
	const n = 400
	envs := stream(t, device, n, time.Date(2026, 3, 3, 15, 0, 0, 0, time.UTC))
	restarted := make(chan *Consumer, 1)
	done := publishPaced(t, pub, envs, 2*time.Millisecond, func(i int) {
		if i == n/3 {
			stop()
		}
		if i == 2*n/3 {
			c2, _ := startConsumer(t, cfg, s)
			restarted <- c2
		}
	})
	<-done
	c2 := <-restarted
	got := waitStored(t, s, envs, 90*time.Second)
	if got.rows != n || got.distinct != n {
		t.Fatalf("after the restart: %d rows (%d distinct) for %d messages", got.rows, got.distinct, n)
	}
	if c2.Stats.Stored.Load() < int64(n/3) {
		t.Errorf("the restarted consumer stored %d messages; the ones published while it was down (~%d) should have been queued for it",
			c2.Stats.Stored.Load(), n/3)
	}
	checkGapFree(t, s)
}

// Integration (real Mosquitto + PostgreSQL): every message arrives twice and
// out of order (as an agent resending after a reconnect does): each is stored
// once, the codes stay gap-free, the heartbeat is the newest status time.
func TestDuplicatesAndReorderingMosquittoIntegration(t *testing.T) {
	broker := mosquitto(t)
	device := unique("DU")
	s, _ := openStore(t, device)
	c, _ := startConsumer(t, Config{BrokerURL: broker, ClientID: unique("hub-"), ShareGroup: unique("g")}, s)
	pub := newPublisher(t, broker)
	const n = 200
	at := time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC)
	envs := stream(t, device, n, at)
	// Newest first, each one twice (immediately and again at the end).
	for i := n - 1; i >= 0; i-- {
		pub.send(t, envs[i])
		pub.send(t, envs[i])
	}
	for i := range envs {
		pub.send(t, envs[i])
	}
	got := waitStored(t, s, envs, 90*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats.Stored.Load()+c.Stats.Duplicates.Load() < 3*n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got.rows != n || got.distinct != n {
		t.Fatalf("%d rows (%d distinct) for %d distinct messages sent 3 times each", got.rows, got.distinct, n)
	}
	if st, dup := c.Stats.Stored.Load(), c.Stats.Duplicates.Load(); st != n || dup != 2*n {
		t.Errorf("stored %d, duplicates %d; want %d and %d", st, dup, n, 2*n)
	}
	var newest time.Time
	for _, e := range envs {
		if e.Type == event.KindStatus && e.TS.After(newest) {
			newest = e.TS
		}
	}
	var hb time.Time
	if err := s.Pool.QueryRow(context.Background(), `SELECT last_heartbeat FROM devices WHERE id = $1`, device).Scan(&hb); err != nil {
		t.Fatal(err)
	}
	if !hb.Equal(newest) {
		t.Errorf("heartbeat %s, want the newest status time %s", hb, newest)
	}
	checkGapFree(t, s)
}

// Integration (embedded mochi broker + real PostgreSQL): the single-box
// default broker supports shared subscriptions too, so the hub uses its
// share group there as well; a stream is stored exactly once.
func TestSharedSubscriptionEmbeddedBrokerIntegration(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	device := unique("EM")
	s, _ := openStore(t, device)
	group := unique("g")
	c1, _ := startConsumer(t, Config{BrokerURL: b.URL(), ClientID: unique("hub1-"), ShareGroup: group}, s)
	c2, _ := startConsumer(t, Config{BrokerURL: b.URL(), ClientID: unique("hub2-"), ShareGroup: group}, s)
	pub := newPublisher(t, b.URL())
	const n = 200
	envs := stream(t, device, n, time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC))
	for _, e := range envs {
		pub.send(t, e)
	}
	got := waitStored(t, s, envs, 90*time.Second)
	if got.rows != n || got.distinct != n {
		t.Fatalf("stored %d rows (%d distinct) for %d messages", got.rows, got.distinct, n)
	}
	s1, s2 := c1.Stats.Stored.Load(), c2.Stats.Stored.Load()
	if s1+s2 != n || c1.Stats.Duplicates.Load()+c2.Stats.Duplicates.Load() != 0 {
		t.Errorf("stored %d+%d (duplicates %d): each message should reach exactly one consumer of the group", s1, s2,
			c1.Stats.Duplicates.Load()+c2.Stats.Duplicates.Load())
	}
	t.Logf("consumer 1 stored %d, consumer 2 stored %d", s1, s2)
	checkGapFree(t, s)
}
