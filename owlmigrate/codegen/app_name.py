"""The name of a host's app: one app per host, so apps sharing a ledger never share rows."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# What generate named every app scanned from explicit paths or from the live host before apps
# were named after their host: on a shared ledger such an app must not keep the name.
_OLD_LIVE_NAME = "localhost"


def default_app_name(host: Mapping[str, Any]) -> str:
    """The app name for a plan's ``host``: the host name on the live host (``--root /``), where
    every host's app used to be ``localhost``; a copied host tree keeps its directory's name."""
    explicit = host.get("name") or host.get("hostname")
    if explicit:
        return str(explicit)
    root = host.get("root")
    if root is not None and Path(str(root)) == Path("/"):
        return socket.gethostname() or _OLD_LIVE_NAME
    return Path(str(root or "")).name or _OLD_LIVE_NAME
