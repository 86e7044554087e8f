#!/usr/bin/env python3
"""Drain the web application's job queue once (run every minute by cron under flock)."""

import argparse
import logging
import sqlite3
import sys

import requests

LOG = logging.getLogger("queue_worker")
QUEUE_DB = "/srv/webapp/var/queue.sqlite3"


def drain(once: bool, limit: int) -> int:
    conn = sqlite3.connect(QUEUE_DB)
    rows = conn.execute("SELECT id, url FROM jobs WHERE done = 0 LIMIT ?", (limit,)).fetchall()
    for job_id, url in rows:
        requests.post(url, timeout=10)
        conn.execute("UPDATE jobs SET done = 1 WHERE id = ?", (job_id,))
    conn.commit()
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="drain one batch and exit")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    done = drain(args.once, args.limit)
    LOG.info("drained %d jobs", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
