"""Connhex's request block: what the catalog may declare, and the body a window turns it into."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from export_pipelines.vendors.base import StandingSchedule, Window
from export_pipelines.vendors.connhex import ADAPTER
from export_pipelines.vendors.connhex.request import ConnhexRequest


def _item(**params: Any) -> dict[str, Any]:
    return {
        "params": {
            "target": {"value": "urn:chx:device:a,urn:chx:device:b", "label": "a,b"},
            "channelId": "ch-1",
            "subtopic": "events.data",
            **params,
        }
    }


def _request(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"format": {"extension": "csv"}, "items": [_item()]}
    return {**base, **overrides}


def test_partition_window_becomes_every_items_from_and_to_in_unix_seconds() -> None:
    request = ADAPTER.parse_request(_request(items=[_item(), _item(outputFormat="long")]))
    window = Window(datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 1, tzinfo=UTC))
    body = ADAPTER.build_body(request, window)
    assert [(i["params"]["from"], i["params"]["to"]) for i in body["items"]] == [
        (1711843200, 1711846800)
    ] * 2
    assert body["type"] == "oneTime"
    assert body["format"] == {"extension": "csv", "timezone": "utc", "template": "tabular"}
    # The vendor requires the two notification messages; the defaults provide them.
    assert sorted(m["policy"] for m in body["notification"]["messages"]) == [
        "onFailure",
        "onSuccess",
    ]
    assert all(m["title"] and m["text"] for m in body["notification"]["messages"])
    assert ADAPTER.window_is_fixed(request, window)


def test_declared_from_to_is_the_window_of_an_unpartitioned_export() -> None:
    request = ADAPTER.parse_request(_request(items=[_item(**{"from": 100, "to": 200})]))
    ADAPTER.check_request(request, partitioned=False, windowed_by_recurrence=False)
    body = ADAPTER.build_body(request, None)
    assert (body["items"][0]["params"]["from"], body["items"][0]["params"]["to"]) == (100, 200)
    assert ADAPTER.window_is_fixed(request, None)
    relative = ADAPTER.parse_request(_request(items=[_item(period="PT1H")]))
    assert not ADAPTER.window_is_fixed(relative, None)  # anchored at the vendor's run time


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_request(items=[_item(outputFormat="wide")]), "wide outputFormat needs the columns"),
        (
            _request(format={"extension": "csv", "columns": [{"id": "t", "label": "T"}]}),
            "columns apply to the wide outputFormat only",
        ),
        (_request(items=[_item(decimation={"ds": "15x", "dsf": "avg"})]), "ds '15x'"),
        (_request(items=[_item(decimation={"ds": "0m", "dsf": "avg"})]), "ds '0m'"),
        (_request(items=[_item(decimation={"ds": "1h", "dsf": "median"})]), "dsf"),
        (_request(items=[_item(transform="integral")]), "transform"),
        (_request(items=[_item(**{"from": 10})]), "give both"),
        (_request(items=[_item(**{"from": 10, "to": 10})]), "to must be after from"),
        (_request(items=[_item(period="P1M")]), "no fixed length"),
        (_request(format={"extension": "docx"}), "extension"),
        (_request(format={"extension": "csv", "timezone": "Mars/Olympus"}), "unknown time zone"),
        (_request(format={"extension": "csv", "csvDelimiter": ";;"}), "csvDelimiter"),
        (_request(items=[]), "items"),
        (
            _request(items=[_item(), _item(outputFormat="wide")]),
            "share one outputFormat",
        ),
        (
            _request(
                notification={"messages": [{"policy": "onSuccess", "title": "a", "text": "b"}]}
            ),
            "exactly two",
        ),
        (_request(type="recurring", periodicity="P1M"), "no fixed length"),
        (_request(periodicity="P1D"), "only a recurring request"),
        (_request(unknown=1), "unknown"),
        (
            _request(
                items=[{"params": {**_item()["params"], "target": {"value": "a,b", "label": "x"}}}]
            ),
            "as many comma-separated labels",
        ),
    ],
)
def test_bad_requests_are_refused_naming_the_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ConnhexRequest.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "partitioned", "message"),
    [
        (_request(format={"extension": "pdf"}), True, "pdf cannot become a table"),
        (_request(format={"extension": "csv", "template": "expanded"}), True, "only tabular"),
        (_request(items=[_item(**{"from": 1, "to": 2})]), True, "remove them"),
        (_request(items=[_item(period="PT1H")]), True, "remove them"),
        (_request(), False, "needs from/to"),
        (_request(type="recurring"), False, "the export must be partitioned"),
        (_request(type="recurring", periodStart=1), True, "periodStart: leave it out"),
        (
            _request(
                format={"extension": "csv", "columns": [{"id": "channel", "label": "C"}]},
                items=[_item(outputFormat="wide")],
            ),
            True,
            "the id channel is a column of the wide table",
        ),
    ],
)
def test_requests_that_do_not_fit_the_export_are_refused(
    raw: dict[str, Any], partitioned: bool, message: str
) -> None:
    request = ConnhexRequest.model_validate(raw)
    with pytest.raises(ValueError, match=message):
        ADAPTER.check_request(request, partitioned=partitioned, windowed_by_recurrence=False)


def test_a_window_within_a_second_cannot_be_asked_for() -> None:
    request = ADAPTER.parse_request(_request())
    window = Window(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    )
    with pytest.raises(ValueError, match="not a whole second"):
        ADAPTER.build_body(request, window)


def test_only_a_wide_export_has_a_wide_form() -> None:
    long = ADAPTER.parse_request(_request())
    wide = ADAPTER.parse_request(
        _request(
            format={"extension": "xlsx", "columns": [{"id": "t", "label": "Temp"}]},
            items=[_item(outputFormat="wide")],
        )
    )
    assert list(ADAPTER.output_forms(long)) == []
    assert list(ADAPTER.output_forms(wide)) == ["wide"]
    assert ADAPTER.output_forms(wide)["wide"].schema.names == ["time", "channel", "t"]


def test_a_standing_body_makes_run_k_cover_partition_k() -> None:
    """C-3: run k at periodStart + k * periodicity exports [run - period, run); with both the
    partition length and periodStart the first partition's end, that is partition k."""
    request = ADAPTER.parse_request(_request(type="recurring", items=[_item(), _item()]))
    first = datetime(2024, 3, 4, tzinfo=UTC)
    body = ADAPTER.build_standing_body(request, StandingSchedule(first, timedelta(days=1)))
    assert (body["type"], body["periodicity"]) == ("recurring", "PT24H")
    assert body["periodStart"] == int(datetime(2024, 3, 5, tzinfo=UTC).timestamp())
    assert [i["params"]["period"] for i in body["items"]] == ["PT24H", "PT24H"]
    assert all("from" not in i["params"] for i in body["items"])
    for k in (0, 1, 400):
        run = body["periodStart"] + k * 86_400
        assert run - 86_400 == int((first + timedelta(days=k)).timestamp())
    # A periodicity the catalog states must be the partition length.
    hourly = StandingSchedule(first, timedelta(hours=1))
    stated = ADAPTER.parse_request(_request(type="recurring", periodicity="PT60M"))
    assert ADAPTER.build_standing_body(stated, hourly)["periodicity"] == "PT1H"
    with pytest.raises(ValueError, match="not the partition length"):
        ADAPTER.build_standing_body(stated, StandingSchedule(first, timedelta(days=1)))


def test_a_standing_partition_resubmitted_asks_for_its_window_once() -> None:
    request = ADAPTER.parse_request(_request(type="recurring"))
    window = Window(datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 1, tzinfo=UTC))
    body = ADAPTER.build_body(request, window)
    assert body["type"] == "oneTime"
    assert "periodicity" not in body and "periodStart" not in body
    assert (body["items"][0]["params"]["from"], body["items"][0]["params"]["to"]) == (
        1711843200,
        1711846800,
    )
