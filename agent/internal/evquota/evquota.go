// Package evquota bounds the disk used by evidence packages on the edge box.
//
// Evidence packages are directories <DataDir>/evidence/yyyy/mm/dd/<camera>/<event id>/
// (agent/internal/evidence). A Janitor measures them, plus any scratch
// directories of non-infraction data (debug crops, annotate outputs), and
// frees space in this order when the quota (Config.MaxBytes) is exceeded or
// the filesystem's free space falls below Config.MinFreeBytes:
//
//  1. packages already delivered, oldest first: those the outbox's delivered
//     journal lists (every file confirmed in object storage and the event
//     acknowledged by the broker; see outbox.Outbox.Delivered);
//  2. scratch files, oldest first.
//
// A package whose event is not in the journal (still in the outbox, or never
// uploaded because no object storage is configured) is never deleted: when
// only such packages are left over the limit, the Janitor enters the alarm
// state (Alarm, Report.OverQuota / Report.LowDisk, a warning log line) and
// the caller raises it in its metrics and status event.
//
// The packages a device's chain state names as its head are kept too: the
// evidence writer re-reads the head at start. Deleting oldest first keeps
// the local chain a contiguous suffix (`agent evidence verify` notes a chain
// that starts above 1 but flags gaps); under pressure a delivered package
// newer than an undelivered one may be deleted, which leaves a local gap
// while the hub holds the complete chain.
//
// Local copy policy: with Config.Retention > 0, delivered packages are kept
// that long after delivery for field inspection, then pruned (only those
// older than every undelivered package, so that retention never opens a
// gap); with Retention == 0 they stay until space is needed.
package evquota

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// Journal says which events' evidence has been delivered
// (*outbox.Outbox implements it).
type Journal interface {
	Delivered() (map[string]time.Time, error)
	ForgetDelivered(ids ...string) error
}

var _ Journal = (*outbox.Outbox)(nil)

// DefaultInterval is the period of Run.
const DefaultInterval = time.Minute

// forgetMissingAfter is how long a journal row whose package is not on disk
// is kept before it is dropped (bounds the journal; the grace covers a
// package being moved into place while the directory walk runs).
const forgetMissingAfter = time.Hour

// Config configures a Janitor.
type Config struct {
	// DataDir is the agent's data directory; packages live in DataDir/evidence.
	DataDir string
	// MaxBytes caps the bytes of evidence plus scratch files; 0 = no cap.
	MaxBytes int64
	// MinFreeBytes is the floor of free space on DataDir's filesystem; 0 = none.
	MinFreeBytes uint64
	// Retention keeps delivered packages this long after delivery; 0 = until
	// space is needed.
	Retention time.Duration
	// ScratchDirs hold non-infraction data that may be deleted (oldest file
	// first) once no delivered package is left to delete.
	ScratchDirs []string
	// Interval is the period of Run; 0 = DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Statfs returns the free (available to the agent) and total bytes of
	// the filesystem holding path; nil = statfs(2).
	Statfs func(path string) (free, total uint64, err error)
}

// Report is the outcome of one Check.
type Report struct {
	At             time.Time
	Bytes          int64  // evidence + scratch bytes after the pass
	MaxBytes       int64  // the quota; 0 = none
	FreeBytes      uint64 // free space on the filesystem after the pass (estimated from the bytes deleted)
	TotalBytes     uint64 // size of the filesystem
	MinFreeBytes   uint64 // the floor; 0 = none
	Packages       int    // packages on disk after the pass
	PinnedPackages int    // packages not yet delivered: never deleted
	PinnedBytes    int64
	Expired        int   // delivered packages pruned for retention in this pass
	Deleted        int   // delivered packages deleted for space in this pass
	DeletedBytes   int64 // bytes of Expired + Deleted packages
	ScratchDeleted int   // scratch files deleted in this pass
	ScratchBytes   int64 // bytes of those scratch files
	OverQuota      bool  // still above MaxBytes: only undeletable data is left
	LowDisk        bool  // still below MinFreeBytes: only undeletable data is left
}

// Stats are cumulative counters since New, plus the last report.
type Stats struct {
	Last           Report
	Checks         uint64
	Expired        uint64
	Deleted        uint64
	DeletedBytes   uint64
	ScratchDeleted uint64
	ScratchBytes   uint64
	Errors         uint64
}

// Janitor enforces the evidence disk quota. It is safe for concurrent use.
type Janitor struct {
	cfg     Config
	evDir   string
	journal Journal
	log     *slog.Logger

	mu    sync.Mutex // serialises Check and guards the fields below
	stats Stats
	alarm string // reason while in the alarm state
}

// New builds a Janitor.
func New(cfg Config, journal Journal, log *slog.Logger) (*Janitor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("a data directory is required"))
	}
	if journal == nil {
		errs = append(errs, errors.New("a delivered journal (the outbox) is required"))
	}
	if cfg.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("negative MaxBytes %d", cfg.MaxBytes))
	}
	if cfg.Retention < 0 {
		errs = append(errs, fmt.Errorf("negative Retention %s", cfg.Retention))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("evquota: %w", errors.Join(errs...))
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Statfs == nil {
		cfg.Statfs = statfs
	}
	return &Janitor{cfg: cfg, evDir: filepath.Join(cfg.DataDir, "evidence"), journal: journal,
		log: log.With("component", "evquota")}, nil
}

