// Package verify checks each stored infraction's evidence at the hub: it
// fetches the signed manifest from the evidence store, checks its Ed25519
// signature against the device's registered public key, its agreement with
// the event (event, device and camera ids, manifest hash), every evidence
// file's presence, size and SHA-256 in the store, and the device's hash chain
// against the manifests verified before. The outcome is recorded on the
// infraction (verified, unverified or failed); forged or tampered evidence
// also lands in the dead-letter table. An infraction is never dropped.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vigia-pe/vigia/hub/internal/poll"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/shared/event"
	"github.com/vigia-pe/vigia/shared/evidence"
)

// Dead-letter reasons of failed evidence; never renamed or reused.
const (
	ReasonSignatureInvalid = "evidence_signature_invalid" // bad signature, or a key the device does not own
	ReasonHashMismatch     = "evidence_hash_mismatch"     // a file or the manifest differs from its recorded hash
	ReasonManifestInvalid  = "evidence_manifest_invalid"  // the manifest cannot be decoded or is not canonical
	ReasonManifestMismatch = "evidence_manifest_mismatch" // manifest and event disagree (ids, files)
	ReasonFileMissing      = "evidence_file_missing"      // a listed file never reached the store
	ReasonChainBroken      = "evidence_chain_broken"      // prev_hash does not link to the previous manifest
	ReasonChainForked      = "evidence_chain_forked"      // two different manifests with one sequence number
)

// Store is what the worker needs from the database (*db.Store).
type Store interface {
	ClaimEvidence(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]db.EvidenceJob, error)
	RetryEvidence(ctx context.Context, infractionID string, next time.Time, detail string) error
	RecordEvidenceOutcome(ctx context.Context, o db.EvidenceOutcome) (bool, error)
	ChainNeighbours(ctx context.Context, deviceID, keyID string, seq uint64, infractionID string) (prev, same *db.ChainEntry, err error)
	ListDeviceKeys(ctx context.Context, deviceID string) ([]db.DeviceKey, error)
}

var _ Store = (*db.Store)(nil)

// Config tunes the worker; zero fields take the defaults.
type Config struct {
	// Interval between polls when the queue is empty (default 5 s).
	Interval time.Duration
	// Batch is how many infractions one poll claims (default 32).
	Batch int
	// Lease is how long a claimed infraction is hidden from other workers (default 5 min).
	Lease time.Duration
	// RetryMin and RetryMax bound the exponential backoff while evidence
	// objects are not in the store yet (defaults 10 s and 10 min).
	RetryMin, RetryMax time.Duration
	// GiveUpAfter is how long after the infraction was stored a missing
	// manifest turns it 'unverified' (and a missing file 'failed') (default 24 h).
	GiveUpAfter time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.Lease <= 0 {
		c.Lease = 5 * time.Minute
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 10 * time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(10*time.Minute, c.RetryMin)
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Stats counts outcomes since the worker started.
type Stats struct {
	Verified   atomic.Int64
	Unverified atomic.Int64
	Failed     atomic.Int64 // forged or tampered: each also wrote a dead letter
	Retries    atomic.Int64 // checks postponed because objects were not in the store yet
	Errors     atomic.Int64 // database or store errors (the check is retried)
}

// Worker verifies pending infractions' evidence.
type Worker struct {
	cfg   Config
	store Store
	objs  objstore.Store
	log   *slog.Logger
	Stats Stats
}

// New returns a worker reading evidence from objs.
func New(cfg Config, store Store, objs objstore.Store, log *slog.Logger) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, store: store, objs: objs, log: log.With("component", "verify")}
}

// Run polls for pending infractions until ctx is cancelled; a full batch is
// followed immediately by the next one.
func (w *Worker) Run(ctx context.Context) error {
	return poll.Batches(ctx, w.cfg.Interval, w.cfg.Batch, w.RunOnce, func(err error) {
		w.log.Warn("evidence verification round failed", "err", err)
	})
}

// RunOnce claims one batch of due infractions, checks each and records the
// outcomes; it returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	jobs, err := w.store.ClaimEvidence(ctx, w.cfg.Now(), w.cfg.Lease, w.cfg.Batch)
	if err != nil {
		w.Stats.Errors.Add(1)
		return 0, err
	}
	var errs []error
	for _, j := range jobs {
		if err := w.process(ctx, j); err != nil {
			w.Stats.Errors.Add(1)
			errs = append(errs, err)
		}
	}
	return len(jobs), errors.Join(errs...)
}

