package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testminio"
	"github.com/vigia-pe/vigia/shared/event"
	"github.com/vigia-pe/vigia/shared/evidence"
)

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a migrated database, an evidence store and one agent's key.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	store *db.Store
	objs  objstore.Store
	clock *clock
	priv  ed25519.PrivateKey
	seq   uint64
	prev  string
	w     *Worker
}

func newFixture(t testing.TB, objs objstore.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := db.Open(ctx, testdb.New(t), time.UTC, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CAM001", "CAM002"} {
		if err := s.UpsertDevice(ctx, db.Device{ID: id, Name: id, RTSPURL: "rtsp://cam"}); err != nil {
			t.Fatal(err)
		}
	}
	if objs == nil {
		if objs, err = objstore.NewLocal(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The infraction's created_at comes from the database clock: start the
	// worker's clock there.
	var dbNow time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT now()`).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: s, objs: objs, clock: &clock{t: dbNow.Add(time.Second)}, priv: priv, prev: evidence.ZeroHash}
	f.w = New(Config{RetryMin: time.Minute, RetryMax: 10 * time.Minute, GiveUpAfter: time.Hour, Now: f.clock.Now}, s, objs, log)
	return f
}

func (f *fixture) registerKey(device string, pub ed25519.PublicKey) string {
	f.t.Helper()
	id, err := f.store.AddDeviceKey(f.ctx, device, pub, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) pub() ed25519.PublicKey { return f.priv.Public().(ed25519.PublicKey) }

// pkg is one evidence package as the agent would build it.
type pkg struct {
	env      event.Envelope
	inf      *event.Infraction
	m        *evidence.Manifest
	raw      []byte // manifest.json
	files    map[string][]byte
	dir      string
	signWith ed25519.PrivateKey
}

// build makes the next package of the fixture's device chain, signed with
// the fixture key, without storing anything.
func (f *fixture) build() *pkg {
	f.t.Helper()
	env := event.Envelope{V: 1, Type: event.KindInfraction, ID: event.NewID(), DeviceID: "CAM001", TS: f.clock.Now()}
	at := f.clock.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	p := &pkg{env: env, files: map[string][]byte{
		"clip.mp4":     bytes.Repeat([]byte("video-"+env.ID), 500),
		"snapshot.jpg": []byte("jpeg-" + env.ID),
		"plate.png":    []byte("png-" + env.ID),
	}, signWith: f.priv}
	p.dir = "2026/11/28/CAM001/" + env.ID
	roles := map[string]evidence.Role{"clip.mp4": evidence.RoleVideoClip, "snapshot.jpg": evidence.RoleSnapshot, "plate.png": evidence.RolePlateCrop}
	f.seq++
	p.m = &evidence.Manifest{EventID: env.ID, DeviceID: "CAM001", CameraID: "CAM001", Infraction: string(event.SpeedViolation),
		DetectedAt: at, AgentVersion: "test", Clock: evidence.Clock{Synced: true, Source: evidence.ClockSystem},
		Sequence: f.seq, PrevHash: f.prev, CreatedAt: at.Add(2 * time.Second)}
	for _, name := range []string{"clip.mp4", "snapshot.jpg", "plate.png"} {
		sum := sha256.Sum256(p.files[name])
		p.m.Files = append(p.m.Files, evidence.File{Name: name, Role: roles[name], Size: int64(len(p.files[name])),
			SHA256: hex.EncodeToString(sum[:]), ContentType: evidence.ContentType(name)})
	}
	p.sign(f.t)
	f.prev = evidence.Hash(p.m)
	p.inf = &event.Infraction{Type: event.SpeedViolation, CameraID: "CAM001", DetectedAt: at, DetectedSpeed: 82, SpeedLimit: 50}
	p.fillEvent()
	return p
}

func (p *pkg) sign(t testing.TB) {
	t.Helper()
	if err := evidence.Sign(p.m, p.signWith); err != nil {
		t.Fatal(err)
	}
	raw, err := p.m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p.raw = raw
}

// fillEvent writes the evidence references of the event from the manifest.
func (p *pkg) fillEvent() {
	ev := &p.inf.Evidence
	for _, f := range p.m.Files {
		ef := &event.EvidenceFile{Key: p.dir + "/" + f.Name, SHA256: f.SHA256, SizeBytes: f.Size, ContentType: f.ContentType}
		switch f.Role {
		case evidence.RoleVideoClip:
			ev.VideoClip = ef
		case evidence.RoleSnapshot:
			ev.Snapshot = ef
		case evidence.RolePlateCrop:
			ev.PlateCrop = ef
		}
	}
	sum := sha256.Sum256(p.raw)
	ev.Manifest = &event.EvidenceFile{Key: p.dir + "/" + evidence.ManifestFile, SHA256: hex.EncodeToString(sum[:]),
		SizeBytes: int64(len(p.raw)), ContentType: "application/json"}
	ev.ManifestSHA256 = ev.Manifest.SHA256
}

func (f *fixture) put(key string, b []byte) {
	f.t.Helper()
	if _, err := f.objs.Put(f.ctx, key, bytes.NewReader(b), "application/octet-stream"); err != nil {
		f.t.Fatal(err)
	}
}

// upload stores the package's files and manifest (except the names in skip).
func (f *fixture) upload(p *pkg, skip ...string) {
	f.t.Helper()
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	for name, b := range p.files {
		if !skipped[name] {
			f.put(p.dir+"/"+name, b)
		}
	}
	if !skipped[evidence.ManifestFile] {
		f.put(p.dir+"/"+evidence.ManifestFile, p.raw)
	}
}

// ingest stores the infraction as ingestion would and returns its id.
func (f *fixture) ingest(p *pkg) string {
	f.t.Helper()
	res, err := f.store.InsertInfraction(f.ctx, p.env, p.inf)
	if err != nil {
		f.t.Fatal(err)
	}
	return res.ID
}

// state returns the infraction's verification and its evidence record.
func (f *fixture) state(id string) (string, db.EvidenceRecord) {
	f.t.Helper()
	var v string
	if err := f.store.Pool.QueryRow(f.ctx, `SELECT evidence_verification FROM infractions WHERE id = $1`, id).Scan(&v); err != nil {
		f.t.Fatal(err)
	}
	rec, err := f.store.EvidenceRecordOf(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	if rec.Verification != v {
		f.t.Fatalf("infraction says %s, evidence_manifests says %s", v, rec.Verification)
	}
	return v, rec
}

func (f *fixture) deadLetters(eventID string) []string {
	f.t.Helper()
	rows, err := f.store.Pool.Query(f.ctx, `SELECT reason FROM dead_letters WHERE event_id = $1 ORDER BY id`, eventID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (f *fixture) runOnce() int {
	f.t.Helper()
	n, err := f.w.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestVerifyOutcomesIntegration(t *testing.T) {
	other := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cases := []struct {
		name       string
		noKey      bool
		mutate     func(f *fixture, p *pkg)
		skip       []string
		want       string
		wantReason string // dead letter when failed
		wantDetail string
	}{
		{name: "valid", want: db.EvidenceVerified, wantDetail: "first manifest"},
		{name: "tampered file", want: db.EvidenceFailed, wantReason: ReasonHashMismatch, wantDetail: "clip.mp4",
			mutate: func(_ *fixture, p *pkg) { p.files["clip.mp4"] = append([]byte("X"), p.files["clip.mp4"][1:]...) }},
		{name: "forged signature by another key", want: db.EvidenceFailed, wantReason: ReasonSignatureInvalid, wantDetail: "not a registered key",
			mutate: func(_ *fixture, p *pkg) { p.signWith = other(); p.sign(t); p.fillEvent() }},
		{name: "altered manifest keeps the key id", want: db.EvidenceFailed, wantReason: ReasonSignatureInvalid, wantDetail: "signature does not match",
			mutate: func(_ *fixture, p *pkg) {
				p.m.AgentVersion = "evil"
				raw, err := p.m.Encode()
				if err != nil {
					t.Fatal(err)
				}
				p.raw = raw
				p.fillEvent()
			}},
		{name: "manifest hash differs from the event", want: db.EvidenceFailed, wantReason: ReasonHashMismatch, wantDetail: "the event recorded",
			mutate: func(_ *fixture, p *pkg) { p.inf.Evidence.ManifestSHA256 = strings.Repeat("ab", 32) }},
		{name: "manifest of another event", want: db.EvidenceFailed, wantReason: ReasonManifestMismatch, wantDetail: "event_id",
			mutate: func(_ *fixture, p *pkg) { p.m.EventID = event.NewID(); p.sign(t); p.fillEvent() }},
		{name: "manifest of another camera", want: db.EvidenceFailed, wantReason: ReasonManifestMismatch, wantDetail: "camera_id",
			mutate: func(_ *fixture, p *pkg) { p.m.CameraID = "CAM002"; p.sign(t); p.fillEvent() }},
		{name: "event file not in the manifest", want: db.EvidenceFailed, wantReason: ReasonManifestMismatch, wantDetail: "not listed",
			mutate: func(_ *fixture, p *pkg) { p.inf.Evidence.Snapshot.Key = p.dir + "/other.jpg" }},
		{name: "unparseable manifest", want: db.EvidenceFailed, wantReason: ReasonManifestInvalid,
			mutate: func(_ *fixture, p *pkg) { p.raw = []byte(`{"v":1,`); p.fillEvent() }},
		{name: "unknown device key", noKey: true, want: db.EvidenceUnverified, wantDetail: "no registered public key"},
		{name: "no manifest in the event", want: db.EvidenceUnverified, wantDetail: "names no evidence manifest",
			mutate: func(_ *fixture, p *pkg) { p.inf.Evidence.Manifest = nil; p.inf.Evidence.ManifestSHA256 = "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if !c.noKey {
				f.registerKey("CAM001", f.pub())
			}
			p := f.build()
			if c.mutate != nil {
				c.mutate(f, p)
			}
			f.upload(p, c.skip...)
			id := f.ingest(p)
			if n := f.runOnce(); n != 1 {
				t.Fatalf("claimed %d, want 1", n)
			}
			got, rec := f.state(id)
			if got != c.want {
				t.Fatalf("verification %s (%s), want %s", got, rec.Detail, c.want)
			}
			if c.wantDetail != "" && !strings.Contains(rec.Detail, c.wantDetail) {
				t.Errorf("detail %q lacks %q", rec.Detail, c.wantDetail)
			}
			dl := f.deadLetters(p.env.ID)
			if c.wantReason != "" {
				if len(dl) != 1 || dl[0] != c.wantReason {
					t.Errorf("dead letters %v, want [%s]", dl, c.wantReason)
				}
				if f.w.Stats.Failed.Load() != 1 {
					t.Errorf("failed counter %d", f.w.Stats.Failed.Load())
				}
				alerts, err := f.store.ListDeviceAlerts(f.ctx, "CAM001", true, 10)
				if err != nil || len(alerts) != 1 || alerts[0].Kind != db.AlertEvidenceUnverified {
					t.Errorf("alerts %+v, %v", alerts, err)
				}
			} else if len(dl) != 0 {
				t.Errorf("dead letters %v, want none", dl)
			}
			// The infraction is never dropped, and a finished one is not picked again.
			var count int
			if err := f.store.Pool.QueryRow(f.ctx, `SELECT count(*) FROM infractions WHERE id = $1`, id).Scan(&count); err != nil || count != 1 {
				t.Fatalf("infraction rows %d, %v", count, err)
			}
			f.clock.Add(2 * time.Hour)
			if n := f.runOnce(); n != 0 {
				t.Fatalf("a finished infraction was claimed again (%d)", n)
			}
		})
	}
}

func TestMissingManifestPendingThenUnverifiedIntegration(t *testing.T) {
	f := newFixture(t, nil)
	f.registerKey("CAM001", f.pub())
	p := f.build()
	f.upload(p, evidence.ManifestFile)
	id := f.ingest(p)

	f.runOnce()
	got, rec := f.state(id)
	if got != db.EvidencePending || rec.Attempts != 1 || !strings.Contains(rec.Detail, "not in the evidence store yet") {
		t.Fatalf("after 1st attempt: %s %+v", got, rec)
	}
	// Not due before the backoff (1 min) has passed.
	if n := f.runOnce(); n != 0 {
		t.Fatalf("retried before the backoff: %d", n)
	}
	f.clock.Add(61 * time.Second)
	if n := f.runOnce(); n != 1 {
		t.Fatalf("not retried after the backoff: %d", n)
	}
	if _, rec = f.state(id); rec.Attempts != 2 {
		t.Fatalf("attempts %d", rec.Attempts)
	}
	// Backoff doubled: 2 min.
	f.clock.Add(61 * time.Second)
	if n := f.runOnce(); n != 0 {
		t.Fatalf("backoff did not grow: %d", n)
	}
	f.clock.Add(time.Hour)
	f.runOnce()
	got, rec = f.state(id)
	if got != db.EvidenceUnverified || !strings.Contains(rec.Detail, "not in the evidence store") {
		t.Fatalf("after give-up: %s %+v", got, rec)
	}
	if dl := f.deadLetters(p.env.ID); len(dl) != 0 {
		t.Fatalf("a missing manifest wrote dead letters %v", dl)
	}
	if f.w.Stats.Unverified.Load() != 1 || f.w.Stats.Retries.Load() != 2 {
		t.Fatalf("stats unverified %d retries %d", f.w.Stats.Unverified.Load(), f.w.Stats.Retries.Load())
	}
}

func TestLateFileThenVerifiedIntegration(t *testing.T) {
	f := newFixture(t, nil)
	f.registerKey("CAM001", f.pub())
	p := f.build()
	f.upload(p, "clip.mp4")
	id := f.ingest(p)
	f.runOnce()
	if got, rec := f.state(id); got != db.EvidencePending || !strings.Contains(rec.Detail, "clip.mp4") {
		t.Fatalf("%s %+v", got, rec)
	}
	f.put(p.dir+"/clip.mp4", p.files["clip.mp4"])
	f.clock.Add(2 * time.Minute)
	f.runOnce()
	if got, rec := f.state(id); got != db.EvidenceVerified {
		t.Fatalf("%s %+v", got, rec)
	}
}

func TestMissingFileFailsAfterGiveUpIntegration(t *testing.T) {
	f := newFixture(t, nil)
	f.registerKey("CAM001", f.pub())
	p := f.build()
	f.upload(p, "plate.png")
	id := f.ingest(p)
	f.runOnce()
	f.clock.Add(2 * time.Hour)
	f.runOnce()
	if got, rec := f.state(id); got != db.EvidenceFailed || !strings.Contains(rec.Detail, "plate.png") {
		t.Fatalf("%s %+v", got, rec)
	}
	if dl := f.deadLetters(p.env.ID); len(dl) != 1 || dl[0] != ReasonFileMissing {
		t.Fatalf("dead letters %v", dl)
	}
}

func TestChainIntegration(t *testing.T) {
	f := newFixture(t, nil)
	f.registerKey("CAM001", f.pub())
	p1, p2, p3 := f.build(), f.build(), f.build()
	// p4 claims to follow p3 but its prev_hash is wrong.
	p4 := f.build()
	p4.m.PrevHash = strings.Repeat("0f", 32)
	p4.sign(t)
	p4.fillEvent()
	// p3 arrives before p2: verified, with the gap noted.
	ids := map[*pkg]string{}
	for _, p := range []*pkg{p1, p3} {
		f.upload(p)
		ids[p] = f.ingest(p)
	}
	f.runOnce()
	if got, rec := f.state(ids[p3]); got != db.EvidenceVerified || !strings.Contains(rec.Detail, "gap, sequences 2..2") {
		t.Fatalf("p3: %s %+v", got, rec)
	}
	for _, p := range []*pkg{p2, p4} {
		f.upload(p)
		ids[p] = f.ingest(p)
	}
	f.runOnce()
	if got, rec := f.state(ids[p2]); got != db.EvidenceVerified || !strings.Contains(rec.Detail, "links to sequence 1") {
		t.Fatalf("p2: %s %+v", got, rec)
	}
	if got, rec := f.state(ids[p4]); got != db.EvidenceFailed || !strings.Contains(rec.Detail, "does not match") {
		t.Fatalf("p4: %s %+v", got, rec)
	}
	if dl := f.deadLetters(p4.env.ID); len(dl) != 1 || dl[0] != ReasonChainBroken {
		t.Fatalf("dead letters %v", dl)
	}
	// A second, different manifest with an already verified sequence number: a fork.
	f.seq, f.prev = 1, evidence.ZeroHash
	fork := f.build()
	f.upload(fork)
	id := f.ingest(fork)
	f.runOnce()
	if got, rec := f.state(id); got != db.EvidenceFailed || !strings.Contains(rec.Detail, "also used") {
		t.Fatalf("fork: %s %+v", got, rec)
	}
}

func TestRevokedKeyUnverifiedIntegration(t *testing.T) {
	f := newFixture(t, nil)
	kid := f.registerKey("CAM001", f.pub())
	if err := f.store.RevokeDeviceKey(f.ctx, "CAM001", kid, "test", "stolen"); err != nil {
		t.Fatal(err)
	}
	p := f.build()
	f.upload(p)
	id := f.ingest(p)
	f.runOnce()
	if got, rec := f.state(id); got != db.EvidenceUnverified || !strings.Contains(rec.Detail, "revoked") {
		t.Fatalf("%s %+v", got, rec)
	}
}

func TestConcurrentWorkersClaimOnceIntegration(t *testing.T) {
	f := newFixture(t, nil)
	f.registerKey("CAM001", f.pub())
	const n = 12
	var ids []string
	for range n {
		p := f.build()
		f.upload(p)
		ids = append(ids, f.ingest(p))
	}
	w2 := New(Config{Batch: 3, Now: f.clock.Now}, f.store, f.objs, nil)
	f.w.cfg.Batch = 3
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []*Worker{f.w, w2} {
		wg.Go(func() {
			for {
				k, err := w.RunOnce(f.ctx)
				if err != nil {
					errs <- err
					return
				}
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := f.w.Stats.Verified.Load() + w2.Stats.Verified.Load()
	if total != n {
		t.Fatalf("verified %d+%d, want %d in all", f.w.Stats.Verified.Load(), w2.Stats.Verified.Load(), n)
	}
	for _, id := range ids {
		if got, rec := f.state(id); got != db.EvidenceVerified || rec.Attempts != 1 {
			t.Fatalf("%s: %s after %d attempts", id, got, rec.Attempts)
		}
	}
}

func TestVerifyWithMinIOIntegration(t *testing.T) {
	srv := testminio.Start(t)
	objs, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: srv.Endpoint, Bucket: "evidence",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, objs)
	f.registerKey("CAM001", f.pub())
	good, bad, late := f.build(), f.build(), f.build()
	f.upload(good)
	bad.files["snapshot.jpg"] = []byte("swapped")
	f.upload(bad)
	f.upload(late, evidence.ManifestFile)
	ids := []string{f.ingest(good), f.ingest(bad), f.ingest(late)}
	f.runOnce()
	want := []string{db.EvidenceVerified, db.EvidenceFailed, db.EvidencePending}
	for i, id := range ids {
		if got, rec := f.state(id); got != want[i] {
			t.Errorf("package %d: %s (%s), want %s", i, got, rec.Detail, want[i])
		}
	}
	if dl := f.deadLetters(bad.env.ID); len(dl) != 1 || dl[0] != ReasonHashMismatch {
		t.Errorf("dead letters %v", dl)
	}
}

func TestBackoff(t *testing.T) {
	w := New(Config{RetryMin: time.Second, RetryMax: 10 * time.Second}, nil, nil, nil)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := w.backoff(attempt); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
}

// FuzzCheck feeds arbitrary manifest bytes (outside input: they come from
// the evidence store) to the store-free checks: they must never panic, and
// anything that passes must decode and hash to the given sum.
func FuzzCheck(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	m := &evidence.Manifest{EventID: "01JDZ0000000000000000000AA", DeviceID: "CAM001", CameraID: "CAM001", Infraction: "OTHER",
		DetectedAt: at, AgentVersion: "t", Clock: evidence.Clock{Source: evidence.ClockSystem}, Sequence: 1, CreatedAt: at}
	if err := evidence.Sign(m, priv); err != nil {
		f.Fatal(err)
	}
	good, _ := m.Encode()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"files":[{"name":"../x"}]}`))
	j := db.EvidenceJob{EventID: m.EventID, DeviceID: "CAM001", CameraID: "CAM001"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sum := sha256.Sum256(raw)
		o := check(raw, "k/manifest.json", hex.EncodeToString(sum[:]), j)
		if o.verification == "" {
			if o.m == nil {
				t.Fatal("passed without a manifest")
			}
			if evidence.Hash(o.m) != hex.EncodeToString(sum[:]) {
				t.Fatal("passed with a non-canonical manifest")
			}
		}
	})
}

// BenchmarkVerifyInfraction measures one infraction's verification against
// the real PostgreSQL and a local evidence store: claim, manifest fetch,
// signature, hashing a 1 MiB clip plus two small files, chain lookup and
// the outcome's transaction.
func BenchmarkVerifyInfraction(b *testing.B) {
	f := newFixture(b, nil)
	f.registerKey("CAM001", f.pub())
	clip := make([]byte, 1<<20)
	_, _ = rand.Read(clip)
	for b.Loop() {
		b.StopTimer()
		p := f.build()
		p.files["clip.mp4"] = clip
		sum := sha256.Sum256(clip)
		p.m.Files[0].Size, p.m.Files[0].SHA256 = int64(len(clip)), hex.EncodeToString(sum[:])
		p.sign(b)
		f.prev = evidence.Hash(p.m)
		p.fillEvent()
		f.upload(p)
		f.ingest(p)
		b.StartTimer()
		if n, err := f.w.RunOnce(f.ctx); err != nil || n != 1 {
			b.Fatalf("claimed %d, %v", n, err)
		}
	}
	b.StopTimer()
	if got := f.w.Stats.Verified.Load(); got != int64(b.N) {
		b.Fatalf("verified %d of %d", got, b.N)
	}
}
