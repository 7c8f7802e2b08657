package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBatches(t *testing.T) {
	cases := []struct {
		name    string
		results []int   // batch sizes returned by successive calls
		errs    []error // per call
		want    int     // calls made before the long interval stops the test
		wantErr int
	}{
		{"full batches run back to back", []int{10, 10, 10, 3}, nil, 4, 0},
		{"a short batch waits", []int{3, 10}, nil, 1, 0},
		{"an error waits and is reported", []int{10, 10}, []error{errors.New("db down"), nil}, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls, reported := 0, 0
			done := make(chan error, 1)
			go func() {
				done <- Batches(ctx, time.Hour, 10, func(context.Context) (int, error) {
					i := calls
					calls++
					var err error
					if i < len(tc.errs) {
						err = tc.errs[i]
					}
					if i < len(tc.results) {
						return tc.results[i], err
					}
					return 0, err
				}, func(error) { reported++ })
			}()
			// The loop either calls again at once or sleeps an hour: give it time, then stop it.
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Batches returned %v, want nil at cancellation", err)
			}
			if calls != tc.want || reported != tc.wantErr {
				t.Fatalf("%d calls, %d errors reported; want %d and %d", calls, reported, tc.want, tc.wantErr)
			}
		})
	}
}

func TestBatchesStopsDuringACall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	reported := 0
	err := Batches(ctx, time.Millisecond, 1, func(context.Context) (int, error) {
		cancel()
		return 0, context.Canceled
	}, func(error) { reported++ })
	if err != nil || reported != 0 {
		t.Fatalf("err %v, %d errors reported; a cancelled call must end the loop quietly", err, reported)
	}
}
