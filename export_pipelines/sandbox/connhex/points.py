"""What one item's file holds: its window's points, decimated, delta'd, in long or wide form.

The rules are the ones of ``export_pipelines.decisions.connhex`` (C-3, C-5, C-6): a point is in the
window when ``from <= time < to``; decimation buckets are ``[k * ds, (k + 1) * ds)`` seconds since
the epoch, written at their start, empty ones left out, stddev and variance with ddof 0; ``delta``
comes after decimation, per variable in time order, and drops each variable's first point.

Work goes a chunk of time at a time (a day or an hour, or a whole number of buckets, so that no
bucket spans two chunks), with the previous value of each variable carried over for ``delta``: memory stays
bounded whatever the window. Order of the rows (the vendor is silent; this sandbox's choice):
raw long points without ``delta`` in arrival order (as the messages came in, some late, so not in
time order); otherwise long rows by target, variable (``generator.VARIABLES`` order), then time;
wide rows by time.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from export_pipelines.sandbox.connhex.generator import (
    SUBTOPIC,
    VARIABLE_NAMES,
    VARIABLES,
    ConnhexGenerator,
)
from export_pipelines.sandbox.connhex.request import Decimation, Item

_AGGREGATES = {
    "avg": lambda values: values.mean(),
    "max": lambda values: values.max(),
    "min": lambda values: values.min(),
    "sum": lambda values: values.sum(),
    "stddev": lambda values: values.std(ddof=0),
    "variance": lambda values: values.var(ddof=0),
}


def decimate(
    times: np.ndarray, values: np.ndarray, decimation: Decimation
) -> tuple[np.ndarray, np.ndarray]:
    """One series' buckets: (bucket starts ascending, aggregated values)."""
    if len(times) == 0:
        return times, values
    buckets = (times // decimation.seconds) * decimation.seconds
    grouped = pd.Series(values).groupby(buckets, sort=True)
    aggregated = _AGGREGATES[decimation.function](grouped)
    return aggregated.index.to_numpy(dtype=np.int64), aggregated.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Selection:
    """An item resolved against the deployment: which series, which window (whole seconds)."""

    publishers: tuple[int, ...]
    labels: tuple[str, ...]
    channel: int | None
    start: int
    end: int


def select(generator: ConnhexGenerator, item: Item, window: tuple[float, float]) -> Selection:
    """Targets that are no device of this deployment, or another subtopic, export nothing."""
    publishers, labels = [], []
    for target, label in zip(item.targets, item.labels, strict=True):
        index = generator.publisher_index(target)
        if index is not None:
            publishers.append(index)
            labels.append(label)
    channel = generator.channel_index(item.channel_id)
    if item.subtopic != SUBTOPIC:
        channel = None
    # Integer times: t >= from  <=>  t >= ceil(from); t < to  <=>  t < ceil(to).
    return Selection(
        tuple(publishers), tuple(labels), channel, math.ceil(window[0]), math.ceil(window[1])
    )


def _chunks(
    start: int, end: int, decimation: Decimation | None, base: int
) -> Iterator[tuple[int, int]]:
    """Chunks of ``base`` seconds, or of whole buckets (at least one) with decimation."""
    size = base
    if decimation is not None:
        size = decimation.seconds * max(1, base // decimation.seconds)
    chunk_start = (start // size) * size
    while chunk_start < end:
        yield max(start, chunk_start), min(end, chunk_start + size)
        chunk_start += size


class _Series:
    """One variable of one device through the chunks: decimation, then delta with carry-over."""

    def __init__(
        self, generator: ConnhexGenerator, publisher: int, channel: int, variable: int, item: Item
    ) -> None:
        self.generator, self.item = generator, item
        self.key = (publisher, channel, variable)
        self.previous: float | None = None

    def chunk(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        times, values, _ = self.generator.series_points(*self.key, start, end)
        if self.item.decimation is not None:
            times, values = decimate(times, values, self.item.decimation)
        if self.item.delta and len(times):
            previous = np.nan if self.previous is None else self.previous
            deltas = np.diff(values, prepend=previous)
            self.previous = float(values[-1])
            keep = ~np.isnan(deltas)
            times, values = times[keep], deltas[keep]
        return times, values


def long_frames(
    generator: ConnhexGenerator, item: Item, selection: Selection
) -> Iterator[pd.DataFrame]:
    """Frames of the long columns (``publisher`` holding the target's label), in file order."""
    if selection.channel is None or not selection.publishers:
        return
    channel_id = generator.channels[selection.channel]
    relabel = dict(
        zip((generator.publishers[p] for p in selection.publishers), selection.labels, strict=True)
    )
    if item.decimation is None and not item.delta:
        for frame in generator.messages(
            selection.publishers, selection.channel, selection.start, selection.end
        ):
            frame["publisher"] = frame["publisher"].map(relabel)
            yield frame
        return
    for publisher, label in zip(selection.publishers, selection.labels, strict=True):
        for variable_index, variable in enumerate(VARIABLES):
            series = _Series(generator, publisher, selection.channel, variable_index, item)
            base = generator.chunk_seconds(1)
            for start, end in _chunks(selection.start, selection.end, item.decimation, base):
                times, values = series.chunk(start, end)
                if len(times):
                    yield pd.DataFrame(
                        {
                            "publisher": label,
                            "channel": channel_id,
                            "name": variable.name,
                            "unit": variable.unit,
                            "time": times,
                            "value": values,
                        }
                    )


def wide_frames(
    generator: ConnhexGenerator,
    item: Item,
    selection: Selection,
    columns: tuple[tuple[str, str], ...],
) -> Iterator[pd.DataFrame]:
    """Frames of ``time`` then one column per (id, label) of ``columns``, headed by the label and
    holding the variable named by the id (NaN where it has no point at that time); rows by time."""
    if selection.channel is None or not selection.publishers:
        return
    publisher = selection.publishers[0]
    wanted = sorted(
        {column_id for column_id, _ in columns if column_id in VARIABLE_NAMES},
        key=VARIABLE_NAMES.index,
    )
    series = {
        name: _Series(generator, publisher, selection.channel, VARIABLE_NAMES.index(name), item)
        for name in wanted
    }
    base = generator.chunk_seconds(max(1, len(series)))
    for start, end in _chunks(selection.start, selection.end, item.decimation, base):
        pieces = {}
        for name, one in series.items():
            times, values = one.chunk(start, end)
            pieces[name] = pd.Series(values, index=times)
        merged = pd.DataFrame(pieces).sort_index() if pieces else pd.DataFrame()
        if merged.empty:
            continue
        frame = pd.DataFrame({"time": merged.index.to_numpy(dtype=np.int64)})
        for column_id, label in columns:
            if column_id in merged:
                frame[label] = merged[column_id].to_numpy(dtype=np.float64)
            else:
                frame[label] = np.nan
        yield frame
