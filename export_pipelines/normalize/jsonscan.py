"""Split one big JSON document's records array into runs of newline-delimited records.

No common JSON reader streams a document such as ``{"records": [ ... ]}`` (pyarrow, polars and
duckdb all hold it whole, 2.6 to 11 times its size). pyarrow's C reader does parse
*newline-delimited* records fast, on every core, so this module turns the array into that, a few
MB at a time, without a Python loop over records. A run always ends at a record boundary, so the
next one starts in a known state (outside any string, at the array's element depth) and a record
may span any number of reads.

Two ways to find the boundaries, both leaving the bytes' length unchanged (a byte offset in a run
is a byte offset in the document, which is what error messages name):

- exact (:meth:`RecordSplitter.next_run`): numpy over the positions that matter. Quotes not
  escaped by an odd run of backslashes delimit strings; brackets outside strings give each
  bracket's depth with a cumulative sum over the brackets only (a few per cent of the bytes); a
  closing bracket back at the element depth ends a record, and the comma after it becomes ``\\n``
  (newlines between tokens become spaces).
- guessed (``guess=True``): the separator between two records, as the exact scan first saw it
  (``},{"id":`` in the vendors' compact JSON), is replaced by ``}\\n{"id":`` with
  ``bytes.replace``, at memory speed. Inside a string that byte sequence cannot occur unescaped,
  but a nested array of objects that start with the same key can hold it, so a guessed run is only
  a proposal: the caller parses it and :meth:`RecordSplitter.settle` s it. pyarrow fails or counts
  other rows on any wrong cut (a line that is not exactly one whole object); a rejected guess is
  split again exactly, and guessing stops for the file.

The document's shape is checked on the way: the top-level value must be an object holding the
array under ``key`` (or, with ``key=None``, be the array), it must end where JSON says it ends, and
nothing but whitespace may follow. Anything else is a :class:`NormalizeError` naming the file: a
file of the wrong shape must never turn into zero rows that silently replace a good table.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from export_pipelines.normalize.errors import NormalizeError

#: Bytes read per step, and so about the size of a run. Peak RSS of the 200,000-record Enterpret
#: bench file (jemalloc pool): 290-299 MB with 8 MB, 270-277 MB with 6 MB, 238-249 MB with 4 MB
#: on one machine; on another (2026-12-02) 305-316 MB with 6 MB and 286-287 MB with 4 MB, and
#: 268-271 MB with 16 MB row groups too (writer.py), for no measurable time. 4 MB keeps a margin
#: under the 300 MB bound on both.
CHUNK_BYTES = 4 << 20
_QUOTE, _BACKSLASH, _COMMA, _NL, _CR, _SPACE = 34, 92, 44, 10, 13, 32
_OPENERS = (91, 123)  # [ {
_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*$', re.DOTALL)
_FIRST_KEY = re.compile(rb'\s*\{\s*"[^"\\]{1,64}"')
_WHITESPACE = b" \t\r\n"
_LOOKBACK = 4096
_WINDOW = 64 << 10


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
    #: Cut by the guessed separator, not yet confirmed by a parse.
    guessed: bool = False

    def record_spans(self) -> list[tuple[int, int]]:
        """(start, end) of every record in ``data``: used only on the rare paths."""
        cuts = np.flatnonzero(np.frombuffer(self.data, np.uint8) == _NL).tolist()
        starts = [0, *(c + 1 for c in cuts)]
        ends = [*cuts, len(self.data)]
        return list(zip(starts, ends, strict=True))


@dataclass
class _Brackets:
    """Brackets outside strings in a buffer: positions, bytes, depth after each; and the
    unescaped quotes (to tell which newlines are inside strings)."""

    at: np.ndarray
    chars: np.ndarray
    depth_after: np.ndarray
    quotes: np.ndarray
    ends_in_string: bool


def _unescaped_quotes(buf: np.ndarray, carried_backslashes: int) -> np.ndarray:
    quotes = np.flatnonzero(buf == _QUOTE)
    if not quotes.size:
        return quotes
    before = buf[np.maximum(quotes - 1, 0)] == _BACKSLASH
    if quotes[0] == 0:
        before[0] = carried_backslashes % 2 == 1
    if not before.any():
        return quotes
    escaped = []
    for i in np.flatnonzero(before).tolist():  # few: a loop over them only
        q = int(quotes[i])
        run, j = 0, q - 1
        while j >= 0 and buf[j] == _BACKSLASH:
            run += 1
            j -= 1
        if j < 0:
            run += carried_backslashes
        if run % 2:
            escaped.append(i)
    return np.delete(quotes, escaped) if escaped else quotes


def _brackets(buf: np.ndarray, depth: int, in_string: bool, backslashes: int) -> _Brackets:
    """Brackets of ``buf`` outside strings, given the state before its first byte."""
    quotes = _unescaped_quotes(buf, backslashes)
    # One masked compare finds [ ] { } (and Y _ y DEL, dropped next): 0x5B 0x5D 0x7B 0x7D differ
    # only in the bits that 0xD9 clears.
    maybe = np.flatnonzero((buf & 0xD9) == 0x59)
    chars = buf[maybe]
    keep = (chars == 91) | (chars == 93) | (chars == 123) | (chars == 125)
    at, chars = maybe[keep], chars[keep]
    inside = (np.searchsorted(quotes, at) + int(in_string)) & 1
    outside = inside == 0
    at, chars = at[outside], chars[outside]
    step = np.where((chars == 91) | (chars == 123), 1, -1).astype(np.int64)
    ends_in_string = bool((quotes.size + int(in_string)) & 1)
    return _Brackets(at, chars, depth + np.cumsum(step), quotes, ends_in_string)


def _trailing_backslashes(data: bytes, carried: int) -> int:
    stripped = data.rstrip(b"\\")
    run = len(data) - len(stripped)
    return run + carried if not stripped else run


class RecordSplitter:
    """Runs of complete records of the array at ``key`` of the top-level object (or of the
    top-level array when ``key`` is None), in document order."""

    def __init__(self, stream: BinaryIO, file: str, key: str | None, *, guess: bool = False):
        self._stream = stream
        self._file = file
        self._key = key
        self._what = f'{{"{key}": [...]}}' if key else "[...]"
        self._element_depth = 2 if key else 1
        self._buf = b""  # unconsumed bytes; in the array, they start at a record boundary
        self._offset = 0  # document offset of _buf[0]
        self._eof = False
        self._index = 0
        self._phase = "start"  # start → before → array → after → done
        # Carried across reads outside the array (where reads are not cut at boundaries).
        self._depth = 0
        self._in_string = False
        self._backslashes = 0
        self._lookback = b""
        self._guess = guess
        self._separator: tuple[bytes, bytes] | None = None  # (in the document, in the runs)
        self._pending_guess: tuple[Run, int] | None = None

    # --- reading ------------------------------------------------------------------------

    def _read(self) -> bytes:
        data = self._stream.read(max(CHUNK_BYTES, len(self._buf)))
        if not data:
            self._eof = True
        return data

    def _error(self, where: int | None, reason: str) -> NormalizeError:
        return NormalizeError(self._file, None if where is None else f"byte {where}", reason=reason)

    # --- the public steps -----------------------------------------------------------------

    def next_run(self) -> Run | None:
        """The next run, or None after the document's end (checked)."""
        if self._pending_guess is not None:
            raise RuntimeError("settle() the guessed run first")
        while True:
            if self._phase == "start":
                self._start()
            elif self._phase == "before":
                self._before()
            elif self._phase == "array":
                run = self._array()
                if run is not None:
                    return run
            elif self._phase == "after":
                self._after()
            else:
                self._done()
                return None

    def settle(self, accepted: bool) -> None:
        """Confirm (the parse matched) or reject (split it again exactly) the guessed run."""
        assert self._pending_guess is not None
        run, rest = self._pending_guess
        self._pending_guess = None
        if accepted:
            assert run.count is not None
            self._buf = self._buf[rest:]
            self._offset += rest
            self._index += run.count
        else:
            self._guess = False

    def __iter__(self) -> Iterator[Run]:
        while (run := self.next_run()) is not None:
            yield run

    # --- phases -------------------------------------------------------------------------

    def _start(self) -> None:
        data = self._read()
        if not data:
            raise NormalizeError(
                self._file, reason=f"is empty, not a JSON document of the shape {self._what}"
            )
        head = data.lstrip(b" \t\r\n\xef\xbb\xbf")
        if not head:
            self._offset += len(data)
            return  # whitespace so far: keep reading
        opener = b"{" if self._key else b"["
        if not head.startswith(opener):
            raise self._error(
                0,
                f"not a JSON document of the shape {self._what}: it starts with {head[:20]!r}",
            )
        start = len(data) - len(head)
        if self._key:
            self._phase = "before"
            self._buf = data
        else:
            self._phase = "array"
            self._buf = data[start + 1 :]
            self._offset = start + 1

    def _before(self) -> None:
        """Scan (carrying the state) for the ``key`` array at depth 1."""
        data = self._window()
        arr = np.frombuffer(data, np.uint8)
        found = _brackets(arr, self._depth, self._in_string, self._backslashes)
        before = found.depth_after - np.where(np.isin(found.chars, _OPENERS), 1, -1)
        for i in np.flatnonzero(np.isin(found.chars, _OPENERS) & (before == 1)).tolist():
            p = int(found.at[i])
            if self._key_before(data, p) == self._key:
                if found.chars[i] != 91:
                    raise self._error(
                        self._offset + p,
                        f'"{self._key}" is an object, not an array: not a document of the '
                        f"shape {self._what}",
                    )
                self._phase = "array"
                self._buf = data[p + 1 :] + self._buf
                self._offset += p + 1
                return
        closing = np.flatnonzero(found.depth_after <= 0)
        if closing.size:
            raise NormalizeError(
                self._file,
                reason=f"not a document of the shape {self._what}: it has no "
                f'"{self._key}" array (missing, null or not an array)',
            )
        self._carry(data, found)

    def _window(self) -> bytes:
        """The next few KB outside the array (the rest stays buffered): the records array
        usually starts within the first bytes, and what follows it is scanned once, in it."""
        data = self._buf or self._read()
        if not data:
            self._end_of_input()
        data, self._buf = data[:_WINDOW], data[_WINDOW:]
        return data

    def _carry(self, data: bytes, found: _Brackets) -> None:
        if found.depth_after.size:
            self._depth = int(found.depth_after[-1])
        self._in_string = found.ends_in_string
        self._backslashes = _trailing_backslashes(data, self._backslashes)
        self._lookback = (self._lookback + data)[-_LOOKBACK:]
        self._offset += len(data)

    def _key_before(self, data: bytes, p: int) -> str | None:
        match = _KEY_BEFORE.search((self._lookback + data[:p])[-_LOOKBACK:])
        return json.loads(b'"' + match.group(1) + b'"') if match else None

    def _array(self) -> Run | None:
        if self._guess and self._separator is not None:
            run = self._guessed()
            if run is not None:
                return run
        if not self._buf:
            self._buf = self._read()
            if not self._buf:
                self._end_of_input()
        return self._exact()

    def _guessed(self) -> Run | None:
        assert self._separator is not None
        found, replaced = self._separator
        if not self._eof and len(self._buf) < CHUNK_BYTES:
            self._buf += self._read()
        buf = self._buf
        cut = buf.rfind(found)
        if cut < 0 or buf.find(b"\n", 0, cut) >= 0 or buf.find(b"\r", 0, cut) >= 0:
            return None
        data = buf[: cut + 1].replace(found, replaced)
        run = Run(data, self._offset, self._index, data.count(b"\n") + 1, guessed=True)
        self._pending_guess = (run, cut + 2)
        return run

    def _exact(self) -> Run | None:
        buf = self._buf
        arr = np.frombuffer(buf, np.uint8)
        depth = self._element_depth
        found = _brackets(arr, depth, False, 0)
        closers = (found.chars == 93) | (found.chars == 125)
        close = np.flatnonzero(found.depth_after < depth)
        limit = int(found.at[close[0]]) if close.size else None
        if limit is not None and found.chars[close[0]] != 93:
            raise self._error(self._offset + limit, "not valid JSON: unbalanced brackets")
        ends = found.at[closers & (found.depth_after == depth)]
        if limit is not None:
            ends = ends[ends < limit]
        seps = self._separators(buf, ends, limit)
        if limit is not None:
            return self._last_run(arr, found, seps, limit)
        if seps.size == 0:
            if self._eof:
                self._end_of_input()
            self._buf = buf + self._read()
            return None
        cut = int(seps[-1])
        run = self._make_run(arr, found, seps[:-1], cut)
        self._buf = buf[cut + 1 :]
        self._offset += cut + 1
        return run

    def _separators(self, buf: bytes, ends: np.ndarray, limit: int | None) -> np.ndarray:
        """The comma after each record end (an end not followed by one, before the array's
        close, is an error; one whose separator is not read yet is left for the next read)."""
        if not ends.size:
            return ends
        after = ends + 1
        arr = np.frombuffer(buf, np.uint8)
        inside = after < len(buf)
        direct = np.zeros(ends.size, dtype=bool)
        direct[inside] = arr[after[inside]] == _COMMA
        if direct.all():
            return after
        seps = after.copy()
        keep = np.ones(ends.size, dtype=bool)
        for i in np.flatnonzero(~direct).tolist():
            j = int(after[i])
            while j < len(buf) and buf[j] in _WHITESPACE:
                j += 1
            if j < len(buf) and buf[j] == _COMMA:
                seps[i] = j
            elif limit is not None and j == limit:
                keep[i] = False  # the last record, followed by the array's close
            elif j >= len(buf):
                keep[i] = False  # its separator is in the next read
            else:
                raise self._error(
                    self._offset + j,
                    f"not valid JSON: expected ',' or ']' after a record, found {buf[j : j + 1]!r}",
                )
        return seps[keep]

    def _make_run(self, arr: np.ndarray, found: _Brackets, seps: np.ndarray, end: int) -> Run:
        body = arr[:end].copy()
        body[seps] = _NL
        data = body.tobytes()
        if self._buf.find(b"\n", 0, end) >= 0 or self._buf.find(b"\r", 0, end) >= 0:
            lines = np.flatnonzero((arr[:end] == _NL) | (arr[:end] == _CR))
            between = (np.searchsorted(found.quotes, lines) & 1) == 0
            body[lines[between]] = _SPACE
            data = body.tobytes()
        count = int(seps.size) + 1
        if self._separator is None and seps.size:
            self._learn(arr, int(seps[0]))
        run = Run(data, self._offset, self._index, count)
        self._index += count
        return run

    def _learn(self, arr: np.ndarray, sep: int) -> None:
        """The separator of the first two records, as a byte pattern for guessing."""
        if sep == 0 or arr[sep - 1] != 125:
            return
        match = _FIRST_KEY.match(arr[sep + 1 : sep + 200].tobytes())
        if match and b"\n" not in match.group(0) and b"\r" not in match.group(0):
            gap = match.group(0)
            self._separator = (b"}," + gap, b"}\n" + gap)

    def _last_run(
        self, arr: np.ndarray, found: _Brackets, seps: np.ndarray, limit: int
    ) -> Run | None:
        buf = self._buf
        blank = not seps.size and not buf[:limit].strip()
        run = None
        if not (blank and self._index == 0):
            run = self._make_run(arr, found, seps, limit)
        rest = limit + 1
        self._buf = buf[rest:]
        self._offset += rest
        self._depth = 1  # inside the top-level object (used with a key only)
        self._in_string = False
        self._backslashes = 0
        self._phase = "after" if self._key else "done"
        return run

    def _after(self) -> None:
        """After the array: no second ``key`` array, and the object closes."""
        data = self._window()
        arr = np.frombuffer(data, np.uint8)
        found = _brackets(arr, self._depth, self._in_string, self._backslashes)
        step = np.where(np.isin(found.chars, _OPENERS), 1, -1)
        before = found.depth_after - step
        for i in np.flatnonzero(np.isin(found.chars, _OPENERS) & (before == 1)).tolist():
            p = int(found.at[i])
            if self._key_before(data, p) == self._key:
                raise self._error(self._offset + p, f'a second "{self._key}" array')
        closing = np.flatnonzero(found.depth_after == 0)
        if closing.size:
            end = int(found.at[closing[0]]) + 1
            self._phase = "done"
            self._buf = data[end:] + self._buf
            self._offset += end
            return
        self._carry(data, found)

    def _done(self) -> None:
        """Only whitespace may follow the document."""
        data = self._buf
        while True:
            rest = data.lstrip(_WHITESPACE)
            if rest:
                raise self._error(
                    self._offset + len(data) - len(rest), "data after the end of the JSON document"
                )
            self._offset += len(data)
            data = self._read()
            if not data:
                return

    def _end_of_input(self) -> None:
        where = {
            "before": f'it has no "{self._key}" array (missing, null or not an array)',
            "array": f"it ends inside the {self._key or 'records'} array",
            "after": "it ends before the document closes",
        }.get(self._phase, "it ends inside a string")
        if self._phase == "before" and self._depth == 0 and not self._in_string:
            raise NormalizeError(
                self._file, reason=f"not a document of the shape {self._what}: {where}"
            )
        size = self._offset + len(self._buf)
        raise NormalizeError(
            self._file,
            reason=f"is not a complete JSON document (truncated at byte {size}?): {where}",
        )


def split_records(stream: BinaryIO, file: str, key: str | None) -> Iterator[Run]:
    """Runs of complete records of the array at ``key`` of the top-level object (or of the
    top-level array when ``key`` is None), in document order, split exactly."""
    return iter(RecordSplitter(stream, file, key))
