#!/usr/bin/env bash
# The main job: the hub (embedded MQTT broker, local PostgreSQL, MinIO for
# evidence) and the agent feeding it from real footage and rendered traffic.
# Run through `make demo` (which runs `make setup` and `make build`).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${DEMO_OUT:-$PWD/demo-out}"
DB="${DEMO_DB:-vigia_demo}"
HTTP="${DEMO_HTTP:-127.0.0.1:8080}"
MQTT="${DEMO_MQTT:-127.0.0.1:1884}"
S3="${DEMO_S3:-127.0.0.1:9100}"
RTSP1="${DEMO_RTSP1:-127.0.0.1:8554}"
RTSP2="${DEMO_RTSP2:-127.0.0.1:8555}"
AH="${DEMO_AGENT_HTTP:-127.0.0.1:9090}"
SHARED="${VIGIA_SHARED:-$PWD/../shared}"
H="http://$HTTP"
rm -rf "$OUT" && mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
json() { python3 -m json.tool 2>/dev/null || cat; }

say "database $DB (fresh)"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

say "object store: a MinIO server on $S3 for the evidence files (data in $OUT/minio)"
MINIO="${MINIO_BINARY:-$HOME/.cache/vigia/bin/minio}"
S3_KEY=vigiademo
S3_SECRET="demo-secret-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
MINIO_ROOT_USER=$S3_KEY MINIO_ROOT_PASSWORD=$S3_SECRET MINIO_BROWSER=off MINIO_UPDATE=off \
  "$MINIO" server --quiet --address "$S3" --console-address "${DEMO_S3_CONSOLE:-127.0.0.1:9101}" "$OUT/minio" > "$OUT/minio.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do curl -fs "http://$S3/minio/health/cluster" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$S3/minio/health/cluster" >/dev/null || { echo "MinIO did not start; see $OUT/minio.log" >&2; exit 1; }

export HUB_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export HUB_HTTP_ADDR="$HTTP" HUB_MQTT_URL="" HUB_MQTT_LISTEN="$MQTT"
export HUB_S3_ENDPOINT="$S3" HUB_S3_BUCKET=evidence HUB_S3_ACCESS_KEY="$S3_KEY" HUB_S3_SECRET_KEY="$S3_SECRET"
export HUB_JWT_KEY="${HUB_JWT_KEY:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
export HUB_DEVICE_RTSP_URL="rtsp://$RTSP1/cam"
export AGENT_MQTT_URL="mqtt://$MQTT"
export AGENT_S3_ENDPOINT="$S3" AGENT_S3_BUCKET=evidence AGENT_S3_ACCESS_KEY="$S3_KEY" AGENT_S3_SECRET_KEY="$S3_SECRET"
export AGENT_MODELS_DIR="${AGENT_MODELS_DIR:-$SHARED/models}"

say "administrator: zone ZN001, cameras, edge boxes and their evidence-signing keys; the first API user"
bin/hub migrate > /dev/null
bin/hub zone add ZN001 --name "Av. Javier Prado - San Isidro" --speed-limit 60
bin/hub device add CAM001 --name "Javier Prado / Arequipa" --zone ZN001 --lat -12.0917 --lon -77.0282
HUB_DEVICE_RTSP_URL="rtsp://$RTSP2/cam" bin/hub device add CAM002 --name "Vía Expresa km 4 (scene generator)" --zone ZN001
bin/hub device add EDGE-DEMO-01 --name "Edge box, Vía Expresa km 4 (agent run)" --zone ZN001
bin/hub device add EDGE-DEMO-02 --name "Field laptop (replays)" --zone ZN001
# Each agent's Ed25519 key is made before its first infraction and registered,
# so the hub verifies every evidence package it receives.
for dev in EDGE-DEMO-01:agent-run EDGE-DEMO-02:agent-data; do
  AGENT_DATA_DIR="$OUT/${dev#*:}" bin/agent evidence pubkey 2>/dev/null > "$OUT/${dev%%:*}.pub.pem"
  bin/hub device key add "${dev%%:*}" --file "$OUT/${dev%%:*}.pub.pem"
done
DEMO_PASSWORD="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
(umask 077; printf '%s\n' "$DEMO_PASSWORD" > "$OUT/supervisor.password")   # kept out of the terminal and logs
printf '%s\n' "$DEMO_PASSWORD" | bin/hub user create supervisor --role supervisor --email supervisor@muni.example.pe --full-name "Supervisora de turno"

