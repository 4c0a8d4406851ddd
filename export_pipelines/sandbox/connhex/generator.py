"""Deterministic synthetic SenML-like messages of a Connhex deployment, any size, from a seed.

Every device (publisher ``urn:chx:device:sensor-001`` …) publishes every variable on every channel,
on subtopic ``events.data``. A variable's k-th point is due at ``floor(k * 3600 / points_per_hour)``
seconds since the epoch plus a jitter of up to a third of the interval, in whole seconds (the
exporter's timestamp text has no fractions). About 4 % of the points are missing, and each device
goes silent for one hour in about fifty (the gaps). Messages arrive late now and then: a message's
arrival is its time plus, for about one point in ten, up to two intervals, and ``messages`` lists
them in arrival order, so they are out of time order (the order the exporter writes raw long files).

Every value is a pure function of (seed, publisher, channel, variable, k), computed with numpy over
whole ranges of k: a window of a long dataset costs only its own points, and the tests recompute
the raw points of a window on their own (``series_points``) to check decimation and delta.
"""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

SUBTOPIC = "events.data"
PUBLISHER_PREFIX = "urn:chx:device:sensor-"
#: Time range of one generated chunk: a day, or an hour when a day would hold more than
#: ``CHUNK_POINTS`` points; memory is bounded by one chunk of the series being written.
CHUNK_SECONDS = 86_400
CHUNK_POINTS = 200_000

_MISSING_PERCENT = 4
_SILENT_HOUR_ONE_IN = 50
_LATE_PERCENT = 10
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Variable:
    name: str
    unit: str


#: The variables each device publishes; ``energy`` is a meter reading that only grows.
VARIABLES: tuple[Variable, ...] = (
    Variable("temperature", "°C"),
    Variable("humidity", "%"),
    Variable("power", "W"),
    Variable("energy", "kWh"),
)
VARIABLE_NAMES = tuple(variable.name for variable in VARIABLES)

#: Columns of every frame this module returns (times in Unix seconds, UTC).
POINT_COLUMNS = ("publisher", "channel", "name", "unit", "time", "value")


