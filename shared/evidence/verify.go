package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Problem kinds reported by VerifyDir; never renamed or reused.
const (
	ProblemManifest    = "manifest-invalid"   // unreadable or malformed manifest
	ProblemSignature   = "signature-invalid"  // signature fails or wrong key
	ProblemMisplaced   = "package-misplaced"  // directory name is not the event id
	ProblemFileMissing = "file-missing"       // listed file absent
	ProblemFileChanged = "file-changed"       // size or SHA-256 differs
	ProblemFileExtra   = "file-unexpected"    // file not listed in the manifest
	ProblemChainBroken = "chain-broken"       // prev_hash does not match the previous manifest
	ProblemChainGap    = "chain-gap"          // sequence numbers missing between two manifests
	ProblemDuplicate   = "sequence-duplicate" // two manifests with one sequence number
	ProblemWalk        = "unreadable"         // directory could not be read
	ProblemChainHead   = "chain-head-missing" // the writer's recorded head is absent or differs
)

// ignoredOutside reports the writer's bookkeeping files, allowed outside packages.
func ignoredOutside(name string) bool { return name == "chain.json" || name == "chain.lock" }

// Problem is one thing wrong with the evidence.
type Problem struct {
	// Path is the package directory or file concerned.
	Path string `json:"path"`
	// Kind is one of the Problem* constants.
	Kind string `json:"kind"`
	// Message says exactly what is wrong, for a person.
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Path, p.Kind, p.Message) }

// Package is a verified package's summary.
type Package struct {
	Dir      string `json:"dir"`
	DeviceID string `json:"device_id"`
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
	Hash     string `json:"hash"`
	Files    int    `json:"files"`
}