say "starting the hub (log: $OUT/hub.log)"
bin/hub serve > "$OUT/hub.log" 2>&1 &
HUB_PID=$!
PIDS+=($HUB_PID)
for _ in $(seq 1 100); do curl -fs "$H/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$H/ready" >/dev/null || { echo "hub did not become ready; see $OUT/hub.log" >&2; exit 1; }
TOKEN=$(curl -s "$H/api/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"supervisor\",\"password\":\"$DEMO_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
AUTH="Authorization: Bearer $TOKEN"
echo "logged in as supervisor (POST /api/auth/login)"

say "technician: a link test — three test infractions over MQTT from CAM001"
export AGENT_DEVICE_ID=CAM001 AGENT_DATA_DIR="$OUT/agent"
bin/agent event send --type SPEED_VIOLATION --plate ABC-123 --speed 78.5 --limit 60 --ocr-confidence 0.93 --confidence 0.91
bin/agent event send --type RED_LIGHT --plate B7K-456 --ocr-confidence 0.88 --confidence 0.87
bin/agent event send --type LANE_INVASION --plate C1D-789 --ocr-confidence 0.90 --confidence 0.84
sleep 1
curl -s "$H/api/infractions/?limit=3" -H "$AUTH" | python3 -c 'import json,sys
d=json.load(sys.stdin); print("GET /api/infractions/: count", d["count"])
for r in d["results"]: print("  ", r["infraction_code"], r["type"], r.get("plate"), r["status"])'

# ---- The vision pipeline on real footage and on a clip with known speeds ----
SCENE="$OUT/scene"
export AGENT_DEVICE_ID=EDGE-DEMO-02 AGENT_DATA_DIR="$OUT/agent-data"

say "scene generator: 14 s of traffic with known speeds (real car photos, painted calibration marks)"
go run ./internal/scenegen/cmd/scenegen --out "$SCENE" --preset speed --seed "${DEMO_SEED:-1}"

say "technician: calibrate the scene camera from the marks (points.csv) and draw the metric grid"
bin/agent calibrate solve --points "$SCENE/points.csv" --out "$SCENE/cal.json" --image "$SCENE/frame.jpg" \
  --overlay "$SCENE/calibration-overlay.png" --device CAM002 --force

say "camera simulators: real intersection footage on rtsp://$RTSP1/cam, the scene on rtsp://$RTSP2/cam"
bin/agent simulate-camera --video "$SHARED/data/video-intersection-pexels/intersection-320x240.mp4" --listen "$RTSP1" > "$OUT/sim1.log" 2>&1 &
PIDS+=($!)
bin/agent simulate-camera --video "$SCENE/clip.mp4" --listen "$RTSP2" > "$OUT/sim2.log" 2>&1 &
PIDS+=($!)
sleep 3

say "agent on both live streams for ${DEMO_LIVE:-20s} (status every second)"
bin/agent watch --rtsp "rtsp://$RTSP1/cam" --duration "${DEMO_LIVE:-20s}" --events "$OUT/cam1-tracks.jsonl" \
  --annotate "$OUT/cam1-annotated.mp4" --threads 1 --log-level warn 2>&1 | sed 's/^/[CAM001] /' &
W1=$!
bin/agent watch --rtsp "rtsp://$RTSP2/cam" --calibration "$SCENE/cal.json" --duration "${DEMO_LIVE:-20s}" \
  --events "$OUT/cam2-tracks.jsonl" --annotate "$OUT/cam2-annotated.mp4" --threads 1 --log-level warn 2>&1 | sed 's/^/[CAM002] /'
wait "$W1" || true

say "replay the scene clip at full speed: speeds, plates, and speeders cited against 60 km/h (+5 tolerance) with evidence"
bin/agent replay --video "$SCENE/clip.mp4" --calibration "$SCENE/cal.json" --plates brazil --events "$SCENE/tracks.jsonl" \
  --annotate "$SCENE/annotated.mp4" --speed-limit 60 --tolerance 5 --camera CAM002 --evidence "$OUT/agent-data" --log-level warn
go run ./internal/speedcheck/cmd/speedcheck --truth "$SCENE/truth.json" --events "$SCENE/tracks.jsonl"

for preset in redlight lane; do
  say "scene '$preset': a $( [ $preset = redlight ] && echo 'red-light runner (signal schedule from the controller)' || echo 'car crossing a solid lane line') among law-abiding cars"
  go run ./internal/scenegen/cmd/scenegen --out "$OUT/$preset" --preset "$preset" --seed "${DEMO_SEED:-1}" | grep -E 'car|expected' || true
  bin/agent calibrate solve --points "$OUT/$preset/points.csv" --geometry "$OUT/$preset/geometry.json" --out "$OUT/$preset/cal.json" \
    --image "$OUT/$preset/frame.jpg" --overlay "$OUT/$preset/calibration-overlay.png" --device CAM002 --force > /dev/null
  sig=(); [ -f "$OUT/$preset/signal.txt" ] && sig=(--signal "$OUT/$preset/signal.txt")
  bin/agent replay --video "$OUT/$preset/clip.mp4" --calibration "$OUT/$preset/cal.json" "${sig[@]}" --plates brazil \
    --camera CAM002 --evidence "$OUT/agent-data" --events "$OUT/$preset/tracks.jsonl" --annotate "$OUT/$preset/annotated.mp4" --log-level warn
  grep '"type":"infraction"' "$OUT/$preset/tracks.jsonl" | python3 -c 'import json,sys
for l in sys.stdin:
    d=json.loads(l)["data"]; print("  cited:", d["type"], "track", d["track_id"], "plate", d.get("plate","(unreadable)"), "details", {k: d["details"][k] for k in d["details"] if k in ("rule","zone","phase","red_for_s","line")})'
done
cat "$OUT/redlight/tracks.jsonl" "$OUT/lane/tracks.jsonl" >> "$SCENE/tracks.jsonl"

say "auditor: verify every evidence package on the box (hashes, Ed25519 signatures, hash chain)"
bin/agent evidence verify "$OUT/agent-data/evidence"

say "the replayed infractions go to the hub through the outbox: evidence files to MinIO (hash-checked), then the events over MQTT"
bin/agent outbox push "$SCENE/tracks.jsonl" --log-level warn

say "agent run: the service on the live scene camera (rtsp://$RTSP2/cam): it cites speeders on its own"
cat > "$OUT/agent.yaml" <<YAML
device_id: EDGE-DEMO-01
mqtt: {url: "mqtt://$MQTT"}
data_dir: $OUT/agent-run
models_dir: $AGENT_MODELS_DIR
http_addr: $AH
metrics_interval: 5s
log_level: warn
s3: {endpoint: "$S3", bucket: evidence, access_key: "$S3_KEY"}   # secret key from AGENT_S3_SECRET_KEY
cameras:
  - id: CAM002
    url_env: DEMO_CAMERA_URL
    calibration: $SCENE/cal.json
    plate_format: brazil
    speed_limit_kmh: 60
    tolerance_kmh: 5
YAML
# (the environment would override agent.yaml's device and data directory)
env -u AGENT_DEVICE_ID -u AGENT_DATA_DIR DEMO_CAMERA_URL="rtsp://$RTSP2/cam" bin/agent run --config "$OUT/agent.yaml" > "$OUT/agent-run.log" 2>&1 &
RUN_PID=$!
PIDS+=($RUN_PID)
sleep "${DEMO_RUN:-25}"
echo "agent camera status: $(curl -s "http://$AH/api/inference/cameras/CAM002/status")"
curl -s "http://$AH/metrics" | grep -E '^(frames_processed_total|infractions_detected_total|active_streams)' | sed 's/^/agent metrics:       /'

say "supervisor: stop and restart the camera from the hub (command over MQTT, the agent's acknowledgement)"
curl -s -X POST "$H/api/inference/stream/stop" -H "$AUTH" -H 'Content-Type: application/json' -d '{"device_id":"CAM002"}' | json
sleep 2
echo "agent camera status after stop: $(curl -s "http://$AH/api/inference/cameras/CAM002/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
curl -s -X POST "$H/api/inference/stream/start" -H "$AUTH" -H 'Content-Type: application/json' -d '{"device_id":"CAM002"}' | json
sleep 3
curl -s "$H/api/inference/cameras/CAM002/status" -H "$AUTH" | json
kill -TERM "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
sleep 2

say "hub: the infractions of the scene camera, with their evidence verified against the devices' keys"
curl -s "$H/api/infractions/?camera_id=CAM002&limit=100" -H "$AUTH" > "$OUT/infractions.json"
sleep "${DEMO_VERIFY_WAIT:-6}"   # the hub's verifier checks each package in the background
H="$H" TOKEN="$TOKEN" python3 - "$OUT/infractions.json" <<'PY'
import json, os, sys, urllib.request
d = json.load(open(sys.argv[1]))
print("GET /api/infractions/?camera_id=CAM002: count", d["count"])
for r in d["results"][:14]:
    req = urllib.request.Request(os.environ["H"] + "/api/infractions/" + r["id"], headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
    det = json.load(urllib.request.urlopen(req))
    print("  %-18s %-15s plate %-9s speed %-7s from %-13s evidence %s" % (r["infraction_code"], r["type"], r.get("plate") or "-",
          r.get("detected_speed") or "-", det.get("source_device_id") or "", det.get("evidence_verification", "?")))
PY
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["id"])' "$OUT/infractions.json")
SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["snapshot_url"])' "$OUT/infractions.json")
case "$SNAP" in http*) ;; *) SNAP="$H$SNAP" ;; esac
curl -s -o "$OUT/first-snapshot.jpg" -w "snapshot link -> %{http_code}, %{size_download} bytes (saved as $OUT/first-snapshot.jpg)\n" "$SNAP"

