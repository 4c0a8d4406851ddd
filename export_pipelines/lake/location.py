"""``LakeLocation``: one file of the lake, wherever the lake lives.

Assets, checks and analytics readers take a location, not a ``pathlib.Path``, so the same code
reads a local lake and one on S3: ``uri`` is what people and Dagster's metadata see
(``file:///…`` or ``s3://…``), ``fs`` and ``path`` are what pyarrow opens
(``pq.read_table(location.path, filesystem=location.fs)``).
"""

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs


@dataclass(frozen=True)
class LakeLocation:
    uri: str
    fs: pafs.FileSystem
    path: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def local(self) -> Path | None:
        """The file on this machine's disk, or None for a remote lake."""
        return Path(self.path) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def child(self, name: str) -> "LakeLocation":
        """The location ``name`` inside this one (a folder of the lake)."""
        return LakeLocation(f"{self.uri}/{name}", self.fs, f"{self.path}/{name}")

    def size(self) -> int | None:
        """The file's size in bytes; None when nothing is there (yet)."""
        info = self.fs.get_file_info(self.path)
        return info.size if info.type is pafs.FileType.File else None

    def exists(self) -> bool:
        return self.size() is not None

    def open(self) -> pa.NativeFile:
        """The file opened for random-access reads (Parquet footers, row groups)."""
        return self.fs.open_input_file(self.path)

    def __str__(self) -> str:
        """What a person pastes into a shell: the local path, or the ``s3://`` URI."""
        local = self.local
        return str(local) if local is not None else self.uri
