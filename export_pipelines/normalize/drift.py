"""Schema drift: what happens when a vendor's files carry a field the export's table does not declare.

Every reader that can keep such fields puts them in ``_rescued`` (JSON text of the row's unknown
fields, :mod:`.schema`); that column is the one place drift shows, whatever the vendor or format.
So the policy is applied here, once, on the batches on their way to the writer, and no vendor's
normalizer knows about it:

- ``rescue``: the fields stay in ``_rescued``; which fields, and where each was first seen, is
  reported (so a vendor's new field shows up in the table's metadata, not only in its rows).
- ``evolve``: after the file is written, each new field becomes a column of its own, appended
  after every other column, and leaves ``_rescued``. The columns are ``string``: a scalar as the
  vendor wrote it (``5``, ``true``, ``abc``), an object or array as its JSON text. Inferring a type
  from one partition would let the next partition infer another, and a table whose partitions
  disagree on a column's type cannot be read as one dataset; text always can. A field named like
  a column the table already has (a declared or a lineage column, or Enterpret's ``metadata``
  members beside ``keyValues``), or starting with ``_`` (the prefix of the pipeline's own
  columns), cannot be a column and stays in ``_rescued``. Earlier partitions
  are not rewritten: readers unify the partitions' schemas (a missing column reads as null).
- ``freeze``: the first batch that carries such a field fails the file with an error naming the
  file, the field(s) and the row they were first seen in (the file's rows counted from 1, across
  all parts of a ZIP); nothing is written.

Fields are found from the JSON texts by DuckDB (``json_keys``, ``json_extract_string``,
``json_merge_patch``) over whole arrays: no Python per row. A field is drift when a row carries it
(a CSV header with every cell empty, or a JSON key whose values are all null, adds no data and is
not reported: it is in no row's ``_rescued``).

A reader that cannot keep undeclared fields (no ``_rescued`` column: Rebilly, Connhex) refuses them
itself, naming the file, the field and the record: it always behaves as ``freeze``, and the catalog
refuses the other policies for it (``VendorAdapter.schema_drift_problem``).
"""

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal, get_args

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.lineage import Lineage
from export_pipelines.normalize.schema import RESCUED
from export_pipelines.normalize.writer import (
    PARQUET_OPTIONS,
    ParquetWriteResult,
    table_schema,
    write_parquet,
)

DriftPolicy = Literal["rescue", "evolve", "freeze"]
DRIFT_POLICIES: Final[tuple[str, ...]] = get_args(DriftPolicy)
#: Rows of the written file rewritten at a time when a field becomes a column.
_EVOLVE_ROWS = 100_000
#: Fields named in one log line or ledger event; the materialization's metadata lists every one.
_SUMMARY_FIELDS = 20


@dataclass(frozen=True)
class DriftedField:
    """A field the declared schema does not have, and where it was first seen."""

    name: str
    file: str
    #: The row of ``file`` it was first seen in, counting the file's rows from 1.
    row: int
    #: ``column`` (evolve made it one) or ``_rescued`` (kept there).
    kept_in: str = RESCUED.name

    def where(self) -> str:
        return f"{self.file} row {self.row}"


@dataclass(frozen=True)
class Drift:
    """What one partition's files added to the declared schema, and what the policy did."""

    policy: DriftPolicy
    fields: tuple[DriftedField, ...] = ()
    #: The written file's schema after ``evolve`` added columns (None when nothing was added).
    evolved_schema: pa.Schema | None = None

    @property
    def added(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields if f.kept_in == "column"]

    def summary(self) -> str:
        """One line for logs and the ledger (field names and places only, never values)."""
        if not self.fields:
            return f"schema drift ({self.policy}): none"
        shown = self.fields[:_SUMMARY_FIELDS]
        seen = ", ".join(f"{f.name} (first in {f.where()}, kept in {f.kept_in})" for f in shown)
        more = len(self.fields) - len(shown)
        tail = f" and {more} more (the table's metadata lists them all)" if more else ""
        return f"schema drift ({self.policy}): fields the schema does not declare: {seen}{tail}"


def checked_policy(value: object) -> DriftPolicy:
    """``value`` as a policy, or a ValueError saying which values there are."""
    if value not in DRIFT_POLICIES:
        raise ValueError(
            f"schema_drift: {value!r} is not a drift policy; use one of "
            + ", ".join(DRIFT_POLICIES)
        )
    return value  # type: ignore[return-value]