say "supervisor: validate infraction $ID (the change goes to the audit log)"
curl -s -X PUT "$H/api/infractions/$ID/validate" -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"status":"validated","notes":"Evidencia clara: velocidad y placa legibles"}' | python3 -c 'import json,sys
d=json.load(sys.stdin); print("  status:", d.get("status"), "| validated_by:", d.get("validated_by"), "| at:", d.get("validated_at"))'

DAY=$(TZ=America/Lima date +%F)
say "daily report for $DAY, zone ZN001 (JSON, PDF, Excel)"
curl -s "$H/api/reports/daily?date=$DAY&zone_id=ZN001" -H "$AUTH" | python3 -c 'import json,sys
d=json.load(sys.stdin); d["by_hour"]={h["hour"]: h["count"] for h in d["by_hour"] if h["count"]}; print(json.dumps(d, indent=1, ensure_ascii=False))'
curl -s -o "$OUT/report-$DAY.pdf" "$H/api/reports/daily.pdf?date=$DAY&zone_id=ZN001" -H "$AUTH"
curl -s -o "$OUT/report-$DAY.xlsx" "$H/api/reports/daily.xlsx?date=$DAY&zone_id=ZN001" -H "$AUTH"
ls -l "$OUT/report-$DAY.pdf" "$OUT/report-$DAY.xlsx"

