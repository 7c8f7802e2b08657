package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

type step struct {
	role   auth.Role
	path   string // "validate" or "status"
	body   map[string]string
	status int
	code   string // error code, or "" on success
	after  string // infraction status after the step
}

func TestReviewWorkflowIntegration(t *testing.T) {
	f := newFixture(t)
	v := map[string]string{"status": "validated", "notes": "evidencia clara"}
	cases := []struct {
		name  string
		steps []step
	}{
		{"validate, appeal, re-validate, pay", []step{
			{auth.RoleOperator, "validate", v, 200, "", "validated"},
			{auth.RoleSupervisor, "validate", map[string]string{"status": "rejected", "reason": "x"}, 409, "illegal_transition", "validated"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "appealed"}, 400, "reason_required", "validated"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "appealed", "reason": "descargo del propietario"}, 200, "", "appealed"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "paid"}, 409, "illegal_transition", "appealed"},
			{auth.RoleAdmin, "validate", map[string]string{"status": "validated", "reason": "descargo infundado"}, 200, "", "validated"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "paid"}, 200, "", "paid"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "appealed", "reason": "tarde"}, 409, "illegal_transition", "paid"},
			{auth.RoleAdmin, "validate", v, 409, "illegal_transition", "paid"},
		}},
		{"reject needs a reason and is final", []step{
			{auth.RoleOperator, "validate", map[string]string{"status": "rejected"}, 400, "reason_required", "pending"},
			{auth.RoleOperator, "validate", map[string]string{"status": "rejected", "reason": "placa ilegible"}, 200, "", "rejected"},
			{auth.RoleSupervisor, "status", map[string]string{"status": "paid"}, 409, "illegal_transition", "rejected"},
			{auth.RoleSupervisor, "validate", v, 409, "illegal_transition", "rejected"},
		}},
		{"pending cannot be paid or appealed", []step{
			{auth.RoleAdmin, "status", map[string]string{"status": "paid"}, 409, "illegal_transition", "pending"},
			{auth.RoleAdmin, "status", map[string]string{"status": "appealed", "reason": "r"}, 409, "illegal_transition", "pending"},
			{auth.RoleAdmin, "status", map[string]string{"status": "validated"}, 400, "invalid_body", "pending"},
			{auth.RoleAdmin, "validate", map[string]string{"status": "paid"}, 400, "invalid_body", "pending"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.seedInfraction("CAM001", "ABC-123", 80, time.Now().Add(-time.Hour))
			okSteps := 0
			for i, st := range tc.steps {
				res := f.do("PUT", "/api/infractions/"+id+"/"+st.path, f.access[st.role], st.body)
				if res.status != st.status || res.code() != st.code {
					t.Fatalf("step %d (%s %v): %d %s, want %d %q", i, st.role, st.body, res.status, res.body, st.status, st.code)
				}
				if st.status == 409 && !strings.Contains(string(res.body), "→") && !strings.Contains(string(res.body), " a ") {
					t.Errorf("step %d: 409 without the reason: %s", i, res.body)
				}
				if st.code == "" {
					okSteps++
				}
				x, err := f.store.InfractionByID(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if x.Status != st.after {
					t.Fatalf("step %d: status %s, want %s", i, x.Status, st.after)
				}
			}
			// Exactly one audit row per successful step, with actor, before and after.
			n, rows, err := f.store.ListAudit(t.Context(), db.AuditFilter{EntityType: "infraction", EntityID: id, Limit: 100})
			if err != nil || int(n) != okSteps {
				t.Fatalf("audit rows %d (err %v), want %d", n, err, okSteps)
			}
			for _, r := range rows {
				var before, after struct{ Status string }
				if json.Unmarshal(r.Before, &before) != nil || json.Unmarshal(r.After, &after) != nil || before.Status == "" || after.Status == "" {
					t.Errorf("audit row %d lacks before/after: %s / %s", r.ID, r.Before, r.After)
				}
				if r.ActorID == nil || r.ActorRole == nil || r.Actor == "" || r.RequestID == nil {
					t.Errorf("audit row %d lacks the actor: %+v", r.ID, r)
				}
			}
		})
	}
	t.Run("validated response has the spec fields", func(t *testing.T) {
		id := f.seedInfraction("CAM001", "XYZ-999", 75, time.Now().Add(-2*time.Hour))
		res := f.do("PUT", "/api/infractions/"+id+"/validate", f.access[auth.RoleSupervisor], v)
		var r db.ReviewResult
		res.decode(t, &r)
		if r.ID != id || r.Status != "validated" || r.ValidatedBy == nil || *r.ValidatedBy != f.users[auth.RoleSupervisor].ID || r.ValidatedAt == nil {
			t.Fatalf("%s", res.body)
		}
	})
}

