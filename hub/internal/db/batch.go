package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/event"
)

// BatchMessage is one time-series message (metrics, status or command
// acknowledgement) of an ingestion batch. Exactly one of Metrics, Status and
// Ack is set.
type BatchMessage struct {
	Env     event.Envelope
	Metrics *event.Metrics
	Status  *event.Status
	Ack     *event.Ack
}

// key identifies a message for idempotency inside a batch: its kind and envelope id.
func (m BatchMessage) key() string {
	switch {
	case m.Metrics != nil:
		return "m" + m.Env.ID
	case m.Status != nil:
		return "s" + m.Env.ID
	}
	return "a" + m.Env.ID
}

// Staging tables live per connection (TEMP) and empty themselves at commit, so
// a batch never sees another batch's rows and no catalog churn happens per batch.
const (
	stageMetricsSQL = `CREATE TEMP TABLE IF NOT EXISTS stage_metrics (
		ord INTEGER, event_id TEXT, device_id TEXT, source_device_id TEXT, ts TIMESTAMPTZ,
		window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, fps FLOAT8, latency_ms FLOAT8,
		gpu_utilization FLOAT8, cpu_utilization FLOAT8, memory_mb FLOAT8,
		detections_count BIGINT, infractions_count BIGINT) ON COMMIT DELETE ROWS`
	stageStatusSQL = `CREATE TEMP TABLE IF NOT EXISTS stage_status (
		ord INTEGER, event_id TEXT, device_id TEXT, ts TIMESTAMPTZ, data JSONB) ON COMMIT DELETE ROWS`
	stageAcksSQL = `CREATE TEMP TABLE IF NOT EXISTS stage_acks (
		ord INTEGER, event_id TEXT, command_id TEXT, device_id TEXT, camera_id TEXT, outcome TEXT,
		message TEXT, result JSONB, acked_at TIMESTAMPTZ) ON COMMIT DELETE ROWS`
)

// InsertBatch stores many time-series messages in one transaction: each kind
// is copied (COPY) into a per-connection staging table and moved into its
// table with INSERT ... ON CONFLICT DO NOTHING, so the batch is idempotent on
// the envelope id. It returns, per message, whether it was a duplicate (already
// stored, or repeated earlier in the same batch).
//
// Any error fails the whole batch and nothing is stored. A permanent error
// (ErrUnknownDevice, ErrInvalidValue: see IsPermanent) means some message of
// the batch can never be stored: the caller isolates it by storing the
// messages one by one (InsertMetrics, RecordStatusEvent, InsertAck).
func (s *Store) InsertBatch(ctx context.Context, msgs []BatchMessage) (duplicate []bool, err error) {
	duplicate = make([]bool, len(msgs))
	if len(msgs) == 0 {
		return duplicate, nil
	}
	// Repeats inside the batch are duplicates of their first occurrence.
	first := make(map[string]int, len(msgs))
	var metrics, statuses, acks []int
	for i, m := range msgs {
		k := m.key()
		if _, seen := first[k]; seen {
			duplicate[i] = true
			continue
		}
		first[k] = i
		switch {
		case m.Metrics != nil:
			metrics = append(metrics, i)
		case m.Status != nil:
			statuses = append(statuses, i)
		case m.Ack != nil:
			acks = append(acks, i)
		default:
			return nil, fmt.Errorf("db: batch message %d (%s) has no payload", i, m.Env.ID)
		}
	}
	inserted := make(map[int]bool, len(msgs))
	if len(statuses) == 0 {
		// The common case: one round trip (a pipelined batch runs as one
		// implicit transaction), no staging table.
		err = s.insertSeriesPipelined(ctx, msgs, metrics, acks, inserted)
	} else {
		err = s.insertSeriesTx(ctx, msgs, metrics, statuses, acks, inserted)
	}
	if err != nil {
		if u := permanent(err, "a device of the batch"); u != nil {
			return nil, fmt.Errorf("db: insert batch of %d: %w", len(msgs), u)
		}
		return nil, fmt.Errorf("db: insert batch of %d: %w", len(msgs), err)
	}
	for i := range msgs {
		if !duplicate[i] && !inserted[i] {
			duplicate[i] = true
		}
	}
	return duplicate, nil
}

