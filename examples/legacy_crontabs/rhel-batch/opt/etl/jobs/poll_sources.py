#!/usr/bin/env python3
"""Poll upstream sources for new files."""
import ftplib
import os
import shutil

import boto3


def main():
    s3 = boto3.client("s3")
    with ftplib.FTP("ftp.partner.example") as ftp:
        ftp.login()
        for name in ftp.nlst():
            s3.upload_file(name, "etl-inbox", name)
    shutil.rmtree(os.path.expanduser("~/tmp"), ignore_errors=True)


if __name__ == "__main__":
    main()
