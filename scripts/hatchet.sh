#!/usr/bin/env bash
# Build, start and stop a local Hatchet engine (hatchet-lite) on loopback, backed by the
# PostgreSQL that scripts/pg-up.sh started. See docs/backends.md and
# ../shared/reference/hatchet.md section 3.4 (recipe A).
#
#   scripts/hatchet.sh build   go install the engine binaries (skipped when cached)
#   scripts/hatchet.sh up      build if needed, migrate, seed, start hatchet-lite, write .hatchet/env
#   scripts/hatchet.sh down    stop the engine started by `up`
#   scripts/hatchet.sh env     print the client environment (KEY=value lines)
#   scripts/hatchet.sh status  exit 0 when the engine answers
#
# Idempotent: `up` on a running engine only re-checks readiness; `build` with cached binaries
# does nothing. Logs go to .hatchet/*.log.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

# The Go proxy reachable here serves hatchet v0.105.0 as its newest complete tag
# (v0.106.x and v0.107+ answer 403 for their go.mod). hatchet-sdk 1.43.1 talks to it; the
# only newer SDK feature (RETRY_AFTER, engine v0.111.0) is one we do not use.
TAG="${HATCHET_TAG:-v0.105.0}"
CACHE="${HATCHET_CACHE_DIR:-$HOME/.cache/owlmigrate}"
BIN="$CACHE/hatchet-bin-$TAG"
STATE="$ROOT/.hatchet"
PG_HOST="${HATCHET_PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
# Uncommon ports so the engine does not collide with other local servers.
API_PORT="${HATCHET_API_PORT:-18080}"
GRPC_PORT="${HATCHET_GRPC_PORT:-17077}"
FRONTEND_PORT="${HATCHET_FRONTEND_PORT:-18081}"
RUNTIME_PORT="${HATCHET_RUNTIME_PORT:-18888}"
HEALTH_PORT="${HATCHET_HEALTH_PORT:-18733}"
READY_TIMEOUT="${HATCHET_READY_TIMEOUT:-180}"
BINARIES=(hatchet-migrate hatchet-admin hatchet-lite)

export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"

log() { echo "hatchet.sh: $*" >&2; }

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

cmd_build() {
  if have_binaries; then
    log "binaries for $TAG already in $BIN"
    return 0
  fi
  command -v go >/dev/null || { log "go toolchain not found (need Go >= 1.26)"; exit 1; }
  mkdir -p "$CACHE"
  # Build into a temporary directory and rename, so an interrupted build never looks cached.
  local tmp="$CACHE/.hatchet-bin-$TAG.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local pkgs=() b
  for b in "${BINARIES[@]}"; do pkgs+=("github.com/hatchet-dev/hatchet/cmd/$b@$TAG"); done
  # `go install pkg@version` looks up the module's deprecation notice through the proxy's
  # version list, which the proxy here refuses (403). A file:// layer in front answers that one
  # request with the tag we build; every other request falls through to the configured proxy.
  local overlay="$CACHE/goproxy-overlay"
  mkdir -p "$overlay/github.com/hatchet-dev/hatchet/@v"
  echo "$TAG" >"$overlay/github.com/hatchet-dev/hatchet/@v/list"
  local upstream
  upstream=$(go env GOPROXY)
  # The deprecation lookup then asks the first proxy that listed the tag for its .info; on a
  # fresh module cache that request fell through to the upstream proxy, whose version list
  # refuses (403), and the build failed. Download the module first and give the overlay the
  # tag's .info and .mod too, so every metadata request for it is answered locally.
  GOPROXY="$upstream" GOFLAGS=-modcacherw go mod download "github.com/hatchet-dev/hatchet@$TAG"
  local dl
  dl="$(go env GOMODCACHE)/cache/download/github.com/hatchet-dev/hatchet/@v"
  cp "$dl/$TAG.info" "$dl/$TAG.mod" "$overlay/github.com/hatchet-dev/hatchet/@v/"
  # main.Version is what the engine reports to SDKs (GetVersion); without it the binaries say
  # v0.1.0-alpha.0 and hatchet-sdk falls back to its deprecated legacy worker mode.
  log "building ${BINARIES[*]} at $TAG (slow on 2 cores; GOMAXPROCS=2, niced)"
  local start=$SECONDS
  # The checksum database mirror here does not know github.com/hatchet-dev/pgoutbox (404), so
  # that one module skips the sumdb lookup; its hash is checked against hatchet's go.sum below.
  GOPROXY="file://$overlay,$upstream" GONOSUMDB=github.com/hatchet-dev/pgoutbox CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$tmp" GOMAXPROCS=2 \
    nice -n 10 go install -ldflags="-X main.Version=$TAG" "${pkgs[@]}"
  verify_unchecked_sums
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
  log "built in $((SECONDS - start)) s into $BIN"
}

