"""Keeping a partition's last good Parquet file while a run writes its replacement.

The writer replaces the file atomically, so a normalization that fails midway never touches it. But
a file can parse and still be wrong: rows that do not add up by the vendor's own rules (a result
file that holds no records, a file short of ``pageSize``). The row-count check finds that only
after the new file is written, so the old one is hard-linked aside first (free: no bytes copied)
and put back when the check fails. A partition's table is therefore only ever replaced by one that
passed its check.

The local lake writes in place and uses this; the S3 lake writes to scratch space and uploads only
a file that passed, so the previous object is never touched by a failed run.
"""

import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType


class PreviousTable:
    """``with PreviousTable(path) as previous: …; previous.restore()`` puts the old file back
    (or removes the new one when there was none); leaving the block drops the saved link."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved = path.with_name(f".{path.name}.previous-{uuid.uuid4().hex}")
        self._had_one = False

    def __enter__(self) -> "PreviousTable":
        if self.path.exists():
            try:
                os.link(self.path, self._saved)
            except OSError:  # a filesystem without hard links: copy instead
                shutil.copy2(self.path, self._saved)
            self._had_one = True
        return self

    def restore(self) -> None:
        if self._had_one:
            os.replace(self._saved, self.path)
        else:
            self.path.unlink(missing_ok=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._saved.unlink(missing_ok=True)
