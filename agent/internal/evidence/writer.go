package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// Config configures a Writer.
type Config struct {
	// DataDir is the agent's data directory (config.Config.DataDir).
	DataDir string
	// DeviceID names the device whose chain the manifests extend.
	DeviceID string
	// AgentVersion is recorded in every manifest.
	AgentVersion string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// File is one file of an infraction, given either as a path to copy or as bytes.
type File struct {
	// Name is the file name inside the package (letters, digits, . - _).
	Name string
	Role shared.Role
	// ContentType defaults to a guess from the extension.
	ContentType string
	// Path is copied when Data is nil.
	Path string
	Data []byte
}

// Infraction is what the Writer needs to package one infraction.
type Infraction struct {
	EventID     string
	CameraID    string
	Type        string
	DetectedAt  time.Time
	Files       []File
	Calibration shared.Calibration
	Models      map[string]shared.Model
	Clock       shared.Clock
	Clip        *shared.ClipWindow
}

// Writer stores signed, chained evidence packages. It is safe for concurrent
// use, and writers in several processes sharing a data directory are
// serialised by a file lock.
type Writer struct {
	cfg   Config
	log   *slog.Logger
	key   ed25519.PrivateKey
	evDir string
	stage string
	mu    sync.Mutex
}

// NewWriter loads (or creates) the device key, clears packages left half
// assembled by a crash, and reconciles the chain state with the disk.
func NewWriter(cfg Config, log *slog.Logger) (*Writer, error) {
	if cfg.DataDir == "" || cfg.DeviceID == "" {
		return nil, errors.New("evidence: writer needs a data directory and a device id")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key, err := LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: log.With("component", "evidence"), key: key,
		evDir: filepath.Join(cfg.DataDir, "evidence"), stage: filepath.Join(cfg.DataDir, "evidence.staging")}
	for _, d := range []string{w.evDir, w.stage} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("evidence: create %s: %w", d, err)
		}
	}
	err = w.locked(func() error {
		// Anything in staging was never renamed into place, so it was never
		// part of the chain: drop it.
		ents, err := os.ReadDir(w.stage)
		if err != nil {
			return fmt.Errorf("evidence: read staging: %w", err)
		}
		for _, e := range ents {
			w.log.Warn("removing evidence package left incomplete by a crash", "event_id", e.Name())
			if err := os.RemoveAll(filepath.Join(w.stage, e.Name())); err != nil {
				return fmt.Errorf("evidence: clear staging: %w", err)
			}
		}
		_, _, err = w.state(true)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.log.Info("evidence writer ready", "key_id", shared.KeyID(w.PublicKey()), "dir", w.evDir)
	return w, nil
}

// PublicKey returns the device's public key.
func (w *Writer) PublicKey() ed25519.PublicKey { return w.key.Public().(ed25519.PublicKey) }

// Dir returns the evidence directory.
func (w *Writer) Dir() string { return w.evDir }

// locked runs fn holding the in-process mutex and the cross-process flock.
func (w *Writer) locked(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	lf, err := os.OpenFile(filepath.Join(w.evDir, "chain.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("evidence: open chain lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("evidence: lock chain: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return fn()
}

// state reads chain.json and settles a pending entry left by a crash: its
// package is adopted when it reached the disk with the recorded hash, else
// the entry is dropped. With full it also walks the disk for packages newer
// than the head (startup, or chain.json lost or restored from a backup).
// Callers hold the lock.
func (w *Writer) state(full bool) (chainState, chainHead, error) {
	dev := w.cfg.DeviceID
	st, err := readChain(w.evDir)
	if err != nil {
		return st, chainHead{}, err
	}
	h := st.Devices[dev]
	changed := false
	if p, ok := st.Pending[dev]; ok {
		delete(st.Pending, dev)
		changed = true
		m, err := readManifest(filepath.Join(w.evDir, filepath.FromSlash(p.Path)))
		if err == nil && shared.Hash(m) == p.Hash && m.Sequence == h.Sequence+1 && m.PrevHash == h.prevHash() {
			w.log.Warn("adopting the evidence package a crashed writer had moved into place", "path", p.Path, "sequence", p.Sequence)
			h = p
		} else {
			w.log.Warn("dropping the evidence package a crashed writer had not finished", "path", p.Path, "sequence", p.Sequence)
		}
	}
	if full {
		h2, adopted, unreadable, err := reconcile(w.evDir, dev, h, w.PublicKey())
		if len(unreadable) > 0 {
			w.log.Error("evidence manifests that do not decode (altered?); run agent evidence verify", "packages", unreadable)
		}
		if err != nil {
			return st, chainHead{}, err
		}
		if len(adopted) > 0 {
			w.log.Warn("chain state was behind the disk (crash after writing a package); adopted", "packages", adopted, "sequence", h2.Sequence)
			h, changed = h2, true
		}
		if h.Path != "" {
			if m, err := readManifest(filepath.Join(w.evDir, filepath.FromSlash(h.Path))); err != nil {
				w.log.Error("the chain head's package is unreadable; the next manifest still links to its hash", "path", h.Path, "err", err)
			} else if shared.Hash(m) != h.Hash {
				w.log.Error("the chain head's manifest differs from the recorded hash; it may have been altered", "path", h.Path)
			}
		}
	}
	if changed {
		st.Devices[dev] = h
		if err := writeChain(w.evDir, st); err != nil {
			return st, chainHead{}, err
		}
	}
	return st, h, nil
}

func readManifest(dir string) (*shared.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, shared.ManifestFile))
	if err != nil {
		return nil, err
	}
	return shared.Decode(b)
}

// Write stores an infraction's files in a new package, signs its manifest,
// chains it to the device's previous manifest and returns it with its hash.
// An error from the final fsyncs may come after the package is in place; the
// chain stays consistent, and a retry reports that the event has a package.
func (w *Writer) Write(in Infraction) (*shared.Manifest, string, error) {
	if err := checkInput(in); err != nil {
		return nil, "", err
	}
	var (
		m    *shared.Manifest
		hash string
	)
	err := w.locked(func() error {
		st, head, err := w.state(false)
		if err != nil {
			return err
		}
		now := w.cfg.Now().UTC()
		rel := filepath.ToSlash(filepath.Join(dayDir(now), in.CameraID, in.EventID))
		final := filepath.Join(w.evDir, filepath.FromSlash(rel))
		if _, err := os.Lstat(final); err == nil {
			return fmt.Errorf("evidence: event %s already has a package at %s", in.EventID, final)
		}
		stage := filepath.Join(w.stage, in.EventID)
		if err := os.RemoveAll(stage); err != nil {
			return fmt.Errorf("evidence: clear %s: %w", stage, err)
		}
		if err := os.Mkdir(stage, 0o750); err != nil {
			return fmt.Errorf("evidence: create %s: %w", stage, err)
		}
		ok := false
		defer func() {
			if !ok {
				os.RemoveAll(stage)
			}
		}()
		m = &shared.Manifest{EventID: in.EventID, DeviceID: w.cfg.DeviceID, CameraID: in.CameraID,
			Infraction: in.Type, DetectedAt: in.DetectedAt, Calibration: in.Calibration, Models: in.Models,
			AgentVersion: w.cfg.AgentVersion, Clock: in.Clock, Clip: in.Clip,
			Sequence: head.Sequence + 1, PrevHash: head.prevHash(), CreatedAt: now}
		for _, f := range in.Files {
			entry, err := copyInto(stage, f)
			if err != nil {
				return err
			}
			m.Files = append(m.Files, entry)
		}
		if err := shared.Sign(m, w.key); err != nil {
			return err
		}
		b, err := m.Encode()
		if err != nil {
			return err
		}
		if err := writeFileSync(filepath.Join(stage, shared.ManifestFile), bytes.NewReader(b), nil); err != nil {
			return err
		}
		if err := syncDir(stage); err != nil {
			return err
		}
		hash = shared.Hash(m)
		next := chainHead{Sequence: m.Sequence, Hash: hash, Path: rel, CreatedAt: m.CreatedAt}
		st.Pending[w.cfg.DeviceID] = next
		if err := writeChain(w.evDir, st); err != nil {
			return err
		}
		parent := filepath.Dir(final)
		if err := os.MkdirAll(parent, 0o750); err != nil {
			return fmt.Errorf("evidence: create %s: %w", parent, err)
		}
		// The rename makes the whole package appear at once.
		if err := os.Rename(stage, final); err != nil {
			return fmt.Errorf("evidence: move package into %s: %w", final, err)
		}
		ok = true
		for d := parent; ; d = filepath.Dir(d) {
			if err := syncDir(d); err != nil {
				return err
			}
			if d == w.evDir || d == filepath.Dir(d) {
				break
			}
		}
		if err := syncDir(w.stage); err != nil {
			return err
		}
		st.Devices[w.cfg.DeviceID] = next
		delete(st.Pending, w.cfg.DeviceID)
		// A crash before this write leaves the package pending in
		// chain.json; the next Write or NewWriter adopts it.
		return writeChain(w.evDir, st)
	})
	if err != nil {
		return nil, "", err
	}
	w.log.Debug("evidence package written", "event_id", m.EventID, "sequence", m.Sequence, "files", len(m.Files))
	return m, hash, nil
}

func checkInput(in Infraction) error {
	var errs []error
	if err := shared.ValidComponent(in.EventID); err != nil {
		errs = append(errs, fmt.Errorf("event id: %w", err))
	}
	if err := shared.ValidComponent(in.CameraID); err != nil {
		errs = append(errs, fmt.Errorf("camera id: %w", err))
	}
	for i, f := range in.Files {
		if f.Data == nil && f.Path == "" {
			errs = append(errs, fmt.Errorf("file %d (%s): neither a path nor data", i, f.Name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("evidence: %w", errors.Join(errs...))
	}
	return nil
}

// copyInto writes one file into the staging directory, hashing it on the way.
func copyInto(dir string, f File) (shared.File, error) {
	if err := shared.ValidComponent(f.Name); err != nil || f.Name == shared.ManifestFile {
		return shared.File{}, fmt.Errorf("evidence: file name %q is not allowed", f.Name)
	}
	var src io.Reader = bytes.NewReader(f.Data)
	if f.Data == nil {
		in, err := os.Open(f.Path)
		if err != nil {
			return shared.File{}, fmt.Errorf("evidence: %w", err)
		}
		defer in.Close()
		src = in
	}
	h := sha256.New()
	var n int64
	if err := writeFileSync(filepath.Join(dir, f.Name), src, func(w io.Writer) io.Writer {
		return io.MultiWriter(w, h, countWriter{&n})
	}); err != nil {
		return shared.File{}, err
	}
	ct := f.ContentType
	if ct == "" {
		ct = shared.ContentType(f.Name)
	}
	return shared.File{Name: f.Name, Role: f.Role, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: ct}, nil
}

type countWriter struct{ n *int64 }

func (c countWriter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

// writeFileSync creates path exclusively, copies src into it and fsyncs it.
func writeFileSync(path string, src io.Reader, wrap func(io.Writer) io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("evidence: %s given twice", filepath.Base(path))
		}
		return fmt.Errorf("evidence: create %s: %w", path, err)
	}
	var dst io.Writer = f
	if wrap != nil {
		dst = wrap(f)
	}
	if _, err := io.Copy(dst, src); err != nil {
		f.Close()
		return fmt.Errorf("evidence: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("evidence: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("evidence: close %s: %w", path, err)
	}
	return nil
}

// PackageRel returns the package directory of m relative to Dir(), with
// slashes (the evidence store key prefix of its files).
func PackageRel(m *shared.Manifest) string {
	return filepath.ToSlash(filepath.Join(dayDir(m.CreatedAt.UTC()), m.CameraID, m.EventID))
}