# The modules exempted from the sumdb must still match the hashes hatchet pins in its go.sum.
verify_unchecked_sums() {
  local modcache sum got want
  modcache=$(go env GOMODCACHE)
  sum="$modcache/github.com/hatchet-dev/hatchet@$TAG/go.sum"
  want=$(awk '$1 == "github.com/hatchet-dev/pgoutbox" && $2 !~ /go.mod$/ {print $2" "$3}' "$sum")
  [ -n "$want" ] || return 0
  got=$(cat "$modcache/cache/download/github.com/hatchet-dev/pgoutbox/@v/${want%% *}.ziphash")
  if [ "$got" != "${want#* }" ]; then
    log "checksum mismatch for pgoutbox ${want%% *}: got $got, hatchet go.sum pins ${want#* }"
    exit 1
  fi
}

# The engine's environment (recipe A). Everything binds to 127.0.0.1.
engine_env() {
  export DATABASE_URL="postgresql://hatchet:hatchet@$PG_HOST:$PG_PORT/hatchet?sslmode=disable"
  export DATABASE_POSTGRES_HOST="$PG_HOST" DATABASE_POSTGRES_PORT="$PG_PORT"
  export DATABASE_POSTGRES_USERNAME=hatchet DATABASE_POSTGRES_PASSWORD=hatchet
  export DATABASE_POSTGRES_DB_NAME=hatchet DATABASE_POSTGRES_SSL_MODE=disable
  export DATABASE_MAX_CONNS="${HATCHET_DATABASE_MAX_CONNS:-40}"
  export SERVER_MSGQUEUE_KIND=postgres
  export SERVER_URL="http://127.0.0.1:$RUNTIME_PORT"
  export SERVER_PORT="$API_PORT"
  export SERVER_GRPC_PORT="$GRPC_PORT"
  export SERVER_GRPC_BIND_ADDRESS=127.0.0.1
  export SERVER_GRPC_BROADCAST_ADDRESS="127.0.0.1:$GRPC_PORT"
  export SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS="127.0.0.1:$GRPC_PORT"
  export SERVER_GRPC_INSECURE=t
  export SERVER_AUTH_COOKIE_DOMAIN=localhost SERVER_AUTH_COOKIE_INSECURE=t
  export SERVER_AUTH_SET_EMAIL_VERIFIED=t
  export SERVER_SECURITY_CHECK_ENABLED=false
  export SERVER_HEALTHCHECK_PORT="$HEALTH_PORT"
  export SERVER_LOGGER_LEVEL="${HATCHET_LOG_LEVEL:-warn}"
  export SERVER_LOGGER_FORMAT=console
  export LITE_STATIC_ASSET_DIR="$STATE/static"
  export LITE_FRONTEND_PORT="$FRONTEND_PORT"
  export LITE_RUNTIME_PORT="$RUNTIME_PORT"
}

ensure_database() {
  local q
  q=$(su postgres -c "psql -p $PG_PORT -qtAX -c \"SELECT 1 FROM pg_roles WHERE rolname='hatchet'\"")
  [ "$q" = 1 ] || su postgres -c "psql -p $PG_PORT -qtAX -c \"CREATE ROLE hatchet LOGIN PASSWORD 'hatchet'\""
  q=$(su postgres -c "psql -p $PG_PORT -qtAX -c \"SELECT 1 FROM pg_database WHERE datname='hatchet'\"")
  if [ "$q" = 1 ] && [ ! -s "$STATE/config/server.yaml" ]; then
    # A fresh checkout generates fresh keys; a database seeded under another checkout's keys
    # (a previous CI run on the same machine) would not match them, so start it over.
    log "fresh engine config: recreating the hatchet database"
    su postgres -c "psql -p $PG_PORT -qtAX -c 'DROP DATABASE hatchet WITH (FORCE)'"
    q=
  fi
  [ "$q" = 1 ] || su postgres -c "psql -p $PG_PORT -qtAX -c 'CREATE DATABASE hatchet OWNER hatchet'"
  # A migration runs `CREATE EXTENSION btree_gist` itself (a trusted extension, so the owner
  # may); hatchet's role therefore must own the database, which it does.
}

