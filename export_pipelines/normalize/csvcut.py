"""Cut a CSV stream into runs of whole rows, so that each run can be parsed on every core.

pyarrow's multi-threaded CSV reader (``read_csv``) wants its whole input at once; its streaming
reader takes a stream but parses one block at a time. Cutting the decompressed stream into runs of
a few MB at row ends gives both: each run is whole rows, parsed by ``read_csv`` while the next one
is read and cut.

A row ends at a newline outside quotes. RFC 4180 doubles a quote inside a quoted field, so a
newline is outside quotes when an even number of quote bytes stand before it in the run (a run
starts at a row's start): ``bytes.rfind`` and numpy, no Python per row. The count holds only for
quotes where RFC 4180 puts them. pyarrow reads a quote inside an unquoted field (``5'10"``) as a
plain character, and after such a quote every count is off by one, so each quote that the count
takes as opening a field is checked to open one: it follows a delimiter, a line end, the other
quote of a doubled pair, or the start of the run. When a quote fails that check before any row
end, or no row ends within :data:`MAX_ROW_BYTES`, the cutting stops (:attr:`RowCutter.stopped`)
and the caller reads the rest (:meth:`RowCutter.rest`) with pyarrow's streaming reader, which
needs no cuts: such files are read as fast as before, never wrongly.

With ``quoted_newlines`` off (``Csv(newlines_in_values=False)``, pyarrow's own promise that no
value holds a line break) every newline ends a row, as pyarrow's reader then assumes too.
"""

import io
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

#: Bytes read per run: 4 MB parse as four 1 MB blocks on pyarrow's threads while the next run is
#: read, and keep the queues between the threads small.
RUN_BYTES = 4 << 20
#: A window this long without a row end (one huge quoted value, or line ends that are not
#: ``\n``) stops the cutting instead of holding more of the file in memory.
MAX_ROW_BYTES = 32 << 20


class RowCutter:
    """Reads ``stream`` in steps of ``run_bytes`` and hands out the header row, then runs of
    whole rows. One thread at a time uses it (the header is read before the runs are handed to
    the prefetch thread)."""

    def __init__(
        self,
        stream: BinaryIO,
        quote: str | None,
        delimiter: str,
        quoted_newlines: bool = True,
        run_bytes: int | None = None,
    ) -> None:
        self._stream = stream
        self._run_bytes = run_bytes or RUN_BYTES
        self._pending = b""
        self._eof = False
        #: True once the cutting stopped: :meth:`rest` holds the part from the unread run on.
        self.stopped = False
        self._quote = -1
        if quote and quoted_newlines:
            self._quote = ord(quote.encode())
            # The bytes a field-opening quote may follow: the delimiter, a line end, a quote.
            self._openers = [ord(delimiter.encode()), ord("\n"), ord("\r"), self._quote]

    def header(self) -> bytes | None:
        """The first row's bytes with its line end (``b""`` for an empty stream), or None when
        its quotes cannot be trusted (:attr:`stopped`)."""
        return self._take(self._first_row_end, b"")

    def next_run(self) -> bytes | None:
        """The next run of whole rows (the last may lack its line end); None at the end of the
        stream, or when the cutting stopped (:attr:`stopped`)."""
        if self.stopped:
            return None
        while len(self._pending) < self._run_bytes and self._read():
            pass
        return self._take(self._last_row_end, None)

    def _take(self, row_end: Callable[[bytes], int], if_empty: bytes | None) -> bytes | None:
        """The pending bytes through the row end ``row_end`` finds, reading on until it finds
        one; at the stream's end all that is left (``if_empty`` when nothing is); None once
        the cutting stopped."""
        while True:
            end = row_end(self._pending)
            if end >= 0:
                taken, self._pending = self._pending[: end + 1], self._pending[end + 1 :]
                return taken
            if not self._more():
                if self.stopped:
                    return None
                taken, self._pending = self._pending, b""
                return taken or if_empty

    def rest(self) -> BinaryIO:
        """What is left of the stream, from the first byte not handed out."""
        head, self._pending = self._pending, b""
        return prefixed(head, self._stream)

    def _read(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(self._run_bytes)
        if not data:
            self._eof = True
            return False
        self._pending += data
        return True

    def _more(self) -> bool:
        """Read another step when no row end was found; False at the end of the stream, or
        (setting :attr:`stopped`) past :data:`MAX_ROW_BYTES` or after an untrusted quote."""
        if len(self._pending) >= MAX_ROW_BYTES:
            self.stopped = True
            return False
        # No row end before an untrusted quote: reading on would find none either. The stream
        # is read once more all the same, since at its end the rest is one run, needing no cut.
        untrusted = self._quote >= 0 and self._untrusted(self._pending) < len(self._pending)
        if not self._read():
            return False
        self.stopped = untrusted
        return not untrusted

    def _quotes(self, data: bytes) -> np.ndarray:
        return np.flatnonzero(np.frombuffer(data, np.uint8) == self._quote)

    def _untrusted(self, data: bytes, quotes: np.ndarray | None = None) -> int:
        """Where the first quote stands that the count takes as opening a field but that does
        not follow a delimiter, a line end or a quote (``len(data)`` if none)."""
        if quotes is None:
            quotes = self._quotes(data)
        opening = quotes[0::2]
        if len(opening) and opening[0] == 0:
            opening = opening[1:]
        if not len(opening):
            return len(data)
        before = np.frombuffer(data, np.uint8)[opening - 1]
        trusted = before == self._openers[0]
        for byte in self._openers[1:]:
            trusted |= before == byte
        if trusted.all():
            return len(data)
        return int(opening[np.argmin(trusted)])

    def _last_row_end(self, data: bytes) -> int:
        """The position of the last newline of ``data`` that ends a row, or -1."""
        if self._quote < 0:
            return data.rfind(b"\n")
        quotes = self._quotes(data)
        end = data.rfind(b"\n", 0, self._untrusted(data, quotes))
        while end >= 0:
            before = int(np.searchsorted(quotes, end))
            if before % 2 == 0:
                return end
            # Inside the quoted field that quote ``before - 1`` opened: look before it.
            end = data.rfind(b"\n", 0, int(quotes[before - 1]))
        return -1

    def _first_row_end(self, data: bytes) -> int:
        """The position of the first newline of ``data`` that ends a row, or -1."""
        if self._quote < 0:
            return data.find(b"\n")
        quotes = self._quotes(data)
        limit = self._untrusted(data, quotes)
        end = data.find(b"\n", 0, limit)
        while end >= 0:
            before = int(np.searchsorted(quotes, end))
            if before % 2 == 0:
                return end
            if before >= len(quotes):
                return -1  # the quoted field goes on past what was read
            # Inside a quoted field, which quote ``before`` closes: look after it.
            end = data.find(b"\n", int(quotes[before]) + 1, limit)
        return -1


def prefixed(head: bytes, stream: BinaryIO) -> BinaryIO:
    """``head`` then the rest of ``stream``, as one buffered stream."""
    return io.BufferedReader(_Prefixed(head, stream), 1 << 20)


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: bytes read ahead, handed back."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
