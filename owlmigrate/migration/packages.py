"""Which crontabs belong to an installed package, so a cutover that edits one can say so.

``/etc/crontab`` (Debian's ``cron-daemon-common``, Fedora's ``crontabs``) and many
``/etc/cron.d`` files are package *conffiles*. Cutover comments their lines, which makes them
locally modified: a later package upgrade that ships a new version of the file asks what to do
(dpkg) or writes the new one beside it (``.rpmnew``) or over it (an rpm file not marked
``%config(noreplace)``), and taking the maintainer's version brings the original line back
while its trigger is live (docs/workflow.md, "Package files").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def dpkg_conffile_owner(path: str, root: Path) -> str | None:
    """The dpkg package that lists ``path`` (absolute on the host) among its conffiles, read
    from ``ROOT/var/lib/dpkg/info/*.conffiles`` (so copied host trees answer too)."""
    info = root / "var/lib/dpkg/info"
    try:
        names = sorted(n for n in os.listdir(info) if n.endswith(".conffiles"))
    except OSError:
        return None
    for name in names:
        try:
            lines = (info / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        # a line is the path, then " remove-on-upgrade" or " obsolete" on newer dpkg
        if any(line.split(" ")[0] == path for line in lines):
            return name.removesuffix(".conffiles").split(":")[0]
    return None


def rpm_config_owner(path: str) -> str | None:
    """The rpm package that marks ``path`` as a config file, on the live host (where ``rpm``
    is installed; the rpm database of a copied tree is not read)."""
    rpm = shutil.which("rpm")
    if rpm is None:
        return None
    try:
        owner = subprocess.run(
            [rpm, "-qf", "--qf", "%{NAME}\n", path],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if owner.returncode != 0 or not owner.stdout.strip():
            return None
        package = owner.stdout.split()[0]
        config = subprocess.run(
            [rpm, "-qc", package], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return package if path in config.stdout.splitlines() else None


def package_warning(source: str, root: str | None) -> str | None:
    """A warning when the crontab at ``source`` (relative to ``root``, or absolute when
    ``root`` is None) is a package's configuration file, else None."""
    host = Path(root) if root else Path("/")
    path = "/" + source.lstrip("/")
    package = dpkg_conffile_owner(path, host)
    kind = "dpkg"
    if package is None and host == Path("/"):
        package, kind = rpm_config_owner(path), "rpm"
    if package is None:
        return None
    return (
        f"{path} is a configuration file of the {kind} package {package!r}: cutover leaves it "
        "locally modified. Roll its jobs back to legacy before upgrading that package, or keep "
        "your version when the upgrade asks; installing the package's version re-enables the "
        "lines while their triggers are live (see docs/workflow.md, 'Package files')"
    )