def _quoted_path(name: str) -> str:
    """A JSON path naming one top-level key, whatever characters it holds."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class DriftWatch:
    """Looks at ``_rescued`` of every batch streamed to the writer; under ``freeze`` it stops the
    stream at the first undeclared field."""

    policy: DriftPolicy
    #: Names a field cannot take as a column (the table's own columns).
    reserved: frozenset[str]
    _seen: dict[str, DriftedField] = field(default_factory=dict)
    _db: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)

    def watch(
        self, sources: Iterable[tuple[str, Iterator[pa.RecordBatch]]]
    ) -> Iterator[tuple[str, Iterator[pa.RecordBatch]]]:
        for source, batches in sources:
            yield source, self._batches(source, batches)

    def _batches(self, source: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        row = 1
        for batch in batches:
            self._look(batch, source, row)
            row += batch.num_rows
            yield batch

    def _look(self, batch: pa.RecordBatch, source: str, first_row: int) -> None:
        index = batch.schema.get_field_index(RESCUED.name)
        if index < 0:
            return
        rescued = batch.column(index)
        if rescued.null_count == len(rescued):
            return
        valid = rescued.is_valid()
        rows = pc.indices_nonzero(valid)
        self._db.register("texts", pa.table({"t": rescued.filter(valid), "n": rows}))
        found = self._db.sql(
            "select k, min(n) from (select unnest(json_keys(t)) k, "
            "unnest(range(len(json_keys(t)))) p, n from texts) group by k "
            "order by min(n), arg_min(p, n)",
        ).fetchall()
        new = [(name, int(n)) for name, n in found if name not in self._seen]
        if not new:
            return
        if self.policy == "freeze":
            first = min(n for _, n in new)
            names = [name for name, n in new if n == first]
            raise NormalizeError(
                source,
                f"row {first_row + first}",
                ", ".join(names),
                reason="not declared by the export's schema, whose schema_drift is freeze: the "
                "file is refused (declare the column, or choose schema_drift rescue or evolve)",
            )
        becomes = "column" if self.policy == "evolve" else RESCUED.name
        for name, n in new:
            kept = RESCUED.name if name in self.reserved or name.startswith("_") else becomes
            self._seen[name] = DriftedField(name, source, first_row + n, kept)

    def drift(self) -> Drift:
        return Drift(self.policy, tuple(self._seen.values()))

    def close(self) -> None:
        self._db.close()


def write_parquet_with_drift(
    dest: Path,
    record_schema: pa.Schema,
    sources: Iterable[tuple[str, Iterator[pa.RecordBatch]]],
    lineage: Lineage,
    policy: DriftPolicy,
) -> tuple[ParquetWriteResult, Drift]:
    """:func:`~.writer.write_parquet` under a drift policy: the written file (with any evolved
    columns) and what drifted."""
    watch = DriftWatch(policy, frozenset(table_schema(record_schema).names))
    try:
        written = write_parquet(dest, record_schema, watch.watch(sources), lineage)
        drift = watch.drift()
        if drift.columns:
            written = evolve_parquet(written, drift.columns)
            drift = replace(drift, evolved_schema=written.schema)
        return written, drift
    finally:
        watch.close()


def evolve_parquet(written: ParquetWriteResult, names: list[str]) -> ParquetWriteResult:
    """Rewrite ``written`` with each of ``names`` taken out of ``_rescued`` into a string column
    of its own, appended at the end (a rare path: only files that drifted). The rewrite goes to a
    temporary beside the file and replaces it whole."""
    path = written.path
    schema = pa.schema([*written.schema, *(pa.field(name, pa.string()) for name in names)])
    rescued_at = written.schema.get_field_index(RESCUED.name)
    tmp = path.with_name(f".{path.name}.evolving")
    db = duckdb.connect()
    patch = json.dumps(dict.fromkeys(names))
    columns = ", ".join(f"json_extract_string(t, ${i + 2}) as c{i}" for i in range(len(names)))
    query = (
        f"select {columns}, case when t is null then null "
        "else nullif(json_merge_patch(t, $1), '{}') end as rest from part"
    )
    try:
        with pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_EVOLVE_ROWS):
                db.register("part", pa.table({"t": batch.column(rescued_at)}))
                out = db.sql(query, params=[patch, *map(_quoted_path, names)]).to_arrow_table()
                arrays = list(batch.columns)
                arrays[rescued_at] = out.column("rest").combine_chunks().cast(pa.string())
                arrays += [
                    out.column(i).combine_chunks().cast(pa.string()) for i in range(len(names))
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        db.close()
    return replace(written, schema=schema, bytes=path.stat().st_size)


def unified_schema(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """One schema for partitions written before and after a drift: every column of any of them
    (evolved columns are nullable strings, so partitions never disagree on a type)."""
    return pa.unify_schemas(list(schemas), promote_options="default")


__all__ = [
    "DRIFT_POLICIES",
    "Drift",
    "DriftPolicy",
    "DriftWatch",
    "DriftedField",
    "checked_policy",
    "evolve_parquet",
    "unified_schema",
    "write_parquet_with_drift",
]
