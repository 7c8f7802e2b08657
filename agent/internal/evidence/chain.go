package evidence

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// chainFile is the chain state file inside the evidence directory.
const chainFile = "chain.json"

// chainState is chain.json: the head of each device's chain on this disk.
type chainState struct {
	V       int                  `json:"v"`
	Devices map[string]chainHead `json:"devices"`
	// Pending is the package a writer is about to move into place; a crash
	// leaves it here for the next writer to adopt (if it reached the disk)
	// or drop.
	Pending map[string]chainHead `json:"pending,omitempty"`
}

// chainHead is the newest manifest of one device.
type chainHead struct {
	Sequence uint64 `json:"sequence"`
	Hash     string `json:"hash"`
	// Path is the package directory relative to the evidence directory.
	Path      string    `json:"path"`
	CreatedAt time.Time `json:"created_at"`
}

// prevHash returns the prev_hash for the manifest after this head.
func (h chainHead) prevHash() string {
	if h.Sequence == 0 {
		return shared.ZeroHash
	}
	return h.Hash
}

func readChain(evDir string) (chainState, error) {
	st := chainState{V: 1, Devices: map[string]chainHead{}, Pending: map[string]chainHead{}}
	b, err := os.ReadFile(filepath.Join(evDir, chainFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("evidence: read chain state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("evidence: chain state %s is corrupt: %w", filepath.Join(evDir, chainFile), err)
	}
	if st.Devices == nil {
		st.Devices = map[string]chainHead{}
	}
	if st.Pending == nil {
		st.Pending = map[string]chainHead{}
	}
	return st, nil
}

// writeChain replaces chain.json atomically: temporary file, fsync, rename,
// fsync of the directory.
func writeChain(evDir string, st chainState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence: encode chain state: %w", err)
	}
	return writeAtomic(filepath.Join(evDir, chainFile), append(b, '\n'), 0o640)
}

// writeAtomic writes data to path so that a crash leaves either the old or
// the new content, never a mix.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("evidence: create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("evidence: write %s: %w", tmp, err))
	}
	if err := f.Chmod(perm); err != nil {
		return fail(fmt.Errorf("evidence: chmod %s: %w", tmp, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("evidence: sync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("evidence: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("evidence: rename %s: %w", path, err)
	}
	return syncDir(dir)
}

// dayDir is the <yyyy>/<mm>/<dd> part of a package path.
func dayDir(t time.Time) string { return t.UTC().Format("2006/01/02") }

// reconcile advances a device's head over packages that reached the disk
// after the last chain.json update (a crash between the two steps). It only
// looks at day directories from the day before the head's on, since packages
// are filed by creation date. A newer package that does not extend the chain
// is an error: writing on would fork the chain.
//
// Manifests that do not decode are not chain candidates (the writer renames
// whole packages into place, so a crash cannot leave one half written); they
// are returned in unreadable for the caller to report.
func reconcile(evDir, deviceID string, head chainHead, pub ed25519.PublicKey) (newHead chainHead, adopted, unreadable []string, err error) {
	cutoff := ""
	if !head.CreatedAt.IsZero() {
		cutoff = dayDir(head.CreatedAt.Add(-24 * time.Hour))
	}
	type found struct {
		m   *shared.Manifest
		rel string
	}
	var newer []found
	err = filepath.WalkDir(evDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || p == evDir {
			return nil
		}
		rel, err := filepath.Rel(evDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if depth := strings.Count(rel, "/") + 1; depth <= 3 && cutoff != "" {
			prefix := strings.Join(strings.Split(cutoff, "/")[:depth], "/")
			if rel < prefix {
				return fs.SkipDir
			}
		}
		b, err := os.ReadFile(filepath.Join(p, shared.ManifestFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		m, err := shared.Decode(b)
		if err != nil {
			unreadable = append(unreadable, rel)
			return fs.SkipDir
		}
		if m.DeviceID == deviceID && m.Sequence > head.Sequence {
			newer = append(newer, found{m: m, rel: rel})
		}
		return fs.SkipDir
	})
	if err != nil {
		return head, nil, unreadable, fmt.Errorf("evidence: reconcile chain: %w", err)
	}
	sort.Slice(newer, func(i, j int) bool { return newer[i].m.Sequence < newer[j].m.Sequence })
	for _, f := range newer {
		if f.m.Sequence != head.Sequence+1 || f.m.PrevHash != head.prevHash() {
			return head, adopted, unreadable, fmt.Errorf("evidence: reconcile chain: package %s (sequence %d) does not extend the chain head (sequence %d, hash %s); resolve before writing more evidence (agent evidence verify)", f.rel, f.m.Sequence, head.Sequence, head.Hash)
		}
		if err := shared.Verify(f.m, pub); err != nil {
			return head, adopted, unreadable, fmt.Errorf("evidence: reconcile chain: package %s: %w", f.rel, err)
		}
		head = chainHead{Sequence: f.m.Sequence, Hash: shared.Hash(f.m), Path: f.rel, CreatedAt: f.m.CreatedAt}
		adopted = append(adopted, f.rel)
	}
	return head, adopted, unreadable, nil
}
