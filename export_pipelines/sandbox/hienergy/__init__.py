"""The HiEnergy sandbox: generative export reports (seed 001, PROTOCOLS §2, DECISIONS E-1 … E-6).

Base URL ``{root}/hienergy/api/v1``, key ``sandbox-hienergy-key`` (``X-Api-Key``, or ``Bearer``). The
protocol is in ``routes.py``, the report life cycle in ``simulator.py``, the errors in ``errors.py``,
the rate limit in ``rate_limit.py``, the file formats in ``report_files.py``.

Report types and their columns (file order; every row is one line / one sheet row)
---------------------------------------------------------------------------------
``advertisers_csv`` (CSV), one row per advertiser, date column ``joined_on``:
    id int, name str, domain str, network str, category str, country str (ISO 3166 alpha-2),
    currency str (ISO 4217), commission_rate float (percent, 2 dp), epc float (earnings per click,
    2 dp), cookie_days int, deal_count int, status str (active | paused), joined_on date.
``deals_excel`` (XLSX), one row per deal, date column ``starts_on``:
    id int, advertiser_id int, advertiser_name str, network str, title str, deal_type str
    (coupon | sale | free_shipping | bogo), code str (empty unless a coupon), discount_percent float
    (0 for free_shipping / bogo), currency str, exclusive bool, starts_on date, ends_on date.
``hot_advertisers_excel`` (XLSX), the ~10 % of advertisers that are trending, date column
``trending_since``:
    id int (the advertiser's), name str, domain str, network str, category str, country str,
    currency str, commission_rate float, epc float, clicks_7d int, conversions_7d int,
    trend_score float (70 to 100, 2 dp), trending_since date.
``clicks_details_excel`` (XLSX), one row per click, in time order, date column ``clicked_at``:
    id int, clicked_at datetime (UTC, whole seconds), advertiser_id int, advertiser_name str,
    network str, country str, device str (desktop | mobile | tablet), sub_id str, converted bool,
    sale_amount float (0 unless converted), commission_amount float, currency str.

Spelling: CSV dates ``2024-03-01``, datetimes ``2024-03-01T12:34:56Z``, booleans ``true``/``false``,
floats with two decimals; XLSX cells are typed (numbers, booleans, Excel dates and datetimes, text;
an empty text is an empty cell). Names include commas, apostrophes and non-ASCII letters.

``search_params`` (filters; any other key is a 400 naming it; ``null`` counts as absent)
-------------------------------------------------------------------------------------------
Every type: ``start_date`` / ``end_date``, the window ``[start_date, end_date)`` on the type's date
column: ISO dates (``2024-03-01``, midnight UTC) or ISO datetimes (naive = UTC), end exclusive,
either optional; this is what partitioned exports send. A date column's value counts as midnight UTC.
Then, per type (text values match case-insensitively, a list means any of them):

* advertisers_csv: network, category, country, currency, status (text or list), advertiser_id (int
  or list, on ``id``), min_commission_rate, min_epc (numbers, ≥), q (text in name or domain).
* deals_excel: network, currency, deal_type (text or list), advertiser_id (int or list), exclusive
  (bool), min_discount_percent (number), q (text in title or advertiser_name).
* hot_advertisers_excel: network, category, country, currency (text or list), advertiser_id (int or
  list), min_trend_score (number), q (text in name or domain).
* clicks_details_excel: network, country, device, sub_id, currency (text or list), advertiser_id
  (int or list), converted (bool).

``index_params`` is kept (it is part of the dedupe key and shown in ``parameters``) but not applied:
rows always come in id order (clicks: time order), so a report streams without sorting.

How rows are generated
----------------------
``generator.py``: each row is a pure function of the seed and its index in its universe
(``advertiser_count`` advertisers, ``deal_count`` deals, ``click_count`` clicks spread evenly over
``[dataset_start, dataset_end)``); a report is the universe in order, filtered. Rows stream one at a
time from the generator into the file (never a whole report in memory), in a background thread per
report. A click window is an index range, so a day of clicks costs a day, not the universe. The
control endpoint ``GET /_sandbox/hienergy/generator`` gives the parameters and ``GET
/_sandbox/hienergy/reports/{id}`` a report's ``search_params``, from which ``expected.py`` recomputes
its rows.

Dedupe (E-3)
------------
Key: the API key, ``report_type`` and the canonical JSON (sorted keys, no spaces) of ``search_params``
and ``index_params`` (absent = ``{}``). An identical create while that report is pending or
processing is 409 with it; within ``dedupe_window_seconds`` (15 min) after it completed, 200 with it
and ``deduped: true``; a failed report is never reused.

Chunking (E-4)
--------------
Past ``rows_per_part`` rows (serve flag ``--hienergy-rows-per-part``, default 100,000) the report
becomes a parent: ``chunked_export: true``, ``progress {parts_ready, total_parts}``, no file of its
own; each part is a child report (``parent_report_id``, same ``report_type``, display name "…, part
N of M", file ``<type>_<parent>_partNNN_of_MMM.<ext>`` with a header row), listed newest first by
``GET /exports?parent_report_id=``; part order is id order. Children are not in the unfiltered list.
"""

