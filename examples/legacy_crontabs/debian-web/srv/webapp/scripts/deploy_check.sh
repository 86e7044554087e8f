#!/bin/sh
# Compare the deployed revision with the release branch and warn when they differ.
cd /srv/webapp
deployed=$(cat REVISION)
latest=$(git ls-remote origin refs/heads/release | cut -f1)
[ "$deployed" = "$latest" ] || echo "webapp is behind release: $deployed != $latest"
