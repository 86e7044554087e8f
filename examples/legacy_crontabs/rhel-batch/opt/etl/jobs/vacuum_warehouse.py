#!/usr/bin/env python3
"""VACUUM the warehouse tables."""
import argparse

import psycopg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--analyze", action="store_true")
    parser.add_argument("--table", action="append", default=[])
    args = parser.parse_args()
    with psycopg.connect("dbname=warehouse", autocommit=True) as conn:
        for table in args.table or ["orders", "events"]:
            conn.execute(f"VACUUM {'ANALYZE ' if args.analyze else ''}{table}")


if __name__ == "__main__":
    main()
