"""One writer per lake location at a time, across the processes of this machine.

Two runs may write the same location at once (a run launched from the UI beside one the sensor
launched): each writes its own complete file, and the lock makes publishing them one after the
other instead of interleaved. Lock files live in their own folder, named by a hash of the location,
so the lake holds nothing but data.
"""

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock_dir: Path, uri: str) -> Iterator[None]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(uri.encode()).hexdigest()[:32]
    with (lock_dir / f"write-{name}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
