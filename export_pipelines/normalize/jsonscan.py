"""Split one big JSON document into runs of newline-delimited records, vectorized.

No common JSON reader streams a document such as ``{"records": [ ... ]}`` (pyarrow, polars and
duckdb all hold it whole, 2.6 to 11 times its size). pyarrow's C reader does parse *newline-delimited*
records fast, on every core, so this module turns the array into that, a few MB at a time, with
numpy over the bytes instead of a Python loop over records:

- quotes preceded by an odd run of backslashes are escaped; the rest toggle "inside a string";
- ``{ [ } ] ,`` outside strings are structural; a cumulative sum of ``+1``/``-1`` gives each one's
  depth; the commas at the array's element depth separate records;
- those commas become ``\\n`` (and newlines between tokens become spaces), so the run of complete
  records is valid newline-delimited JSON of exactly the same length: a byte offset in the run is
  a byte offset in the document, which is what error messages name.

State (inside a string, a trailing run of backslashes, the depth) is carried from chunk to chunk,
so a record may span any number of chunks. The document's shape is checked on the way: the
top-level value must be an object holding the array under ``key`` (or, with ``key=None``, be the
array), it must end where JSON says it ends, and nothing but whitespace may follow. Anything else
is a :class:`NormalizeError` naming the file: a file of the wrong shape must never turn into zero
rows that silently replace a good table.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from export_pipelines.normalize.errors import NormalizeError

CHUNK_BYTES = 4 << 20
_QUOTE, _BACKSLASH, _COMMA, _NL, _CR, _SPACE = 34, 92, 44, 10, 13, 32
_OPEN = (123, 91)  # { [
_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*$', re.DOTALL)
_LOOKBACK = 4096


@dataclass
class Run:
    """Complete records as newline-delimited JSON, and where they sit in the document."""

    data: bytes
    #: Byte offset of ``data[0]`` in the (uncompressed) document.
    offset: int
    #: Index in the array of the first record in ``data``.
    first_index: int
    #: Records in ``data`` (separators + 1, blank ones included: they are errors); None for
    #: JSON Lines, where blank lines are allowed.
    count: int | None
    #: What a record is called in errors: ``record`` (array index, from 0) or ``line`` (from 1).
    unit: str = "record"

    def record_spans(self) -> list[tuple[int, int]]:
        """(start, end) of every record in ``data``: used only on the rare paths."""
        cuts = np.flatnonzero(np.frombuffer(self.data, np.uint8) == _NL).tolist()
        starts = [0, *(c + 1 for c in cuts)]
        ends = [*cuts, len(self.data)]
        return list(zip(starts, ends, strict=True))


class _State:
    def __init__(self) -> None:
        self.in_string = False
        self.backslashes = 0  # trailing run of backslashes at the end of the previous chunk
        self.depth = 0


def _without(sorted_positions: np.ndarray, drop: list[int]) -> np.ndarray:
    keep = np.ones(sorted_positions.size, dtype=bool)
    keep[np.searchsorted(sorted_positions, np.asarray(drop, dtype=sorted_positions.dtype))] = False
    return sorted_positions[keep]


def _escaped_quotes(chunk: np.ndarray, carried_backslashes: int) -> list[int]:
    """Quotes preceded by an odd run of backslashes (few: a loop over them only)."""
    candidates = np.flatnonzero((chunk[1:] == _QUOTE) & (chunk[:-1] == _BACKSLASH)) + 1
    # A single backslash before the quote (the common case) escapes it; longer runs are counted.
    single = (candidates >= 2) & (chunk[np.maximum(candidates - 2, 0)] != _BACKSLASH)
    escaped = candidates[single].tolist()
    for q in candidates[~single].tolist():
        run, i = 0, q - 1
        while i >= 0 and chunk[i] == _BACKSLASH:
            run += 1
            i -= 1
        if i < 0:
            run += carried_backslashes
        if run % 2:
            escaped.append(q)
    if chunk.size and chunk[0] == _QUOTE and carried_backslashes % 2:
        escaped.append(0)
    return escaped


def _in_string(chunk: np.ndarray, starts_inside: bool, carried_backslashes: int) -> np.ndarray:
    """Per byte, the parity of unescaped quotes up to it (uint8: 1 inside a string or on its
    closing quote), with a wrapping uint8 cumulative sum: a parity needs only the low bit."""
    quotes = (chunk == _QUOTE).view(np.uint8)
    escaped = _escaped_quotes(chunk, carried_backslashes)
    if escaped:
        quotes = quotes.copy()
        quotes[escaped] = 0
    parity = np.cumsum(quotes, dtype=np.uint8)
    if starts_inside:
        parity += 1
    parity &= 1
    return parity


def _structure(chunk: np.ndarray, state: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of structural bytes outside strings, their byte, and the depth before each."""
    parity = _in_string(chunk, state.in_string, state.backslashes)
    mask = (chunk == 123) | (chunk == 125) | (chunk == 91) | (chunk == 93) | (chunk == _COMMA)
    marks = np.flatnonzero(mask)
    marks = marks[parity[marks] == 0]
    chars = chunk[marks]
    delta = np.zeros(marks.size, dtype=np.int64)
    delta[(chars == 123) | (chars == 91)] = 1
    delta[(chars == 125) | (chars == 93)] = -1
    depth_after = state.depth + np.cumsum(delta)
    depth_before = depth_after - delta
    if chunk.size:
        state.in_string = bool(parity[-1])
    if depth_after.size:
        state.depth = int(depth_after[-1])
    tail = 0
    i = chunk.size - 1
    while i >= 0 and chunk[i] == _BACKSLASH:
        tail += 1
        i -= 1
    state.backslashes = tail + (state.backslashes if i < 0 else 0)
    return marks, chars, depth_before


