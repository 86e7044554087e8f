#!/usr/bin/env python3
"""Push queue depth to the Prometheus push gateway."""
import argparse
import sqlite3
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--push-gateway", required=True)
args = parser.parse_args()
depth = sqlite3.connect("/srv/webapp/var/queue.sqlite3").execute(
    "SELECT count(*) FROM jobs WHERE done = 0").fetchone()[0]
urllib.request.urlopen(args.push_gateway + "/metrics/job/queue", data=f"queue_depth {depth}\n".encode())
