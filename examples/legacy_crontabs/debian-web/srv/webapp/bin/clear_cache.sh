#!/bin/bash
set -euo pipefail
redis-cli -n 2 FLUSHDB
rm -rf /srv/webapp/var/cache/*
