"""Catalog bounds checked in process (issue 6, item 11): each mistake names its field.

``dg check defs`` runs the same validation (see ``test_dg_check.py`` for the CLI itself); here the
component is validated directly, which is quick enough to cover every bound.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from export_pipelines.catalog import AsyncExport


def _export(**attributes: Any) -> AsyncExport:
    document: dict[str, Any] = {
        "vendor": "enterpret",
        "export": "x",
        "partitioning": "daily",
        "start": "2024-01-01",
        "request": {"pageSize": 5},
    }
    document.update(attributes)
    return AsyncExport.model_validate(document)


def _refused(**attributes: Any) -> str:
    with pytest.raises(ValidationError) as error:
        _export(**attributes)
    return str(error.value)


def test_an_end_before_or_at_the_start_is_refused() -> None:
    assert "end: 2023-12-31 is not after start 2024-01-01" in _refused(end="2023-12-31")
    assert "end: 2024-01-01 is not after start 2024-01-01" in _refused(end="2024-01-01")


def test_a_start_in_the_future_is_refused() -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert f"start: {future} is in the future" in _refused(start=future)


def test_bounds_that_hold_no_whole_partition_are_refused() -> None:
    message = _refused(partitioning="weekly", start="2024-01-03", end="2024-01-06")
    assert "start/end: no whole weekly partition" in message


def test_a_page_size_past_the_bound_is_refused_in_both_places() -> None:
    assert "request.pageSize" in _refused(request={"pageSize": 10**23})
    assert "request.listRecords.pageSize" in _refused(request={"listRecords": {"pageSize": 10**23}})
    assert _export(request={"pageSize": 1_000_000}).to_spec().request.page_size == 1_000_000


def test_times_past_int64_are_refused() -> None:
    message = _refused(
        partitioning="none",
        start=None,
        request={
            "pageSize": 5,
            "listRecords": {"timerange": {"startTime": 0, "endTime": 2**63}},
        },
    )
    assert "request.listRecords.timerange.endTime" in message


def test_sound_bounds_pass() -> None:
    spec = _export(end="2024-02-01").to_spec()
    partitions = spec.partitions_def()
    assert partitions is not None
    assert partitions.get_first_partition_key() == "2024-01-01"
    assert partitions.get_last_partition_key() == "2024-01-31"
