#!/usr/bin/env python3
"""Print yesterday's usage as CSV."""
import argparse
import csv
import sqlite3
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--since", default="yesterday")
parser.add_argument("--format", choices=["csv", "json"], default="csv")
args = parser.parse_args()
rows = sqlite3.connect("/srv/webapp/var/usage.sqlite3").execute("SELECT day, hits FROM usage")
csv.writer(sys.stdout).writerows(rows)
