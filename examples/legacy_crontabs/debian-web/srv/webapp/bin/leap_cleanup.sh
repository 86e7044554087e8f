#!/bin/sh
rm -rf /srv/webapp/var/leap-*