func TestTwoPersonRuleIntegration(t *testing.T) {
	f := newFixture(t, func(s *Server) { s.Auth.TwoPersonRule = true })
	sup2 := f.createUser("supervisor2", auth.RoleSupervisor)
	_ = sup2
	sup2Token := f.login("supervisor2", testPassword).AccessToken
	id := f.seedInfraction("CAM001", "ABC-123", 80, time.Now().Add(-time.Hour))
	put := func(token string, body map[string]string) response {
		return f.do("PUT", "/api/infractions/"+id+"/validate", token, body)
	}
	v := map[string]string{"status": "validated"}
	// First decision: a proposal.
	res := put(f.access[auth.RoleOperator], v)
	if res.status != http.StatusAccepted {
		t.Fatalf("proposal: %d %s", res.status, res.body)
	}
	x, _ := f.store.InfractionByID(t.Context(), id)
	if x.Status != "pending" || x.ProposedStatus == nil || *x.ProposedStatus != "validated" || *x.ProposedBy != f.users[auth.RoleOperator].ID {
		t.Fatalf("after proposal: %+v", x)
	}
	// The proposer cannot confirm; another operator may not confirm either.
	if res := put(f.access[auth.RoleOperator], v); res.status != 409 || res.code() != "same_reviewer" {
		t.Fatalf("self confirm: %d %s", res.status, res.body)
	}
	op2 := f.createUser("operator2", auth.RoleOperator)
	_ = op2
	if res := put(f.login("operator2", testPassword).AccessToken, v); res.status != 403 || res.code() != "confirm_forbidden" {
		t.Fatalf("operator confirm: %d %s", res.status, res.body)
	}
	// A supervisor who disagrees replaces the proposal...
	if res := put(f.access[auth.RoleSupervisor], map[string]string{"status": "rejected", "reason": "velocidad dudosa"}); res.status != 202 {
		t.Fatalf("counter-proposal: %d %s", res.status, res.body)
	}
	// ...and a second supervisor confirms it.
	res = put(sup2Token, map[string]string{"status": "rejected"})
	if res.status != 200 {
		t.Fatalf("confirm: %d %s", res.status, res.body)
	}
	x, _ = f.store.InfractionByID(t.Context(), id)
	if x.Status != "rejected" || x.ProposedBy != nil || x.RejectionReason == nil || *x.RejectionReason != "velocidad dudosa" || *x.ValidatedBy != sup2.ID {
		t.Fatalf("after confirm: %+v", x)
	}
	n, _, _ := f.store.ListAudit(t.Context(), db.AuditFilter{EntityType: "infraction", EntityID: id, Action: "infraction.propose", Limit: 10})
	m, _, _ := f.store.ListAudit(t.Context(), db.AuditFilter{EntityType: "infraction", EntityID: id, Action: "infraction.reject", Limit: 10})
	if n != 2 || m != 1 {
		t.Fatalf("audit: %d proposals, %d rejections", n, m)
	}
}

