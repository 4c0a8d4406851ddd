"""A large sheet cut at a row boundary into two workbooks, so that both halves parse at once.

fastexcel (calamine) parses a sheet's XML on one core, with the GIL released, and that parse is
nearly all of an XLSX conversion (docs/benchmarks.md); the second core waits. For a sheet of more
than :data:`SPLIT_BYTES` of XML, :func:`split_sheet` writes two stored (uncompressed) copies of
the workbook: the first holds the rows up to the middle ``</row>``, the second the header row
(renumbered to sit just above them) and the rest. Each is then a workbook fastexcel reads exactly
as it reads the whole: the same header, the same shared strings and styles, the same columns.

It only cuts what it can cut safely and returns None otherwise, and the sheet is parsed whole:
a small sheet, a sheet whose XML uses a namespace prefix or holds comments or CDATA (a ``</row>``
inside one is not a row's end), a first row without a value (fastexcel's header is the first row
holding one), rows without ``r`` numbers mixed with rows with them, a member that is not deflated
or stored, a CRC that does not match. The caller also compares the two halves' columns and types
and falls back to the whole sheet when they differ (:mod:`.xlsxread`).

The workbook's other sheets are emptied in the copies (only one sheet is read); its other parts
are copied as they are. The copies are temporary files (the sheet's XML size on the temporary
directory's disk, for as long as the parse takes), written while the sheet is inflated
(python-isal), so the sheet's XML is never held whole in memory.
"""

import contextlib
import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple
from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree
from isal import isal_zlib

#: Sheets with less XML than this parse whole: the copies would cost more than they save.
SPLIT_BYTES = 16 << 20
_CHUNK = 4 << 20
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_EMPTY_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData/></worksheet>"
)
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")
_ROW_NUMBER = re.compile(rb'^<row\b[^>]*?\br="(\d+)"')
_CELL_REF = re.compile(rb'(<c\b[^>]*?\br="[A-Z]+)\d+(")')
#: Compressed bytes inflated per step (at most about 64 MB out).
_INFLATE_STEP = 64 << 10
#: Bytes kept around the cut: the last row of the first copy and the first of the second.
_ROW_CONTEXT = 64 << 10
Ready = Callable[[Path], None]


class _Refused(Exception):
    """This sheet is parsed whole."""


def worksheets(archive: zipfile.ZipFile) -> list[str]:
    """The workbook's worksheet members, in the workbook's sheet order (fastexcel's indices)."""
    return [member for _, member in _sheets(archive)]


def _sheets(archive: zipfile.ZipFile) -> list[tuple[str | None, str]]:
    """Each sheet's name and member, in the workbook's order."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_RELS}Relationship")}
    sheets = []
    for sheet in book.iter(f"{_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_DOC_RELS}id"), "")
        member = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        sheets.append((sheet.get("name"), member))
    return sheets


def _sheet_member(sheets: list[tuple[str | None, str]], sheet: str | int) -> str:
    if isinstance(sheet, int):
        if not 0 <= sheet < len(sheets):
            raise _Refused
        return sheets[sheet][1]
    members = [member for name, member in sheets if name == sheet]
    if len(members) != 1:
        raise _Refused
    return members[0]


def _deflated_chunks(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's uncompressed bytes in chunks, inflated by isal, its CRC checked at the end."""
    offset = info.header_offset
    header = data[offset : offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04" or info.flag_bits & 0x1:
        raise _Refused
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_length + extra_length
    compressed = memoryview(data)[start : start + info.compress_size]
    crc = 0
    if info.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(compressed), _CHUNK):
            chunk = bytes(compressed[at : at + _CHUNK])
            crc = isal_zlib.crc32(chunk, crc)
            yield chunk
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        # Fed in steps small enough that one step cannot inflate to much (deflate expands at
        # most about 1,000 times), and never past the size the archive declares.
        inflater = isal_zlib.decompressobj(-15)
        inflated = 0
        for at in range(0, len(compressed), _INFLATE_STEP):
            chunk = inflater.decompress(compressed[at : at + _INFLATE_STEP])
            inflated += len(chunk)
            if inflated > info.file_size:
                raise _Refused
            crc = isal_zlib.crc32(chunk, crc)
            yield chunk
        tail = inflater.flush()
        crc = isal_zlib.crc32(tail, crc)
        yield tail
    else:
        raise _Refused
    if crc != info.CRC:
        raise _Refused


def _copy(
    archive: zipfile.ZipFile, targets: list[zipfile.ZipFile], member: str, others: set[str]
) -> None:
    """Every part but the sheet into each copy, read once; the ``others`` sheets emptied."""
    for info in archive.infolist():
        if info.filename == member or info.is_dir():
            continue
        body = _EMPTY_SHEET if info.filename in others else archive.read(info)
        for target in targets:
            target.writestr(info.filename, body, compress_type=zipfile.ZIP_STORED)


def _valued(row: bytes) -> bool:
    return b"<v>" in row or b"<is>" in row


def _adjacent(last_row: bytes, first_row: bytes) -> bool:
    """The second copy's first row follows the first copy's last one (or neither is numbered)."""
    last, first = _ROW_NUMBER.match(last_row), _ROW_NUMBER.match(first_row)
    if last is None or first is None:
        return last is None and first is None
    return int(first.group(1)) == int(last.group(1)) + 1


def _header_for(header: bytes, first_row: bytes) -> bytes:
    """The header row renumbered to stand just above ``first_row`` (the second copy's first)."""
    numbered = _ROW_NUMBER.match(first_row)
    header_numbered = _ROW_NUMBER.match(header)
    if numbered is None or header_numbered is None:
        if numbered is None and header_numbered is None and b' r="' not in header:
            return header  # rows numbered by position, in both
        raise _Refused
    above = str(int(numbered.group(1)) - 1).encode()
    header = header[: header_numbered.start(1)] + above + header[header_numbered.end(1) :]
    return _CELL_REF.sub(lambda m: m.group(1) + above + m.group(2), header)