// insertSeriesTx stores a batch with statuses: staging tables and COPY in an
// explicit transaction, because a status also updates its device row.
func (s *Store) insertSeriesTx(ctx context.Context, msgs []BatchMessage, metrics, statuses, acks []int, inserted map[int]bool) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if len(metrics) > 0 {
			if err := copyMetrics(ctx, tx, msgs, metrics, inserted); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
		}
		if len(statuses) > 0 {
			if err := copyStatuses(ctx, tx, msgs, statuses, inserted); err != nil {
				return fmt.Errorf("status: %w", err)
			}
		}
		if len(acks) > 0 {
			if err := copyAcks(ctx, tx, msgs, acks, inserted); err != nil {
				return fmt.Errorf("acks: %w", err)
			}
		}
		return nil
	})
}

// insertSeriesPipelined stores metrics and acks with one INSERT ... SELECT
// FROM unnest(arrays) per table, sent together in one pipelined batch.
func (s *Store) insertSeriesPipelined(ctx context.Context, msgs []BatchMessage, metrics, acks []int, inserted map[int]bool) error {
	b := &pgx.Batch{}
	if len(metrics) > 0 {
		n := len(metrics)
		var (
			ids, cams, srcs    = make([]string, n), make([]string, n), make([]string, n)
			ts, ws, we         = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
			fps, lat, cpu, mem = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			gpu                = make([]*float64, n)
			dets, infs         = make([]int64, n), make([]int64, n)
		)
		for j, i := range metrics {
			e, m := msgs[i].Env, msgs[i].Metrics
			ids[j], cams[j], srcs[j], ts[j], ws[j], we[j] = e.ID, m.CameraID, e.DeviceID, e.TS, m.WindowStart, m.WindowEnd
			fps[j], lat[j], gpu[j], cpu[j], mem[j], dets[j], infs[j] = m.FPS, m.LatencyMs, m.GPUUtilization, m.CPUUtilization, m.MemoryMB, m.DetectionsCount, m.InfractionsCount
		}
		b.Queue(`INSERT INTO inference_metrics(event_id, device_id, source_device_id, timestamp,
				window_start, window_end, fps, latency_ms, gpu_utilization, cpu_utilization, memory_mb,
				detections_count, infractions_count)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
				$7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::int8[], $13::int8[])
			ON CONFLICT (event_id, timestamp) DO NOTHING
			RETURNING event_id`, ids, cams, srcs, ts, ws, we, fps, lat, gpu, cpu, mem, dets, infs).Query(func(rows pgx.Rows) error {
			return collectInserted(rows, msgs, metrics, inserted)
		})
	}
	if len(acks) > 0 {
		n := len(acks)
		ids, cmds, devs, outcomes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		cams, texts := make([]*string, n), make([]*string, n)
		results := make([]*string, n)
		at := make([]time.Time, n)
		for j, i := range acks {
			e, a := msgs[i].Env, msgs[i].Ack
			ids[j], cmds[j], devs[j], outcomes[j], at[j] = e.ID, a.CommandID, e.DeviceID, string(a.Outcome), e.TS
			cams[j], texts[j] = nullString(a.CameraID), nullString(a.Message)
			if len(a.Result) > 0 {
				r := string(a.Result)
				results[j] = &r
			}
		}
		b.Queue(`INSERT INTO command_acks(event_id, command_id, device_id, camera_id, outcome, message, result, acked_at)
			SELECT e, c, d, cam, o, m, r::jsonb, t
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
				AS u(e, c, d, cam, o, m, r, t)
			ON CONFLICT (event_id) DO NOTHING
			RETURNING event_id`, ids, cmds, devs, cams, outcomes, texts, results, at).Query(func(rows pgx.Rows) error {
			return collectInserted(rows, msgs, acks, inserted)
		})
	}
	return s.Pool.SendBatch(ctx, b).Close()
}

// IsPermanent reports whether err means a message can never be stored as it
// is (unknown device, value refused by PostgreSQL); any other error is
// transient and worth retrying.
func IsPermanent(err error) bool { return isPermanent(err) }

// collectInserted reads the event ids returned by an INSERT ... RETURNING and
// marks their messages (ids are unique per kind within the batch) as inserted.
func collectInserted(rows pgx.Rows, msgs []BatchMessage, idx []int, inserted map[int]bool) error {
	byID := make(map[string]int, len(idx))
	for _, i := range idx {
		byID[msgs[i].Env.ID] = i
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if i, ok := byID[id]; ok {
			inserted[i] = true
		}
	}
	rows.Close()
	return rows.Err()
}

