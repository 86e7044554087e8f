#!/usr/bin/env python3
"""Send the weekly digest e-mail (meant for Sundays)."""
import argparse
import json
import smtplib
import urllib.request

API = "http://api.internal/digest"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--send", action="store_true")
    args = parser.parse_args()
    digest = json.load(urllib.request.urlopen(API))
    if args.send:
        with smtplib.SMTP("mail.internal") as smtp:
            smtp.sendmail("digest@example.com", digest["to"], digest["body"])


if __name__ == "__main__":
    main()