def split_sheet(data: bytes, sheet: str | int, directory: Path, ready: Ready) -> bool:
    """Write two workbooks under ``directory`` that together hold ``sheet``'s rows (see the
    module's docstring), calling ``ready`` with each as soon as it is complete (the first while
    the second is still being written); False when the sheet is to be parsed whole, even after
    a ``ready`` call (then the caller discards what it started)."""
    try:
        return _split(data, sheet, directory, ready)
    except (
        _Refused,
        zipfile.BadZipFile,
        KeyError,
        ParseError,
        ValueError,  # defusedxml's refusals (an entity declaration) among them
        isal_zlib.error,  # type: ignore[misc]  # isal's stub types it loosely
    ):
        return False


def _split(data: bytes, sheet: str | int, directory: Path, ready: Ready) -> bool:
    archive = zipfile.ZipFile(io.BytesIO(data))
    sheets = _sheets(archive)
    member = _sheet_member(sheets, sheet)
    info = archive.getinfo(member)
    if info.file_size < SPLIT_BYTES:
        return False
    with contextlib.ExitStack() as open_files:
        paths = [directory / "first.xlsx", directory / "second.xlsx"]
        books = [
            open_files.enter_context(zipfile.ZipFile(path, "w", zipfile.ZIP_STORED))
            for path in paths
        ]
        _copy(archive, books, member, {m for _, m in sheets} - {member})
        copies = [
            _Copy(path, book, open_files.enter_context(book.open(member, "w", force_zip64=True)))
            for path, book in zip(paths, books, strict=True)
        ]
        _write_halves(_deflated_chunks(data, info), info.file_size, copies, ready)
    return True


class _Copy(NamedTuple):
    path: Path
    book: zipfile.ZipFile
    sheet: IO[bytes]

    def finish(self, ready: Ready) -> None:
        self.sheet.close()
        self.book.close()
        ready(self.path)


def _write_halves(chunks: Iterator[bytes], size: int, copies: list[_Copy], ready: Ready) -> None:
    """Stream the sheet's XML into the two copies, cut at the first ``</row>`` past the middle.

    Written without joining chunks (memory bandwidth is most of this step's cost): only the last
    :data:`_ROW_CONTEXT` bytes before the cut, where its rows are checked, are held back."""
    one, two = copies[0].sheet, copies[1].sheet
    start = b""  # the XML up to the header row's end, gathered first
    prefix = header = None
    tail = b""  # bytes not yet written to the first copy
    written = 0
    cut = False
    for chunk in chunks:
        # "<!": a comment, CDATA or a declaration. Its rare "!" is found by memchr first.
        if b"!" in chunk and (b"<!" in chunk or chunk.startswith(b"!")):
            raise _Refused
        if cut:
            two.write(chunk)
            continue
        if header is None:
            start += chunk
            prefix, header, chunk = _start(start)
            if header is None:
                continue
            one.write(prefix + header)
            written = len(prefix) + len(header)
        if written + len(tail) + len(chunk) < size // 2:
            one.write(tail)
            view = memoryview(chunk)
            one.write(view[: len(view) - _ROW_CONTEXT])
            written += len(tail) + max(0, len(view) - _ROW_CONTEXT)
            tail = bytes(view[len(view) - _ROW_CONTEXT :])
            continue
        window = tail + chunk
        middle = window.find(b"</row>", max(0, size // 2 - written))
        if middle < 0:
            one.write(window[: len(window) - _ROW_CONTEXT])
            written += max(0, len(window) - _ROW_CONTEXT)
            tail = window[len(window) - _ROW_CONTEXT :]
            continue
        middle += len(b"</row>")
        last_row = window[max(0, window.rfind(b"<row", 0, middle)) : middle]
        rest = window[middle:]
        first_row = rest.lstrip()[:_ROW_CONTEXT]
        if not first_row.startswith(b"<row") or not last_row.startswith(b"<row"):
            raise _Refused  # the sheet ends here, or a row longer than the context kept
        if not _valued(last_row) or not _adjacent(last_row, first_row):
            # fastexcel drops a trailing row without values and fills a gap between rows with
            # empty ones: cut where the two copies' rows meet exactly, or not at all.
            raise _Refused
        one.write(window[:middle])
        one.write(b"</sheetData></worksheet>")
        copies[0].finish(ready)
        assert prefix is not None
        two.write(prefix + _header_for(header, first_row))
        two.write(rest)
        cut = True
    if not cut:
        raise _Refused
    copies[1].finish(ready)


def _start(start: bytes) -> tuple[bytes, bytes | None, bytes]:
    """The sheet's opening up to ``<sheetData>`` (its ``<dimension>`` dropped: it would stretch
    a copy to the whole sheet's rows), the header row, and the bytes after it; no header yet
    while ``start`` does not hold it."""
    opened = start.find(b"<sheetData>")
    if opened < 0:
        if len(start) > _CHUNK:
            raise _Refused
        return b"", None, b""
    body = opened + len(b"<sheetData>")
    end = start.find(b"</row>", body)
    if end < 0:
        if len(start) - body > _ROW_CONTEXT:
            raise _Refused
        return b"", None, b""
    header = start[body : end + len(b"</row>")].lstrip()
    if not header.startswith(b"<row") or header.count(b"<row") != 1 or not _valued(header):
        raise _Refused
    return _DIMENSION.sub(b"", start[:body]), header, start[end + len(b"</row>") :]
