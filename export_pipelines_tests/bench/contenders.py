"""The contenders of ``make bench``: one function each, run alone in a fresh child process.

Each takes the input file, an output path and the input's kind, converts the file to Parquet and
returns the rows written. They are given the same column types as the engine's declared schema
(no contender infers), and write zstd Parquet like the engine's writer. Run by
``python -m export_pipelines_tests.bench.contenders NAME KIND IN OUT``, which prints one JSON line
with the rows, the seconds spent after the imports, the CPU seconds of all its threads in that
time, and its peak RSS.
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
        normalizer = _enterpret_records().EnterpretNormalizer()
    else:
        fmt = {"csv": Csv(newlines_in_values=False), "jsonl": JsonLines(), "xlsx": Xlsx()}[kind]
        normalizer = TabularNormalizer(_schema(), fmt)
    lineage = Lineage("bench", "all", "bench", datetime.now(UTC))
    batches = normalizer.batches(src, 2_000)  # type: ignore[attr-defined]
    return write_parquet(out, normalizer.schema, [(src.name, batches)], lineage).rows  # type: ignore[attr-defined]


def _enterpret_records():
    """Enterpret's mapping module, without the vendor registry's ``__init__`` (which imports every
    adapter and so Dagster, about 55 MB that a normalization does not use): the packages are
    entered by path, as the interpreter would, minus their ``__init__`` code."""
    import importlib
    import sys
    import types

    root = Path(__file__).resolve().parents[2] / "export_pipelines" / "vendors"
    for name, folder in (
        ("export_pipelines.vendors", root),
        ("export_pipelines.vendors.enterpret", root / "enterpret"),
    ):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
    return importlib.import_module("export_pipelines.vendors.enterpret.records")


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
    if kind == "jsonl":  # streaming; the decimal and the date travel as JSON text
        fields = [
            (n, pa.int64() if e else pa.string() if n in ("amount", "day") else t)
            for n, t, e in COLUMNS
        ]
        json_reader = pj.open_json(
            src,
            read_options=pj.ReadOptions(block_size=4 << 20),
            parse_options=pj.ParseOptions(explicit_schema=pa.schema(fields)),
        )
        rows = 0
        with pq.ParquetWriter(out, json_reader.schema, compression="zstd") as writer:
            for batch in json_reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
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
    if kind == "xlsx":  # polars' calamine engine is fastexcel under the hood
        overrides = {
            "id": pl.String, "user": pl.String, "country": pl.String, "qty": pl.Int64,
            "price": pl.Float64, "amount": pl.String, "ratio": pl.Float64, "paid": pl.Boolean,
            "day": pl.String, "created": pl.String, "updated": pl.Float64, "note": pl.String,
        }  # fmt: skip
        frame = pl.read_excel(src, engine="calamine", schema_overrides=overrides)
        frame = frame.with_columns(  # the bench's workbook holds the dates as ISO text
            pl.col("amount").cast(pl.Decimal(12, 2)),
            pl.col("day").str.to_date(),
            pl.col("created").str.to_datetime(time_zone="UTC", time_unit="ms"),
            pl.from_epoch(pl.col("updated").cast(pl.Int64), time_unit="s").dt.replace_time_zone(
                "UTC"
            ),
        )
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


def fastexcel_(kind: str, src: Path, out: Path) -> int:
    """The Rust calamine reader straight to Arrow (what polars' ``engine="calamine"`` wraps)."""
    import fastexcel
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if kind != "xlsx":
        raise ValueError(kind)
    read = {pa.int64(): "int", pa.float64(): "float", pa.bool_(): "boolean"}
    dtypes = {n: "float" if e else read.get(t, "string") for n, t, e in COLUMNS}
    batch = fastexcel.read_excel(str(src)).load_sheet(0, dtypes=dtypes).to_arrow()  # type: ignore[arg-type]
    columns = {n: batch.column(n) for n, _, _ in COLUMNS}
    for name, t, epoch in COLUMNS:  # the bench's workbook holds the dates as ISO text
        if epoch:
            columns[name] = pc.multiply(columns[name].cast(pa.int64()), 1000).cast(t)
        elif columns[name].type != t:
            columns[name] = columns[name].cast(t)
    table = pa.table(columns)
    pq.write_table(table, out, compression="zstd")
    return table.num_rows


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


CONTENDERS = {
    "engine": engine,
    "pyarrow": pyarrow_,
    "polars": polars_,
    "duckdb": duckdb_,
    "fastexcel": fastexcel_,
}


#: Imported before the clock starts: seconds measure the conversion, not module loading. pyarrow
#: imports pandas (when installed) the first time it converts a Python value (``pa.array``,
#: ``pa.scalar``, ``pa.table`` of a dict): about 0.2 s and 35 MB here, module loading like the rest,
#: so it is imported here for the contenders that go through pyarrow (their RSS still counts it).
_IMPORTS = {
    "engine": [
        "pandas",
        "export_pipelines.normalize.readers",
        "pyarrow.compute",
        "pyarrow.parquet",
        "isal.igzip_threaded",
        "defusedxml.ElementTree",
        "fastexcel",
    ],
    "pyarrow": ["pandas", "pyarrow.json", "pyarrow.csv", "pyarrow.parquet"],
    "polars": ["polars"],
    "duckdb": ["duckdb"],
    "fastexcel": ["pandas", "fastexcel", "pyarrow.parquet"],
}


def main() -> None:
    import importlib

    name, kind, src, out = sys.argv[1:5]
    for module in _IMPORTS[name]:
        importlib.import_module(module)
    if name == "engine" and kind == "enterpret":
        _enterpret_records()
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = CONTENDERS[name](kind, Path(src), Path(out))
    seconds = time.perf_counter() - start
    # CPU seconds of every thread of the process: on a shared machine the wall clock measures the
    # neighbours too, the CPU time much less so.
    cpu = time.process_time() - cpu_start
    # The high-water mark of this process's own memory (reset by exec, unlike ru_maxrss, which
    # would carry the parent's size over the fork).
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(
        json.dumps(
            {"rows": rows, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": hwm_kb / 1024}
        )
    )


if __name__ == "__main__":
    main()
