"""Connhex export ZIPs → one tidy long table, and the wide table where the export asks for it.

A job's download is a ZIP with one file per item (C-2), CSV or XLSX, in the long or the wide layout
(C-6). The members are read one after another by the engine (:mod:`export_pipelines.normalize`):
streamed, their names used as labels only (a name that would escape a folder, ``../x``, refuses
the archive), their decompressed size capped. Every layout ends in the same long schema
:data:`LONG`: ``time`` (UTC), ``publisher``, ``channel``, ``name``, ``unit``, ``value`` (float64).

- Long files hold exactly those columns (``time`` first-class text with its offset, any order).
- Wide files hold ``time`` and one column per ``format.columns`` entry, headed by its ``label``
  and holding the variable named by its ``id``. Turned to long, each non-empty cell is one row
  named by the ``id`` (the label is only the file's heading); the channel is the item's
  ``channelId`` (the file does not say it), the publisher the item's ``target.value`` when it
  names one device (one device per wide item is what a wide file can tell apart) and null
  otherwise; ``unit``, which a wide file does not carry, is null. An empty cell is a variable absent at that time: no row.
- The wide form itself (:func:`wide_schema`) is ``time``, ``channel``, then one float64 column per
  variable named by its ``id``, one row per file row.

Timestamps are written in ``format.timezone`` with their UTC offset (``TIME_TEXT_FORMAT``); they are
read as text and converted by Arrow, which refuses a time without an offset (a naive local time is
ambiguous around a DST change). XLSX cells are read as text too, so that a workbook cell holding
a naive date-time is refused rather than taken for UTC.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from export_pipelines.decisions import connhex as decided
from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.readers import Csv, Format, TabularNormalizer, Xlsx, conform
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.normalize.source import DEFAULT_LIMITS, Limits
from export_pipelines.vendors.connhex.request import ConnhexRequest

UTC_MS: Final = pa.timestamp("ms", tz="UTC")
#: Names the wide form's own columns take; a variable may not be called so.
WIDE_FIXED: Final = ("time", "channel")

#: The one tidy table every Connhex export becomes.
LONG: Final = TableSchema(
    [
        Column("time", UTC_MS, nullable=False),
        Column("publisher", pa.string()),
        Column("channel", pa.string()),
        Column("name", pa.string(), nullable=False),
        Column("unit", pa.string()),
        Column("value", pa.float64()),
    ],
    extra="error",
)
#: A long file as read: the same columns with ``time`` as text, converted afterwards.
_LONG_READ: Final = TableSchema(
    [Column(c.name, pa.string() if c.name == "time" else c.type) for c in LONG.columns],
    extra="error",
)
_TIME: Final = TableSchema([Column("time", UTC_MS, nullable=False)])


def member_items(request: ConnhexRequest) -> dict[str, int]:
    """ZIP member name → item index, by the naming rule of C-2: the item's ``filename``, else the
    format's, else ``DEFAULT_FILENAME``; ``-<item index>`` when two items share it; the extension."""
    bases = [
        item.filename or request.format.filename or decided.DEFAULT_FILENAME
        for item in request.items
    ]
    ext = request.format.extension
    return {
        (f"{base}-{index}.{ext}" if bases.count(base) > 1 else f"{base}.{ext}"): index
        for index, base in enumerate(bases)
    }


def wide_schema(request: ConnhexRequest) -> TableSchema:
    """The wide form: ``time``, ``channel``, one float64 column per variable (named by its id)."""
    columns = request.format.columns or []
    return TableSchema(
        [
            Column("time", UTC_MS, nullable=False),
            Column("channel", pa.string(), nullable=False),
            *(Column(c.id, pa.float64()) for c in columns),
        ],
        extra="error",
    )


def _file_format(request: ConnhexRequest) -> Format:
    if request.format.extension == "xlsx":
        return Xlsx()
    if request.format.extension == "csv":
        return Csv(delimiter=request.format.delimiter)
    raise ValueError(f"{request.format.extension} files cannot become a table")


def _utc_times(times: pa.Array, label: str, first_row: int) -> pa.Array:
    """Text with an offset → UTC timestamps (the engine names the row of a bad one)."""
    return conform({"time": times}, _TIME, label, first_row, "row").column(0)


