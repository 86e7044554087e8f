#!/usr/bin/env python3
"""Record a liveness tick."""
import pathlib
import time

pathlib.Path("/app/var/tick").write_text(str(time.time()))
