#!/bin/sh
# Remove expired PHP sessions (systemd hosts use the phpsessionclean timer instead).
find /var/lib/php/sessions -type f -cmin +24 -delete