class _Reader:
    """The engine's reader of one request's files, part by part, with rows counted per part."""

    def __init__(self, request: ConnhexRequest, limits: Limits) -> None:
        self.request = request
        self.items = member_items(request)
        wide = request.output_format == "wide"
        self.labels = [(c.id, c.label) for c in request.format.columns or []] if wide else []
        read = (
            TableSchema(
                [Column("time", pa.string(), nullable=False)]
                + [Column(name, pa.float64(), source=label) for name, label in self.labels],
                extra="error",
            )
            if wide
            else _LONG_READ
        )
        self.engine = TabularNormalizer(read, _file_format(request), limits)

    def item_of(self, label: str) -> int:
        member = label.partition("!")[2]
        if not member and len(self.request.items) == 1:
            return 0  # a file that is not a ZIP holds the one item
        if member in self.items:
            return self.items[member]
        raise NormalizeError(
            label,
            reason="is none of the items' files (expected "
            + ", ".join(sorted(self.items))
            + "); the wide layout needs to know its item's channel",
        )

    def parts(self, path: Path) -> Iterator[tuple[str, Iterator[tuple[int, pa.RecordBatch]]]]:
        """(label, (first row, batch) …) per part; ``time`` converted to UTC."""
        for label, batches in self.engine.part_batches(path):
            yield label, self._numbered(label, batches)

    @staticmethod
    def _numbered(
        label: str, batches: Iterator[pa.RecordBatch]
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        first = 1
        for batch in batches:
            times = _utc_times(batch.column(0), label, first)
            yield first, batch.set_column(0, pa.field("time", UTC_MS, nullable=False), times)
            first += batch.num_rows


class ConnhexNormalizer:
    """Any Connhex export's files → :data:`LONG`."""

    def __init__(self, request: ConnhexRequest, limits: Limits = DEFAULT_LIMITS) -> None:
        self.schema = LONG.arrow()
        self._reader = _Reader(request, limits)
        self._wide = request.output_format == "wide"

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for label, numbered in self._reader.parts(path):
            if not self._wide:
                for _, batch in numbered:
                    yield pa.RecordBatch.from_arrays(
                        [batch.column(c.name) for c in LONG.columns], schema=self.schema
                    )
                continue
            params = self._reader.request.items[self._reader.item_of(label)].params
            targets = params.target.value.split(",")
            publisher = targets[0].strip() if len(targets) == 1 else None
            for _, batch in numbered:
                yield self._melted(batch, params.channelId, publisher)

    def _melted(self, batch: pa.RecordBatch, channel: str, publisher: str | None) -> pa.RecordBatch:
        """One wide batch → its non-empty cells as long rows, in time order then column order."""
        names = [name for name, _ in self._reader.labels]
        n, k = batch.num_rows, len(names)
        stacked = pa.concat_arrays([batch.column(1 + j) for j in range(k)])
        # Row-major over (row, variable): cell (r, j) sits at j * n + r in the stacked columns.
        order = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()
        values = stacked.take(pa.array(order))
        keep = values.is_valid()
        rows = pa.array(np.repeat(np.arange(n), k)).filter(keep)
        variables = pa.array(np.tile(np.arange(k), n)).filter(keep)
        m = len(rows)
        arrays = [
            batch.column(0).take(rows),
            pa.repeat(pa.scalar(publisher, pa.string()), m),
            pa.repeat(pa.scalar(channel, pa.string()), m),
            pa.array(names, pa.string()).take(variables),
            pa.nulls(m, pa.string()),
            values.filter(keep),
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


class ConnhexWideNormalizer:
    """A wide export's files → :func:`wide_schema` (the layout the vendor wrote, typed)."""

    def __init__(self, request: ConnhexRequest, limits: Limits = DEFAULT_LIMITS) -> None:
        if request.output_format != "wide":
            raise ValueError("only a wide export has a wide form")
        self.schema = wide_schema(request).arrow()
        self._reader = _Reader(request, limits)

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for label, numbered in self._reader.parts(path):
            channel = self._reader.request.items[self._reader.item_of(label)].params.channelId
            for _, batch in numbered:
                arrays = [
                    batch.column(0),
                    pa.repeat(pa.scalar(channel, pa.string()), batch.num_rows),
                    *(batch.column(1 + j) for j in range(len(self._reader.labels))),
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)