func TestInfractionListAndDetailIntegration(t *testing.T) {
	f := newFixture(t)
	base := time.Now().Add(-3 * time.Hour)
	ids := []string{
		f.seedInfraction("CAM001", "AAA-111", 70, base),
		f.seedInfraction("CAM001", "BBB-222", 95, base.Add(time.Minute)),
		f.seedInfraction("CAM002", "CCC-333", 82, base.Add(2*time.Minute)),
	}
	tok := f.access[auth.RoleAuditor]
	list := func(q string) paged {
		res := f.do("GET", "/api/infractions/"+q, tok, nil)
		if res.status != 200 {
			t.Fatalf("%s: %d %s", q, res.status, res.body)
		}
		var p paged
		res.decode(t, &p)
		return p
	}
	plates := func(p paged) string {
		var out []string
		for _, r := range p.Results.([]any) {
			out = append(out, r.(map[string]any)["plate"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ q, want string }{
		{"", "CCC-333,BBB-222,AAA-111"},
		{"?ordering=detected_at", "AAA-111,BBB-222,CCC-333"},
		{"?ordering=-detected_speed", "BBB-222,CCC-333,AAA-111"},
		{"?ordering=detected_speed&device_id=CAM001", "AAA-111,BBB-222"},
		{"?plate=bbb-222", "BBB-222"},
		{"?status=validated", ""},
	} {
		if got := plates(list(tc.q)); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.q, got, tc.want)
		}
	}
	p := list("?limit=2")
	if p.Count != 3 || p.Next == nil || !strings.Contains(*p.Next, "offset=2") || p.Previous != nil {
		t.Fatalf("page 1: count %d next %v prev %v", p.Count, p.Next, p.Previous)
	}
	// Evidence links work without an Authorization header; tampering breaks them.
	row := list("?plate=AAA-111").Results.([]any)[0].(map[string]any)
	link := row["snapshot_url"].(string)
	if !strings.HasPrefix(link, "/api/evidence/") || !strings.Contains(link, "sig=") {
		t.Fatalf("snapshot link %q", link)
	}
	if res := f.do("GET", link, "", nil); res.status != 200 || string(res.body) != "jpg" || res.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("signed link: %d %s", res.status, res.body)
	}
	if res := f.do("GET", strings.Replace(link, "snapshot.jpg", "clip.mp4", 1), "", nil); res.status != 403 {
		t.Fatalf("signature reused for another key: %d", res.status)
	}
	// Detail: evidence manifest row and verification.
	if _, err := f.store.Pool.Exec(t.Context(), `INSERT INTO evidence_manifests(infraction_id, manifest_key, verification, verification_detail)
		VALUES ($1, 'k/manifest.json', 'failed', 'clip hash mismatch')`, ids[0]); err != nil {
		t.Fatal(err)
	}
	res := f.do("GET", "/api/infractions/"+ids[0], tok, nil)
	var d db.InfractionDetail
	res.decode(t, &d)
	if d.Manifest == nil || d.Manifest.Verification != "failed" || *d.Manifest.VerificationDetail != "clip hash mismatch" || d.EvidenceVerification != "pending" {
		t.Fatalf("detail: %s", res.body)
	}
	if res := f.do("GET", "/api/infractions/"+ids[1], tok, nil); !strings.Contains(string(res.body), `"evidence_manifest":null`) {
		t.Fatalf("detail without manifest: %s", res.body)
	}
}

func TestZonesGeoJSONIntegration(t *testing.T) {
	f := newFixture(t)
	tok := f.access[auth.RoleSupervisor]
	poly := `{"type":"Polygon","coordinates":[[[-77.03,-12.09],[-77.02,-12.09],[-77.02,-12.08],[-77.03,-12.08],[-77.03,-12.09]]]}`
	res := f.do("POST", "/api/zones/", tok, `{"id":"ZN010","name":"Miraflores","speed_limit":50,"geometry":`+poly+`}`)
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var z db.Zone
	res.decode(t, &z)
	var g struct {
		Type        string
		Coordinates [][][]float64
	}
	if err := json.Unmarshal(z.Geometry, &g); err != nil || g.Type != "Polygon" || len(g.Coordinates[0]) != 5 || g.Coordinates[0][1][0] != -77.02 {
		t.Fatalf("geometry out: %s", z.Geometry)
	}
	// PostGIS agrees it is a real polygon: ~1.1 km x 1.1 km.
	var area float64
	if err := f.store.Pool.QueryRow(t.Context(), `SELECT ST_Area(geometry) FROM zones WHERE id = 'ZN010'`).Scan(&area); err != nil || area < 1.0e6 || area > 1.4e6 {
		t.Fatalf("area %f m² (%v)", area, err)
	}
	for _, bad := range []string{
		`{"type":"Point","coordinates":[-77,-12]}`,
		`{"type":"Polygon","coordinates":[[[-77,-12],[-76,-12],[-76,-11]]]}`,
		`{"type":"Polygon","coordinates":[[[-77,-12],[-76,-12],[-76,-11],[-77,-11.5]]]}`,
		`{"type":"Polygon","coordinates":[[[-777,-12],[-76,-12],[-76,-11],[-777,-12]]]}`,
		`"POLYGON((0 0,1 0,1 1,0 0))"`,
	} {
		res := f.do("PATCH", "/api/zones/ZN010", tok, `{"geometry":`+bad+`}`)
		if res.status != 400 || res.code() != "invalid_body" {
			t.Errorf("%s: %d %s", bad, res.status, res.body)
		}
	}
	if res := f.do("PATCH", "/api/zones/ZN010", tok, map[string]any{"speed_limit": 40}); res.status != 200 || !strings.Contains(string(res.body), `"speed_limit":40`) {
		t.Fatalf("patch: %d %s", res.status, res.body)
	}
	if res := f.do("POST", "/api/zones/", tok, `{"id":"ZN010","name":"dup","speed_limit":50}`); res.status != 409 || res.code() != "conflict" {
		t.Fatalf("duplicate: %d %s", res.status, res.body)
	}
}