pid_alive() { [ -f "$STATE/lite.pid" ] && kill -0 "$(cat "$STATE/lite.pid")" 2>/dev/null; }

# Ready = REST answers and the gRPC port accepts connections.
engine_ready() {
  curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$API_PORT/api/ready" 2>/dev/null &&
    (exec 3<>"/dev/tcp/127.0.0.1/$GRPC_PORT") 2>/dev/null
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if engine_ready; then return 0; fi
    if ! pid_alive; then
      log "hatchet-lite exited; last log lines:"
      tail -n 30 "$STATE/lite.log" >&2 || true
      return 1
    fi
    sleep 1
  done
  log "hatchet-lite not ready after ${READY_TIMEOUT}s; last log lines:"
  tail -n 30 "$STATE/lite.log" >&2 || true
  return 1
}

write_env() {
  local token=$1 tmp="$STATE/env.tmp"
  cat >"$tmp" <<ENV
HATCHET_CLIENT_TOKEN=$token
HATCHET_CLIENT_TLS_STRATEGY=none
HATCHET_CLIENT_HOST_PORT=127.0.0.1:$GRPC_PORT
HATCHET_CLIENT_SERVER_URL=http://127.0.0.1:$API_PORT
HATCHET_ENGINE_VERSION=$TAG
ENV
  chmod 600 "$tmp"
  mv "$tmp" "$STATE/env"
}

cmd_up() {
  mkdir -p "$STATE/static" "$STATE/config"
  # Two `up`s at once (make test and a benchmark) must not start two engines.
  exec 9>"$STATE/up.lock"
  flock 9
  [ -f "$STATE/static/index.html" ] || : >"$STATE/static/index.html"
  engine_env
  if pid_alive && engine_ready && [ -s "$STATE/env" ]; then
    log "already running (pid $(cat "$STATE/lite.pid"))"
    return 0
  fi
  have_binaries || cmd_build >>"$STATE/build.log" 2>&1 || { log "build failed; see $STATE/build.log"; tail -n 20 "$STATE/build.log" >&2; exit 1; }
  if pid_alive; then
    # Running but not ready yet (another `up` in progress, or a slow start): wait for it.
    wait_ready
  else
    ensure_database
    log "migrating"
    "$BIN/hatchet-migrate" >>"$STATE/migrate.log" 2>&1 || { tail -n 20 "$STATE/migrate.log" >&2; exit 1; }
    log "seeding config"
    "$BIN/hatchet-admin" quickstart --skip certs --generated-config-dir "$STATE/config" --overwrite=false \
      >>"$STATE/quickstart.log" 2>&1 || { tail -n 20 "$STATE/quickstart.log" >&2; exit 1; }
    log "starting hatchet-lite (gRPC 127.0.0.1:$GRPC_PORT, REST 127.0.0.1:$API_PORT)"
    # setsid: own process group, so `down` stops the engine and nothing else.
    setsid "$BIN/hatchet-lite" --config "$STATE/config" >>"$STATE/lite.log" 2>&1 </dev/null 9>&- &
    echo $! >"$STATE/lite.pid"
    wait_ready
  fi
  local token
  token=$("$BIN/hatchet-admin" token create --config "$STATE/config" --name owlmigrate 2>>"$STATE/token.log" | tail -n 1)
  case "$token" in
    ey*) ;;
    *) log "token create did not print a JWT; see $STATE/token.log"; exit 1 ;;
  esac
  write_env "$token"
  log "ready; client environment in $STATE/env"
}

cmd_down() {
  if pid_alive; then
    local pid
    pid=$(cat "$STATE/lite.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  rm -f "$STATE/lite.pid"
}

cmd_env() {
  [ -s "$STATE/env" ] || { log "no $STATE/env; run: scripts/hatchet.sh up"; exit 1; }
  cat "$STATE/env"
}

cmd_status() {
  engine_env
  if pid_alive && engine_ready; then
    echo "running pid=$(cat "$STATE/lite.pid") grpc=127.0.0.1:$GRPC_PORT rest=http://127.0.0.1:$API_PORT tag=$TAG"
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) echo "usage: $0 build|up|down|env|status" >&2; exit 2 ;;
esac
