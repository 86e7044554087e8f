#!/bin/sh
sqlite3 /app/var/app.db 'VACUUM;'
