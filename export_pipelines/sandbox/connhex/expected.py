"""The points a Connhex sandbox job exported, recomputed in another process (the demo's verifier).

The control endpoints give the generator's parameters and the job's request and window; the same
``points`` functions over a rebuilt generator list the item's rows in the file's order, in long form
(a wide item's rows melted back: by time, then by ``format.columns``), with ``time`` as ISO-8601 UTC.
``vendor_job_id`` may be a job's id, a request's id (then every latest job per item, in item
order), or ``<request id>@<window start>``, the pipeline's name for one run of a recurring request
(then that run's job per item: the jobs whose window, as the sandbox computed it, starts there).
"""

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from export_pipelines.sandbox.connhex.generator import (
    VARIABLE_NAMES,
    VARIABLES,
    ConnhexGenerator,
    GeneratorParams,
)
from export_pipelines.sandbox.connhex.points import long_frames, select, wide_frames
from export_pipelines.sandbox.connhex.request import ExportRequest, parse_export
from export_pipelines.sandbox.connhex.simulator import VENDOR


def job_points(
    generator: ConnhexGenerator,
    request: ExportRequest,
    item_index: int,
    window: tuple[float, float],
) -> Iterator[dict[str, Any]]:
    """One job's rows in long form, in the order its file holds them."""
    item = request.items[item_index]
    selection = select(generator, item, window)
    if item.output_format == "long":
        for frame in long_frames(generator, item, selection):
            for row in frame.itertuples(index=False):
                yield _record(row.publisher, row.channel, row.name, row.unit, row.time, row.value)
        return
    pairs = tuple((column.id, column.label) for column in request.format.columns)
    units = {variable.name: variable.unit for variable in VARIABLES}
    publisher = selection.labels[0] if selection.labels else ""
    channel = item.channel_id
    for frame in wide_frames(generator, item, selection, pairs):
        for row in frame.itertuples(index=False):
            for (column_id, _), value in zip(pairs, row[1:], strict=True):
                if column_id in VARIABLE_NAMES and value == value:
                    yield _record(publisher, channel, column_id, units[column_id], row[0], value)


def _record(
    publisher: str, channel: str, name: str, unit: str, time: int, value: float
) -> dict[str, Any]:
    moment = datetime.fromtimestamp(int(time), UTC).isoformat()
    return {
        "publisher": publisher,
        "channel": channel,
        "name": name,
        "unit": unit,
        "time": moment,
        "value": float(value),
    }


def expected_records(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """``request_body`` is not needed: the sandbox kept the request as it accepted it."""
    control = f"{sandbox_url}/_sandbox/{VENDOR}"
    params = httpx.get(f"{control}/generator", timeout=10).raise_for_status().json()
    generator = ConnhexGenerator(GeneratorParams.from_dict(params))
    export_id, slot, slot_start = vendor_job_id.partition("@")
    answer = httpx.get(f"{control}/jobs/{vendor_job_id}", timeout=10) if not slot else None
    if answer is None or answer.status_code == 404:
        export = httpx.get(f"{control}/exports/{export_id}", timeout=10).raise_for_status()
        summary = export.json()
        runs = summary["jobs"]
        if slot:  # one run of a recurring request: its jobs whose window starts there
            runs = [job for job in runs if job["windowStart"] == float(slot_start)]
        latest = {job["itemIndex"]: job for job in runs}
        jobs = [latest[index] for index in sorted(latest)]
        body = {key: value for key, value in summary.items() if key in _BODY_KEYS}
    else:
        job = answer.raise_for_status().json()
        jobs, body = [job], job["request"]
    request = parse_export(body, set(generator.channels), 0)
    for job in jobs:
        window = (float(job["windowStart"]), float(job["windowEnd"]))
        yield from job_points(generator, request, int(job["itemIndex"]), window)


_BODY_KEYS = {"format", "type", "items", "periodicity", "periodStart", "notification"}
