package db

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestClaimEvidenceOnceUnderContentionIntegration has several workers claim
// one infraction at a time until none is left: every infraction must be
// claimed exactly once, on its first attempt. A claim whose statement began
// before another worker's claim committed used to take the same row again.
func TestClaimEvidenceOnceUnderContentionIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM001", Name: "cam", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	const n, workers = 150, 4
	at := time.Now().Add(-time.Hour)
	for range n {
		env, p := infraction("CAM001", at)
		if _, err := s.InsertInfraction(ctx, env, p); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Minute)
	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				jobs, err := s.ClaimEvidence(ctx, now, 5*time.Minute, 1)
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					claims[j.InfractionID]++
					if j.Attempts != 1 {
						t.Errorf("%s claimed as attempt %d", j.Code, j.Attempts)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claims) != n {
		t.Fatalf("%d infractions claimed, want %d", len(claims), n)
	}
	for id, k := range claims {
		if k != 1 {
			t.Errorf("%s claimed %d times", id, k)
		}
	}
	// A second round within the lease finds nothing; after it, everything again.
	if jobs, err := s.ClaimEvidence(ctx, now, 5*time.Minute, n); err != nil || len(jobs) != 0 {
		t.Fatalf("within the lease: %d jobs, %v", len(jobs), err)
	}
	jobs, err := s.ClaimEvidence(ctx, now.Add(6*time.Minute), 5*time.Minute, n)
	if err != nil || len(jobs) != n {
		t.Fatalf("after the lease: %d jobs, %v", len(jobs), err)
	}
	for _, j := range jobs {
		if j.Attempts != 2 {
			t.Fatalf("%s: attempt %d after the lease, want 2", j.Code, j.Attempts)
		}
	}
}
