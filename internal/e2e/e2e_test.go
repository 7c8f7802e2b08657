// Package e2e runs the real binaries against the real services: the hub
// (with its embedded broker, or with Mosquitto) on a throw-away PostgreSQL
// database, and the agent publishing through MQTT.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds agent and hub once per test process.
func binaries(t *testing.T) (agent, hub string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vigia-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []string{"agent", "hub"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b), "./"+b)
			cmd.Dir = testenv.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "agent"), filepath.Join(binDir, "hub")
}

// proc is a running binary whose output is kept for assertions.
type proc struct {
	cmd *exec.Cmd
	out *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	buf := &syncBuf{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, out: buf}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not stop on SIGTERM within 10 s", p.cmd.Path)
	}
}

// testJWTKey signs the e2e hubs' tokens (32+ bytes, test only).
const testJWTKey = "e2e-test-signing-key-0123456789abcdef"

// runStdin runs a command with stdin (e.g. a password for `hub user create`).
func runStdin(t *testing.T, env []string, stdin, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

// login returns an access token from POST /api/auth/login.
func login(t *testing.T, base, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := http.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	return r.AccessToken
}

func authGet(url, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}

func run(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

func waitReady(t *testing.T, base string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.cmd.ProcessState != nil {
			t.Fatalf("hub exited early:\n%s", p.out.String())
		}
		resp, err := http.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("hub not ready after 30 s:\n%s", p.out.String())
}

// scenario is one hub configuration under test.
type scenario struct {
	name      string
	external  bool // use Mosquitto instead of the embedded broker
	brokerURL string
}

func TestEndToEndEmbeddedBroker(t *testing.T) {
	runScenario(t, scenario{name: "embedded"})
}

func TestEndToEndMosquitto(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	runScenario(t, scenario{name: "mosquitto", external: true, brokerURL: "mqtt://" + addr})
}

func runScenario(t *testing.T, sc scenario) {
	agentBin, hubBin := binaries(t)
	dbURL := testdb.New(t)
	httpAddr := testenv.FreeAddr(t)
	base := "http://" + httpAddr
	suffix := strings.ToUpper(event.NewID()[24:32])
	device := "CAM-" + suffix
	const rtspSecret = "Sup3rS3cret!"
	hubEnv := []string{
		"HUB_DATABASE_URL=" + dbURL,
		"HUB_HTTP_ADDR=" + httpAddr,
		"HUB_EVIDENCE_DIR=" + t.TempDir(),
		"HUB_MQTT_CLIENT_ID=hub-e2e-" + suffix,
		"HUB_MQTT_SESSION_EXPIRY=2m",
		"HUB_DEVICE_RTSP_URL=rtsp://admin:" + rtspSecret + "@192.0.2.10:554/h264/ch1/main/av_stream",
		"HUB_JWT_KEY=" + testJWTKey,
	}
	if sc.external {
		hubEnv = append(hubEnv, "HUB_MQTT_URL="+sc.brokerURL)
	} else {
		listen := testenv.FreeAddr(t)
		hubEnv = append(hubEnv, "HUB_MQTT_URL=", "HUB_MQTT_LISTEN="+listen)
		sc.brokerURL = "mqtt://" + listen
	}

	// Register the zone and camera before the hub starts: refused devices are dead-lettered.
	run(t, hubEnv, hubBin, "zone", "add", "ZN-"+suffix, "--speed-limit", "60", "--name", "Av. Javier Prado")
	run(t, hubEnv, hubBin, "device", "add", device, "--zone", "ZN-"+suffix, "--lat", "-12.0917", "--lon", "-77.0282")
	runStdin(t, hubEnv, "e2e-password-123\n", hubBin, "user", "create", "e2e", "--role", "operator", "--email", "e2e@example.pe")
	hub := start(t, hubEnv, hubBin, "serve")
	waitReady(t, base, hub)
	token := login(t, base, "e2e", "e2e-password-123")

	agentEnv := []string{"AGENT_MQTT_URL=" + sc.brokerURL, "AGENT_DEVICE_ID=" + device, "AGENT_DATA_DIR=" + t.TempDir()}
	out := run(t, agentEnv, agentBin, "event", "send", "--plate", "abc-123", "--speed", "78.5", "--limit", "60", "--count", "3")
	var sent []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			ID    string `json:"id"`
			Acked bool   `json:"acked"`
		}
		if json.Unmarshal([]byte(line), &r) == nil && r.Acked {
			sent = append(sent, r.ID)
		}
	}
	if len(sent) != 3 {
		t.Fatalf("agent reported %d acked events, want 3:\n%s", len(sent), out)
	}

	// Bad input and duplicates, straight onto the broker.
	pub := dialRaw(t, sc.brokerURL, "e2e-raw-"+suffix)
	t.Cleanup(func() {
		// The agent's status is retained by the broker: clear it so a shared broker keeps no debris.
		publishRetainedClear(pub, event.Topic(device, event.KindStatus))
	})
	now := time.Now().UTC()
	dup, err := event.New(device, now, &event.Infraction{Type: event.RedLight, CameraID: device, DetectedAt: now,
		Plate: "XYZ-987", PlateReadable: true, OCRConfidence: 0.91})
	if err != nil {
		t.Fatal(err)
	}
	dupBytes, _ := dup.Encode()
	nobody, other := "NOBODY-"+suffix, "OTHER-"+suffix
	unknown, _ := event.New(nobody, now, &event.Infraction{Type: event.OtherViolation, CameraID: nobody, DetectedAt: now})
	unknownBytes, _ := unknown.Encode()
	v2 := strings.Replace(string(dupBytes), `"v":1`, `"v":2`, 1)
	topic := event.Topic(device, event.KindInfraction)
	msgs := []struct {
		topic   string
		payload []byte
	}{
		{topic, dupBytes},
		{topic, dupBytes}, // the agent resends until acked: duplicates happen
		{topic, []byte(`{"v":1,"type":"infraction","id":`)},
		{topic, []byte(v2)},
		{event.Topic(nobody, event.KindInfraction), unknownBytes},
		{topic, bytes.Repeat([]byte("x"), event.MaxPayloadBytes+10)},
		{event.Topic(other, event.KindInfraction), dupBytes}, // topic and envelope disagree
	}
	for _, m := range msgs {
		publishRaw(t, pub, m.topic, m.payload)
	}
	// The hub keeps running and still stores what comes after.
	out = run(t, agentEnv, agentBin, "event", "send", "--type", "LANE_INVASION", "--plate", "B7K-123")
	if !strings.Contains(out, `"acked":true`) {
		t.Fatalf("event after bad input not acked:\n%s", out)
	}

	want := 3 + 1 + 1
	rows := waitRows(t, dbURL, want)
	if rows != want {
		t.Fatalf("%d infractions stored, want %d\nhub log:\n%s", rows, want, hub.out.String())
	}
	checkStored(t, dbURL, device, sent, dup.ID)
	// The external broker is shared with other tests: count only this test's devices.
	checkDeadLetters(t, dbURL, []string{device, nobody, other}, map[string]int{
		event.ReasonMalformed: 1, event.ReasonVersion: 1, "unknown_device": 1, event.ReasonTooLarge: 1, "topic_mismatch": 1,
	})
	checkAPI(t, base, token, device, want)

	if sc.external {
		// The broker keeps the hub's session: events published while the hub is down arrive after it restarts.
		hub.stop(t)
		out = run(t, agentEnv, agentBin, "event", "send", "--type", "OTHER", "--count", "2")
		if strings.Count(out, `"acked":true`) != 2 {
			t.Fatalf("events while the hub was down not acked by the broker:\n%s", out)
		}
		hub2 := start(t, hubEnv, hubBin, "serve")
		waitReady(t, base, hub2)
		if got := waitRows(t, dbURL, want+2); got != want+2 {
			t.Fatalf("after hub restart: %d infractions, want %d\n%s", got, want+2, hub2.out.String())
		}
		hub = hub2
	}
	for _, p := range []*proc{hub} {
		if strings.Contains(p.out.String(), rtspSecret) {
			t.Errorf("a secret leaked into the logs")
		}
	}
}

