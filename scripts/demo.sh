#!/usr/bin/env bash
# `make demo`: the migration story on the example hosts. Step 1 (this part): inventory every
# crontab source of three example host trees exactly as each host's cron daemon reads them.
# Later steps (generate, verify, cutover, run) are appended by the workflow owners.
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
