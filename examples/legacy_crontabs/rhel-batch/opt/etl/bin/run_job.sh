#!/bin/bash
# Run one ETL job by name with the pipeline's virtualenv.
set -euo pipefail
job="$1"
cd /opt/etl
exec /opt/etl/venv/bin/python -m etl.run "$job"
