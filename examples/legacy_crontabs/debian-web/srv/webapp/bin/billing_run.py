#!/usr/bin/env python3
"""Create invoices for due subscriptions."""
import subprocess
import sys

import psycopg2


def main():
    conn = psycopg2.connect("dbname=billing")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT create_due_invoices()")
    subprocess.run(["/usr/local/bin/notify", "billing done"], check=True)


if __name__ == "__main__":
    sys.exit(main())
