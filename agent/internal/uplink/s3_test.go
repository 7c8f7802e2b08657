package uplink

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestMinIOUploaderRealServer(t *testing.T) {
	srv := newMinIO(t)
	ctx := testenv.Context(t, 2*time.Minute)
	u, err := NewS3Uploader(ctx, srv.config("evidence"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small := writeEvidence(t, dir, "CAM1/2026/a.jpg", 200<<10)
	large := writeEvidence(t, dir, "CAM1/2026/clip.mp4", 12<<20) // > PartSize: multipart
	tampered := writeEvidence(t, dir, "CAM1/2026/t.jpg", 4096)
	if err := os.WriteFile(tampered.Path, []byte("edited after the manifest was signed"), 0o600); err != nil {
		t.Fatal(err)
	}
	conflict := writeEvidence(t, dir, "CAM1/2026/c.jpg", 4096)
	other := writeEvidence(t, dir, "other.jpg", 4096)
	if _, err := u.client.FPutObject(ctx, "evidence", conflict.Key, other.Path, minio.PutObjectOptions{
		UserMetadata: map[string]string{shaMeta: other.SHA256}}); err != nil {
		t.Fatal(err)
	}
	missing := outbox.FileRef{Key: "CAM1/2026/gone.jpg", Path: dir + "/gone.jpg", SHA256: small.SHA256}

	tests := []struct {
		name        string
		f           outbox.FileRef
		wantSkipped bool
		wantErr     error
	}{
		{"small file", small, false, nil},
		{"same file again is skipped", small, true, nil},
		{"large file multipart", large, false, nil},
		{"tampered local file refused", tampered, false, ErrEvidenceCorrupt},
		{"missing local file refused", missing, false, ErrEvidenceCorrupt},
		{"different object under key kept", conflict, false, ErrObjectConflict},
		{"bad key", outbox.FileRef{Key: "../x", Path: small.Path, SHA256: small.SHA256}, false, ErrEvidenceCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			skipped, err := u.Upload(ctx, tc.f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Upload error %v, want %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
				t.Fatalf("secret key in error: %v", err)
			}
			if skipped != tc.wantSkipped {
				t.Fatalf("skipped=%t, want %t", skipped, tc.wantSkipped)
			}
			if tc.wantErr != nil {
				if tc.wantErr == ErrEvidenceCorrupt {
					if _, err := u.client.StatObject(ctx, "evidence", tc.f.Key, minio.StatObjectOptions{}); err == nil {
						t.Fatal("refused evidence was uploaded anyway")
					}
				}
				return
			}
			n, sum := objectSHA(t, u, tc.f.Key)
			if n != tc.f.Size || sum != tc.f.SHA256 {
				t.Fatalf("stored %d bytes %s, want %d bytes %s", n, sum, tc.f.Size, tc.f.SHA256)
			}
		})
	}
}

func TestMinIOBadCredentialsNotLeaked(t *testing.T) {
	srv := newMinIO(t)
	ctx := testenv.Context(t, time.Minute)
	cfg := srv.config("evidence")
	cfg.SecretKey = "wrong-secret-value-123"
	cfg.MaxRetries = 1
	u, err := NewS3Uploader(ctx, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Upload(ctx, writeEvidence(t, t.TempDir(), "k.jpg", 100))
	if err == nil || errors.Is(err, ErrEvidenceCorrupt) {
		t.Fatalf("upload with wrong credentials: %v, want a storage error", err)
	}
	if strings.Contains(err.Error(), cfg.SecretKey) {
		t.Fatalf("secret in error: %v", err)
	}
}
