"""The HelloData sandbox: "Dataset Export Async" with webhooks (seed 000, PROTOCOLS §1, H-1 … H-8).

Base URL ``{root}/hellodata``, key ``sandbox-hellodata-key`` (``x-api-key``). The protocol is in
``routes.py``, the export life cycle and webhook delivery in ``simulator.py``, the URL rule and the
signatures in ``webhooks.py``, the query grammar and aggregates in ``query.py``, the files in
``files.py``, the dataset in ``dataset.py``, the tests' controls in ``control.py``.

Dataset: one row per property per month (``property_count * month_count`` rows, any size), columns
and types as ``decisions.hellodata.COLUMNS``: property_id, property_name, street_address, city,
state, zip_code, msa (string); lat, lon (number); as_of_month (date); year_built, number_units
(integer); asking_rent, effective_rent, concession, leased_percentage, exposure_percentage (number);
days_on_market (integer); is_affordable, is_student, is_senior, is_condo, is_single_family,
is_lease_up (boolean); rent_roll_lease_tradeout, rent_roll_renewal_percent (number). Eight US
markets (msa with commas, ZIP codes with leading zeros); nulls where a value is unknown.

Filters: a bare array (AND), ``{"and": [...]}`` / ``{"or": [...]}`` nested up to 16 deep, nodes
``{"column", "filter": {operator: value}}`` with the 15 operators of ``FILTER_OPERATORS`` (``from``
and ``to`` inclusive), ``null`` elements ignored. Aggregates ``Avg Sum Min Max Count CountDistinct``
group by the plain scopes; a CSV header repeats the bare column name per aggregate, a JSONL row keys
it ``<column>_<suffix>`` (``number_units_sum``, ``property_id_count_distinct``). ``limit`` caps rows.

Webhooks: after ``completion_delay_seconds`` the file is written (gzip, streaming, background thread)
and the webhook POSTed with both signatures (H-1) from the same thread with httpx, retried 3 times on
a non-2xx or no answer, then given up. Loopback webhooks need ``--hellodata-allow-loopback-webhooks
true`` (tests: ``allow_loopback_webhooks=True``); faults ``export`` and ``file`` go through the
shared registry, delivery faults (drop, delay, duplicate) through ``/_sandbox/hellodata``.
"""

from typing import Any

import click

from export_pipelines.sandbox.faults import VendorRoutes
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.hellodata.control import control_routes
from export_pipelines.sandbox.hellodata.dataset import DatasetParams, PropertyDataset
from export_pipelines.sandbox.hellodata.expected import expected_records
from export_pipelines.sandbox.hellodata.routes import (
    DOWNLOAD_ROUTES,
    FAULT_ROUTES,
    HelloDataApi,
    RateLimiter,
)
from export_pipelines.sandbox.hellodata.simulator import VENDOR, HelloDataSimulator
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, ServeFlag, VendorMount

__all__ = [
    "SANDBOX_VENDOR",
    "VENDOR",
    "DatasetParams",
    "HelloDataSandboxConfig",
    "HelloDataSimulator",
    "PropertyDataset",
    "mount",
]


def mount(config: HelloDataSandboxConfig, context: MountContext) -> VendorMount[HelloDataSimulator]:
    """The HelloData simulator with its export route, its files, controls and faults."""
    holder: list[HelloDataApi] = []

    def file_url(root: str, query_uuid: str, filename: str) -> Any:
        return holder[0].file_url(root, query_uuid, filename)

    simulator = HelloDataSimulator(config, context.work_dir, file_url)
    limiter = RateLimiter(config.rate_limit, config.rate_limit_window_seconds)
    api = HelloDataApi(simulator, context.faults, context.signer, limiter)
    holder.append(api)
    return VendorMount(
        name=VENDOR,
        api_key=config.api_key,
        simulator=simulator,
        routes=api.routes(),
        control_routes=control_routes(simulator, api, limiter),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
    )


SANDBOX_VENDOR: SandboxVendor[HelloDataSandboxConfig, HelloDataSimulator] = SandboxVendor(
    name=VENDOR,
    config_model=HelloDataSandboxConfig,
    mount=mount,
    expected_records=expected_records,
    serve_flags=(
        ServeFlag(
            "properties",
            "property_count",
            click.IntRange(1, 10_000_000),
            "Properties in the HelloData dataset, each with month_count monthly rows (default 200).",
        ),
        ServeFlag(
            "allow-loopback-webhooks",
            "allow_loopback_webhooks",
            click.BOOL,
            "Accept http(s) webhooks on loopback hosts, for a local receiver (default false).",
        ),
        ServeFlag(
            "webhook-backoff",
            "webhook_backoff_seconds",
            click.FloatRange(min=0),
            "Seconds before the first HelloData webhook retry, doubling (default 1).",
        ),
    ),
)
