#!/usr/bin/env bash
# `make demo`: the migration story on the example hosts. First, inventory every crontab source
# of three example host trees exactly as each host's cron daemon reads them; then migrate one
# host end to end on the embedded default (generate, verify, cutover, runs, step, rollback).
set -euo pipefail
cd "$(dirname "$0")/.."
OWLMIGRATE=${OWLMIGRATE:-.venv/bin/owlmigrate}
OUT=${DEMO_OUT:-build/demo}
mkdir -p "$OUT"

for host in debian-web rhel-batch alpine-container; do
    echo
    echo "=== owlmigrate scan --root examples/legacy_crontabs/$host"
    "$OWLMIGRATE" scan --root "examples/legacy_crontabs/$host" -o "$OUT/$host.plan.json"
done
echo
echo "Plans written to $OUT/*.plan.json (schema: docs/plan.schema.json)."

# Step 2 onwards: the whole migration of one host, on a copy in a temporary directory (no real
# cron daemon watches it, so the cutover's mid-minute switch window is not needed).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/owlmigrate-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OWLMIGRATE_SWITCH_WINDOW=off
unset OWLCLAW_LEDGER_URL  # the app's own SQLite ledger: $WORK/app/owlclaw-ledger.db
HOST="$WORK/debian-web"
cp -a examples/legacy_crontabs/debian-web "$HOST"
cp -a examples/legacy_crontabs/debian-web "$WORK/original"
step() { echo; echo "=== owlmigrate $*"; }

step scan --root "$HOST" -o "$WORK/plan.json"
"$OWLMIGRATE" scan --root "$HOST" -o "$WORK/plan.json" >/dev/null
echo "plan: $(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(len(p['jobs']), 'jobs in', len(p['sources']), 'sources')" "$WORK/plan.json")"

step generate "$WORK/plan.json" -o "$WORK/app"
"$OWLMIGRATE" generate "$WORK/plan.json" -o "$WORK/app" | grep -v "created skills/"
echo "--- one generated trigger:"
sed -n '/^# var\/spool\/cron\/crontabs\/www-data:30/,/^    await/p' "$WORK/app/owlclaw_app.py"

step verify --app "$WORK/app" --years 2
"$OWLMIGRATE" verify --app "$WORK/app" --years 2 | tail -n 1

step run --app "$WORK/app" "(the worker, in the background: cutover waits for its heartbeat)"
"$OWLMIGRATE" run --app "$WORK/app" --max-runtime 600 --heartbeat-seconds 1 \
    >"$WORK/worker.log" 2>&1 &
WORKER=$!
trap 'kill "$WORKER" 2>/dev/null; wait "$WORKER" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 60); do
    "$OWLMIGRATE" status --app "$WORK/app" --json 2>/dev/null |
        python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("workers") else 1)' && break
    sleep 0.5
done
grep -m1 "owlmigrate: running" "$WORK/worker.log" || true

step cutover --all --app "$WORK/app"
"$OWLMIGRATE" cutover --all --app "$WORK/app" | tail -n 3
echo "--- the legacy lines are commented, every other byte is untouched:"
diff -u "$WORK/original/var/spool/cron/crontabs/www-data" \
        "$HOST/var/spool/cron/crontabs/www-data" | sed -n '1,14p' || true

step verify --app "$WORK/app" --years 2 "(again, after the cutover)"
"$OWLMIGRATE" verify --app "$WORK/app" --years 2 2>/dev/null | tail -n 1

step trigger session_gc / sessionclean --app "$WORK/app"
echo "(the fallback runs the host's real command line; its scripts do not exist on this"
echo " machine, so these runs are recorded in the ledger as failed fallback runs)"
for job in session_gc sessionclean session_gc; do
    "$OWLMIGRATE" trigger "$job" --app "$WORK/app" || true
done

step status session_gc --app "$WORK/app"
"$OWLMIGRATE" status session_gc --app "$WORK/app" --next 2 2>/dev/null

step step session_gc --to 0.1 --app "$WORK/app"
"$OWLMIGRATE" step session_gc --to 0.1 --app "$WORK/app" || echo "(refused, exit $?: the guardrails want evidence and an agent)"

step rollback --all --to-legacy --app "$WORK/app"
"$OWLMIGRATE" rollback --all --to-legacy --app "$WORK/app" | tail -n 2
if diff -r "$WORK/original" "$HOST" >/dev/null; then
    echo "every crontab file is byte-identical to the original again"
else
    echo "MISMATCH after rollback" >&2
    exit 1
fi

step history --app "$WORK/app"
"$OWLMIGRATE" history --app "$WORK/app" | tail -n 6

# Last: a trigger whose job exists on this machine, on the embedded default (SQLite ledger).
APP=examples/apps/inventory_check.py
export OWLCLAW_LEDGER_URL="sqlite:///$WORK/inventory-ledger.db" OWLMIGRATE_EXAMPLE_DATA="$WORK/var"
step run --app "$APP" --max-runtime 3 "(the embedded scheduler starts, waits for 0 * * * *, stops)"
"$OWLMIGRATE" run --app "$APP" --max-runtime 3 2>&1 | tail -n 3
step trigger hourly_inventory_check --app "$APP"
"$OWLMIGRATE" trigger hourly_inventory_check --app "$APP"
"$OWLMIGRATE" trigger hourly_inventory_check --app "$APP" >/dev/null
step status hourly_inventory_check --app "$APP"
"$OWLMIGRATE" status hourly_inventory_check --app "$APP"
