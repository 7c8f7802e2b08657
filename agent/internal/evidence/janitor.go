package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Hooks for the evidence disk janitor (agent/internal/evquota), which
// deletes packages that already reached object storage.

// ChainHeadPaths returns the package directories, relative to the evidence
// directory evDir and slash-separated, that chain.json names as a device's
// head or pending package. A janitor keeps them: a Writer re-reads the head's
// manifest at start and reports an unreadable head as possible tampering.
func ChainHeadPaths(evDir string) (map[string]bool, error) {
	st, err := readChain(evDir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(st.Devices)+len(st.Pending))
	for _, h := range st.Devices {
		if h.Path != "" {
			out[h.Path] = true
		}
	}
	for _, h := range st.Pending {
		if h.Path != "" {
			out[h.Path] = true
		}
	}
	return out, nil
}

// WithChainLock runs fn holding the cross-process lock that Writers take
// (a flock on <evDir>/chain.lock), so that removing a package and its
// emptied parent directories cannot race a Writer moving a new package into
// one of them.
func WithChainLock(evDir string, fn func() error) error {
	lf, err := os.OpenFile(filepath.Join(evDir, "chain.lock"), os.O_RDWR|os.O_CREATE, 0o640)
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
