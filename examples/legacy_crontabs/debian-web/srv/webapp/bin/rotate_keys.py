#!/usr/bin/env python3
"""Rotate the API signing keys twice a year."""
import os
import shutil
import sys


def main(argv):
    if "--dry-run" in argv:
        print("would rotate keys in", os.environ.get("BACKUP_DIR", "/srv/backups"))
        return 0
    shutil.copy("/srv/webapp/keys/current.pem", "/srv/webapp/keys/previous.pem")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