func dialRaw(t *testing.T, brokerURL, clientID string) *paho.Client {
	t.Helper()
	u, _ := url.Parse(brokerURL)
	conn, err := (&netDialer{}).dial(u.Host)
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: clientID})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connect broker: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func publishRetainedClear(c *paho.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true})
}

func publishRaw(t *testing.T, c *paho.Client, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
		t.Fatalf("publish %d bytes to %s: %v", len(payload), topic, err)
	}
}

func connectDB(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// waitRows waits until the infractions table holds want rows (or stops growing) and returns the count.
func waitRows(t *testing.T, dbURL string, want int) int {
	t.Helper()
	c := connectDB(t, dbURL)
	var n int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.QueryRow(context.Background(), `SELECT count(*) FROM infractions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let any extra (duplicate) row that would wrongly arrive show up.
	time.Sleep(300 * time.Millisecond)
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM infractions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkStored(t *testing.T, dbURL, device string, sent []string, dupID string) {
	t.Helper()
	c := connectDB(t, dbURL)
	ctx := context.Background()
	for _, id := range append(sent, dupID) {
		var code, typ, zone string
		var plate *string
		err := c.QueryRow(ctx, `SELECT infraction_code, type, zone_id, plate FROM infractions WHERE event_id = $1 AND device_id = $2`,
			id, device).Scan(&code, &typ, &zone, &plate)
		if err != nil {
			t.Fatalf("event %s not stored: %v", id, err)
		}
		if !strings.HasPrefix(code, "INF-") || zone == "" {
			t.Errorf("event %s: code %q zone %q", id, code, zone)
		}
	}
	// Codes are unique and gap-free within the day.
	rows, err := c.Query(ctx, `SELECT infraction_code FROM infractions ORDER BY infraction_code`)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range codes {
		if !strings.HasSuffix(code, fmt.Sprintf("-%03d", i+1)) {
			t.Fatalf("codes are not gap-free: %v", codes)
		}
	}
	var vehicles int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM vehicles WHERE plate IN ('ABC-123','XYZ-987','B7K-123')`).Scan(&vehicles); err != nil {
		t.Fatal(err)
	}
	if vehicles != 3 {
		t.Errorf("%d vehicles rows for the 3 plates seen, want 3", vehicles)
	}
}

func checkDeadLetters(t *testing.T, dbURL string, devices []string, want map[string]int) {
	t.Helper()
	c := connectDB(t, dbURL)
	rows, err := c.Query(context.Background(), `SELECT reason, count(*) FROM dead_letters WHERE device_id = ANY($1) GROUP BY reason`, devices)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			t.Fatal(err)
		}
		got[r] = n
	}
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("dead letters with reason %q: %d, want %d (all: %v)", reason, got[reason], n, got)
		}
	}
}

func checkAPI(t *testing.T, base, token, device string, want int) {
	t.Helper()
	resp, err := authGet(base+"/api/infractions/?device_id="+device+"&limit=2", token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page struct {
		Count   int     `json:"count"`
		Next    *string `json:"next"`
		Results []struct {
			InfractionCode string `json:"infraction_code"`
			DeviceID       string `json:"device_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/infractions/: %d %s", resp.StatusCode, body)
	}
	if page.Count != want || len(page.Results) != 2 || page.Next == nil || page.Results[0].DeviceID != device {
		t.Fatalf("unexpected page: %s", body)
	}
	for _, bad := range []string{"?limit=0", "?status=lost", "?date=yesterday", "?device_id=a%27%3B%20DROP%20TABLE%20infractions%3B--"} {
		resp, err := authGet(base+"/api/infractions/"+bad, token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}
