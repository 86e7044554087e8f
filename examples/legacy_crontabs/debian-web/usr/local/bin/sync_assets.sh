#!/bin/sh
rsync -a --delete /srv/webapp/public/assets/ cdn-origin:/var/www/assets/
