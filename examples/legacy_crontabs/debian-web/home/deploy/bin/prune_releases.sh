#!/bin/sh
# Keep the five newest releases of the web application.
cd /srv/webapp/releases
ls -1t | tail -n +6 | xargs -r rm -rf
