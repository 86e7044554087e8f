#!/bin/bash
# Dump the webapp database; called from /etc/cron.d/webapp as postgres.
set -euo pipefail
COMPRESS=0
[ "${1:-}" = "--compress" ] && COMPRESS=1
OUT=/srv/backups/webapp-$(date +%Y%m%d).sql
pg_dump webapp > "$OUT"
if [ "$COMPRESS" = 1 ]; then
    gzip -f "$OUT"
fi
aws s3 cp "$OUT.gz" s3://example-backups/webapp/
