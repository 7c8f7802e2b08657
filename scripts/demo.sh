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
mkdir -p "$OUT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "database $DB (fresh)"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

export HUB_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export HUB_HTTP_ADDR="$HTTP" HUB_MQTT_URL="" HUB_MQTT_LISTEN="$MQTT" HUB_EVIDENCE_DIR="$OUT/evidence"
export HUB_DEVICE_RTSP_URL="rtsp://127.0.0.1:8554/cam"

say "registering zone ZN001 and camera CAM001"
bin/hub zone add ZN001 --name "Av. Javier Prado - San Isidro" --speed-limit 60
bin/hub device add CAM001 --name "Javier Prado / Arequipa" --zone ZN001 --lat -12.0917 --lon -77.0282

say "starting the hub (log: $OUT/hub.log)"
bin/hub serve > "$OUT/hub.log" 2>&1 &
HUB_PID=$!
cleanup() { kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "http://$HTTP/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$HTTP/ready" >/dev/null || { echo "hub did not become ready; see $OUT/hub.log" >&2; exit 1; }

export AGENT_MQTT_URL="mqtt://$MQTT" AGENT_DEVICE_ID=CAM001 AGENT_DATA_DIR="$OUT/agent"
say "agent: publishing test infractions over MQTT"
bin/agent event send --type SPEED_VIOLATION --plate ABC-123 --speed 78.5 --limit 60 --ocr-confidence 0.93 --confidence 0.91
bin/agent event send --type RED_LIGHT --plate B7K-456 --ocr-confidence 0.88 --confidence 0.87
bin/agent event send --type LANE_INVASION --plate C1D-789 --ocr-confidence 0.90 --confidence 0.84
sleep 1

say "stored infractions (GET /api/infractions/)"
curl -s "http://$HTTP/api/infractions/?limit=10" | python3 -m json.tool 2>/dev/null || curl -s "http://$HTTP/api/infractions/?limit=10"

cat <<MSG

Where to look:
  curl -s 'http://$HTTP/api/infractions/?status=pending&limit=50'
  curl -s 'http://$HTTP/health'
  psql -h 127.0.0.1 -U postgres -d $DB -c 'SELECT infraction_code, type, plate, detected_speed FROM infractions'
  hub log: $OUT/hub.log
MSG

if [ -t 0 ] && [ -z "${DEMO_NO_WAIT:-}" ]; then
  say "the hub keeps running at http://$HTTP — press Ctrl-C to stop"
  wait "$HUB_PID"
fi
