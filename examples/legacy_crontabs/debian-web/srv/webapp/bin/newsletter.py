#!/usr/bin/env python3
"""Send the newsletter (odd-dated Sundays)."""
import argparse
import smtplib

parser = argparse.ArgumentParser()
parser.add_argument("--dry-run", action="store_true")
args = parser.parse_args()
if not args.dry_run:
    with smtplib.SMTP("localhost") as smtp:
        smtp.sendmail("news@example.com", ["list@example.com"], "Subject: news\n\nhello\n")
