package sunarp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
)

// registry is a fake SUNARP gateway speaking the package's HTTP contract
// over a real socket (httptest): the real registry cannot be reached here.
type registry struct {
	mu       sync.Mutex
	vehicles map[string]string // plate → JSON answer
	fail     map[string][]int  // plate → status codes to answer first, in order
	hits     map[string]int
	auth     []string
	delay    time.Duration
	srv      *httptest.Server
}

func newRegistry(t *testing.T) *registry {
	r := &registry{vehicles: map[string]string{}, fail: map[string][]int{}, hits: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /vehiculos/{plate}", r.serve)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *registry) serve(w http.ResponseWriter, req *http.Request) {
	plate := req.PathValue("plate")
	r.mu.Lock()
	r.hits[plate]++
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	var code int
	if f := r.fail[plate]; len(f) > 0 {
		code, r.fail[plate] = f[0], f[1:]
	}
	body, ok := r.vehicles[plate]
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	switch {
	case code == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "slow down", code)
	case code != 0:
		http.Error(w, "boom", code)
	case !ok:
		http.Error(w, `{"error":"no encontrado"}`, http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func (r *registry) add(plate, owner, dni string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vehicles[plate] = fmt.Sprintf(`{"placa":%q,"marca":"TOYOTA","modelo":"COROLLA","anio":2020,"color":"GRIS","tipo":"AUTOMOVIL",
		"fecha_inscripcion":"2020-03-15","propietario":{"nombre":%q,"dni":%q,"direccion":"AV. AREQUIPA 123, LIMA"},"extra":{"k":1}}`, plate, owner, dni)
}

func (r *registry) hitsOf(plate string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[plate]
}

func newClient(t *testing.T, r *registry, mod func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{BaseURL: r.srv.URL, Token: "s3cr3t-token", Timeout: 2 * time.Second, Backoff: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientLookup(t *testing.T) {
	r := newRegistry(t)
	r.add("ABC-123", "JUAN CARLOS PEREZ LOPEZ", "12345678")
	r.add("RETRY-1", "ANA", "87654321")
	r.fail["RETRY-1"] = []int{503, 429}
	r.add("DOWN-1", "ANA", "87654321")
	r.fail["DOWN-1"] = []int{500, 502, 503, 504}
	r.add("DENIED-1", "ANA", "87654321")
	r.fail["DENIED-1"] = []int{401}
	r.vehicles["OTHER-1"] = `{"placa":"XYZ-999","marca":"KIA"}`
	r.vehicles["BADYEAR-1"] = `{"placa":"BADYEAR-1","anio":1200}`
	r.vehicles["BADTYPE-1"] = `{"placa":"BADTYPE-1","anio":"2020"}`
	r.vehicles["LONG-1"] = `{"placa":"LONG-1","color":"` + strings.Repeat("A", 51) + `"}`
	r.vehicles["HUGE-1"] = `{"placa":"HUGE-1","x":"` + strings.Repeat("A", MaxResponseBytes) + `"}`
	c := newClient(t, r, nil)
	cases := []struct {
		plate    string
		wantErr  string // "" = success; "notfound" = ErrNotFound
		wantHits int
	}{
		{"ABC-123", "", 1},
		{"NOPE-1", "notfound", 1},
		{"RETRY-1", "", 3},
		{"DOWN-1", "503", 3},
		{"DENIED-1", "401", 1},
		{"OTHER-1", "another plate", 1},
		{"BADYEAR-1", "anio is out of range", 1},
		{"BADTYPE-1", `"anio" has the wrong type`, 1},
		{"LONG-1", "color is longer than 50", 1},
		{"HUGE-1", "exceeds", 1},
	}
	for _, tc := range cases {
		t.Run(tc.plate, func(t *testing.T) {
			v, err := c.Lookup(context.Background(), tc.plate)
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				if v.Plate != tc.plate || v.Brand != "TOYOTA" || v.Year != 2020 || v.Owner.DNI == "" || v.Registered() == nil {
					t.Fatalf("decoded %#v", *v)
				}
				if !json.Valid(v.Raw) || !bytes.Contains(v.Raw, []byte(`"extra"`)) {
					t.Fatalf("raw answer not kept: %s", v.Raw)
				}
			case "notfound":
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("err %v, want ErrNotFound", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			}
			if got := r.hitsOf(tc.plate); got != tc.wantHits {
				t.Fatalf("%d requests, want %d", got, tc.wantHits)
			}
		})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auth {
		if a != "Bearer s3cr3t-token" {
			t.Fatalf("authorization header %q", a)
		}
	}
}

func TestClientTimeout(t *testing.T) {
	r := newRegistry(t)
	r.add("SLOW-1", "ANA", "1")
	r.delay = 500 * time.Millisecond
	c := newClient(t, r, func(c *ClientConfig) { c.Timeout = 50 * time.Millisecond; c.Retries = 1 })
	start := time.Now()
	_, err := c.Lookup(context.Background(), "SLOW-1")
	if err == nil {
		t.Fatal("a registry slower than the timeout answered")
	}
	if r.hitsOf("SLOW-1") != 2 {
		t.Fatalf("%d requests, want 2 (one retry)", r.hitsOf("SLOW-1"))
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Fatalf("timeout not applied: %s", el)
	}
}

func TestNewClientRejects(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "https://user:pw@host/api", "::"} {
		if _, err := NewClient(ClientConfig{BaseURL: u}); err == nil {
			t.Errorf("%q accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error echoes the password: %v", err)
		}
	}
}

func TestVehicleNeverPrintsOwner(t *testing.T) {
	v, err := DecodeVehicle("ABC-123", []byte(`{"placa":"ABC-123","propietario":{"nombre":"JUAN PEREZ","dni":"12345678"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "vehicle", v, "owner", v.Owner)
	out := buf.String() + fmt.Sprint(v, v.Owner) + fmt.Sprintf("%v %s", v, v.Owner)
	for _, s := range []string{"JUAN", "12345678"} {
		if strings.Contains(out, s) {
			t.Fatalf("owner data printed: %s", out)
		}
	}
}

// workerFixture is a migrated database with vehicles as ingestion leaves them.
type workerFixture struct {
	ctx   context.Context
	store *db.Store
	now   time.Time
	logs  *bytes.Buffer
	mu    *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newWorkerFixture(t *testing.T, plates ...string) *workerFixture {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(t), time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range plates {
		if _, err := s.Pool.Exec(ctx, `INSERT INTO vehicles(plate) VALUES ($1)`, p); err != nil {
			t.Fatal(err)
		}
	}
	return &workerFixture{ctx: ctx, store: s, now: time.Now().Truncate(time.Microsecond), logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
}

type row struct {
	Brand, Owner, DNI, Address *string
	Year                       *int
	Checked                    *time.Time
	Retry                      *time.Time
	Data                       []byte
}

func (f *workerFixture) row(t *testing.T, plate string) row {
	t.Helper()
	var r row
	err := f.store.Pool.QueryRow(f.ctx, `SELECT brand, owner_name, owner_dni, owner_address, year, sunarp_last_check, sunarp_retry_at, sunarp_data
		FROM vehicles WHERE plate = $1`, plate).Scan(&r.Brand, &r.Owner, &r.DNI, &r.Address, &r.Year, &r.Checked, &r.Retry, &r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWorkerEnrichesVehiclesIntegration(t *testing.T) {
	r := newRegistry(t)
	r.add("ABC-123", "JUAN CARLOS PEREZ LOPEZ", "12345678")
	r.add("DEF-456", "MARIA QUISPE MAMANI", "44556677")
	r.add("FLAKY-1", "ROSA", "11112222")
	r.fail["FLAKY-1"] = []int{503, 503, 503}
	f := newWorkerFixture(t, "ABC-123", "DEF-456", "NOPE-1", "FLAKY-1")
	now := f.now
	clock := func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return now }
	advance := func(d time.Duration) { f.mu.Lock(); now = now.Add(d); f.mu.Unlock() }
	logs := &bytes.Buffer{}
	lw := lockedWriter{mu: &sync.Mutex{}, w: logs}
	w := NewWorker(Config{TTL: 24 * time.Hour, RetryAfter: 10 * time.Minute, Gap: time.Millisecond, Now: clock},
		f.store.Pool, newClient(t, r, func(c *ClientConfig) { c.Retries = 1 }), slog.New(slog.NewTextHandler(lw, nil)))

	if n, err := w.RunOnce(f.ctx); err != nil || n != 4 {
		t.Fatalf("claimed %d, %v", n, err)
	}
	got := f.row(t, "ABC-123")
	if got.Brand == nil || *got.Brand != "TOYOTA" || got.Owner == nil || *got.Owner != "JUAN CARLOS PEREZ LOPEZ" ||
		got.DNI == nil || *got.DNI != "12345678" || got.Year == nil || *got.Year != 2020 || got.Checked == nil || got.Retry != nil {
		t.Fatalf("ABC-123 row %+v", got)
	}
	if !bytes.Contains(got.Data, []byte(`"extra"`)) {
		t.Fatalf("sunarp_data %s", got.Data)
	}
	if nf := f.row(t, "NOPE-1"); nf.Checked == nil || !bytes.Contains(nf.Data, []byte("not_found")) || nf.Owner != nil {
		t.Fatalf("NOPE-1 row %+v", nf)
	}
	if fl := f.row(t, "FLAKY-1"); fl.Checked != nil || fl.Retry == nil || !fl.Retry.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("FLAKY-1 row %+v", fl)
	}
	if w.Stats.Enriched.Load() != 2 || w.Stats.NotFound.Load() != 1 || w.Stats.Failed.Load() != 1 {
		t.Fatalf("stats %d %d %d", w.Stats.Enriched.Load(), w.Stats.NotFound.Load(), w.Stats.Failed.Load())
	}
	// Nothing is due: checked plates wait for the TTL, the failed one for its retry time.
	if n, err := w.RunOnce(f.ctx); err != nil || n != 0 {
		t.Fatalf("claimed %d, %v before anything was due", n, err)
	}
	advance(11 * time.Minute)
	if n, err := w.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("retry claimed %d, %v", n, err)
	}
	if fl := f.row(t, "FLAKY-1"); fl.Owner == nil || *fl.Owner != "ROSA" {
		t.Fatalf("FLAKY-1 not enriched on retry: %+v", fl)
	}
	// After the TTL every plate is checked again.
	hits := r.hitsOf("ABC-123")
	advance(25 * time.Hour)
	if n, err := w.RunOnce(f.ctx); err != nil || n != 4 {
		t.Fatalf("after TTL claimed %d, %v", n, err)
	}
	if r.hitsOf("ABC-123") != hits+1 {
		t.Fatalf("ABC-123 not looked up again after the TTL")
	}

	// Info logs carry neither plates nor owner data.
	lw.mu.Lock()
	out := logs.String()
	lw.mu.Unlock()
	if !strings.Contains(out, "sunarp enrichment round") {
		t.Fatalf("no round summary in logs:\n%s", out)
	}
	for _, s := range []string{"ABC-123", "JUAN", "12345678", "MARIA", "44556677", "AREQUIPA", "s3cr3t"} {
		if strings.Contains(out, s) {
			t.Fatalf("info logs hold %q:\n%s", s, out)
		}
	}
}

func TestWorkerDebugLogsNoOwnerIntegration(t *testing.T) {
	r := newRegistry(t)
	r.add("ABC-123", "JUAN CARLOS PEREZ LOPEZ", "12345678")
	f := newWorkerFixture(t, "ABC-123", "NOPE-1")
	var buf bytes.Buffer
	lw := lockedWriter{mu: &sync.Mutex{}, w: &buf}
	w := NewWorker(Config{Gap: time.Millisecond}, f.store.Pool, newClient(t, r, nil),
		slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if _, err := w.RunOnce(f.ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := w.Enrich(f.ctx, "ABC-123"); err != nil || v.Owner.DNI != "12345678" {
		t.Fatalf("enrich: %v", err)
	}
	if _, err := w.Enrich(f.ctx, "NEW-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enrich of an unregistered plate: %v", err)
	}
	lw.mu.Lock()
	out := buf.String()
	lw.mu.Unlock()
	if !strings.Contains(out, "ABC-123") {
		t.Fatalf("debug logs should name the plate:\n%s", out)
	}
	for _, s := range []string{"JUAN", "12345678", "AREQUIPA"} {
		if strings.Contains(out, s) {
			t.Fatalf("debug logs hold owner data %q:\n%s", s, out)
		}
	}
}

// FuzzDecodeVehicle: registry answers are outside bytes. Decoding never
// panics, and an accepted answer fits the vehicles columns.
func FuzzDecodeVehicle(f *testing.F) {
	f.Add("ABC-123", []byte(`{"placa":"ABC-123","marca":"TOYOTA","anio":2020,"propietario":{"nombre":"X","dni":"1"}}`))
	f.Add("ABC-123", []byte(`{"placa":"abc 123","fecha_inscripcion":"2020-02-30"}`))
	f.Add("A", []byte(`[]`))
	f.Add("A", []byte(`{"placa":"A","anio":1e99}`))
	f.Fuzz(func(t *testing.T, plate string, b []byte) {
		v, err := DecodeVehicle(plate, b)
		if err != nil {
			return
		}
		if v.Plate != plate || !samePlate(plate, plate) || !json.Valid(v.Raw) {
			t.Fatalf("accepted %#v", *v)
		}
		for _, l := range limits[1:] {
			if utf8.RuneCountInString(l.get(v)) > l.max {
				t.Fatalf("%s too long", l.field)
			}
		}
		if v.Year != 0 && (v.Year < 1900 || v.Year > 2200) {
			t.Fatalf("year %d", v.Year)
		}
	})
}
