package evidence

import (
	"crypto/ed25519"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// VerifyTree runs shared.VerifyDir on dir and, when dir is an evidence
// directory holding the writer's chain.json, also checks that each device's
// recorded chain head is present with the recorded hash: the hash chain alone
// cannot reveal that the newest packages were deleted.
func VerifyTree(dir string, pub ed25519.PublicKey) shared.Report {
	r := shared.VerifyDir(dir, pub)
	if _, err := os.Stat(filepath.Join(dir, chainFile)); err != nil {
		return r
	}
	st, err := readChain(dir)
	if err != nil {
		r.Add(filepath.Join(dir, chainFile), shared.ProblemManifest, "%v", err)
		return r
	}
	for _, dev := range slices.Sorted(maps.Keys(st.Devices)) {
		head := st.Devices[dev]
		var newest uint64
		found := false
		for _, p := range r.Packages {
			if p.DeviceID != dev {
				continue
			}
			newest = max(newest, p.Sequence)
			if p.Sequence == head.Sequence {
				found = true
				if p.Hash != head.Hash {
					r.Add(p.Dir, shared.ProblemChainHead, "device %s: the package with sequence %d has hash %s, chain.json recorded %s", dev, head.Sequence, p.Hash, head.Hash)
				}
			}
		}
		if !found && head.Sequence > 0 {
			r.Add(filepath.Join(dir, filepath.FromSlash(head.Path)), shared.ProblemChainHead,
				"device %s: chain.json records sequence %d (hash %s) as the newest package, but it is not here: packages at the end of the chain were deleted or moved", dev, head.Sequence, head.Hash)
		}
		if newest > head.Sequence {
			r.Notes = append(r.Notes, fmt.Sprintf("device %s: packages up to sequence %d are newer than chain.json (sequence %d); the writer adopts them when it next starts", dev, newest, head.Sequence))
		}
	}
	return r
}
