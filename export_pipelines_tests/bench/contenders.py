"""The contenders of ``make bench``: one function each, run alone in a fresh child process.

Each takes the input file, an output path and the input's kind, converts the file to Parquet and
returns the rows written. They are given the same column types as the engine's declared schema
(no contender infers), and write zstd Parquet like the engine's writer. Run by
``python -m export_pipelines_tests.bench.contenders NAME KIND IN OUT``, which prints one JSON line
with the rows and the seconds spent after the imports.
"""

import json
import sys
import time
from pathlib import Path

import pyarrow as pa

TS = pa.timestamp("ms", tz="UTC")
#: The tabular files' 12 typed columns (name, Arrow type, epoch unit or None).
COLUMNS: list[tuple[str, pa.DataType, str | None]] = [
    ("id", pa.string(), None),
    ("user", pa.string(), None),
    ("country", pa.string(), None),
    ("qty", pa.int64(), None),
    ("price", pa.float64(), None),
    ("amount", pa.decimal128(12, 2), None),
    ("ratio", pa.float64(), None),
    ("paid", pa.bool_(), None),
    ("day", pa.date32(), None),
    ("created", TS, None),
    ("updated", TS, "s"),
    ("note", pa.string(), None),
]


def _schema():  # the engine's declaration of the bench table
    from export_pipelines.normalize.schema import Column, TableSchema

    return TableSchema([Column(n, t, epoch=e) for n, t, e in COLUMNS])  # type: ignore[arg-type]


def engine(kind: str, src: Path, out: Path) -> int:
    from datetime import UTC, datetime

    from export_pipelines.normalize import Lineage, write_parquet
    from export_pipelines.normalize.readers import Csv, JsonLines, TabularNormalizer, Xlsx

    normalizer: object
    if kind == "enterpret":
        from export_pipelines.vendors.enterpret.records import EnterpretNormalizer

        normalizer = EnterpretNormalizer()
    else:
        fmt = {"csv": Csv(newlines_in_values=False), "jsonl": JsonLines(), "xlsx": Xlsx()}[kind]
        normalizer = TabularNormalizer(_schema(), fmt)
    lineage = Lineage("bench", "all", "bench", datetime.now(UTC))
    batches = normalizer.batches(src, 2_000)  # type: ignore[attr-defined]
    return write_parquet(out, normalizer.schema, [(src.name, batches)], lineage).rows  # type: ignore[attr-defined]


def pyarrow_(kind: str, src: Path, out: Path) -> int:
    import pyarrow.csv as pcsv
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    if kind == "enterpret":
        # The whole document at once (pyarrow cannot stream it); predictions dropped: pyarrow
        # cannot write the vendor's empty ``sentiment: {}`` structs to Parquet.
        doc = pj.read_json(src, read_options=pj.ReadOptions(block_size=src.stat().st_size + 1))
        records = doc.column("records").combine_chunks().flatten()
        table = pa.Table.from_struct_array(records)
        table = table.drop_columns([c for c in ("predictions",) if c in table.column_names])
        pq.write_table(table, out, compression="zstd")
        return table.num_rows
    if kind == "csv":
        types = {n: (pa.string() if e else t) for n, t, e in COLUMNS}
        reader = pcsv.open_csv(
            src,
            read_options=pcsv.ReadOptions(block_size=4 << 20),
            convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        rows = 0
        with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    raise ValueError(kind)


def polars_(kind: str, src: Path, out: Path) -> int:
    import polars as pl

    if kind == "enterpret":
        frame = pl.read_json(src).explode("records").unnest("records")
        frame = frame.drop([c for c in ("predictions",) if c in frame.columns])
        frame.write_parquet(out, compression="zstd")
        return frame.height
    if kind == "xlsx":
        frame = pl.read_excel(src, engine="calamine")
        frame.write_parquet(out, compression="zstd")
        return frame.height
    types = {
        "id": pl.String, "user": pl.String, "country": pl.String, "qty": pl.Int64,
        "price": pl.Float64, "amount": pl.Decimal(12, 2), "ratio": pl.Float64,
        "paid": pl.Boolean, "day": pl.Date, "created": pl.String, "updated": pl.Int64,
        "note": pl.String,
    }  # fmt: skip
    if kind == "csv":
        lazy = pl.scan_csv(src, schema=types)
    else:  # the decimal travels as JSON text
        lazy = pl.scan_ndjson(src, schema={**types, "amount": pl.String, "day": pl.String})
        lazy = lazy.with_columns(
            pl.col("amount").cast(pl.Decimal(12, 2)), pl.col("day").str.to_date()
        )
    lazy = lazy.with_columns(
        pl.col("created").str.to_datetime(time_zone="UTC", time_unit="ms"),
        pl.from_epoch("updated", time_unit="s").dt.replace_time_zone("UTC"),
    )
    lazy.sink_parquet(out, compression="zstd")
    return pl.scan_parquet(out).select(pl.len()).collect().item()


def duckdb_(kind: str, src: Path, out: Path) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if kind == "enterpret":
        inner = (
            "SELECT unnest(r) FROM (SELECT unnest(records) AS r FROM "
            f"read_json('{src}', maximum_object_size = 1000000000))"
        )
        con.execute(f"COPY ({inner}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    else:
        columns = (
            "{'id': 'VARCHAR', 'user': 'VARCHAR', 'country': 'VARCHAR', 'qty': 'BIGINT', "
            "'price': 'DOUBLE', 'amount': 'DECIMAL(12,2)', 'ratio': 'DOUBLE', 'paid': 'BOOLEAN', "
            "'day': 'DATE', 'created': 'TIMESTAMPTZ', 'updated': 'BIGINT', 'note': 'VARCHAR'}"
        )
        reader = (
            f"read_csv('{src}', header = true, columns = {columns})"
            if kind == "csv"
            else f"read_json('{src}', format = 'newline_delimited', columns = {columns})"
        )
        select = f"SELECT * REPLACE (to_timestamp(updated) AS updated) FROM {reader}"
        con.execute(f"COPY ({select}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]  # type: ignore[index]


CONTENDERS = {"engine": engine, "pyarrow": pyarrow_, "polars": polars_, "duckdb": duckdb_}


#: Imported before the clock starts: seconds measure the conversion, not module loading.
_IMPORTS = {
    "engine": [
        "export_pipelines.normalize.readers",
        "pyarrow.compute",
        "pyarrow.parquet",
        "isal.igzip_threaded",
        "defusedxml.ElementTree",
        "python_calamine",
    ],
    "pyarrow": ["pyarrow.json", "pyarrow.csv", "pyarrow.parquet"],
    "polars": ["polars"],
    "duckdb": ["duckdb"],
}


def main() -> None:
    import importlib

    name, kind, src, out = sys.argv[1:5]
    for module in _IMPORTS[name]:
        importlib.import_module(module)
    if name == "engine" and kind == "enterpret":
        importlib.import_module("export_pipelines.vendors.enterpret.records")
    start = time.perf_counter()
    rows = CONTENDERS[name](kind, Path(src), Path(out))
    seconds = time.perf_counter() - start
    # The high-water mark of this process's own memory (reset by exec, unlike ru_maxrss, which
    # would carry the parent's size over the fork).
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": hwm_kb / 1024}))


if __name__ == "__main__":
    main()
