package uplink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/event"
)

// Errors of the evidence uploader; test with errors.Is.
var (
	// ErrEvidenceCorrupt: the local file is missing, or its size or SHA-256
	// no longer matches the outbox record. It is reported, never uploaded.
	ErrEvidenceCorrupt = errors.New("uplink: local evidence missing or does not match its recorded SHA-256")
	// ErrObjectConflict: the key already holds an object with other content;
	// evidence is never overwritten.
	ErrObjectConflict = errors.New("uplink: object exists with different content")
	// ErrVerify: the object read back after upload does not match.
	ErrVerify = errors.New("uplink: uploaded object failed verification")
)

// shaMeta is the user-metadata name the hub reads (x-amz-meta-sha256).
const shaMeta = "Sha256"

// DefaultPartSize is the multipart part size for large evidence files.
const DefaultPartSize = 16 << 20

// S3Config configures the evidence uploader.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	AccessKey string
	SecretKey string // never logged nor quoted in errors
	Region    string
	UseTLS    bool
	// PartSize is the multipart part size (default DefaultPartSize, minimum 5 MiB).
	PartSize uint64
	// CreateBucket makes the bucket at NewS3Uploader when it is missing.
	CreateBucket bool
	// MaxRetries bounds minio-go's own retries per request (default 3); the
	// Sender retries whole uploads with its own backoff.
	MaxRetries int
}

// S3Uploader uploads evidence files to MinIO/S3 and confirms them.
type S3Uploader struct {
	cfg    S3Config
	client *minio.Client
	log    *slog.Logger

	mu       sync.Mutex // guards bucketOK
	bucketOK bool
}

// NewS3Uploader builds the client; with CreateBucket it also makes the
// bucket when missing (now if storage answers, else at the first Upload).
func NewS3Uploader(ctx context.Context, cfg S3Config, log *slog.Logger) (*S3Uploader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("uplink: s3: endpoint and bucket are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("uplink: s3: part size %d below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 3
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseTLS,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("uplink: s3 client for %s: %s", cfg.Endpoint, redact(err.Error(), cfg.SecretKey))
	}
	u := &S3Uploader{cfg: cfg, client: c, log: log.With("component", "uplink.s3", "endpoint", cfg.Endpoint, "bucket", cfg.Bucket)}
	if cfg.CreateBucket {
		// Best effort: storage may be down when the agent starts; Upload
		// tries again until the bucket is there.
		if err := u.ensureBucket(ctx); err != nil {
			u.log.Warn("bucket not checked yet", "err", err)
		}
	}
	return u, nil
}

// ensureBucket creates the bucket once, when CreateBucket is set.
func (u *S3Uploader) ensureBucket(ctx context.Context) error {
	if !u.cfg.CreateBucket {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bucketOK {
		return nil
	}
	ok, err := u.client.BucketExists(ctx, u.cfg.Bucket)
	if err == nil && !ok {
		err = u.client.MakeBucket(ctx, u.cfg.Bucket, minio.MakeBucketOptions{Region: u.cfg.Region})
		if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			err = nil
		}
	}
	if err != nil {
		return u.wrap("bucket "+u.cfg.Bucket, err)
	}
	u.bucketOK = true
	return nil
}

// wrap builds an error with context and without credentials.
func (u *S3Uploader) wrap(what string, err error) error {
	return fmt.Errorf("uplink: s3 %s: %w", what, &redactedError{msg: redact(err.Error(), u.cfg.SecretKey), err: err})
}

// Upload stores f under f.Key unless an identical object is already there,
// then confirms size and SHA-256 by reading the object's metadata back. It
// reports skipped=true when the object already existed with the same hash.
// The local file is hashed first: a mismatch with f.SHA256 yields
// ErrEvidenceCorrupt and nothing is uploaded.
func (u *S3Uploader) Upload(ctx context.Context, f outbox.FileRef) (skipped bool, err error) {
	if !event.ValidKey(f.Key) {
		return false, fmt.Errorf("uplink: s3 upload: invalid object key %q: %w", f.Key, ErrEvidenceCorrupt)
	}
	if err := u.ensureBucket(ctx); err != nil {
		return false, err
	}
	want := strings.ToLower(f.SHA256)
	fh, err := os.Open(f.Path)
	if err != nil {
		return false, fmt.Errorf("uplink: s3 upload %s: open local file: %v: %w", f.Key, err, ErrEvidenceCorrupt)
	}
	defer fh.Close()
	size, sum, err := hashFile(fh)
	if err != nil {
		// A read error is a local I/O fault, not proof of tampering: retry.
		return false, fmt.Errorf("uplink: s3 upload %s: read local file: %w", f.Key, err)
	}
	if sum != want || (f.Size > 0 && size != f.Size) {
		return false, fmt.Errorf("uplink: s3 upload %s: local file has %d bytes sha256 %s, outbox recorded %d bytes sha256 %s: %w",
			f.Key, size, sum, f.Size, want, ErrEvidenceCorrupt)
	}

	// Idempotency: an object with the same hash is already stored.
	if st, err := u.client.StatObject(ctx, u.cfg.Bucket, f.Key, minio.StatObjectOptions{}); err == nil {
		if st.Size == size && strings.EqualFold(st.UserMetadata[shaMeta], sum) {
			u.log.Debug("evidence already stored", "key", f.Key)
			return true, nil
		}
		return false, fmt.Errorf("uplink: s3 upload %s: stored %d bytes sha256 %q, local %d bytes sha256 %s: %w",
			f.Key, st.Size, st.UserMetadata[shaMeta], size, sum, ErrObjectConflict)
	} else if !isNoSuchKey(err) {
		return false, u.wrap("stat "+f.Key, err)
	}

	if uint64(size) > u.cfg.PartSize {
		// A previous attempt killed mid-way may have left parts behind; drop them
		// (best effort) so they do not accumulate on the server.
		if err := u.client.RemoveIncompleteUpload(ctx, u.cfg.Bucket, f.Key); err != nil && !isNoSuchKey(err) {
			u.log.Debug("incomplete upload not removed", "key", f.Key, "err", redact(err.Error(), u.cfg.SecretKey))
		}
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("uplink: s3 upload %s: rewind: %w", f.Key, err)
	}
	ctype := mime.TypeByExtension(filepath.Ext(f.Key))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	_, err = u.client.PutObject(ctx, u.cfg.Bucket, f.Key, fh, size, minio.PutObjectOptions{
		ContentType:  ctype,
		UserMetadata: map[string]string{shaMeta: sum},
		PartSize:     u.cfg.PartSize,
	})
	if err != nil {
		return false, u.wrap("put "+f.Key, err)
	}
	st, err := u.client.StatObject(ctx, u.cfg.Bucket, f.Key, minio.StatObjectOptions{})
	if err != nil {
		return false, u.wrap("confirm "+f.Key, err)
	}
	if st.Size != size || !strings.EqualFold(st.UserMetadata[shaMeta], sum) {
		return false, fmt.Errorf("uplink: s3 upload %s: stored %d bytes sha256 %q, sent %d bytes sha256 %s: %w",
			f.Key, st.Size, st.UserMetadata[shaMeta], size, sum, ErrVerify)
	}
	u.log.Debug("evidence uploaded", "key", f.Key, "bytes", size)
	return false, nil
}

// hashFile returns the size and hex SHA-256 of r.
func hashFile(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func isNoSuchKey(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NoSuchUpload"
}

// redactedError keeps the wrapped error for errors.Is/As but prints a
// message with secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
