#!/usr/bin/env python3
"""Mail the weekly ETL report."""
import smtplib
import subprocess

import click


@click.command()
@click.option("--email", required=True)
@click.option("--weeks", default=1, show_default=True)
def cli(email, weeks):
    out = subprocess.run(["/opt/etl/bin/run_job.sh", "report"], capture_output=True, text=True)
    with smtplib.SMTP("localhost") as smtp:
        smtp.sendmail("etl@example.com", [email], out.stdout)


if __name__ == "__main__":
    cli()
