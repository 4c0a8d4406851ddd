# The compiled parser of flat JSON Lines (_jsonlines.c); see flatlines.py.

class Strings:
    """A column's UTF-8 bytes (the buffer protocol, read-only)."""

def parse(
    data: bytes, kinds: bytes, names: tuple[bytes, ...], rescue: bool, /
) -> tuple[int, list[tuple[bytes, int, bytes, Strings | None]], bytes | None] | None: ...