// outcome is the result of one check.
type outcome struct {
	verification string // db.Evidence*; pending = retry later
	reason       string // dead-letter reason when failed
	detail       string
	manifestKey  string
	manifestSHA  string
	manifestRaw  []byte
	m            *evidence.Manifest
}

func (w *Worker) process(ctx context.Context, j db.EvidenceJob) error {
	o := w.check(ctx, j)
	now := w.cfg.Now()
	if o.verification == db.EvidencePending {
		next := now.Add(w.backoff(j.Attempts))
		w.Stats.Retries.Add(1)
		w.log.Debug("evidence check postponed", "infraction", j.Code, "attempt", j.Attempts, "next", next, "detail", o.detail)
		return w.store.RetryEvidence(ctx, j.InfractionID, next, o.detail)
	}
	rec := db.EvidenceOutcome{
		InfractionID: j.InfractionID, DeviceID: j.DeviceID, Verification: o.verification, Detail: o.detail, At: now,
		ManifestKey: o.manifestKey, ManifestSHA256: o.manifestSHA, Manifest: o.manifestRaw,
	}
	if o.m != nil {
		rec.KeyID, rec.Sequence, rec.PrevHash = o.m.KeyID, o.m.Sequence, o.m.PrevHash
	}
	if o.verification == db.EvidenceFailed {
		rec.DeadLetter = &db.DeadLetter{Topic: event.Topic(j.DeviceID, event.KindInfraction), Reason: o.reason,
			Detail: fmt.Sprintf("%s: %s", j.Code, o.detail), EventID: j.EventID, DeviceID: j.DeviceID, Payload: o.manifestRaw}
		rec.Alert = db.AlertEvidenceUnverified
	}
	wrote, err := w.store.RecordEvidenceOutcome(ctx, rec)
	if err != nil || !wrote {
		return err
	}
	switch o.verification {
	case db.EvidenceVerified:
		w.Stats.Verified.Add(1)
		w.log.Debug("evidence verified", "infraction", j.Code, "device", j.DeviceID)
	case db.EvidenceUnverified:
		w.Stats.Unverified.Add(1)
		w.log.Info("evidence unverified", "infraction", j.Code, "device", j.DeviceID, "detail", o.detail)
	case db.EvidenceFailed:
		w.Stats.Failed.Add(1)
		w.log.Warn("evidence verification failed", "infraction", j.Code, "device", j.DeviceID, "reason", o.reason, "detail", o.detail)
	}
	return nil
}

// backoff doubles from RetryMin per attempt up to RetryMax.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.RetryMin
	for i := 1; i < attempt && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.cfg.RetryMax)
}

func (w *Worker) givenUp(j db.EvidenceJob) bool {
	return w.cfg.Now().Sub(j.ReceivedAt) >= w.cfg.GiveUpAfter
}

func failed(reason, format string, args ...any) outcome {
	return outcome{verification: db.EvidenceFailed, reason: reason, detail: fmt.Sprintf(format, args...)}
}

func pending(format string, args ...any) outcome {
	return outcome{verification: db.EvidencePending, detail: fmt.Sprintf(format, args...)}
}

func unverified(format string, args ...any) outcome {
	return outcome{verification: db.EvidenceUnverified, detail: fmt.Sprintf(format, args...)}
}

// manifestKey returns the object key of the event's manifest: the one the
// event names, or manifest.json beside its evidence files.
func manifestKey(ev event.Evidence) string {
	if ev.Manifest != nil && ev.Manifest.Key != "" {
		return ev.Manifest.Key
	}
	if ev.ManifestSHA256 == "" {
		return ""
	}
	for _, f := range eventFiles(ev) {
		return path.Dir(f.f.Key) + "/" + evidence.ManifestFile
	}
	return ""
}

type namedFile struct {
	field string
	f     *event.EvidenceFile
}

func eventFiles(ev event.Evidence) []namedFile {
	var out []namedFile
	for _, f := range []namedFile{{"video_clip", ev.VideoClip}, {"snapshot", ev.Snapshot}, {"plate_crop", ev.PlateCrop}} {
		if f.f != nil {
			out = append(out, f)
		}
	}
	return out
}

