// Package objstore keeps evidence files: in a local directory (the single-box
// default) or in MinIO/S3. Keys are relative slash-separated paths checked
// against traversal.
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/vigia-pe/vigia/shared/event"
)

// ErrNotFound is returned for a missing object.
var ErrNotFound = errors.New("objstore: object not found")

// ErrBadKey is returned for a key that is not a safe relative path.
var ErrBadKey = errors.New("objstore: invalid object key")

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	SHA256      string // hex; empty when the backend did not record it
	ContentType string
}

// Store is an evidence store.
type Store interface {
	// Put stores r under key and returns its size and SHA-256.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (Info, error)
	// Get opens a stored object.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// PresignGet returns a short-lived URL clients can fetch directly, or "" when the
	// backend has none (the hub then serves the file itself).
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Local stores objects under a directory.
type Local struct{ Dir string }

var _ Store = (*Local)(nil)

// NewLocal creates dir if needed.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", dir, err)
	}
	return &Local{Dir: dir}, nil
}

func (l *Local) path(key string) (string, error) {
	if !event.ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return filepath.Join(l.Dir, filepath.FromSlash(key)), nil
}

// Put writes atomically (temp file, fsync, rename) so a crash never leaves a half file under the key.
func (l *Local) Put(_ context.Context, key string, r io.Reader, contentType string) (Info, error) {
	p, err := l.path(key)
	if err != nil {
		return Info{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return Info{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: contentType}, nil
}

// Get opens the file.
func (l *Local) Get(_ context.Context, key string) (io.ReadCloser, Info, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	return f, Info{Key: key, Size: st.Size()}, nil
}

// PresignGet returns "": the hub serves local files through its own endpoint.
func (l *Local) PresignGet(context.Context, string, time.Duration) (string, error) { return "", nil }

// S3 stores objects in a MinIO/S3 bucket.
type S3 struct {
	client *minio.Client
	bucket string
}

var _ Store = (*S3)(nil)

// S3Config configures the S3 backend.
type S3Config struct {
	Endpoint, Bucket, AccessKey, SecretKey, Region string
	UseTLS                                         bool
}

// NewS3 connects and creates the bucket when missing.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 client for %s: %w", cfg.Endpoint, err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 %s bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("objstore: s3 create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return &S3{client: c, bucket: cfg.Bucket}, nil
}

const shaMeta = "Sha256" // stored as x-amz-meta-sha256

// Put uploads r (multipart for large objects) and records its SHA-256 as metadata.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (Info, error) {
	if !event.ValidKey(key) {
		return Info{}, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	// Hash while spooling to a temp file: S3 metadata must be known before the upload.
	tmp, err := os.CreateTemp("", "vigia-put-*")
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	_, err = s.client.PutObject(ctx, s.bucket, key, tmp, n, minio.PutObjectOptions{
		ContentType:  contentType,
		UserMetadata: map[string]string{shaMeta: sum},
	})
	if err != nil {
		return Info{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return Info{Key: key, Size: n, SHA256: sum, ContentType: contentType}, nil
}

// Get opens an object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if !event.ValidKey(key) {
		return nil, Info{}, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, Info{}, fmt.Errorf("objstore: stat %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	return obj, Info{Key: key, Size: st.Size, SHA256: st.UserMetadata[shaMeta], ContentType: st.ContentType}, nil
}

// PresignGet returns a presigned GET URL valid for ttl.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !event.ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, url.Values{})
	if err != nil {
		return "", fmt.Errorf("objstore: presign %s: %w", key, err)
	}
	return u.String(), nil
}

// KeyFromURL turns an s3://bucket/key URL or a bare key into a key.
func KeyFromURL(raw string) string {
	if rest, ok := strings.CutPrefix(raw, "s3://"); ok {
		if _, key, ok := strings.Cut(rest, "/"); ok {
			return key
		}
	}
	return raw
}
