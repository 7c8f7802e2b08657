package e2e

// Fault tests that count rows at the hub. The agent side is the
// faultagent command (agent/internal/outbox/faultagent): real evidence
// packages, the real bbolt outbox, the real uplink.Sender and the real
// evidence janitor, in a child process the tests starve, kill and restart.
// The hub side is the real `hub serve` (ingest consumer + PostgreSQL store)
// on a fresh database. The broker is a Mosquitto each test launches on its
// own port (the system one on 1883 is shared and never stopped), and the
// object store a real MinIO (internal/testminio).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/internal/testminio"
	"github.com/vigia-pe/vigia/internal/testmosquitto"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

const fltBucket = "evidence"

var (
	fltOnce sync.Once
	fltBin  string
	fltErr  error
)

// faultAgentBinary builds the faultagent command once per test process.
func faultAgentBinary(t *testing.T) string {
	t.Helper()
	fltOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigia-faultagent-")
		if err != nil {
			fltErr = err
			return
		}
		fltBin = filepath.Join(dir, "faultagent")
		cmd := exec.Command("go", "build", "-o", fltBin, "./agent/internal/outbox/faultagent")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fltErr = fmt.Errorf("build faultagent: %v\n%s", err, out)
		}
	})
	if fltErr != nil {
		t.Fatal(fltErr)
	}
	return fltBin
}

func fltWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fltRig is a hub on a fresh database, consuming from the test's own
// Mosquitto, plus a MinIO for evidence, and one registered device.
type fltRig struct {
	device string
	broker *testmosquitto.Server
	minio  *testminio.Server
	mc     *minio.Client
	dbURL  string
	hub    *proc
}

func newFltRig(t *testing.T) *fltRig {
	t.Helper()
	_, hubBin := binaries(t)
	faultAgentBinary(t)
	r := &fltRig{device: "FLT-" + strings.ToUpper(event.NewID()[24:32])}
	r.broker = testmosquitto.Start(t, testenv.FreeAddr(t), t.TempDir())
	r.minio = testminio.Start(t)
	mc, err := minio.New(r.minio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(r.minio.AccessKey, r.minio.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	r.mc = mc
	r.dbURL = testdb.New(t)
	httpAddr := testenv.FreeAddr(t)
	env := []string{"HUB_DATABASE_URL=" + r.dbURL, "HUB_HTTP_ADDR=" + httpAddr, "HUB_EVIDENCE_DIR=" + t.TempDir(),
		"HUB_MQTT_URL=mqtt://" + r.broker.Addr, "HUB_MQTT_CLIENT_ID=hub-" + strings.ToLower(r.device),
		"HUB_MQTT_SESSION_EXPIRY=10m", "HUB_DEV_EPHEMERAL_KEY=true",
		"HUB_LOG_LEVEL=debug"} // debug: the hub logs each duplicate it absorbs
	// The device must exist before its events arrive (unknown devices are dead-lettered).
	run(t, env, hubBin, "device", "add", r.device)
	r.hub = start(t, env, hubBin, "serve")
	waitReady(t, "http://"+httpAddr, r.hub)
	return r
}

// restartBroker starts the rig's broker again on the same address and data.
func (r *fltRig) restartBroker(t *testing.T) {
	t.Helper()
	r.broker.Stop()
	r.broker = testmosquitto.Start(t, r.broker.Addr, r.broker.Dir)
}

// fltAgent is a running faultagent and what it printed.
type fltAgent struct {
	cmd    *exec.Cmd
	stderr *syncBuf
	exited chan struct{}

	mu       sync.Mutex
	produced []string
	alarms   []fltAlarm
	drained  map[string]any
}

type fltAlarm struct {
	Source string `json:"source"`
	On     bool   `json:"on"`
	Reason string `json:"reason"`
}

func (r *fltRig) startAgent(t *testing.T, dataDir string, args ...string) *fltAgent {
	t.Helper()
	return startFaultAgent(t, dataDir, r.broker.Addr, r.minio, r.device, args...)
}

func startFaultAgent(t *testing.T, dataDir, broker string, s3 *testminio.Server, device string, args ...string) *fltAgent {
	t.Helper()
	all := []string{"-data-dir", dataDir, "-device", device, "-broker", broker, "-bucket", fltBucket}
	env := os.Environ()
	if s3 != nil {
		all = append(all, "-s3", s3.Endpoint)
		env = append(env, "FAULTAGENT_S3_ACCESS_KEY="+s3.AccessKey, "FAULTAGENT_S3_SECRET_KEY="+s3.SecretKey)
	}
	cmd := exec.Command(faultAgentBinary(t), append(all, args...)...)
	cmd.Env = env
	a := &fltAgent{cmd: cmd, stderr: &syncBuf{}, exited: make(chan struct{})}
	cmd.Stderr = a.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start faultagent: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			a.line(sc.Bytes())
		}
		_ = cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			_ = cmd.Process.Kill()
			<-a.exited
		}
	})
	return a
}