// check verifies one infraction's evidence. Store errors and objects not in
// the store yet give a pending outcome (retried), up to GiveUpAfter for
// missing objects.
func (w *Worker) check(ctx context.Context, j db.EvidenceJob) outcome {
	ev := j.Evidence
	key := manifestKey(ev)
	if key == "" {
		return unverified("the event names no evidence manifest")
	}
	raw, err := w.readManifest(ctx, key)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		if w.givenUp(j) {
			return unverified("manifest %s not in the evidence store %s after the infraction was stored", key, w.cfg.GiveUpAfter)
		}
		return pending("manifest %s not in the evidence store yet", key)
	case errors.Is(err, errTooLarge), errors.Is(err, objstore.ErrBadKey):
		o := failed(ReasonManifestInvalid, "manifest %s: %v", key, err)
		o.manifestKey = key
		return o
	case err != nil:
		return pending("read manifest %s: %v", key, err)
	}
	sum := sha256.Sum256(raw)
	o := check(raw, key, hex.EncodeToString(sum[:]), j)
	if o.verification != "" {
		return o
	}
	return w.checkDeep(ctx, j, o)
}

var errTooLarge = fmt.Errorf("larger than %d bytes", evidence.MaxManifestBytes)

func (w *Worker) readManifest(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := w.objs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, evidence.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("verify: read %s: %w", key, err)
	}
	if len(b) > evidence.MaxManifestBytes {
		return nil, errTooLarge
	}
	return b, nil
}

// check does the checks that need no database or store: decoding, the
// manifest's agreement with the event and its hash. A zero verification in
// the result means "passed so far".
func check(raw []byte, key, sum string, j db.EvidenceJob) outcome {
	with := func(o outcome, m *evidence.Manifest) outcome {
		o.manifestKey, o.manifestSHA, o.manifestRaw, o.m = key, sum, raw, m
		return o
	}
	m, err := evidence.Decode(raw)
	if err != nil {
		return with(failed(ReasonManifestInvalid, "manifest %s: %v", key, err), nil)
	}
	var bad []string
	if m.EventID != j.EventID {
		bad = append(bad, fmt.Sprintf("event_id %q, the event is %q", m.EventID, j.EventID))
	}
	if m.DeviceID != j.DeviceID {
		bad = append(bad, fmt.Sprintf("device_id %q, the event came from %q", m.DeviceID, j.DeviceID))
	}
	if m.CameraID != j.CameraID {
		bad = append(bad, fmt.Sprintf("camera_id %q, the event names %q", m.CameraID, j.CameraID))
	}
	if len(bad) > 0 {
		return with(failed(ReasonManifestMismatch, "manifest %s disagrees with the event: %s", key, strings.Join(bad, "; ")), m)
	}
	for _, want := range []string{j.Evidence.ManifestSHA256, manifestSHA(j.Evidence)} {
		if want != "" && want != sum {
			return with(failed(ReasonHashMismatch, "manifest %s has sha256 %s, the event recorded %s", key, sum, want), m)
		}
	}
	if canon := evidence.Hash(m); canon != sum {
		return with(failed(ReasonManifestInvalid, "manifest %s is not in canonical encoding (re-encoded sha256 %s)", key, canon), m)
	}
	return with(outcome{}, m)
}

func manifestSHA(ev event.Evidence) string {
	if ev.Manifest == nil {
		return ""
	}
	return ev.Manifest.SHA256
}