@dataclass(frozen=True)
class GeneratorParams:
    """Everything the data depends on; the control endpoint serves it so tests can rebuild it."""

    seed: int
    publisher_count: int
    channel_count: int
    points_per_hour: int
    #: Unix seconds: no point before ``start`` or at or after ``end``.
    start: int
    end: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "GeneratorParams":
        return cls(**{name: int(str(data[name])) for name in cls.__dataclass_fields__})


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over uint64 values (wrapping arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from uint64 hashes."""
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class ConnhexGenerator:
    """The deployment's devices, channels and their messages."""

    def __init__(self, params: GeneratorParams) -> None:
        self.params = params
        self.interval = 3600.0 / params.points_per_hour
        self.jitter_range = max(1, int(self.interval // 3))
        self.publishers = tuple(
            f"{PUBLISHER_PREFIX}{index + 1:03d}" for index in range(params.publisher_count)
        )
        namespace = uuid.UUID(int=params.seed & ((1 << 128) - 1))
        self.channels = tuple(
            str(uuid.uuid5(namespace, f"connhex-channel-{index}"))
            for index in range(params.channel_count)
        )
        self._publisher_index = {name: index for index, name in enumerate(self.publishers)}
        self._channel_index = {name: index for index, name in enumerate(self.channels)}

    def publisher_index(self, publisher: str) -> int | None:
        return self._publisher_index.get(publisher)

    def channel_index(self, channel: str) -> int | None:
        return self._channel_index.get(channel)

    def _key(self, *parts: int) -> np.uint64:
        key = (self.params.seed * 0x9E3779B97F4A7C15) & _MASK64
        for part in parts:
            key = int(_mix(np.array([key ^ ((part + 1) * 0xD1B54A32D192ED69 & _MASK64)]))[0])
        return np.uint64(key)

    def _slots(self, start: int, end: int) -> np.ndarray:
        """Every k whose point may fall in [start, end) (jitter included)."""
        first = max(0, int(np.floor((start - self.jitter_range) / self.interval)))
        last = int(np.ceil(end / self.interval)) + 1
        return np.arange(first, max(first, last), dtype=np.int64)

    def series_points(
        self, publisher: int, channel: int, variable: int, start: int, end: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, values, arrivals) of one variable's points with ``start <= time < end``, in
        time order; times and arrivals are int64 Unix seconds, values float64."""
        start = max(start, self.params.start)
        end = min(end, self.params.end)
        empty = np.array([], dtype=np.int64)
        if end <= start:
            return empty, np.array([], dtype=np.float64), empty
        slots = self._slots(start, end)
        key = self._key(publisher, channel, variable)
        hashes = _mix(slots.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ key)
        jitter = (hashes % np.uint64(self.jitter_range)).astype(np.int64)
        times = np.floor(slots * self.interval).astype(np.int64) + jitter
        present = (hashes >> np.uint64(20)) % np.uint64(100) >= np.uint64(_MISSING_PERCENT)
        hours = (times // 3600).astype(np.uint64)
        silent_key = self._key(publisher, 1_000_003)
        silent = _mix(hours ^ silent_key) % np.uint64(_SILENT_HOUR_ONE_IN) == np.uint64(0)
        keep = present & ~silent & (times >= start) & (times < end)
        times, hashes = times[keep], hashes[keep]
        noise = _unit_interval(_mix(hashes))
        values = self._values(publisher, channel, variable, times, noise)
        late = (hashes >> np.uint64(40)) % np.uint64(100) < np.uint64(_LATE_PERCENT)
        delay = np.floor(_unit_interval(_mix(hashes ^ np.uint64(0xA5A5))) * 2 * self.interval)
        arrivals = times + np.where(late, delay.astype(np.int64), 0)
        return times, values, arrivals

    def _values(
        self, publisher: int, channel: int, variable: int, times: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        day = 2 * np.pi * (times / 86_400.0 - 0.3)
        bias = publisher * 0.7 + channel * 0.3
        name = VARIABLES[variable].name
        if name == "temperature":
            return np.round(18 + bias + 6 * np.sin(day) + (noise - 0.5) * 0.8, 2)
        if name == "humidity":
            return np.round(np.clip(55 - 15 * np.sin(day) + (noise - 0.5) * 4, 0, 100), 1)
        if name == "power":
            return np.round(400 + 60 * publisher + 300 * np.maximum(np.sin(day), 0) + noise * 90, 1)
        # energy: a meter in kWh growing at the device's mean power, read to the Wh.
        mean_kw = 0.5 + 0.06 * publisher + 0.02 * channel
        hours = (times - self.params.start) / 3600.0
        return np.round(120 * (publisher + 1) + mean_kw * hours + noise * 0.0004, 3)

    def chunk_seconds(self, series: int) -> int:
        """A day, or an hour if a day of ``series`` series would exceed ``CHUNK_POINTS``."""
        if series * self.params.points_per_hour * 24 > CHUNK_POINTS:
            return 3_600
        return CHUNK_SECONDS

    def _chunks(self, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
        start = max(start, self.params.start)
        end = min(end, self.params.end)
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(end, (chunk_start // size + 1) * size)
            yield chunk_start, chunk_end
            chunk_start = chunk_end

    def frame(
        self,
        publishers: Sequence[int],
        channel: int,
        variables: Sequence[int],
        start: int,
        end: int,
        *,
        arrival_order: bool = False,
    ) -> pd.DataFrame:
        """The points of those series in [start, end) as one frame of ``POINT_COLUMNS``: in
        (publisher, variable, time) order, or in arrival order (ties by time, then series)."""
        frames = []
        for publisher in publishers:
            for variable in variables:
                times, values, arrivals = self.series_points(
                    publisher, channel, variable, start, end
                )
                frames.append(
                    pd.DataFrame(
                        {
                            "publisher": self.publishers[publisher],
                            "channel": self.channels[channel],
                            "name": VARIABLES[variable].name,
                            "unit": VARIABLES[variable].unit,
                            "time": times,
                            "value": values,
                            "_arrival": arrivals,
                        }
                    )
                )
        if not frames:
            return pd.DataFrame({column: [] for column in POINT_COLUMNS})
        frame = pd.concat(frames, ignore_index=True)
        if arrival_order:
            frame = frame.sort_values(["_arrival", "time"], kind="stable", ignore_index=True)
        return frame.drop(columns="_arrival")

    def messages(
        self, publishers: Sequence[int], channel: int, start: int, end: int
    ) -> Iterator[pd.DataFrame]:
        """Every variable's points of those devices on ``channel`` in [start, end), a chunk (a day
        or an hour) at a time, each chunk's in arrival order (late ones out of time order)."""
        variables = range(len(VARIABLES))
        size = self.chunk_seconds(len(publishers) * len(VARIABLES))
        for chunk_start, chunk_end in self._chunks(start, end, size):
            frame = self.frame(
                publishers, channel, variables, chunk_start, chunk_end, arrival_order=True
            )
            if len(frame):
                yield frame