func copyMetrics(ctx context.Context, tx pgx.Tx, msgs []BatchMessage, idx []int, inserted map[int]bool) error {
	if _, err := tx.Exec(ctx, stageMetricsSQL); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_metrics"},
		[]string{"ord", "event_id", "device_id", "source_device_id", "ts", "window_start", "window_end", "fps", "latency_ms",
			"gpu_utilization", "cpu_utilization", "memory_mb", "detections_count", "infractions_count"},
		pgx.CopyFromSlice(len(idx), func(j int) ([]any, error) {
			i := idx[j]
			return append([]any{int32(i)}, metricsArgs(MetricsRowOf(msgs[i].Env, msgs[i].Metrics))...), nil
		}))
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `INSERT INTO inference_metrics(event_id, device_id, source_device_id, timestamp,
			window_start, window_end, fps, latency_ms, gpu_utilization, cpu_utilization, memory_mb,
			detections_count, infractions_count)
		SELECT event_id, device_id, source_device_id, ts, window_start, window_end, fps, latency_ms,
			gpu_utilization, cpu_utilization, memory_mb, detections_count, infractions_count
		FROM stage_metrics ORDER BY ord
		ON CONFLICT (event_id, timestamp) DO NOTHING
		RETURNING event_id`)
	if err != nil {
		return err
	}
	return collectInserted(rows, msgs, idx, inserted)
}

func copyStatuses(ctx context.Context, tx pgx.Tx, msgs []BatchMessage, idx []int, inserted map[int]bool) error {
	if _, err := tx.Exec(ctx, stageStatusSQL); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_status"}, []string{"ord", "event_id", "device_id", "ts", "data"},
		pgx.CopyFromSlice(len(idx), func(j int) ([]any, error) {
			e := msgs[idx[j]].Env
			return []any{int32(idx[j]), e.ID, e.DeviceID, e.TS, []byte(e.Data)}, nil
		}))
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `INSERT INTO events(event_type, device_id, timestamp, data, event_id)
		SELECT 'status', device_id, ts, data, event_id FROM stage_status ORDER BY ord
		ON CONFLICT (event_id, timestamp) DO NOTHING
		RETURNING event_id`)
	if err != nil {
		return err
	}
	if err := collectInserted(rows, msgs, idx, inserted); err != nil {
		return err
	}
	// As with one message at a time, the last status received (of those newly
	// stored) is the device's latest status; the heartbeat only moves forward.
	// The newest one (when it is not the last) is applied first, for the heartbeat.
	last, newest := map[string]int{}, map[string]int{}
	var order []string
	for _, i := range idx {
		if !inserted[i] {
			continue
		}
		d := msgs[i].Env.DeviceID
		if n, ok := newest[d]; !ok || msgs[i].Env.TS.After(msgs[n].Env.TS) {
			newest[d] = i
		}
		if _, ok := last[d]; !ok {
			order = append(order, d)
		}
		last[d] = i
	}
	for _, d := range order {
		apply := []int{last[d]}
		if newest[d] != last[d] {
			apply = []int{newest[d], last[d]}
		}
		for _, i := range apply {
			e := msgs[i].Env
			if err := recordStatus(ctx, tx, d, e.TS, e.Data); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyAcks(ctx context.Context, tx pgx.Tx, msgs []BatchMessage, idx []int, inserted map[int]bool) error {
	if _, err := tx.Exec(ctx, stageAcksSQL); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_acks"},
		[]string{"ord", "event_id", "command_id", "device_id", "camera_id", "outcome", "message", "result", "acked_at"},
		pgx.CopyFromSlice(len(idx), func(j int) ([]any, error) {
			m := msgs[idx[j]]
			var result []byte
			if len(m.Ack.Result) > 0 {
				result = m.Ack.Result
			}
			return []any{int32(idx[j]), m.Env.ID, m.Ack.CommandID, m.Env.DeviceID, nullString(m.Ack.CameraID),
				string(m.Ack.Outcome), nullString(m.Ack.Message), result, m.Env.TS}, nil
		}))
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `INSERT INTO command_acks(event_id, command_id, device_id, camera_id, outcome, message, result, acked_at)
		SELECT event_id, command_id, device_id, camera_id, outcome, message, result, acked_at FROM stage_acks ORDER BY ord
		ON CONFLICT (event_id) DO NOTHING
		RETURNING event_id`)
	if err != nil {
		return err
	}
	return collectInserted(rows, msgs, idx, inserted)
}