cat <<MSG

Where to look:
  hub API (token):    TOKEN=\$(curl -s $H/api/auth/login -H 'Content-Type: application/json' \\
                        -d "{\\"username\\":\\"supervisor\\",\\"password\\":\\"\$(cat $OUT/supervisor.password)\\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
                      curl -s '$H/api/infractions/?status=pending&limit=50' -H "Authorization: Bearer \$TOKEN"
  API reference:      docs/hub-api.md, $H/api/openapi.json
  hub health:         curl -s '$H/health'
  live tracks:        $OUT/cam1-tracks.jsonl  $OUT/cam2-tracks.jsonl   (one JSON object per finished track)
  annotated videos:   $OUT/cam1-annotated.mp4  $OUT/cam2-annotated.mp4  $SCENE/annotated.mp4
  calibration grid:   $SCENE/calibration-overlay.png
  evidence packages:  $OUT/agent-data/evidence/  $OUT/agent-run/evidence/   (verify: bin/agent evidence verify DIR)
  reports:            $OUT/report-$DAY.pdf  $OUT/report-$DAY.xlsx
  scene truth:        $SCENE/truth.json
  logs:               $OUT/hub.log  $OUT/agent-run.log
  supervisor password: $OUT/supervisor.password (mode 0600)
MSG

if [ -t 0 ] && [ -z "${DEMO_NO_WAIT:-}" ]; then
  say "the hub keeps running at $H — press Ctrl-C to stop"
  wait "$HUB_PID"
fi