func (a *fltAgent) line(b []byte) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch m["ev"] {
	case "produced":
		a.produced = append(a.produced, m["id"].(string))
	case "alarm":
		var al fltAlarm
		_ = json.Unmarshal(b, &al)
		a.alarms = append(a.alarms, al)
	case "drained":
		a.drained = m
	}
}

func (a *fltAgent) producedIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.produced...)
}

// alarmOn reports whether source's last reported alarm state is on.
func (a *fltAgent) alarmOn(source string) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.alarms) - 1; i >= 0; i-- {
		if a.alarms[i].Source == source {
			return a.alarms[i].On, a.alarms[i].Reason
		}
	}
	return false, ""
}

func (a *fltAgent) waitProduced(t *testing.T, n int, d time.Duration) {
	t.Helper()
	fltWait(t, d, fmt.Sprintf("%d infractions produced", n), func() bool {
		select {
		case <-a.exited:
			t.Fatalf("faultagent exited early:\n%s", a.stderr.String())
		default:
		}
		return len(a.producedIDs()) >= n
	})
}

// waitDrained waits for the agent to report an empty outbox and exit.
func (a *fltAgent) waitDrained(t *testing.T, d time.Duration) map[string]any {
	t.Helper()
	select {
	case <-a.exited:
	case <-time.After(d):
		t.Fatalf("faultagent did not drain its outbox within %s:\n%s", d, a.stderr.String())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.drained == nil || a.cmd.ProcessState == nil || !a.cmd.ProcessState.Success() {
		t.Fatalf("faultagent ended without draining (%v):\n%s", a.cmd.ProcessState, a.stderr.String())
	}
	return a.drained
}

// fltCount is what the hub stored for the sent events.
type fltCount struct {
	sent, rows, distinct, lost, extra, objects int
	redelivered                                int // duplicate deliveries the hub absorbed (idempotent on the event id)
}

func (c fltCount) String() string {
	return fmt.Sprintf("sent=%d rows=%d dup=%d lost=%d extra=%d objects=%d redelivered=%d",
		c.sent, c.rows, c.rows-c.distinct, c.lost, c.extra, c.objects, c.redelivered)
}

// countAtHub waits until the hub holds a row for every sent id (or d
// passes), lets late duplicates arrive, counts the rows of the device, and
// downloads every evidence object the rows reference to check its hash.
func (r *fltRig) countAtHub(t *testing.T, sent []string, d time.Duration) fltCount {
	t.Helper()
	db := connectDB(t, r.dbURL)
	ctx := context.Background()
	count := func() (rows, distinct int) {
		if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id) FROM infractions WHERE device_id = $1`,
			r.device).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		return rows, distinct
	}
	deadline := time.Now().Add(d)
	for {
		if _, distinct := count(); distinct >= len(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a wrongly duplicated row would show up now
	c := fltCount{sent: len(sent), redelivered: strings.Count(r.hub.out.String(), "duplicate infraction ignored")}
	c.rows, c.distinct = count()
	rows, err := db.Query(ctx, `SELECT event_id, evidence FROM infractions WHERE device_id = $1`, r.device)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]event.Evidence{}
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			t.Fatal(err)
		}
		var ev event.Evidence
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("row %s: evidence column: %v", id, err)
		}
		stored[id] = ev
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range sent {
		want[id] = true
		if _, ok := stored[id]; !ok {
			c.lost++
		}
	}
	for id, ev := range stored {
		if !want[id] {
			c.extra++
			continue
		}
		c.objects += r.checkObjects(t, id, ev)
	}
	return c
}

// checkObjects downloads the evidence files of one row: the clip and the
// snapshot must hash to the row's SHA-256, and the manifest must decode to
// the row's chain hash and list the same file hashes.
func (r *fltRig) checkObjects(t *testing.T, id string, ev event.Evidence) int {
	t.Helper()
	if ev.VideoClip == nil || ev.Snapshot == nil || ev.Manifest == nil {
		t.Fatalf("row %s lacks evidence references: %+v", id, ev)
	}
	n := 0
	for _, f := range []*event.EvidenceFile{ev.VideoClip, ev.Snapshot} {
		b := r.object(t, f.Key)
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.SizeBytes {
			t.Fatalf("row %s: object %s is %d bytes %x, want %d bytes %s", id, f.Key, len(b), sum, f.SizeBytes, f.SHA256)
		}
		n++
	}
	m, err := shared.Decode(r.object(t, ev.Manifest.Key))
	if err != nil {
		t.Fatalf("row %s: manifest object: %v", id, err)
	}
	if got := strings.TrimPrefix(shared.Hash(m), "sha256:"); got != ev.Manifest.SHA256 || m.EventID != id {
		t.Fatalf("row %s: manifest object hashes to %s (event %s), want %s", id, got, m.EventID, ev.Manifest.SHA256)
	}
	for _, f := range m.Files {
		if f.Role == shared.RoleVideoClip && f.SHA256 != ev.VideoClip.SHA256 || f.Role == shared.RoleSnapshot && f.SHA256 != ev.Snapshot.SHA256 {
			t.Fatalf("row %s: manifest lists %s %s, the row says otherwise", id, f.Name, f.SHA256)
		}
	}
	return n + 1
}

func (r *fltRig) object(t *testing.T, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := r.mc.GetObject(ctx, fltBucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read object %s: %v", key, err)
	}
	return b
}

// assertExact fails unless every sent event is stored exactly once with
// its three evidence objects, and prints the fault's summary line.
func assertExact(t *testing.T, fault string, c fltCount) {
	t.Helper()
	t.Logf("fault=%s %s", fault, c)
	if c.rows != c.sent || c.distinct != c.sent || c.lost != 0 || c.extra != 0 || c.objects != 3*c.sent {
		t.Fatalf("fault=%s: want exactly %d rows, 0 duplicated, 0 lost, %d objects; got %s", fault, c.sent, 3*c.sent, c)
	}
}

func failures(d map[string]any, kind string) float64 {
	f, _ := d["failures"].(map[string]any)
	v, _ := f[kind].(float64)
	return v
}

// Fault (a): the broker goes away mid-run while infractions keep coming,
// then comes back.
func TestFaultBrokerDownRowsAtHubRealServices(t *testing.T) {
	r := newFltRig(t)
	const n = 30
	a := r.startAgent(t, t.TempDir(), "-count", fmt.Sprint(n), "-every", "100ms", "-clip-bytes", "64000", "-exit-when-drained")
	a.waitProduced(t, 8, 30*time.Second)
	r.broker.Stop()
	down := time.Now()
	a.waitProduced(t, n, 30*time.Second)
	time.Sleep(time.Until(down.Add(3 * time.Second)))
	r.restartBroker(t)
	t.Logf("broker down for %s while %d infractions were produced", time.Since(down).Round(time.Millisecond), n-8)
	d := a.waitDrained(t, 60*time.Second)
	if failures(d, "broker") == 0 {
		t.Errorf("the sender never saw the broker fail: %v", d)
	}
	assertExact(t, "broker-down", r.countAtHub(t, a.producedIDs(), 30*time.Second))
}

// Fault (b): the object store goes away mid-run, then comes back with its data.
func TestFaultMinIODownRowsAtHubRealServices(t *testing.T) {
	r := newFltRig(t)
	const n = 20
	a := r.startAgent(t, t.TempDir(), "-count", fmt.Sprint(n), "-every", "100ms", "-clip-bytes", "200000", "-exit-when-drained")
	a.waitProduced(t, 5, 30*time.Second)
	r.minio.Stop()
	down := time.Now()
	a.waitProduced(t, n, 30*time.Second)
	time.Sleep(time.Until(down.Add(2 * time.Second)))
	r.minio.Restart(t)
	t.Logf("minio down for %s", time.Since(down).Round(time.Millisecond))
	d := a.waitDrained(t, 60*time.Second)
	if failures(d, "storage") == 0 {
		t.Errorf("the sender never saw the object store fail: %v", d)
	}
	assertExact(t, "minio-down", r.countAtHub(t, a.producedIDs(), 30*time.Second))
}

// Fault (c): the agent is SIGKILLed while a multipart evidence upload is in
// progress, and restarted on the same data directory.
func TestFaultSIGKILLMidUploadRowsAtHubRealServices(t *testing.T) {
	r := newFltRig(t)
	const n = 4
	dir := t.TempDir()
	a := r.startAgent(t, dir, "-count", fmt.Sprint(n), "-clip-bytes", fmt.Sprint(24<<20), "-produce-first")
	a.waitProduced(t, n, 60*time.Second)
	ctx := testenv.Context(t, time.Minute)
	// Kill it as soon as MinIO shows a multipart upload in progress.
	caught := ""
	for deadline := time.Now().Add(30 * time.Second); caught == "" && time.Now().Before(deadline); {
		for info := range r.mc.ListIncompleteUploads(ctx, fltBucket, "", true) {
			if info.Err == nil {
				caught = info.Key
			}
		}
		if caught == "" {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if caught == "" {
		t.Fatalf("never saw an upload in progress:\n%s", a.stderr.String())
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	if _, err := r.mc.StatObject(ctx, fltBucket, caught, minio.StatObjectOptions{}); err == nil {
		t.Fatalf("%s is complete although its upload was killed", caught)
	}
	before := r.rowCount(t)
	t.Logf("killed with the upload of %s in progress; %d of %d rows at the hub", caught, before, n)

	b := r.startAgent(t, dir, "-exit-when-drained")
	d := b.waitDrained(t, 90*time.Second)
	if pub, _ := d["published"].(float64); int(pub) < n-before {
		t.Errorf("the restarted agent published %v events, want at least %d", pub, n-before)
	}
	assertExact(t, "sigkill-mid-upload", r.countAtHub(t, a.producedIDs(), 30*time.Second))
	left := 0
	for info := range r.mc.ListIncompleteUploads(ctx, fltBucket, "", true) {
		if info.Err == nil {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d incomplete multipart uploads left behind", left)
	}
}

func (r *fltRig) rowCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := connectDB(t, r.dbURL).QueryRow(context.Background(), `SELECT count(*) FROM infractions WHERE device_id = $1`,
		r.device).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Fault (d): the uplink is down while the pipeline keeps producing, with a
// small outbox quota and a small evidence quota: status samples are dropped,
// every infraction and its evidence is kept (both alarms raised); once the
// uplink is back every infraction arrives and the delivered evidence is
// pruned back under its quota.
func TestFaultDiskQuotaRowsAtHubRealServices(t *testing.T) {
	r := newFltRig(t)
	const (
		n           = 20
		clip        = 256 << 10
		evidenceMax = 3 << 20
	)
	r.broker.Stop()
	dir := t.TempDir()
	a := r.startAgent(t, dir, "-count", fmt.Sprint(n), "-every", "20ms", "-status-per-infraction", "5", "-clip-bytes", fmt.Sprint(clip),
		"-outbox-max-bytes", fmt.Sprint(2<<20), "-evidence-max-bytes", fmt.Sprint(evidenceMax), "-janitor-every", "100ms", "-exit-when-drained")
	a.waitProduced(t, n, 60*time.Second)
	for _, src := range []string{"outbox", "evidence"} {
		fltWait(t, 10*time.Second, src+" alarm", func() bool { on, _ := a.alarmOn(src); return on })
		_, why := a.alarmOn(src)
		t.Logf("%s alarm: %s", src, why)
	}
	// Over quota with the uplink down, yet no infraction's evidence was deleted.
	if got := countManifests(t, dir); got != n {
		t.Fatalf("%d evidence packages on disk while the uplink is down, want all %d", got, n)
	}
	r.restartBroker(t)
	d := a.waitDrained(t, 90*time.Second)
	dropped, _ := d["dropped"].(map[string]any)
	if st, _ := dropped[string(event.KindStatus)].(float64); st == 0 {
		t.Errorf("no status sample dropped over quota: %v", d)
	}
	if op, _ := d["over_quota_puts"].(float64); op == 0 {
		t.Errorf("no infraction accepted over the outbox quota: %v", d)
	}
	if d["evidence_over_quota"] != false || d["outbox_alarm"] != false {
		t.Errorf("alarms still on after delivery: %v", d)
	}
	if b, _ := d["evidence_bytes"].(float64); b > evidenceMax || b == 0 {
		t.Errorf("evidence uses %v bytes after delivery, quota %d", b, evidenceMax)
	}
	if del, _ := d["evidence_deleted"].(float64); del == 0 || countManifests(t, dir) != n-int(del) {
		t.Errorf("delivered evidence not pruned: %v deleted, %d packages left", del, countManifests(t, dir))
	}
	t.Logf("disk quota: dropped=%v over_quota_puts=%v evidence_deleted=%v evidence_bytes=%v", dropped, d["over_quota_puts"],
		d["evidence_deleted"], d["evidence_bytes"])
	assertExact(t, "disk-quota", r.countAtHub(t, a.producedIDs(), 30*time.Second))
}

func countManifests(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dataDir, "evidence"), func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == shared.ManifestFile {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Fault (e): a corrupt outbox file. `agent run` (and the fault agent, which
// opens the outbox the same way) refuse to start with the recovery command,
// and leave the file byte-identical and alone in its directory.
func TestFaultCorruptOutboxRefused(t *testing.T) {
	agentBin, _ := binaries(t)
	// A real outbox with three undelivered infractions (nothing listens on the broker address).
	src := t.TempDir()
	a := startFaultAgent(t, src, testenv.FreeAddr(t), nil, "FLT-CORRUPT", "-count", "3", "-clip-bytes", "1000")
	a.waitProduced(t, 3, 30*time.Second)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	<-a.exited
	good, err := os.ReadFile(filepath.Join(src, "outbox.db"))
	if err != nil || len(good) < 16<<10 {
		t.Fatalf("outbox file: %d bytes, %v", len(good), err)
	}
	garbage := make([]byte, 64<<10)
	_, _ = rand.Read(garbage)
	cases := []struct {
		name string
		file []byte
	}{
		// bbolt's meta pages, freelist and first bucket pages only: the
		// pages holding the entries are cut off.
		{"truncated", good[:3*4096]},
		{"meta pages zeroed", append(make([]byte, 8192), good[8192:]...)},
		{"garbage", garbage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(data, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(data, "outbox.db")
			if err := os.WriteFile(path, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "agent.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`device_id: FLT-CORRUPT
mqtt: {url: "mqtt://%s"}
data_dir: %s
models_dir: %s
http_addr: %s
cameras:
  - id: CAM1
    url: rtsp://127.0.0.1:1/cam
`, testenv.FreeAddr(t), data, t.TempDir(), testenv.FreeAddr(t))), 0o600); err != nil {
				t.Fatal(err)
			}
			outputs := map[string]string{}
			for name, cmd := range map[string]*exec.Cmd{
				"agent run":  exec.Command(agentBin, "run", "--config", cfg),
				"faultagent": exec.Command(faultAgentBinary(t), "-data-dir", data, "-device", "FLT-CORRUPT", "-broker", testenv.FreeAddr(t)),
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...).CombinedOutput()
				cancel()
				if err == nil {
					t.Fatalf("%s started on a corrupt outbox:\n%s", name, out)
				}
				for _, want := range []string{"corrupt", "left untouched", "mv " + path, "agent outbox inspect"} {
					if !strings.Contains(string(out), want) {
						t.Errorf("%s: the refusal does not say %q:\n%s", name, want, out)
					}
				}
				outputs[name] = string(out)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, tc.file) {
				t.Fatalf("the corrupt file changed (%d -> %d bytes, %v)", len(tc.file), len(after), err)
			}
			ents, err := os.ReadDir(data)
			if err != nil || len(ents) != 1 {
				t.Fatalf("the data directory holds %d entries, want only outbox.db (%v)", len(ents), err)
			}
			line := outputs["agent run"]
			if i := strings.Index(line, "corrupt"); i >= 0 {
				line = line[i:]
			}
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			t.Logf("fault=corrupt-bbolt case=%q refused=2/2 byte-identical=true: %.160s", tc.name, line)
		})
	}
}
