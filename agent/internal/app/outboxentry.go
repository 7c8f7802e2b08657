package app

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// InfractionEntry builds the outbox entry of an infraction: its encoded
// envelope and, when upload is set, a reference (path, size, SHA-256) to
// every evidence file of the package under dataDir/evidence, so that the
// sender uploads and checks each one before publishing the event.
func InfractionEntry(env event.Envelope, inf *event.Infraction, dataDir string, upload bool) (outbox.Entry, error) {
	b, err := env.Encode()
	if err != nil {
		return outbox.Entry{}, err
	}
	e := outbox.Entry{EventID: env.ID, Kind: event.KindInfraction, Topic: event.Topic(env.DeviceID, env.Type), Payload: b}
	if !upload {
		return e, nil
	}
	for _, f := range []*event.EvidenceFile{inf.Evidence.VideoClip, inf.Evidence.Snapshot, inf.Evidence.PlateCrop, inf.Evidence.Manifest} {
		if f == nil {
			continue
		}
		path := filepath.Join(dataDir, "evidence", filepath.FromSlash(f.Key))
		// The manifest's reference carries its chain hash; the upload checks the file's bytes.
		size, sum, err := shared.HashFile(path)
		if err != nil {
			return outbox.Entry{}, fmt.Errorf("infraction %s: evidence %s: %w", env.ID, f.Key, err)
		}
		e.Evidence = append(e.Evidence, outbox.FileRef{Key: f.Key, SHA256: strings.TrimPrefix(sum, "sha256:"), Size: size, Path: path})
	}
	return e, nil
}
