#!/usr/bin/env python3
"""Write sitemap.xml from the published pages."""

import pathlib

import click
import psycopg2


@click.command()
@click.option("--base-url", required=True, help="public URL prefix")
@click.option("--output", default="/srv/webapp/public/sitemap.xml", type=click.Path())
def main(base_url: str, output: str) -> None:
    conn = psycopg2.connect("dbname=webapp")
    with conn.cursor() as cur:
        cur.execute("SELECT slug FROM pages WHERE published")
        urls = [f"{base_url}/{slug}" for (slug,) in cur.fetchall()]
    body = "\n".join(f"<url><loc>{u}</loc></url>" for u in urls)
    pathlib.Path(output).write_text(f"<urlset>{body}</urlset>\n")


if __name__ == "__main__":
    main()
