"""The lake on local disk (the default): locations are files under the data root.

A writer writes a staged file beside the location (``.<name>.staged``), which replaces the
location by one rename only when the block succeeds: readers see the old file or the new one, and
a failed normalize or a table failing its check leaves the previous table as it was. The staged
name is the same for every run, so a download broken in one run resumes in the next (its
``.part`` file) and the engine sweeps the temporaries a killed run left.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pafs

from export_pipelines.lake.location import LakeLocation
from export_pipelines.lake.locks import exclusive
from export_pipelines.lake.store import LakeError


class LocalStore:
    def __init__(self, root: Path, lock_dir: Path) -> None:
        self.root = root
        self.lock_dir = lock_dir
        self._fs = pafs.LocalFileSystem()

    def location(self, key: str) -> LakeLocation:
        path = self.root / key
        return LakeLocation(uri=path.as_uri(), fs=self._fs, path=str(path))

    @contextmanager
    def writing(self, location: LakeLocation) -> Iterator[Path]:
        final = Path(location.path)
        staged = final.with_name(f".{final.name}.staged")
        final.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.lock_dir, location.uri):
            try:
                yield staged
                if not staged.is_file():
                    raise LakeError(f"nothing was written for {final}")
                os.replace(staged, final)
            finally:
                staged.unlink(missing_ok=True)

    @contextmanager
    def reading(self, location: LakeLocation) -> Iterator[Path]:
        path = Path(location.path)
        if not path.is_file():
            raise LakeError(f"{path} is not in the lake")
        yield path