// statfs reads the filesystem's space available to unprivileged users.
func statfs(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// Run checks once at start and then every Interval until ctx ends (nil).
// Errors of a pass are logged and counted; the next pass tries again.
func (j *Janitor) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := j.Check(); err != nil {
			j.log.Error("evidence quota check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Alarm reports whether undeletable evidence exceeds the quota or keeps the
// disk below its free-space floor, with a human-readable reason.
func (j *Janitor) Alarm() (bool, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.alarm != "", j.alarm
}

// Stats returns the cumulative counters and the last report.
func (j *Janitor) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// pkg is one evidence package on disk.
type pkg struct {
	rel       string // slash-separated, relative to the evidence directory
	id        string // event id (the directory name)
	size      int64
	mtime     time.Time
	delivered time.Time // zero: not delivered
	head      bool
}

// scratchFile is one deletable non-infraction file.
type scratchFile struct {
	path  string
	size  int64
	mtime time.Time
}

// Check measures the evidence and scratch data, prunes what the retention
// policy and the limits ask for, and updates the alarm state.
func (j *Janitor) Check() (Report, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, err := j.check()
	j.stats.Checks++
	j.stats.Last = r
	j.stats.Expired += uint64(r.Expired)
	j.stats.Deleted += uint64(r.Deleted)
	j.stats.DeletedBytes += uint64(r.DeletedBytes)
	j.stats.ScratchDeleted += uint64(r.ScratchDeleted)
	j.stats.ScratchBytes += uint64(r.ScratchBytes)
	if err != nil {
		j.stats.Errors++
		return r, err
	}
	j.setAlarm(r)
	if r.Expired+r.Deleted+r.ScratchDeleted > 0 {
		j.log.Info("evidence pruned", "expired", r.Expired, "deleted_for_space", r.Deleted, "package_bytes", r.DeletedBytes,
			"scratch_files", r.ScratchDeleted, "scratch_bytes", r.ScratchBytes, "bytes", r.Bytes, "free_bytes", r.FreeBytes)
	}
	return r, nil
}

func (j *Janitor) setAlarm(r Report) {
	var why string
	switch {
	case r.OverQuota && r.LowDisk:
		why = fmt.Sprintf("evidence over quota and disk nearly full: %d bytes used, limit %d; %d bytes free, floor %d; %d undelivered infraction packages (%d bytes) kept (never deleted)",
			r.Bytes, r.MaxBytes, r.FreeBytes, r.MinFreeBytes, r.PinnedPackages, r.PinnedBytes)
	case r.OverQuota:
		why = fmt.Sprintf("evidence over quota: %d bytes used, limit %d; %d undelivered infraction packages (%d bytes) kept (never deleted)",
			r.Bytes, r.MaxBytes, r.PinnedPackages, r.PinnedBytes)
	case r.LowDisk:
		why = fmt.Sprintf("disk nearly full: %d bytes free, floor %d; %d undelivered infraction packages (%d bytes) kept (never deleted)",
			r.FreeBytes, r.MinFreeBytes, r.PinnedPackages, r.PinnedBytes)
	}
	was := j.alarm != ""
	j.alarm = why
	switch {
	case why != "" && !was:
		j.log.Warn("evidence alarm raised", "reason", why)
	case why == "" && was:
		j.log.Info("evidence alarm cleared", "bytes", r.Bytes, "free_bytes", r.FreeBytes)
	}
}

func (j *Janitor) check() (Report, error) {
	now := j.cfg.Now()
	r := Report{At: now, MaxBytes: j.cfg.MaxBytes, MinFreeBytes: j.cfg.MinFreeBytes}
	delivered, err := j.journal.Delivered()
	if err != nil {
		return r, fmt.Errorf("evquota: %w", err)
	}
	if err := os.MkdirAll(j.evDir, 0o750); err != nil {
		return r, fmt.Errorf("evquota: %w", err)
	}
	heads, err := evidence.ChainHeadPaths(j.evDir)
	if err != nil {
		return r, fmt.Errorf("evquota: %w", err)
	}
	pkgs, other, err := scanPackages(j.evDir)
	if err != nil {
		return r, err
	}
	scratch, err := scanScratch(j.cfg.ScratchDirs)
	if err != nil {
		return r, err
	}
	free, total, err := j.cfg.Statfs(j.cfg.DataDir)
	if err != nil {
		return r, fmt.Errorf("evquota: %w", err)
	}
	r.TotalBytes = total

	used := other
	onDisk := make(map[string]bool, len(pkgs))
	var oldestPinned time.Time
	for i := range pkgs {
		p := &pkgs[i]
		onDisk[p.id] = true
		p.delivered = delivered[p.id]
		p.head = heads[p.rel]
		used += p.size
		if p.delivered.IsZero() && (oldestPinned.IsZero() || p.mtime.Before(oldestPinned)) {
			oldestPinned = p.mtime
		}
	}
	for _, f := range scratch {
		used += f.size
	}
	var freed int64
	over := func() (quota, disk bool) {
		quota = j.cfg.MaxBytes > 0 && used-freed > j.cfg.MaxBytes
		disk = j.cfg.MinFreeBytes > 0 && free+uint64(freed) < j.cfg.MinFreeBytes
		return quota, disk
	}

	var forget []string
	var errs []error
	remove := func(p *pkg) bool {
		if err := j.removePackage(p.rel); err != nil {
			errs = append(errs, err)
			return false
		}
		freed += p.size
		r.DeletedBytes += p.size
		forget = append(forget, p.id)
		p.size = -1 // gone
		return true
	}
	// Retention: delivered, expired, and older than every undelivered package.
	if j.cfg.Retention > 0 {
		for i := range pkgs {
			p := &pkgs[i]
			if p.delivered.IsZero() || p.head || now.Sub(p.delivered) < j.cfg.Retention ||
				(!oldestPinned.IsZero() && !p.mtime.Before(oldestPinned)) {
				continue
			}
			if remove(p) {
				r.Expired++
			}
		}
	}
	// Space: delivered packages, oldest first.
	warnedGap := false
	for i := range pkgs {
		if q, d := over(); !q && !d {
			break
		}
		p := &pkgs[i]
		if p.size < 0 || p.delivered.IsZero() || p.head {
			continue
		}
		if !warnedGap && !oldestPinned.IsZero() && p.mtime.After(oldestPinned) {
			warnedGap = true
			j.log.Warn("deleting a delivered evidence package newer than an undelivered one: the local chain gets a gap (the hub holds the full chain)",
				"package", p.rel)
		}
		if remove(p) {
			r.Deleted++
		}
	}
	// Then scratch data, oldest first.
	for _, f := range scratch {
		if q, d := over(); !q && !d {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("evquota: remove scratch file: %w", err))
			continue
		}
		freed += f.size
		r.ScratchDeleted++
		r.ScratchBytes += f.size
	}

	// Journal rows whose package is gone for a while are dropped too.
	for id, at := range delivered {
		if !onDisk[id] && now.Sub(at) > forgetMissingAfter {
			forget = append(forget, id)
		}
	}
	if err := j.journal.ForgetDelivered(forget...); err != nil {
		errs = append(errs, fmt.Errorf("evquota: %w", err))
	}

	for _, p := range pkgs {
		if p.size < 0 {
			continue
		}
		r.Packages++
		if p.delivered.IsZero() {
			r.PinnedPackages++
			r.PinnedBytes += p.size
		}
	}
	r.Bytes = used - freed
	r.FreeBytes = free + uint64(freed)
	r.OverQuota, r.LowDisk = over()
	return r, errors.Join(errs...)
}

// removePackage deletes one package and the day/camera directories it
// leaves empty, holding the writers' chain lock.
func (j *Janitor) removePackage(rel string) error {
	dir := filepath.Join(j.evDir, filepath.FromSlash(rel))
	err := evidence.WithChainLock(j.evDir, func() error {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		for d := filepath.Dir(dir); d != j.evDir && len(d) > len(j.evDir); d = filepath.Dir(d) {
			if err := os.Remove(d); err != nil {
				break // not empty (or gone): stop climbing
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("evquota: remove package %s: %w", rel, err)
	}
	return nil
}

// scanPackages walks the evidence directory: every directory holding a
// manifest is a package (its files summed); files elsewhere (chain state,
// lock) count in other. Packages come back oldest first.
func scanPackages(evDir string) (pkgs []pkg, other int64, err error) {
	err = filepath.WalkDir(evDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
				other += info.Size()
			}
			return nil
		}
		if p == evDir {
			return nil
		}
		info, err := os.Stat(filepath.Join(p, shared.ManifestFile))
		if err != nil {
			return nil // not a package: descend
		}
		rel, err := filepath.Rel(evDir, p)
		if err != nil {
			return err
		}
		size, err := dirSize(p)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, pkg{rel: filepath.ToSlash(rel), id: filepath.Base(p), size: size, mtime: info.ModTime()})
		return fs.SkipDir
	})
	if err != nil {
		return nil, 0, fmt.Errorf("evquota: scan %s: %w", evDir, err)
	}
	sort.SliceStable(pkgs, func(a, b int) bool {
		if !pkgs[a].mtime.Equal(pkgs[b].mtime) {
			return pkgs[a].mtime.Before(pkgs[b].mtime)
		}
		return pkgs[a].rel < pkgs[b].rel
	})
	return pkgs, other, nil
}

// dirSize sums the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return nil
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// scanScratch lists the files under dirs, oldest first; a missing
// directory is empty.
func scanScratch(dirs []string) ([]scratchFile, error) {
	var out []scratchFile
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			out = append(out, scratchFile{path: p, size: info.Size(), mtime: info.ModTime()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("evquota: scan scratch %s: %w", dir, err)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].mtime.Equal(out[b].mtime) {
			return out[a].mtime.Before(out[b].mtime)
		}
		return out[a].path < out[b].path
	})
	return out, nil
}
