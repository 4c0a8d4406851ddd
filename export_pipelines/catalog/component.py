"""The export catalog as Dagster components: one YAML document per export.

``AsyncExport`` is one vendor export (its three assets, and its recurrence when it has one);
``VendorConnection`` is one vendor's API resource and status sensor. Both validate everything at
load time, so ``dg check defs`` names the document and the field of any mistake: an unknown vendor,
an unknown or ill-typed request field, a partitioning without a start, bounds that leave no
partition (an end before the start, a start in the future), a standing vendor request over
partitions of varying length, and two documents declaring the same export (both named, by file
and document number).
"""

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from export_pipelines import settings
from export_pipelines.normalize.drift import checked_policy
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.assets import build_export_assets
from export_pipelines.pipeline.polling import DEFAULT_POLL_CONCURRENCY
from export_pipelines.pipeline.recovery import Recovery, ResubmitPolicy, SplitPolicy
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.pipeline.spec import DEFAULT_PARTITIONS_PER_RUN, Cadence, ExportSpec
from export_pipelines.pipeline.standing import standing_body
from export_pipelines.recurrence import RecurrenceSpec, build_recurrence_definitions
from export_pipelines.vendors import VENDORS, adapter_for

#: libyaml's parser where PyYAML was built with it (ten times the pure-Python one).
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _known_vendor(vendor: str) -> str:
    adapter_for(vendor)  # raises ValueError naming the known vendors
    return vendor


