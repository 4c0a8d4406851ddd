"""The lake on local disk (the default): locations are files under the data root.

Writers write in place: the transport's downloads and the normalization engine both write a
temporary and rename it, so readers never see half a file; the previous file is kept aside while
the block runs and put back if it fails (``PreviousTable``), so a failed check leaves the old table.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pafs

from export_pipelines.lake.location import LakeLocation
from export_pipelines.lake.previous import PreviousTable
from export_pipelines.lake.store import LakeError


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._fs = pafs.LocalFileSystem()

    def location(self, key: str) -> LakeLocation:
        path = self.root / key
        return LakeLocation(uri=path.as_uri(), fs=self._fs, path=str(path))

    @contextmanager
    def writing(self, location: LakeLocation) -> Iterator[Path]:
        path = Path(location.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with PreviousTable(path) as previous:
            try:
                yield path
            except BaseException:
                previous.restore()
                raise

    @contextmanager
    def reading(self, location: LakeLocation) -> Iterator[Path]:
        path = Path(location.path)
        if not path.is_file():
            raise LakeError(f"{path} is not in the lake")
        yield path