// checkDeep checks the signature against the device's keys, the files in
// the store and the chain.
func (w *Worker) checkDeep(ctx context.Context, j db.EvidenceJob, o outcome) outcome {
	m := o.m
	set := func(r outcome) outcome {
		r.manifestKey, r.manifestSHA, r.manifestRaw, r.m = o.manifestKey, o.manifestSHA, o.manifestRaw, o.m
		return r
	}
	keys, err := w.store.ListDeviceKeys(ctx, j.DeviceID)
	if err != nil {
		return set(pending("device keys: %v", err))
	}
	if len(keys) == 0 {
		return set(unverified("device %s has no registered public key (hub device key add)", j.DeviceID))
	}
	var match *db.DeviceKey
	active := 0
	for i := range keys {
		if keys[i].Active() {
			active++
		}
		if keys[i].KeyID == m.KeyID {
			match = &keys[i]
		}
	}
	switch {
	case match == nil && active == 0:
		return set(unverified("signed by key %s; device %s has no active registered key", m.KeyID, j.DeviceID))
	case match == nil:
		return set(failed(ReasonSignatureInvalid, "signed by key %s, which is not a registered key of device %s", m.KeyID, j.DeviceID))
	case !match.Active():
		return set(unverified("signed by key %s of device %s, revoked at %s", m.KeyID, j.DeviceID, match.RevokedAt.UTC().Format(time.RFC3339)))
	}
	if err := evidence.Verify(m, match.PublicKey); err != nil {
		return set(failed(ReasonSignatureInvalid, "key %s of device %s: %v", m.KeyID, j.DeviceID, err))
	}

	// The event's files must be the manifest's, under the manifest's directory.
	dir := path.Dir(o.manifestKey)
	listed := make(map[string]evidence.File, len(m.Files))
	for _, f := range m.Files {
		listed[f.Name] = f
	}
	for _, ef := range eventFiles(j.Evidence) {
		mf, ok := listed[path.Base(ef.f.Key)]
		if !ok || path.Dir(ef.f.Key) != dir {
			return set(failed(ReasonManifestMismatch, "event file %s (%s) is not listed in manifest %s", ef.f.Key, ef.field, o.manifestKey))
		}
		if mf.SHA256 != ef.f.SHA256 || mf.Size != ef.f.SizeBytes {
			return set(failed(ReasonHashMismatch, "event file %s: the event says size %d sha256 %s, the manifest says size %d sha256 %s",
				ef.f.Key, ef.f.SizeBytes, ef.f.SHA256, mf.Size, mf.SHA256))
		}
	}
	var missing []string
	for _, f := range m.Files {
		key := dir + "/" + f.Name
		size, sum, err := w.hashObject(ctx, key)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			missing = append(missing, key)
			continue
		case errors.Is(err, objstore.ErrBadKey):
			return set(failed(ReasonManifestInvalid, "file %q: %v", f.Name, err))
		case err != nil:
			return set(pending("read %s: %v", key, err))
		}
		if size != f.Size || sum != f.SHA256 {
			return set(failed(ReasonHashMismatch, "%s %s: stored size %d sha256 %s, manifest says size %d sha256 %s",
				f.Role, key, size, sum, f.Size, f.SHA256))
		}
	}
	if len(missing) > 0 {
		if w.givenUp(j) {
			return set(failed(ReasonFileMissing, "listed in the signed manifest but not in the evidence store after %s: %s",
				w.cfg.GiveUpAfter, strings.Join(missing, ", ")))
		}
		return set(pending("not in the evidence store yet: %s", strings.Join(missing, ", ")))
	}

	prev, same, err := w.store.ChainNeighbours(ctx, j.DeviceID, m.KeyID, m.Sequence, j.InfractionID)
	if err != nil {
		return set(pending("chain: %v", err))
	}
	if same != nil && same.ManifestSHA256 != o.manifestSHA {
		return set(failed(ReasonChainForked, "sequence %d of device %s is also used by manifest %s (infraction %s)",
			m.Sequence, j.DeviceID, same.ManifestSHA256, same.InfractionID))
	}
	var note string
	switch {
	case prev != nil && prev.Sequence == m.Sequence-1:
		if m.PrevHash != prev.ManifestSHA256 {
			return set(failed(ReasonChainBroken, "prev_hash %s of sequence %d does not match %s, the verified manifest of sequence %d",
				m.PrevHash, m.Sequence, prev.ManifestSHA256, prev.Sequence))
		}
		note = fmt.Sprintf("chain: links to sequence %d", prev.Sequence)
	case prev != nil:
		note = fmt.Sprintf("chain: gap, sequences %d..%d not verified yet", prev.Sequence+1, m.Sequence-1)
	case m.Sequence == 1:
		note = "chain: first manifest of the key"
	default:
		note = fmt.Sprintf("chain: no verified manifest before sequence %d yet", m.Sequence)
	}
	r := set(outcome{verification: db.EvidenceVerified,
		detail: fmt.Sprintf("signature by key %s valid; %d file(s) match; %s", m.KeyID, len(m.Files), note)})
	return r
}

// hashObject streams an object and returns its size and SHA-256. It hashes
// the bytes itself: a backend's recorded hash is metadata the uploader set.
func (w *Worker) hashObject(ctx context.Context, key string) (int64, string, error) {
	rc, _, err := w.objs.Get(ctx, key)
	if err != nil {
		return 0, "", err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return 0, "", fmt.Errorf("verify: read %s: %w", key, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
