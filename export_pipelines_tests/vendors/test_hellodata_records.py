"""HelloData's tables from their scopes: gzip CSV with repeated aggregate headers and JSONL, on the
normalization engine, typed as declared; and the request's checks and body."""

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from export_pipelines.vendors.base import Window
from export_pipelines.vendors.hellodata import ADAPTER
from export_pipelines.vendors.hellodata.request import HelloDataRequest

SURVEY = {
    "format": "csv",
    "name": "survey",
    "dataset": {
        "scopes": [
            {"column": "msa"},
            {"column": "as_of_month"},
            {"column": "asking_rent", "aggregate": "Avg"},
            {"column": "number_units", "aggregate": "Sum"},
            {"column": "number_units", "aggregate": "Max"},
            {"column": "property_id", "aggregate": "CountDistinct"},
        ],
        "filters": [{"column": "state", "filter": {"in": ["TN"]}}],
    },
}


def _rows(request: HelloDataRequest, path: Path) -> pa.Table:
    normalizer = ADAPTER.normalizer_for(request)
    batches = list(normalizer.batches(path, 2))
    return pa.Table.from_batches(batches, schema=normalizer.schema)


def test_repeated_csv_headers_become_columns_named_for_their_aggregate(tmp_path: Path) -> None:
    request = ADAPTER.parse_request(SURVEY)
    path = tmp_path / "export.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"msa,as_of_month,asking_rent,number_units,number_units,property_id\n"
            b'"Nashville-Davidson-Murfreesboro-Franklin, TN",2024-01-01,1510.5,900,300,4\n'
            b"Memphis,2024-01-01,,120,120,1\n"
            b"Knoxville,2024-02-01,1200,40,25,2\n"
        )
    )
    table = _rows(request, path)
    assert table.column_names[:6] == [
        "msa",
        "as_of_month",
        "asking_rent_avg",
        "number_units_sum",
        "number_units_max",
        "property_id_count_distinct",
    ]
    assert table.num_rows == 3
    assert table.schema.field("number_units_sum").type == pa.int64()
    assert table.schema.field("asking_rent_avg").type == pa.float64()
    assert table.schema.field("as_of_month").type == pa.date32()
    assert table.column("number_units_sum").to_pylist() == [900, 120, 40]
    assert table.column("number_units_max").to_pylist() == [300, 120, 25]
    assert table.column("asking_rent_avg").to_pylist() == [1510.5, None, 1200.0]
    assert table.column("msa").to_pylist()[0] == "Nashville-Davidson-Murfreesboro-Franklin, TN"


def test_jsonl_rows_keyed_by_aggregate_suffix(tmp_path: Path) -> None:
    request = ADAPTER.parse_request({**SURVEY, "format": "jsonl"})
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(
        gzip.compress(
            b'{"msa":"Memphis","as_of_month":"2024-01-01","asking_rent_avg":999.5,'
            b'"number_units_sum":10,"number_units_max":7,"property_id_count_distinct":2}\n'
            b'{"msa":null,"as_of_month":"2024-02-01","asking_rent_avg":null,'
            b'"number_units_sum":null,"number_units_max":null,"property_id_count_distinct":0}\n'
        )
    )
    table = _rows(request, path)
    assert table.num_rows == 2
    assert table.column("number_units_max").to_pylist() == [7, None]
    assert table.column("as_of_month").to_pylist()[1].isoformat() == "2024-02-01"


def test_a_partition_filters_as_of_month_half_open_and_keeps_declared_filters() -> None:
    request = ADAPTER.parse_request(SURVEY)
    window = Window(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    body = ADAPTER.build_body(request, window)
    assert "webhookURL" not in body  # the client adds the receiver's URL at submit
    assert body["dataset"]["filters"] == {
        "and": [
            [{"column": "state", "filter": {"in": ["TN"]}}],
            {"column": "as_of_month", "filter": {"greaterThanOrEqualTo": "2024-03-01"}},
            {"column": "as_of_month", "filter": {"lessThan": "2024-04-01"}},
        ]
    }
    assert ADAPTER.window_is_fixed(request, window)
    assert not ADAPTER.window_is_fixed(request, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scopes": [{"column": "rent"}]}, "unknown column 'rent'"),
        ({"scopes": [{"column": "msa", "aggregate": "Sum"}]}, "Sum of msa needs a numeric column"),
        (
            {"scopes": [{"column": "asking_rent"}], "filters": None},
            "pricing columns (asking_rent) need a filter on a market column",
        ),
        (
            {"filters": [{"column": "state", "filter": {"like": "T%"}}]},
            "unknown operator 'like'",
        ),
    ],
)
def test_mistakes_in_the_request_are_named(change: dict, message: str) -> None:
    raw = {**SURVEY, "dataset": {**SURVEY["dataset"], **change}}
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ADAPTER.parse_request(raw)
