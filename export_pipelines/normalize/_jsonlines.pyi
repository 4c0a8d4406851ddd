# The compiled parser of flat JSON Lines (_jsonlines.c); see flatlines.py.

def parse(
    data: bytes, kinds: bytes, names: tuple[bytes, ...], rescue: bool, /
) -> tuple[int, list[tuple[bytes, int, bytes, bytes | None]], bytes | None] | None: ...
