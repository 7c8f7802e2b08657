package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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

// InsertBatch stores many time-series messages in one transaction: each kind
// goes into its table with one INSERT ... SELECT FROM unnest(arrays) ... ON
// CONFLICT DO NOTHING, so the batch is idempotent on the envelope id. It
// returns, per message, whether it was a duplicate (already stored, or
// repeated earlier in the same batch).
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
		// implicit transaction), no staging table. Metrics are first inserted
		// optimistically (see queueMetrics); a batch holding one already
		// stored fails whole with a unique violation and is stored again,
		// idempotently.
		err = s.insertSeriesPipelined(ctx, msgs, metrics, acks, inserted, true)
		if isUniqueViolation(err) {
			clear(inserted)
			err = s.insertSeriesPipelined(ctx, msgs, metrics, acks, inserted, false)
		}
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

// insertSeriesTx stores a batch with statuses in an explicit transaction,
// because a status also updates its device row: BEGIN and the inserts go in
// one pipeline (one round trip), then the device updates and COMMIT.
func (s *Store) insertSeriesTx(ctx context.Context, msgs []BatchMessage, metrics, statuses, acks []int, inserted map[int]bool) (err error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { release(ctx, conn, err) }()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	queueMetrics(b, msgs, metrics, inserted, false)
	queueStatuses(b, msgs, statuses, inserted)
	queueAcks(b, msgs, acks, inserted)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	// As with one message at a time, the last status received (of those newly
	// stored) is the device's latest status; the heartbeat only moves forward.
	// The newest one (when it is not the last) is applied first, for the heartbeat.
	last, newest := map[string]int{}, map[string]int{}
	var order []string
	for _, i := range statuses {
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
			if err := recordStatus(ctx, conn, d, e.TS, e.Data); err != nil {
				return err
			}
		}
	}
	return commit(ctx, conn)
}

// commit commits the transaction open on conn; a transaction that had
// failed reports ROLLBACK, which is returned as pgx.ErrTxCommitRollback.
func commit(ctx context.Context, conn *pgxpool.Conn) error {
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// release returns a connection used for an explicit transaction to the
// pool, rolling back first when err says the transaction did not commit (the
// pool closes a connection released inside a transaction).
func release(ctx context.Context, conn *pgxpool.Conn, err error) {
	if err != nil && !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	conn.Release()
}

// insertSeriesPipelined stores metrics and acks with one INSERT ... SELECT
// FROM unnest(arrays) per table, sent together in one pipelined batch (an
// implicit transaction); optimistic as in queueMetrics.
func (s *Store) insertSeriesPipelined(ctx context.Context, msgs []BatchMessage, metrics, acks []int, inserted map[int]bool, optimistic bool) error {
	b := &pgx.Batch{}
	queueMetrics(b, msgs, metrics, inserted, optimistic)
	queueAcks(b, msgs, acks, inserted)
	return s.Pool.SendBatch(ctx, b).Close()
}

// queueMetrics queues the insert of the messages of msgs listed in metrics;
// the ones stored (not already there) are marked in inserted.
//
// Optimistic, it queues a plain INSERT: a sample already stored makes it fail
// with a unique violation (and the caller stores the batch again, not
// optimistic). Otherwise it queues INSERT ... ON CONFLICT DO NOTHING
// RETURNING event_id, which tells which samples were new. Duplicates are rare
// (redeliveries after an outage), and the idempotent form costs PostgreSQL a
// probe of the unique index before each row's insertion plus a returned row
// each: in the ingestion benchmark, about a tenth of the database's CPU.
func queueMetrics(b *pgx.Batch, msgs []BatchMessage, metrics []int, inserted map[int]bool, optimistic bool) {
	if len(metrics) == 0 {
		return
	}
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
	const insert = `INSERT INTO inference_metrics(event_id, device_id, source_device_id, timestamp,
			window_start, window_end, fps, latency_ms, gpu_utilization, cpu_utilization, memory_mb,
			detections_count, infractions_count)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
			$7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::int8[], $13::int8[])`
	args := []any{ids, cams, srcs, ts, ws, we, fps, lat, gpu, cpu, mem, dets, infs}
	if optimistic {
		b.Queue(insert, args...).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(n) {
				return fmt.Errorf("db: %d metrics inserted of %d", tag.RowsAffected(), n)
			}
			for _, i := range metrics {
				inserted[i] = true
			}
			return nil
		})
		return
	}
	b.Queue(insert+`
		ON CONFLICT (event_id, timestamp) DO NOTHING
		RETURNING event_id`, args...).Query(func(rows pgx.Rows) error {
		return collectInserted(rows, msgs, metrics, inserted)
	})
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == uniqueViolation
}

// queueAcks queues the insert of the acknowledgements of msgs listed in
// acks; the ones stored are marked in inserted.
func queueAcks(b *pgx.Batch, msgs []BatchMessage, acks []int, inserted map[int]bool) {
	if len(acks) == 0 {
		return
	}
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

// queueStatuses queues the insert of the statuses of msgs listed in
// statuses into events (event_type 'status'); the ones stored are marked in
// inserted. The device rows are updated by the caller.
func queueStatuses(b *pgx.Batch, msgs []BatchMessage, statuses []int, inserted map[int]bool) {
	if len(statuses) == 0 {
		return
	}
	n := len(statuses)
	ids, devs, data := make([]string, n), make([]string, n), make([]*string, n)
	ts := make([]time.Time, n)
	for j, i := range statuses {
		e := msgs[i].Env
		ids[j], devs[j], ts[j] = e.ID, e.DeviceID, e.TS
		if len(e.Data) > 0 {
			d := string(e.Data)
			data[j] = &d
		}
	}
	b.Queue(`INSERT INTO events(event_type, device_id, timestamp, data, event_id)
		SELECT 'status', d, t, x::jsonb, e
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) WITH ORDINALITY AS u(e, d, t, x, ord)
		ORDER BY ord
		ON CONFLICT (event_id, timestamp) DO NOTHING
		RETURNING event_id`, ids, devs, ts, data).Query(func(rows pgx.Rows) error {
		return collectInserted(rows, msgs, statuses, inserted)
	})
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
