"""Rollback fidelity benchmark: disable every job of a crontab, then put them back, and count the
files that come back byte for byte.

Ours: the whole workflow on every file of the shared corpus (or the example hosts when the
corpus is absent) at once: ``scan`` → ``generate`` → ``cutover --all`` → ``rollback --all
--to-legacy``. Peer: python-crontab (the library most crontab tools use) doing the same edit:
``job.enable(False)`` for every enabled job, ``write()``, then ``enable(True)`` for exactly those
jobs, ``write()``. Figures: files with jobs, files restored byte-identical, files the peer could
not even load, wall time of each side. ``ratio_vs_python_crontab`` = our identical share / the
peer's, on the same files (those our workflow cut over; a file the peer cannot load counts as
not restored). The peer is faster (it edits in memory, no journal, no fsync); the figure that
matters for a rollback is whether the file comes back.

Run: .venv/bin/python benchmarks/rollback_fidelity.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from crontab import CronTab

from owlmigrate import migration
from owlmigrate.scan import scan

REPO = Path(__file__).resolve().parent.parent


def _files(corpus: Path | None) -> list[Path]:
    if corpus is not None and corpus.is_dir():
        return sorted(p for p in corpus.iterdir() if p.is_file())
    hosts = REPO / "examples" / "legacy_crontabs"
    return sorted(
        p for p in hosts.rglob("*") if p.is_file() and ("crontab" in str(p) or "cron.d" in str(p))
    )


def ours(files: list[Path], work: Path) -> tuple[set[int], int, float]:
    """(indices of the files cut over, files restored identical, seconds) for the workflow."""
    copies = []
    for index, source in enumerate(files):
        target = work / "ours" / f"{index:04d}-{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    original = {p: p.read_bytes() for p in copies}
    os.environ["OWLMIGRATE_SWITCH_WINDOW"] = "off"  # a copy: no daemon to hand over from
    started = time.perf_counter()
    scan([str(p) for p in copies]).dump(work / "plan.json")
    ledger = f"sqlite:///{work / 'ledger.db'}"
    migration.generate(work / "plan.json", work / "app", ledger_url=ledger)
    result = migration.cutover(work / "app", all_jobs=True, ledger_url=ledger, wait=False)
    migration.rollback(work / "app", all_jobs=True, to_legacy=True, ledger_url=ledger)
    seconds = time.perf_counter() - started
    touched = {Path(p) for p in result.files}
    identical = sum(1 for p in touched if p.read_bytes() == original[p])
    return {copies.index(p) for p in touched}, identical, seconds


def peer(files: list[Path], work: Path) -> tuple[int, set[int], int, float]:
    """(files with jobs, indices restored identical, not loadable, seconds) for python-crontab."""
    with_jobs = broken = 0
    identical: set[int] = set()
    started = time.perf_counter()
    for index, source in enumerate(files):
        target = work / "peer" / f"{index:04d}-{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        before = target.read_bytes()
        try:
            cron = CronTab(tabfile=str(target))
            chosen = [i for i, job in enumerate(cron) if job.is_enabled()]
            if not chosen:
                continue
            with_jobs += 1
            jobs = list(cron)
            for i in chosen:
                jobs[i].enable(False)
            cron.write(str(target))
            cron = CronTab(tabfile=str(target))
            jobs = list(cron)
            for i in chosen:
                jobs[i].enable(True)
            cron.write(str(target))
        except Exception:  # the peer refuses the file: nothing it could restore
            broken += 1
            continue
        if target.read_bytes() == before:
            identical.add(index)
    return with_jobs, identical, broken, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "github")
    args = parser.parse_args()
    files = _files(args.corpus)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        touched, same, our_seconds = ours(files, work)
        peer_files, peer_same, peer_broken, peer_seconds = peer(files, work)
    cut = len(touched)
    our_share = same / cut if cut else 0.0
    # the same files on both sides: those our workflow cut over
    peer_on_ours = len(peer_same & touched)
    peer_share = peer_on_ours / cut if cut else 0.0
    print(f"files scanned:                  {len(files)}")
    print(
        f"ours: files cut over            {cut}, restored byte-identical {same} "
        f"({our_share:.0%}) in {our_seconds:.1f}s (scan+generate+cutover+rollback)"
    )
    print(
        f"python-crontab on those files:  restored byte-identical {peer_on_ours} ({peer_share:.0%})"
        f"; on every file with jobs {len(peer_same)}/{peer_files + peer_broken}"
        f" ({peer_broken} it could not load) in {peer_seconds:.1f}s"
    )
    ratio = our_share / peer_share if peer_share else 1000.0
    print(
        json.dumps(
            {
                "benchmark": "rollback_fidelity",
                "files": len(files),
                "ours_files": cut,
                "ours_identical": same,
                "ours_seconds": round(our_seconds, 2),
                "peer_identical_same_files": peer_on_ours,
                "peer_files_with_jobs": peer_files + peer_broken,
                "peer_identical_all": len(peer_same),
                "peer_unloadable": peer_broken,
                "peer_seconds": round(peer_seconds, 2),
                "ratio_vs_python_crontab": round(ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
