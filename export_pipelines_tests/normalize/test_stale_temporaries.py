"""A Parquet write killed mid-way leaves its temporary; the next write of that partition removes
it, but never a temporary a live writer still holds."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from export_pipelines.normalize import Lineage, sweep_stale_temporaries, write_parquet

SCHEMA = pa.schema([("n", pa.int64())])
LINEAGE = Lineage("e", "p", "j", datetime(2024, 1, 1, tzinfo=UTC))

# A writer whose source never ends: it holds its temporary (and lock) until killed.
_HANG = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
import pyarrow as pa
from export_pipelines.normalize import Lineage, write_parquet
schema = pa.schema([("n", pa.int64())])
def batches():
    yield pa.record_batch([pa.array([1, 2])], schema=schema)
    print("writing", flush=True)
    while True:
        time.sleep(1)
        yield from ()
write_parquet(Path(sys.argv[1]), schema, [("f", batches())], Lineage("e", "p", "j", datetime.now(UTC)))
"""


def _one_batch() -> list:
    return [("f", iter([pa.record_batch([pa.array([7])], schema=SCHEMA)]))]


def _hanging_writer(dest: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", _HANG, str(dest)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    return child


def _temporaries(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.*.tmp"))


def test_a_killed_writers_temporary_is_swept_by_the_next_write(tmp_path: Path) -> None:
    dest = tmp_path / "lake" / "data.parquet"
    child = _hanging_writer(dest)
    (left,) = _temporaries(dest)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert left.exists()
    result = write_parquet(dest, SCHEMA, _one_batch(), LINEAGE)
    assert result.rows == 1 and _temporaries(dest) == []


def test_a_live_writers_temporary_is_left_alone(tmp_path: Path) -> None:
    dest = tmp_path / "lake" / "data.parquet"
    child = _hanging_writer(dest)
    try:
        (live,) = _temporaries(dest)
        assert sweep_stale_temporaries(dest) == []
        write_parquet(dest, SCHEMA, _one_batch(), LINEAGE)
        assert _temporaries(dest) == [live]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    planted = dest.with_name(f".{dest.name}.{'0' * 32}.tmp")
    planted.write_bytes(b"PAR1 half")
    old = time.time() - 7200
    os.utime(planted, (old, old))
    assert set(sweep_stale_temporaries(dest)) == {live, planted}
    assert dest.exists()
