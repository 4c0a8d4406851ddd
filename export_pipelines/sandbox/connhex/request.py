"""The create body of ``POST /exports`` (seed 003, v1.3.7), validated whole.

Every problem is collected with its path (``items[0].params.decimation.dsf: …``) and the lot is
refused at once (400, ``errors.py``). Unknown members are refused too, so a misspelt option never
passes silently. Choices where the page is silent (each written in the sandbox's docstring):

* ``from``/``to`` come together (``from < to``), else ``period`` is required;
* ``pdf`` is refused: it cannot be written as a table here;
* ``wide`` needs ``format.columns`` and one target (a column is a variable name, so two devices'
  variables would share it);
* ``periodicity``/``periodStart`` only with ``recurring``; ``periodicity`` a fixed length;
* ``channelId`` must be one of the deployment's channels; any ``subtopic`` is accepted (only
  ``events.data`` carries messages); ``template`` is accepted and changes nothing.
"""

import copy
import re
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from export_pipelines.decisions import connhex as decisions
from export_pipelines.sandbox.connhex.durations import Duration, DurationError, parse_duration
from export_pipelines.sandbox.connhex.errors import InvalidRequest

_DS = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[a-z])$")
_FORMAT_KEYS = {"filename", "extension", "columns", "timezone", "template", "csvDelimiter"}
_BODY_KEYS = {"format", "type", "items", "periodicity", "periodStart", "notification"}
_PARAM_KEYS = {
    "target",
    "channelId",
    "subtopic",
    "from",
    "to",
    "period",
    "decimation",
    "transform",
    "outputFormat",
}
_MESSAGE_KEYS = {"target", "policy", "medium", "title", "text"}


@dataclass(frozen=True)
class Column:
    id: str
    label: str


@dataclass(frozen=True)
class ExportFormat:
    filename: str | None
    extension: str
    columns: tuple[Column, ...]
    #: The zone written timestamps are converted to (``utc`` is UTC).
    zone: tzinfo
    csv_delimiter: str


@dataclass(frozen=True)
class Decimation:
    seconds: int
    function: str


@dataclass(frozen=True)
class Item:
    targets: tuple[str, ...]
    #: What the file writes in place of each target (the targets themselves without labels).
    labels: tuple[str, ...]
    channel_id: str
    subtopic: str
    start: float | None
    end: float | None
    period: Duration | None
    decimation: Decimation | None
    delta: bool
    output_format: str
    filename: str | None

    def window(self, run_time: int) -> tuple[float, float]:
        """C-3: ``[from, to)`` when given, else ``[run time - period, run time)``."""
        if self.start is not None and self.end is not None:
            return self.start, self.end
        assert self.period is not None
        return float(self.period.before(run_time)), float(run_time)


@dataclass(frozen=True)
class ExportRequest:
    format: ExportFormat
    type: str
    items: tuple[Item, ...]
    #: Recurring only: seconds between runs, and the first run (None: the creation time).
    periodicity_seconds: int | None
    period_start: float | None
    #: The body as accepted, defaults filled in: what the API answers with.
    echo: dict[str, Any]