// mqttPublisher publishes through a real MQTT connection (Mosquitto).
type mqttPublisher struct{ c *paho.Client }

func (p mqttPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	_, err := p.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	return err
}

func dialMQTT(t *testing.T, onMsg func(*paho.Publish)) *paho.Client {
	t.Helper()
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) { onMsg(pr.Packet); return true, nil }}
	}
	c := paho.NewClient(cfg)
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "t6-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func TestDeviceConfigPushedToAgentIntegration(t *testing.T) {
	got := make(chan *paho.Publish, 4)
	sub := dialMQTT(t, func(p *paho.Publish) { got <- p })
	dev := "CAMT6" + strings.ToUpper(event.NewID()[30:])
	ctx := testenv.Context(t, 20*time.Second)
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: event.Topic(dev, event.KindCommand), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub := dialMQTT(t, nil)
	f := newFixture(t, func(s *Server) { s.Publisher = mqttPublisher{pub} })
	tok := f.access[auth.RoleAdmin]
	res := f.do("POST", "/api/devices/", tok, map[string]any{"id": dev, "name": "Javier Prado", "rtsp_url": "rtsp://admin:secret@10.0.0.5/h264",
		"location": map[string]float64{"lat": -12.09, "lon": -77.02}})
	if res.status != 201 || strings.Contains(string(res.body), "secret") || strings.Contains(string(res.body), "rtsp") {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	res = f.do("PATCH", "/api/devices/"+dev, tok, `{"config":{"speed_limit":50,"detection_threshold":0.4}}`)
	var dr deviceResponse
	res.decode(t, &dr)
	if res.status != 200 || dr.ConfigCommand == nil || !dr.ConfigCommand.Pushed || dr.ConfigVersion != 1 {
		t.Fatalf("patch: %d %s", res.status, res.body)
	}
	select {
	case p := <-got:
		env, pl, err := event.Parse(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		cmd := pl.(*event.Command)
		if env.ID != dr.ConfigCommand.CommandID || cmd.Action != event.ActionConfigUpdate || cmd.CameraID != dev || !strings.Contains(string(cmd.Config), `"speed_limit":50`) {
			t.Fatalf("command %+v %+v", env, cmd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no config.update command on the agent's topic")
	}
	// The same config again is not a change: nothing pushed, version unchanged.
	res = f.do("PATCH", "/api/devices/"+dev, tok, `{"config":{"detection_threshold":0.4,"speed_limit":50}}`)
	dr = deviceResponse{}
	res.decode(t, &dr)
	if dr.ConfigCommand != nil || dr.ConfigVersion != 1 {
		t.Fatalf("unchanged config: %s", res.body)
	}
	n, rows, _ := f.store.ListAudit(t.Context(), db.AuditFilter{EntityType: "device", EntityID: dev, Action: "device.config_update", Limit: 5})
	if n != 1 || !strings.Contains(string(rows[0].After), "speed_limit") || strings.Contains(string(rows[0].After), "secret") {
		t.Fatalf("config audit: %d %v", n, rows)
	}
}