import click

from export_pipelines.decisions.hienergy import API_PREFIX
from export_pipelines.sandbox.faults import VendorRoutes
from export_pipelines.sandbox.hienergy.config import HiEnergySandboxConfig
from export_pipelines.sandbox.hienergy.control import control_routes
from export_pipelines.sandbox.hienergy.expected import expected_records
from export_pipelines.sandbox.hienergy.generator import COLUMNS, DATE_COLUMNS, HiEnergyGenerator
from export_pipelines.sandbox.hienergy.rate_limit import RateLimiter
from export_pipelines.sandbox.hienergy.routes import DOWNLOAD_ROUTES, FAULT_ROUTES, HiEnergyApi
from export_pipelines.sandbox.hienergy.simulator import VENDOR, HiEnergySimulator, Report, Status
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, ServeFlag, VendorMount

__all__ = [
    "COLUMNS",
    "DATE_COLUMNS",
    "SANDBOX_VENDOR",
    "VENDOR",
    "HiEnergyGenerator",
    "HiEnergySandboxConfig",
    "HiEnergySimulator",
    "Report",
    "Status",
    "mount",
]


def mount(config: HiEnergySandboxConfig, context: MountContext) -> VendorMount[HiEnergySimulator]:
    """The HiEnergy simulator with its API under ``/api/v1``, its files, controls and faults."""
    simulator = HiEnergySimulator(config, context.work_dir)
    limiter = RateLimiter(config.rate_limit, config.rate_limit_window_seconds)
    return VendorMount(
        name=VENDOR,
        api_key=config.api_key,
        simulator=simulator,
        routes=HiEnergyApi(simulator, context.faults, context.signer, limiter).routes(),
        control_routes=control_routes(simulator, limiter),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
        base_path=API_PREFIX,
    )


SANDBOX_VENDOR: SandboxVendor[HiEnergySandboxConfig, HiEnergySimulator] = SandboxVendor(
    name=VENDOR,
    config_model=HiEnergySandboxConfig,
    mount=mount,
    expected_records=expected_records,
    serve_flags=(
        ServeFlag(
            "rows-per-part",
            "rows_per_part",
            click.IntRange(min=1),
            "Rows past which a HiEnergy report is chunked into parts of this size (default 100000).",
        ),
        ServeFlag(
            "advertisers",
            "advertiser_count",
            click.IntRange(1, 1_000_000),
            "Advertisers in the HiEnergy universe (default 2000).",
        ),
        ServeFlag(
            "deals",
            "deal_count",
            click.IntRange(1, 20_000_000),
            "Deals in the HiEnergy universe (default 10000).",
        ),
        ServeFlag(
            "clicks",
            "click_count",
            click.IntRange(1, 50_000_000),
            "Clicks in the HiEnergy universe, over 2024-2026 (default 200000).",
        ),
        ServeFlag(
            "rate-limit",
            "rate_limit",
            click.IntRange(min=1),
            "HiEnergy requests per key per hour before 429 (default 10000).",
        ),
    ),
)
