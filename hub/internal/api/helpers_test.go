package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
	"golang.org/x/crypto/bcrypt"
)

// testPassword is every test user's password.
const testPassword = "correct-horse-battery"

// fixture is a hub API backed by a fresh, migrated PostgreSQL database.
type fixture struct {
	t      *testing.T
	store  *db.Store
	srv    *Server
	ts     *httptest.Server
	tokens *auth.Tokens
	users  map[auth.Role]db.User
	access map[auth.Role]string // a logged-in access token per role
	dir    string               // local evidence directory
}

type fixtureOpt func(*Server)

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	url := testdb.New(t)
	loc, _ := time.LoadLocation("America/Lima")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VIGIA_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	store, err := db.Open(ctx, url, loc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ev, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens([]byte("test-key-0123456789abcdef0123456789abcdef"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, tokens: tokens, users: map[auth.Role]db.User{}, access: map[auth.Role]string{}, dir: dir}
	f.srv = &Server{Store: store, DB: store.Pool, Evidence: ev, Loc: loc, Log: log,
		Auth:        AuthConfig{Tokens: tokens, LoginLimiter: auth.NewLimiter(1000, time.Minute), Passwords: auth.NewPasswords(bcrypt.MinCost)},
		CORSOrigins: []string{"https://panel.example.pe"}}
	for _, o := range opts {
		o(f.srv)
	}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	for _, r := range auth.Roles {
		f.users[r] = f.createUser(string(r)+"1", r)
		f.access[r] = f.login(string(r)+"1", testPassword).AccessToken
	}
	return f
}

// createUser inserts a user directly (bcrypt.MinCost keeps tests fast).
func (f *fixture) createUser(name string, role auth.Role) db.User {
	f.t.Helper()
	h, err := auth.HashPasswordCost(testPassword, bcrypt.MinCost)
	if err != nil {
		f.t.Fatal(err)
	}
	u, err := f.store.CreateUser(context.Background(), db.User{Username: name, Email: name + "@muni.example.pe", PasswordHash: h,
		Role: string(role), IsActive: true}, db.Actor{Username: "system:test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) login(user, pw string) tokenResponse {
	f.t.Helper()
	res := f.do("POST", "/api/auth/login", "", map[string]string{"username": user, "password": pw})
	if res.status != http.StatusOK {
		f.t.Fatalf("login %s: %d %s", user, res.status, res.body)
	}
	var tr tokenResponse
	res.decode(f.t, &tr)
	return tr
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code returns the error code of a refusal body ("" when there is none).
func (r response) code() string {
	var e struct {
		Error apiError `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request; body is marshalled to JSON unless it is a string or []byte.
func (f *fixture) do(method, path, token string, body any, headers ...string) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// seedInfraction stores an infraction through the ingestion path (device and zone created on demand).
func (f *fixture) seedInfraction(camera, plate string, speed float64, at time.Time) string {
	f.t.Helper()
	ctx := context.Background()
	if err := f.store.UpsertZone(ctx, "ZN001", "Av. Javier Prado", 60); err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.UpsertDevice(ctx, db.Device{ID: camera, Name: camera, ZoneID: "ZN001", RTSPURL: "rtsp://u:p@10.0.0.1/x"}); err != nil {
		f.t.Fatal(err)
	}
	id := event.NewID()
	key := at.UTC().Format("2006/01/02") + "/" + camera + "/" + id
	p := &event.Infraction{Type: event.SpeedViolation, CameraID: camera, ZoneID: "ZN001", DetectedAt: at, Plate: plate, PlateReadable: plate != "",
		DetectedSpeed: speed, SpeedLimit: 60, ConfidenceScore: 0.9, OCRConfidence: 0.8,
		Evidence: event.Evidence{
			Snapshot:  &event.EvidenceFile{Key: key + "/snapshot.jpg", SHA256: strings.Repeat("a", 64), SizeBytes: 3},
			VideoClip: &event.EvidenceFile{Key: key + "/clip.mp4", SHA256: strings.Repeat("b", 64), SizeBytes: 3},
		}}
	res, err := f.store.InsertInfraction(ctx, event.Envelope{ID: id, DeviceID: camera}, p)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.MkdirAll(f.dir+"/"+key, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.dir+"/"+key+"/snapshot.jpg", []byte("jpg"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return res.ID
}

func testNow() time.Time { return time.Now() }
