"""What a lake's storage does, on local disk or S3: name locations, and turn a local file into a
published one (or a published one into a local file) without anyone seeing half of it."""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from export_pipelines.lake.location import LakeLocation


class LakeError(Exception):
    """The lake could not store or fetch a file; the message names the location and the cause."""


class LakeStore(Protocol):
    def location(self, key: str) -> LakeLocation:
        """The location of ``key`` (a ``/``-separated path under the lake's root)."""
        ...

    def writing(self, location: LakeLocation) -> AbstractContextManager[Path]:
        """A local path to write ``location``'s new content to; published when the block ends
        without an exception, otherwise ``location`` keeps what it held."""
        ...

    def reading(self, location: LakeLocation) -> AbstractContextManager[Path]:
        """A local path holding ``location``'s bytes for the length of the block."""
        ...
