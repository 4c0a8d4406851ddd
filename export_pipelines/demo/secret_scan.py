"""Look for the vendors' keys everywhere a run leaves something behind.

A key must never be logged or land in metadata. This searches what a deployment keeps: every file
under the given folders (the Dagster home with its event log, run storage and compute logs, the
processes' logs, the data root with the ledger, raw files and Parquet), and, through the APIs so
that a PostgreSQL-backed instance or ledger is covered too, every event of every run (messages and
metadata) and every ledger job (request body, files, errors, history). A hit names the key's
variable and where it was found, never the key.
"""

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import dagster as dg
from dagster._serdes import serialize_value

from export_pipelines.ledger import Ledger

#: Files are read in pieces this large, overlapping by a key's length so no key is split unseen.
_PIECE = 1 << 20
#: Keys shorter than this would match by chance in binary files; such a key is refused as a test.
MIN_SECRET_LENGTH = 8


def _files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def _found_in_file(path: Path, needles: Mapping[str, bytes]) -> set[str]:
    longest = max(len(n) for n in needles.values())
    found: set[str] = set()
    tail = b""
    with path.open("rb") as source:
        while piece := source.read(_PIECE):
            window = tail + piece
            found |= {name for name, needle in needles.items() if needle in window}
            tail = window[-(longest - 1) :] if longest > 1 else b""
    return found


def secret_findings(
    secrets: Mapping[str, str],
    *,
    roots: Iterable[Path] = (),
    instance: dg.DagsterInstance | None = None,
    ledger: Ledger | None = None,
) -> list[str]:
    """Where any of ``secrets`` (variable name → value) appears; empty when nowhere."""
    short = [name for name, value in secrets.items() if len(value) < MIN_SECRET_LENGTH]
    if short:
        raise ValueError(f"too short to search for reliably: {', '.join(sorted(short))}")
    if not secrets:
        return []
    needles = {name: value.encode() for name, value in secrets.items()}
    findings = []
    for path in _files(roots):
        for name in sorted(_found_in_file(path, needles)):
            findings.append(f"{name} found in {path}")
    if instance is not None:
        for run in instance.get_runs():
            texts = [serialize_value(event) for event in instance.all_logs(run.run_id)]
            for name, value in secrets.items():
                if any(value in text for text in texts):
                    findings.append(f"{name} found in an event of run {run.run_id}")
    if ledger is not None:
        for job in ledger.jobs():
            text = repr(job)
            for name, value in secrets.items():
                if value in text:
                    findings.append(f"{name} found in ledger job {job.id}")
    return findings
