// Package poll runs the hub's batch workers (evidence verification, SUNARP
// enrichment): claim a batch, work it, and wait before the next one unless
// the batch was full.
package poll

import (
	"context"
	"time"
)

// Batches calls once until ctx ends. After a full batch (n >= batch, no
// error) it calls again at once; otherwise it waits interval. An error is
// handed to onErr (when not nil) and the loop goes on. It returns nil when
// ctx ends.
func Batches(ctx context.Context, interval time.Duration, batch int, once func(context.Context) (int, error), onErr func(error)) error {
	for {
		n, err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && onErr != nil {
			onErr(err)
		}
		wait := interval
		if err == nil && n >= batch {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