def _moment(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not an ISO-8601 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _field_errors(field: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in (field, *item["loc"]))
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def _declarations(defs_root: Path, vendor: str, export: str) -> list[str]:
    """Every ``AsyncExport`` document under the defs folder declaring ``vendor``/``export``, as
    ``<file>, document <n>`` (files read as written; templated names are compared as written)."""
    files = tuple((path, path.stat().st_mtime_ns) for path in sorted(defs_root.rglob("defs.yaml")))
    return list(_declared_exports(defs_root, files).get((vendor, export), []))


@functools.lru_cache(maxsize=8)
def _declared_exports(
    defs_root: Path, files: tuple[tuple[Path, int], ...]
) -> dict[tuple[str, str], list[str]]:
    """Each file parsed once per load of the code location, not once per export it declares (the
    catalog's load time grew with the square of its exports). Keyed on the files' modification
    times, so an edited file is read again."""
    found: dict[tuple[str, str], list[str]] = {}
    for path, _ in files:
        try:
            documents = list(yaml.load_all(path.read_text(), Loader=_YamlLoader))
        except (OSError, yaml.YAMLError):
            continue  # Dagster reports an unreadable file itself
        for index, document in enumerate(documents):
            if not isinstance(document, dict) or not str(document.get("type", "")).endswith(
                "AsyncExport"
            ):
                continue
            attributes = document.get("attributes") or {}
            key = (str(attributes.get("vendor")), str(attributes.get("export")))
            shown = path.relative_to(defs_root.parent).as_posix()
            found.setdefault(key, []).append(f"{shown}, document {index + 1}")
    return found


def _one_declaration(context: dg.ComponentLoadContext, spec: ExportSpec) -> None:
    """Two documents declaring one export would clash on its asset keys, and Dagster's own error
    names neither document: name them all here."""
    places = _declarations(context.defs_module_path, spec.vendor, spec.name)
    if len(places) > 1:
        raise ValueError(
            f"export {spec.vendor}/{spec.name} is declared {len(places)} times: in "
            + " and in ".join(places)
            + "; each export needs its own name (it names the asset keys "
            f"{keys.request_key(spec.vendor, spec.name).to_user_string()} and the rest)"
        )


class AsyncExport(dg.Component, dg.Model, dg.Resolvable):
    """One asynchronous vendor export: request → raw files → Parquet table."""

    vendor: str = Field(description=f"The vendor: one of {', '.join(sorted(VENDORS))}.")
    export: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="The export's name: lower-case letters, digits and underscores.",
    )
    description: str = ""
    partitioning: Cadence = Field(
        default="none", description="hourly, daily, weekly, monthly or none."
    )
    start: str | None = Field(
        default=None, description="First partition (ISO date); required when partitioned."
    )
    end: str | None = Field(default=None, description="Last partition's end (ISO date), if any.")
    timezone: str = Field(default="UTC", description="IANA zone of the partition boundaries.")
    pool: str | None = Field(
        default=None, description="Dagster concurrency pool limiting runs against this vendor."
    )
    partitions_per_run: int = Field(
        default=DEFAULT_PARTITIONS_PER_RUN,
        ge=1,
        le=1000,
        description="Partitions one run takes at most when a backfill (or the status sensor, "
        "for jobs of adjacent partitions finishing together) works on many: a backfill of 365 "
        "days is 12 request runs at the default, each submitting its partitions one after "
        "another.",
    )
    request: dict[str, Any] = Field(
        description="The vendor's export request, in the vendor's own field names."
    )
    recurrence: dict[str, Any] | None = Field(
        default=None,
        description="When to submit the export on its own: ``rule`` (RRULE, ISO-8601 duration, "
        "R/<start>/<duration> or cron), ``start``, ``timezone``, ``catch_up`` (latest or all), "
        "``max_catch_up``, ``enabled``.",
    )

    schema_drift: str | None = Field(
        default=None,
        description="What a field the vendor's files carry but the table does not declare does: "
        "rescue (kept as JSON text in the table's _rescued column), evolve (becomes a new "
        "nullable string column from this partition on; earlier partitions are untouched) or "
        "freeze (fails the table naming the file, the field and the row). Default: rescue, so "
        "a vendor's new field neither breaks the pipeline, nor is lost, nor changes the table's "
        "columns under its readers; freeze for a vendor whose files cannot keep such a field.",
    )

    _spec: ExportSpec | None = PrivateAttr(default=None)

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, value: str) -> str:
        return _known_vendor(value)

    @field_validator("schema_drift")
    @classmethod
    def _drift(cls, value: str | None) -> str | None:
        return None if value is None else checked_policy(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            self._spec = self._build_spec()
        except ValueError as exc:
            raise ValueError(f"export {self.vendor}/{self.export}: {exc}") from None
        return self

    def to_spec(self) -> ExportSpec:
        """The validated entry (built once, when the document is validated)."""
        assert self._spec is not None, "set by validation"
        return self._spec

    def _build_spec(self) -> ExportSpec:
        adapter = adapter_for(self.vendor)
        try:
            request = adapter.parse_request(self.request)
        except ValidationError as exc:
            raise ValueError(_field_errors("request", exc)) from None
        recurrence = None
        if self.recurrence is not None:
            try:
                recurrence = RecurrenceSpec.model_validate(self.recurrence)
            except ValidationError as exc:
                raise ValueError(_field_errors("recurrence", exc)) from None
        start = _moment(self.start, "start")
        end = _moment(self.end, "end")
        partitioned = self.partitioning != "none"
        if partitioned and start is None:
            raise ValueError(f"start: a {self.partitioning} export needs its first partition")
        if not partitioned and (start or end):
            raise ValueError("start/end: only a partitioned export has partition bounds")
        if start is not None and end is not None and end <= start:
            raise ValueError(f"end: {self.end} is not after start {self.start}")
        if start is not None and start > datetime.now(UTC):
            raise ValueError(
                f"start: {self.start} is in the future; the export would have no partition yet"
            )
        adapter.check_request(
            request, partitioned=partitioned, windowed_by_recurrence=recurrence is not None
        )
        drift = checked_policy(self.schema_drift or adapter.schema_drift_default(request))
        problem = adapter.schema_drift_problem(request, drift)
        if problem:
            raise ValueError(f"schema_drift: {drift} cannot apply: {problem}")
        spec = ExportSpec(
            vendor=self.vendor,
            name=self.export,
            description=self.description,
            cadence=self.partitioning,
            start=start,
            end=end,
            timezone=self.timezone,
            pool=self.pool,
            request=request,
            recurrence=recurrence,
            schema_drift=drift,
            partitions_per_run=self.partitions_per_run,
        )
        partitions = spec.partitions_def()
        first = partitions.get_first_partition_window() if partitions is not None else None
        if partitions is not None and (first is None or (end is not None and first.end > end)):
            # Dagster aligns weeks and months, so a short range may hold none (or, oddly, list
            # one that ends past ``end``).
            raise ValueError(
                f"start/end: no whole {self.partitioning} partition (in {self.timezone}) fits "
                f"between {self.start} and {self.end or 'now'}"
            )
        if spec.standing:
            if not partitioned:
                raise ValueError(
                    "partitioning: a standing vendor request lands each of its runs in the "
                    "partition of its window, so the export must be partitioned"
                )
            standing_body(spec)  # the partitioning fits one fixed period, the request takes it
        return spec

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        spec = self.to_spec()
        _one_declaration(context, spec)
        recurring: list[Any] = []
        if spec.recurrence is not None:
            recurring = build_recurrence_definitions(
                name=f"{spec.vendor}__{spec.name}",
                spec=spec.recurrence,
                target=[keys.request_key(spec.vendor, spec.name)],
                partitions_def=spec.partitions_def(),
                description_extra=f"Submits the {spec.vendor} export `{spec.name}`.",
            )
        schedules = [d for d in recurring if isinstance(d, dg.ScheduleDefinition)]
        sensors = [d for d in recurring if isinstance(d, dg.SensorDefinition)]
        return dg.Definitions(
            assets=build_export_assets(spec), schedules=schedules, sensors=sensors
        )


class VendorConnection(dg.Component, dg.Model, dg.Resolvable):
    """A vendor's API resource (base URL and key from the environment) and its status sensor."""

    vendor: str = Field(description=f"The vendor: one of {', '.join(sorted(VENDORS))}.")
    base_url_env: str | None = Field(
        default=None, description="Variable holding the API base URL (default <VENDOR>_BASE_URL)."
    )
    api_key_env: str | None = Field(
        default=None, description="Variable holding the API key (default <VENDOR>_API_KEY)."
    )
    poll_every_seconds: int = Field(default=10, ge=1, description="Status sensor interval.")
    poll_budget_seconds: float = Field(
        default=20.0, gt=0, le=50, description="Time a sensor tick may spend polling."
    )
    job_deadline_seconds: float = Field(
        default=6 * 60 * 60, gt=0, description="A job not done after this is marked timed out."
    )
    poll_concurrency: int = Field(
        default=DEFAULT_POLL_CONCURRENCY,
        ge=1,
        le=64,
        description="Status polls a sensor tick makes at once.",
    )
    polls_per_second: float | None = Field(
        default=None,
        gt=0,
        description="The most status polls a tick starts per second (the vendor's rate limit).",
    )
    sensor_running: bool = Field(default=True, description="Start the status sensor running.")
    resubmit_failed: ResubmitPolicy = Field(
        default_factory=ResubmitPolicy,
        description="Asking again for a window whose vendor job failed: max_attempts (jobs per "
        "window, default 2) and reasons (transient, the default, or any).",
    )
    split_too_large: SplitPolicy = Field(
        default_factory=SplitPolicy,
        description="Halving a window too large for the vendor, where its request allows: "
        "max_depth (default 3; 0 never splits).",
    )
    stuck_after_seconds: float | None = Field(
        default=None,
        gt=0,
        description="A job whose reported progress has not moved for this long is stuck: marked "
        "timed out, cancelled where the vendor can cancel, surfaced. Default: no such rule.",
    )

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, value: str) -> str:
        return _known_vendor(value)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        adapter = adapter_for(self.vendor)
        resource = adapter.resource_class(
            base_url=dg.EnvVar(self.base_url_env or settings.vendor_base_url_env(self.vendor)),
            api_key=dg.EnvVar(self.api_key_env or settings.vendor_api_key_env(self.vendor)),
            job_deadline_seconds=self.job_deadline_seconds,
        )
        sensor = build_status_sensor(
            self.vendor,
            minimum_interval_seconds=self.poll_every_seconds,
            time_budget_seconds=self.poll_budget_seconds,
            running_by_default=self.sensor_running,
            poll_concurrency=self.poll_concurrency,
            polls_per_second=self.polls_per_second,
            policies=Recovery(
                resubmit=self.resubmit_failed,
                split=self.split_too_large,
                stuck_after_seconds=self.stuck_after_seconds,
            ),
        )
        return dg.Definitions(resources={self.vendor: resource}, sensors=[sensor])
