#!/bin/sh
# Warm the page cache after a reboot.
for path in / /pricing /docs; do
    curl -fsS -o /dev/null "http://localhost${path}"
done
