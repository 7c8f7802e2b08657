#!/usr/bin/env bash
# The main job: the hub (embedded MQTT broker, local PostgreSQL) and the agent
# feeding it. Run through `make demo` (which runs `make setup` and `make build`).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${DEMO_OUT:-$PWD/demo-out}"
DB="${DEMO_DB:-vigia_demo}"
HTTP="${DEMO_HTTP:-127.0.0.1:8080}"
MQTT="${DEMO_MQTT:-127.0.0.1:1884}"
SHARED="${VIGIA_SHARED:-$PWD/../shared}"
rm -rf "$OUT" && mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "database $DB (fresh)"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

export HUB_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export HUB_HTTP_ADDR="$HTTP" HUB_MQTT_URL="" HUB_MQTT_LISTEN="$MQTT" HUB_EVIDENCE_DIR="$OUT/evidence"
export HUB_DEVICE_RTSP_URL="rtsp://127.0.0.1:8554/cam"

say "registering zone ZN001 and camera CAM001"
bin/hub zone add ZN001 --name "Av. Javier Prado - San Isidro" --speed-limit 60
bin/hub device add CAM001 --name "Javier Prado / Arequipa" --zone ZN001 --lat -12.0917 --lon -77.0282
bin/hub device add CAM002 --name "Vía Expresa km 4 (scene generator)" --zone ZN001

say "starting the hub (log: $OUT/hub.log)"
bin/hub serve > "$OUT/hub.log" 2>&1 &
HUB_PID=$!
trap 'kill "$HUB_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://$HTTP/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$HTTP/ready" >/dev/null || { echo "hub did not become ready; see $OUT/hub.log" >&2; exit 1; }

export AGENT_MQTT_URL="mqtt://$MQTT" AGENT_DEVICE_ID=CAM001 AGENT_DATA_DIR="$OUT/agent"
say "agent: publishing test infractions over MQTT"
bin/agent event send --type SPEED_VIOLATION --plate ABC-123 --speed 78.5 --limit 60 --ocr-confidence 0.93 --confidence 0.91
bin/agent event send --type RED_LIGHT --plate B7K-456 --ocr-confidence 0.88 --confidence 0.87
bin/agent event send --type LANE_INVASION --plate C1D-789 --ocr-confidence 0.90 --confidence 0.84
sleep 1

say "stored infractions (GET /api/infractions/)"
curl -s "http://$HTTP/api/infractions/?limit=3" | python3 -m json.tool 2>/dev/null || curl -s "http://$HTTP/api/infractions/?limit=3"

# ---- The vision pipeline on real footage and on a clip with known speeds ----
RTSP1="${DEMO_RTSP1:-127.0.0.1:8554}"
RTSP2="${DEMO_RTSP2:-127.0.0.1:8555}"
SCENE="$OUT/scene"
export AGENT_MODELS_DIR="${AGENT_MODELS_DIR:-$SHARED/models}"

say "scene generator: 14 s of traffic with known speeds (real car photos, painted calibration marks)"
go run ./internal/scenegen/cmd/scenegen --out "$SCENE" --preset speed --seed "${DEMO_SEED:-1}"

say "technician: calibrate the scene camera from the marks (points.csv) and draw the metric grid"
bin/agent calibrate solve --points "$SCENE/points.csv" --out "$SCENE/cal.json" --image "$SCENE/frame.jpg" \
  --overlay "$SCENE/calibration-overlay.png" --device CAM002 --force

say "camera simulators: real intersection footage on rtsp://$RTSP1/cam, the scene on rtsp://$RTSP2/cam"
bin/agent simulate-camera --video "$SHARED/data/video-intersection-pexels/intersection-320x240.mp4" --listen "$RTSP1" > "$OUT/sim1.log" 2>&1 &
SIM1=$!
bin/agent simulate-camera --video "$SCENE/clip.mp4" --listen "$RTSP2" > "$OUT/sim2.log" 2>&1 &
SIM2=$!
cleanup() { kill "$SIM1" "$SIM2" "$HUB_PID" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
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

say "auditor: verify every evidence package (hashes, Ed25519 signatures, hash chain)"
AGENT_DATA_DIR="$OUT/agent-data" bin/agent evidence verify "$OUT/agent-data/evidence"

say "the infractions go to the hub (evidence files copied to the hub's store; upload over S3 comes with the outbox)"
mkdir -p "$OUT/evidence" && cp -r "$OUT/agent-data/evidence/"20* "$OUT/evidence/"
bin/agent event send --file "$SCENE/tracks.jsonl"
sleep 1
curl -s "http://$HTTP/api/infractions/?device_id=CAM002&limit=2" | python3 -m json.tool
snap=$(curl -s "http://$HTTP/api/infractions/?device_id=CAM002&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["snapshot_url"])')
curl -s -o "$OUT/first-snapshot.jpg" -w "GET $snap -> %{http_code}, %{size_download} bytes (saved as $OUT/first-snapshot.jpg)\n" "http://$HTTP$snap"

cat <<MSG

Where to look:
  hub API:            curl -s 'http://$HTTP/api/infractions/?status=pending&limit=50'
  hub health:         curl -s 'http://$HTTP/health'
  live tracks:        $OUT/cam1-tracks.jsonl  $OUT/cam2-tracks.jsonl   (one JSON object per finished track)
  annotated videos:   $OUT/cam1-annotated.mp4  $OUT/cam2-annotated.mp4  $SCENE/annotated.mp4
  calibration grid:   $SCENE/calibration-overlay.png
  evidence packages:  $OUT/agent-data/evidence/   (verify: bin/agent evidence verify $OUT/agent-data/evidence)
  device public key:  bin/agent evidence pubkey   (with AGENT_DATA_DIR=$OUT/agent-data)
  scene truth:        $SCENE/truth.json
  hub log:            $OUT/hub.log
MSG

if [ -t 0 ] && [ -z "${DEMO_NO_WAIT:-}" ]; then
  say "the hub keeps running at http://$HTTP — press Ctrl-C to stop"
  wait "$HUB_PID"
fi
