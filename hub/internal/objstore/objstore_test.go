package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testminio"
)

func exercise(t *testing.T, s Store, wantPresign bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 9 MiB of random bytes: big enough to matter, fast enough for CI.
	data := make([]byte, 9<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	key := "2026/11/28/CAM001/0193f2a4/clip.mp4"
	info, err := s.Put(ctx, key, bytes.NewReader(data), "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("put info %+v", info)
	}
	rc, got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, data) || got.Size != int64(len(data)) {
		t.Fatalf("get: %v, %d bytes, equal=%v", err, len(back), bytes.Equal(back, data))
	}
	if _, _, err := s.Get(ctx, "2026/11/28/CAM001/none.jpg"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../etc/passwd", "/abs/key", "a/../../b", "a//b", ""} {
		if _, err := s.Put(ctx, bad, bytes.NewReader(nil), ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%q): %v, want ErrBadKey", bad, err)
		}
	}
	u, err := s.PresignGet(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !wantPresign {
		if u != "" {
			t.Fatalf("local store presigned %q", u)
		}
		return
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("presigned GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestLocal(t *testing.T) {
	s, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s, false)
}

func TestS3AgainstRealMinIO(t *testing.T) {
	srv := testminio.Start(t)
	s, err := NewS3(context.Background(), S3Config{Endpoint: srv.Endpoint, Bucket: "evidence", AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, s, true)
	// Wrong credentials: a clear error that does not echo the secret.
	_, err = NewS3(context.Background(), S3Config{Endpoint: srv.Endpoint, Bucket: "evidence", AccessKey: srv.AccessKey,
		SecretKey: "wrong-secret-value", Region: "us-east-1"})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("wrong-secret-value")) {
		t.Fatalf("bad credentials: %v", err)
	}
}

func TestKeyFromURL(t *testing.T) {
	cases := map[string]string{
		"s3://evidence/2025/11/01/x.jpg": "2025/11/01/x.jpg",
		"2025/11/01/x.jpg":               "2025/11/01/x.jpg",
		"s3://bucketonly":                "s3://bucketonly",
	}
	for in, want := range cases {
		if got := KeyFromURL(in); got != want {
			t.Errorf("KeyFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}