// Report is the outcome of VerifyDir.
type Report struct {
	Packages []Package `json:"packages"`
	Problems []Problem `json:"problems"`
	// Notes are facts that are not problems, such as a chain that starts
	// after sequence 1 because earlier packages are not in the directory.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether at least one package was found and nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 && len(r.Packages) > 0 }

// Add records a problem (for checks layered on top of VerifyDir).
func (r *Report) Add(path, kind, format string, args ...any) { r.add(path, kind, format, args...) }

func (r *Report) add(path, kind, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Path: path, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// VerifyDir verifies one evidence package directory or a tree of them: every
// package's manifest and signature (against pub), every listed file's
// presence, size and SHA-256, files present but not listed, and, per device,
// the hash chain across the packages ordered by sequence (broken links,
// missing sequence numbers, duplicates). A chain that starts above 1 is a
// note, since a subtree legitimately lacks earlier packages.
func VerifyDir(dir string, pub ed25519.PublicKey) Report {
	var r Report
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			r.add(p, ProblemWalk, "%v", err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			// Package directories are skipped below, so this file lies
			// outside every package: evidence whose manifest is gone.
			if !ignoredOutside(d.Name()) {
				r.add(p, ProblemFileExtra, "file outside any evidence package (no %s beside it)", ManifestFile)
			}
			return nil
		}
		if _, err := os.Lstat(filepath.Join(p, ManifestFile)); err == nil {
			dirs = append(dirs, p)
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		r.add(dir, ProblemWalk, "%v", err)
	}
	type entry struct {
		m    *Manifest
		pkg  Package
		hash string
	}
	byDevice := map[string][]entry{}
	for _, d := range dirs {
		m, h, ok := verifyPackage(&r, d, pub)
		if !ok {
			continue
		}
		pkg := Package{Dir: d, DeviceID: m.DeviceID, EventID: m.EventID, Sequence: m.Sequence, Hash: h, Files: len(m.Files)}
		r.Packages = append(r.Packages, pkg)
		byDevice[m.DeviceID] = append(byDevice[m.DeviceID], entry{m: m, pkg: pkg, hash: h})
	}
	devices := make([]string, 0, len(byDevice))
	for dev := range byDevice {
		devices = append(devices, dev)
	}
	sort.Strings(devices)
	for _, dev := range devices {
		es := byDevice[dev]
		sort.SliceStable(es, func(i, j int) bool { return es[i].m.Sequence < es[j].m.Sequence })
		if first := es[0].m.Sequence; first > 1 {
			missing := "sequence 1 is"
			if first > 2 {
				missing = fmt.Sprintf("sequences 1..%d are", first-1)
			}
			r.Notes = append(r.Notes, fmt.Sprintf("device %s: chain starts at sequence %d; %s not in %s", dev, first, missing, dir))
		}
		for i := 1; i < len(es); i++ {
			prev, cur := es[i-1], es[i]
			switch {
			case cur.m.Sequence == prev.m.Sequence:
				r.add(cur.pkg.Dir, ProblemDuplicate, "device %s: sequence %d is used by both %s and %s", dev, cur.m.Sequence, prev.pkg.Dir, cur.pkg.Dir)
			case cur.m.Sequence > prev.m.Sequence+1:
				missing := fmt.Sprintf("%d", prev.m.Sequence+1)
				if cur.m.Sequence-prev.m.Sequence > 2 {
					missing = fmt.Sprintf("%d..%d", prev.m.Sequence+1, cur.m.Sequence-1)
				}
				r.add(cur.pkg.Dir, ProblemChainGap, "device %s: sequence %s missing between %s (sequence %d) and %s (sequence %d)", dev, missing, prev.pkg.Dir, prev.m.Sequence, cur.pkg.Dir, cur.m.Sequence)
			case cur.m.PrevHash != prev.hash:
				r.add(cur.pkg.Dir, ProblemChainBroken, "device %s: link %d->%d broken: prev_hash %s does not match the hash %s of %s", dev, prev.m.Sequence, cur.m.Sequence, cur.m.PrevHash, prev.hash, prev.pkg.Dir)
			}
		}
	}
	return r
}

// verifyPackage checks one package directory and returns its manifest and hash.
func verifyPackage(r *Report, dir string, pub ed25519.PublicKey) (*Manifest, string, bool) {
	mpath := filepath.Join(dir, ManifestFile)
	b, err := readLimited(mpath, MaxManifestBytes)
	if err != nil {
		r.add(mpath, ProblemManifest, "%v", err)
		return nil, "", false
	}
	m, err := Decode(b)
	if err != nil {
		r.add(mpath, ProblemManifest, "%v", err)
		return nil, "", false
	}
	if err := Verify(m, pub); err != nil {
		r.add(mpath, ProblemSignature, "%v", err)
	}
	if base := filepath.Base(dir); base != m.EventID {
		r.add(dir, ProblemMisplaced, "directory %q holds the manifest of event %q", base, m.EventID)
	}
	listed := map[string]bool{ManifestFile: true}
	for _, f := range m.Files {
		listed[f.Name] = true
		p := filepath.Join(dir, f.Name)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.add(p, ProblemFileMissing, "%s %s is listed in the manifest but missing", f.Role, f.Name)
			continue
		case err != nil:
			r.add(p, ProblemWalk, "%v", err)
			continue
		case !fi.Mode().IsRegular():
			r.add(p, ProblemFileChanged, "%s is not a regular file (%s)", f.Name, fi.Mode().Type())
			continue
		}
		size, sum, err := HashFile(p)
		if err != nil {
			r.add(p, ProblemWalk, "%v", err)
			continue
		}
		if size != f.Size || sum != f.SHA256 {
			r.add(p, ProblemFileChanged, "%s %s changed: size %d sha256 %s, manifest says size %d sha256 %s", f.Role, f.Name, size, sum, f.Size, f.SHA256)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		r.add(dir, ProblemWalk, "%v", err)
	}
	for _, e := range ents {
		if !listed[e.Name()] {
			r.add(filepath.Join(dir, e.Name()), ProblemFileExtra, "%s is not listed in the manifest", e.Name())
		}
	}
	return m, Hash(m), true
}

// HashFile returns a file's size and lowercase hex SHA-256.
func HashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("evidence: read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s exceeds %d bytes", path, limit)
	}
	return b, nil
}

// String renders the report for a person: OK, or one line per problem.
func (r *Report) String() string {
	var sb strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&sb, "FAIL %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&sb, "note %s\n", n)
	}
	switch {
	case len(r.Packages) == 0 && len(r.Problems) == 0:
		sb.WriteString("FAIL no evidence package (manifest.json) found\n")
	case len(r.Problems) == 0:
		fmt.Fprintf(&sb, "OK %d package(s) verified: files, signatures and chain intact\n", len(r.Packages))
	default:
		fmt.Fprintf(&sb, "FAIL %d problem(s) in %d package(s)\n", len(r.Problems), len(r.Packages))
	}
	return sb.String()
}