class _Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path}: {message}")

    def object(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "must be an object")
            return None
        for key in sorted(set(value) - allowed):
            self.add(f"{path}.{key}", "is not a known member")
        return value

    def text(self, value: Any, path: str, *, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.add(path, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(path, "must be a non-empty string")
            return None
        return value

    def choice(
        self, value: Any, path: str, choices: tuple[str, ...], default: str | None = None
    ) -> str | None:
        if value is None and default is not None:
            return default
        if value is None:
            self.add(path, f"is required (one of {', '.join(choices)})")
            return None
        if value not in choices:
            self.add(path, f"{value!r} is not one of {', '.join(choices)}")
            return None
        assert isinstance(value, str)
        return value

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.add(path, "must be a number of Unix seconds")
            return None
        if value < 0:
            self.add(path, "must not be negative")
            return None
        return float(value)

    def duration(self, value: Any, path: str) -> Duration | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.add(path, str(exc))
            return None


def _zone(problems: _Problems, value: Any) -> tzinfo | None:
    name = problems.text(value, "format.timezone", required=False)
    if name is None:
        return ZoneInfo("UTC") if value is None else None
    if name.lower() == decisions.DEFAULT_TIMEZONE:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("format.timezone", f"{name!r} is not an IANA time zone name (or 'utc')")
        return None


def _format(problems: _Problems, value: Any) -> ExportFormat | None:
    body = problems.object(value, "format", _FORMAT_KEYS)
    if body is None:
        return None
    filename = problems.text(body.get("filename"), "format.filename", required=False)
    extension = problems.choice(body.get("extension"), "format.extension", decisions.EXTENSIONS)
    if extension is not None and extension not in decisions.TABLE_EXTENSIONS:
        problems.add(
            "format.extension",
            f"{extension!r} cannot be exported by this sandbox: a table needs "
            f"{' or '.join(decisions.TABLE_EXTENSIONS)}",
        )
        extension = None
    columns: list[Column] = []
    raw_columns = body.get("columns")
    if raw_columns is not None:
        if not isinstance(raw_columns, list):
            problems.add("format.columns", "must be an array of {id, label}")
        for index, raw in enumerate(raw_columns if isinstance(raw_columns, list) else []):
            path = f"format.columns[{index}]"
            column = problems.object(raw, path, {"id", "label"})
            if column is None:
                continue
            column_id = problems.text(column.get("id"), f"{path}.id")
            label = problems.text(column.get("label"), f"{path}.label")
            if column_id is not None and label is not None:
                columns.append(Column(column_id, label))
        labels = [column.label for column in columns]
        if len(set(labels)) != len(labels) or "time" in labels:
            problems.add("format.columns", "labels must be unique and not 'time'")
    zone = _zone(problems, body.get("timezone"))
    problems.choice(
        body.get("template"), "format.template", decisions.TEMPLATES, decisions.TEMPLATES[0]
    )
    delimiter = body.get("csvDelimiter", decisions.DEFAULT_CSV_DELIMITER)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n.':
        problems.add("format.csvDelimiter", "must be one character other than '\"', '.', CR, LF")
        delimiter = None
    if extension is None or zone is None or delimiter is None:
        return None
    return ExportFormat(filename, extension, tuple(columns), zone, delimiter)


def _decimation(problems: _Problems, value: Any, path: str) -> Decimation | None:
    body = problems.object(value, path, {"ds", "dsf"})
    if body is None:
        return None
    ds = body.get("ds")
    match = _DS.match(ds) if isinstance(ds, str) else None
    seconds = None
    if match is None or match["unit"] not in decisions.DS_UNITS:
        units = "".join(decisions.DS_UNITS)
        problems.add(f"{path}.ds", f"must be a positive integer and a unit of {units}, e.g. 15m")
    else:
        seconds = int(match["count"]) * decisions.DS_UNITS[match["unit"]]
    function = problems.choice(body.get("dsf"), f"{path}.dsf", decisions.DSF_FUNCTIONS)
    if seconds is None or function is None:
        return None
    return Decimation(seconds, function)


def _item(
    problems: _Problems, value: Any, index: int, channels: set[str], columns: bool
) -> Item | None:
    path = f"items[{index}]"
    body = problems.object(value, path, {"params", "filename"})
    if body is None:
        return None
    filename = problems.text(body.get("filename"), f"{path}.filename", required=False)
    path = f"{path}.params"
    params = problems.object(body.get("params"), path, _PARAM_KEYS)
    if params is None:
        return None
    before = len(problems.messages)
    target = problems.object(params.get("target"), f"{path}.target", {"value", "label"})
    targets: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    if target is not None:
        values = problems.text(target.get("value"), f"{path}.target.value")
        if values is not None:
            targets = tuple(part.strip() for part in values.split(","))
            if not all(targets):
                problems.add(f"{path}.target.value", "has an empty entry")
        label_text = problems.text(target.get("label"), f"{path}.target.label", required=False)
        labels = targets
        if label_text is not None:
            labels = tuple(part.strip() for part in label_text.split(","))
            if len(labels) != len(targets):
                problems.add(
                    f"{path}.target.label",
                    f"has {len(labels)} labels for {len(targets)} values; the counts must match",
                )
    channel = problems.text(params.get("channelId"), f"{path}.channelId")
    if channel is not None and channel not in channels:
        problems.add(f"{path}.channelId", f"no channel {channel!r} in this deployment")
    subtopic = problems.text(params.get("subtopic"), f"{path}.subtopic")
    start = problems.number(params.get("from"), f"{path}.from")
    end = problems.number(params.get("to"), f"{path}.to")
    period = problems.duration(params.get("period"), f"{path}.period")
    if (params.get("from") is None) != (params.get("to") is None):
        problems.add(path, "from and to go together")
    elif start is not None and end is not None and start >= end:
        problems.add(f"{path}.to", "must be after from")
    elif params.get("from") is None and params.get("period") is None:
        problems.add(path, "needs from and to, or period")
    decimation = None
    if params.get("decimation") is not None:
        decimation = _decimation(problems, params["decimation"], f"{path}.decimation")
    transform = params.get("transform")
    if transform is not None:
        problems.choice(transform, f"{path}.transform", decisions.TRANSFORMS)
    output = problems.choice(
        params.get("outputFormat"),
        f"{path}.outputFormat",
        decisions.OUTPUT_FORMATS,
        decisions.DEFAULT_OUTPUT_FORMAT,
    )
    if output == "wide" and not columns:
        problems.add(f"{path}.outputFormat", "wide needs format.columns")
    if output == "wide" and len(targets) > 1:
        problems.add(
            f"{path}.outputFormat", "wide takes one target: its columns are variable names"
        )
    if len(problems.messages) != before:
        return None
    assert channel is not None and subtopic is not None and output is not None
    return Item(
        targets=targets,
        labels=labels,
        channel_id=channel,
        subtopic=subtopic,
        start=start,
        end=end,
        period=period,
        decimation=decimation,
        delta=transform == "delta",
        output_format=output,
        filename=filename,
    )


def _notification(problems: _Problems, value: Any) -> None:
    body = problems.object(value, "notification", {"messages"})
    if body is None:
        return
    messages = body.get("messages")
    if not isinstance(messages, list):
        problems.add("notification.messages", "is required: an array of two messages")
        return
    policies = []
    for index, raw in enumerate(messages):
        path = f"notification.messages[{index}]"
        message = problems.object(raw, path, _MESSAGE_KEYS)
        if message is None:
            continue
        policies.append(
            problems.choice(
                message.get("policy"), f"{path}.policy", decisions.NOTIFICATION_POLICIES
            )
        )
        problems.choice(message.get("medium"), f"{path}.medium", decisions.NOTIFICATION_MEDIUMS)
        problems.text(message.get("title"), f"{path}.title")
        problems.text(message.get("text"), f"{path}.text")
        problems.text(message.get("target"), f"{path}.target", required=False)
    if len(messages) != 2 or sorted(p or "" for p in policies) != sorted(
        decisions.NOTIFICATION_POLICIES
    ):
        problems.add(
            "notification.messages", "must be exactly two messages: one onSuccess, one onFailure"
        )


def parse_export(body: Any, channels: set[str], created_at: float) -> ExportRequest:
    """The accepted request, or ``InvalidRequest`` listing every problem."""
    problems = _Problems()
    if problems.object(body, "body", _BODY_KEYS) is None:
        raise InvalidRequest(problems.messages)
    export_format = _format(problems, body.get("format"))
    export_type = problems.choice(body.get("type"), "type", decisions.REQUEST_TYPES)
    raw_items = body.get("items")
    items: list[Item | None] = []
    if not isinstance(raw_items, list) or not raw_items:
        problems.add("items", "is required: a non-empty array")
    else:
        has_columns = export_format is not None and bool(export_format.columns)
        if export_format is None and isinstance(body.get("format"), dict):
            has_columns = bool(body["format"].get("columns"))
        items = [
            _item(problems, raw, index, channels, has_columns)
            for index, raw in enumerate(raw_items)
        ]
    periodicity_seconds = None
    period_start = None
    if export_type == "recurring":
        if body.get("periodicity") is None:
            problems.add("periodicity", "is required for a recurring request")
        periodicity = problems.duration(body.get("periodicity"), "periodicity")
        if periodicity is not None and periodicity.calendar:
            problems.add("periodicity", "must be a fixed length: no years or months")
        elif periodicity is not None:
            periodicity_seconds = periodicity.fixed_seconds()
        period_start = problems.number(body.get("periodStart"), "periodStart")
    elif export_type == "oneTime":
        for key in ("periodicity", "periodStart"):
            if body.get(key) is not None:
                problems.add(key, "only applies to a recurring request")
    _notification(problems, body.get("notification"))
    if problems.messages:
        raise InvalidRequest(problems.messages)
    assert export_format is not None and export_type is not None
    echo = copy.deepcopy(body)
    echo["format"].setdefault("timezone", decisions.DEFAULT_TIMEZONE)
    echo["format"].setdefault("template", decisions.TEMPLATES[0])
    for raw in echo["items"]:
        raw["params"].setdefault("outputFormat", decisions.DEFAULT_OUTPUT_FORMAT)
    if export_type == "recurring" and period_start is None:
        period_start = float(int(created_at))
        echo["periodStart"] = int(created_at)
    return ExportRequest(
        format=export_format,
        type=export_type,
        items=tuple(item for item in items if item is not None),
        periodicity_seconds=periodicity_seconds,
        period_start=period_start,
        echo=echo,
    )