def _between_tokens_newlines(run: np.ndarray) -> None:
    """Newlines outside strings → spaces, in place (a pretty-printed document's records);
    ``run`` starts outside a string."""
    lines = np.flatnonzero((run == _NL) | (run == _CR))
    if lines.size:
        run[lines[_in_string(run, False, 0)[lines] == 0]] = _SPACE


def _has_newline(data: bytes | bytearray) -> bool:
    return b"\n" in data or b"\r" in data


def _only_whitespace(file: str, data: bytes, start: int, position: int) -> None:
    rest = data[start:]
    if rest.strip():
        offset = position + start + len(rest) - len(rest.lstrip())
        raise NormalizeError(
            file, f"byte {offset}", reason="data after the end of the JSON document"
        )


def split_records(stream: BinaryIO, file: str, key: str | None) -> Iterator[Run]:
    """Runs of complete records of the array at ``key`` of the top-level object (or of the
    top-level array when ``key`` is None), in document order."""
    what = f'{{"{key}": [...]}}' if key else "[...]"
    state = _State()
    element_depth = 2 if key else 1
    phase = "start"  # start → before (inside the object) → array → after → done
    pending = bytearray()  # bytes of the record under way, since the last separator
    pending_offset = 0
    index = 0
    position = 0  # offset of the current chunk in the document
    lookback = b""
    first = True
    while True:
        data = stream.read(CHUNK_BYTES)
        if not data:
            break
        if first:
            first = False
            head = data.lstrip(b" \t\r\n\xef\xbb\xbf")
            opener = b"{" if key else b"["
            if not head.startswith(opener):
                raise NormalizeError(
                    file,
                    "byte 0",
                    reason=f"not a JSON document of the shape {what}: it starts with {head[:20]!r}",
                )
        if phase == "done":
            _only_whitespace(file, data, 0, position)
            position += len(data)
            continue
        chunk = np.frombuffer(data, np.uint8)
        marks, chars, depth_before = _structure(chunk, state)
        run_end = None  # end (in this chunk) of the complete records handed on
        run_start = 0
        starts_at_array = False
        if phase in ("start", "before"):
            if phase == "start":
                phase = "array" if not key else "before"
                if not key:
                    opened = int(marks[0]) if marks.size else 0
                    run_start, starts_at_array = opened + 1, True
            if phase == "before":
                containers = np.flatnonzero(np.isin(chars, _OPEN) & (depth_before == 1))
                found = None
                for i in containers.tolist():
                    p = int(marks[i])
                    window = (lookback + data[:p])[-_LOOKBACK:]
                    match = _KEY_BEFORE.search(window)
                    name = json.loads(b'"' + match.group(1) + b'"') if match else None
                    if name == key:
                        if chars[i] != 91:
                            raise NormalizeError(
                                file,
                                f"byte {position + p}",
                                reason=f'"{key}" is an object, '
                                f"not an array: not a document of the shape {what}",
                            )
                        found = i
                        break
                if found is not None:
                    phase = "array"
                    run_start, starts_at_array = int(marks[found]) + 1, True
                    marks, chars, depth_before = (
                        marks[found + 1 :],
                        chars[found + 1 :],
                        depth_before[found + 1 :],
                    )
        if phase == "array":
            if starts_at_array:
                pending = bytearray()
                pending_offset = position + run_start
            seps = marks[(chars == _COMMA) & (depth_before == element_depth)]
            closes = np.flatnonzero((chars == 93) & (depth_before == element_depth))
            close_at = int(marks[closes[0]]) if closes.size else None
            if close_at is not None:
                seps = seps[seps < close_at]
                run_end = close_at
            elif seps.size:
                run_end = int(seps[-1])
                seps = seps[:-1]
            if run_end is not None:
                body = np.concatenate(
                    [np.frombuffer(bytes(pending), np.uint8), chunk[run_start:run_end]]
                )
                if _has_newline(data) or _has_newline(pending):
                    _between_tokens_newlines(body)
                body[seps - run_start + len(pending)] = _NL
                blank = close_at is not None and not bytes(body).strip() and index == 0
                if not blank:
                    count = int(seps.size) + 1
                    yield Run(body.tobytes(), pending_offset, index, count)
                    index += count
                if close_at is None:
                    pending = bytearray(data[run_end + 1 :])
                    pending_offset = position + run_end + 1
                else:
                    phase = "after" if key else "done"
                    rest = closes[0] + 1
                    marks, chars, depth_before = marks[rest:], chars[rest:], depth_before[rest:]
                    if not key:
                        _only_whitespace(file, data, close_at + 1, position)
            else:
                pending += data[run_start:]
        if phase == "after":
            for i in np.flatnonzero(np.isin(chars, _OPEN) & (depth_before == 1)).tolist():
                p = int(marks[i])
                match = _KEY_BEFORE.search((lookback + data[:p])[-_LOOKBACK:])
                if match and json.loads(b'"' + match.group(1) + b'"') == key:
                    raise NormalizeError(
                        file, f"byte {position + p}", reason=f'a second "{key}" array'
                    )
            closing = marks[(chars == 125) & (depth_before == 1)]
            if closing.size:
                phase = "done"
                _only_whitespace(file, data, int(closing[0]) + 1, position)
        lookback = (lookback + data)[-_LOOKBACK:]
        position += len(data)
    if first:
        raise NormalizeError(file, reason=f"is empty, not a JSON document of the shape {what}")
    if phase != "done" or state.in_string:
        where = {
            "before": f'it has no "{key}" array (missing, null or not an array)',
            "array": f"it ends inside the {key or 'records'} array",
            "after": "it ends before the document closes",
        }.get(phase, "it ends inside a string")
        if phase == "before" and state.depth == 0 and not state.in_string:
            raise NormalizeError(file, reason=f"not a document of the shape {what}: {where}")
        raise NormalizeError(
            file, reason=f"is not a complete JSON document (truncated at byte {position}?): {where}"
        )
