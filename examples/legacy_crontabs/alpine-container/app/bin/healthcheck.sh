#!/bin/sh
wget -q -O /dev/null http://localhost:8080/healthz || echo "unhealthy"
