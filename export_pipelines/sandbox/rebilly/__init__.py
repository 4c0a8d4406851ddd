"""The Rebilly sandbox: the data-exports API of seed 002 over a deterministic synthetic account.

Base URL ``{root}/rebilly/experimental/organizations/{organizationId}`` (the organization id is a
config default, ``sandbox-organization``), header ``REB-APIKEY``. Endpoints, links, errors and
limits: ``routes.py``; statuses and timing: ``simulator.py``; test controls: ``control.py``.

Resources (``catalog.py`` lists every field with its type; ``fields`` omitted exports them all):

* transactions (``dateRange.field`` default ``processedTime``): id, type, status, result,
  customerId, amount + currency, refundedAmount, approvalCode (null unless approved),
  gateway/{name, accountId, transactionId}, paymentInstrument/{method, brand, last4},
  billingAddress/{firstName, lastName, country}, isRebill, retryNumber, riskScore, processedTime,
  createdTime, updatedTime.
* customers (``createdTime``): id, email, firstName, lastName, company, primaryAddress/{city,
  country, postalCode}, defaultPaymentInstrument/method, lifetimeRevenue/{amount, currency},
  averageValue/{amount, currency}, paymentCount, isEddRequired, lastPaymentTime, createdTime,
  updatedTime.
* subscriptions (``createdTime``): id, customerId, planId, status, quantity,
  recurringInterval/{unit, length}, recurringAmount + currency, inTrial, startTime, renewalTime,
  canceledTime, createdTime, updatedTime.
* invoices (``issuedTime``): id, invoiceNumber, customerId, subscriptionId, status, currency,
  subtotalAmount, discountAmount, taxAmount, amount, amountDue, billingAddress/{…}, issuedTime,
  dueTime, paidTime, createdTime, updatedTime.

Types: amounts are decimal strings in the currency's minor unit (``"12.50"``; JPY ``"1200"``),
always beside a currency; timestamps ISO-8601 UTC to the second with ``Z``; integers and booleans
are JSON numbers and booleans; the nullable fields (``approvalCode``, ``company``,
``canceledTime``, ``paidTime``…) are sometimes null; no value is an empty string.
``invoiceItems``, ``revenueAudit`` and ``pdf`` are refused (422).

Files (``formats.py``), UTF-8, records in primary-time order unless ``arguments.sort`` says
otherwise, ``fields`` selecting leaves or whole objects in the order given:

* csv: header row of leaf paths flattened with ``/`` (``gateway/name``), RFC 4180 quoting, ``\\r\\n``;
  null is an empty cell, booleans ``true``/``false``.
* json: an array of records with nested objects.
* json-api: ``{"data": [{"type": "<resource>", "id": "<record id>", "attributes": {…}}]}``, the
  attributes being the selected fields but ``id``; the id is there even when ``fields`` omit it.
* xml: ``<?xml version="1.0" encoding="UTF-8"?>``, root ``<transactions>`` (the resource), one
  ``<record>`` per record, one element per field in order, nested fields as nested elements, null
  as ``<field nil="true"/>``.
* Past ``records_per_file`` records (default 1,000,000; ``--rebilly-records-per-file``) the file is
  ``file_….zip`` of ``file_…-part1.<ext>``, ``-part2``…, each a whole document of at most that many
  records (CSV parts repeat the header).

``dateRange`` (``dates.py``, R-3, UTC): ISO-8601 (no zone = UTC), ``now``, ``today``,
``midnight``, ``noon``, ``yesterday``, ``tomorrow``, ``[+|-]N unit(s)``, ``N unit(s) ago`` (second
… year), ``first|last day of this|last|next month``, combined as in PHP (``3 days ago midnight``);
resolved when processing starts; the window is ``start <= dateRange.field < end``.

Filter (``query.py``): ``field:value`` joined by ``;`` (AND), ``,`` for alternatives (OR), fields
as catalogue paths with ``.`` or ``/``, exact case-insensitive values, inclusive ranges ``a..b``,
``a..``, ``..b`` on numbers, amounts and timestamps, ``!value`` to exclude; typed (a non-number
for an amount is a 422); no predefined lists (``@list``). ``sort``: fields, ``-`` descending.
``q``: case-insensitive substring of the resource's text fields (ids, names, emails, cities).
"""

import click

from export_pipelines.decisions.rebilly import BASE_PATH_TEMPLATE
from export_pipelines.sandbox.faults import VendorRoutes
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.rebilly.control import control_routes
from export_pipelines.sandbox.rebilly.dataset import RebillyDataset
from export_pipelines.sandbox.rebilly.expected import expected_records
from export_pipelines.sandbox.rebilly.query import RecordQuery
from export_pipelines.sandbox.rebilly.routes import DOWNLOAD_ROUTES, FAULT_ROUTES, RebillyApi
from export_pipelines.sandbox.rebilly.simulator import VENDOR, DataExport, RebillySimulator
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, ServeFlag, VendorMount

__all__ = [
    "SANDBOX_VENDOR",
    "VENDOR",
    "DataExport",
    "RebillyDataset",
    "RebillySandboxConfig",
    "RebillySimulator",
    "RecordQuery",
    "mount",
]


def mount(config: RebillySandboxConfig, context: MountContext) -> VendorMount[RebillySimulator]:
    """The Rebilly simulator with its API routes, controls and fault routes."""
    simulator = RebillySimulator(config, context.work_dir)
    api = RebillyApi(simulator, context.faults, context.signer)
    return VendorMount(
        name=VENDOR,
        api_key=config.api_key,
        simulator=simulator,
        routes=api.routes(),
        control_routes=control_routes(simulator, api.rate_limiter),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
        base_path=BASE_PATH_TEMPLATE.replace("{organizationId}", config.organization_id),
    )


SANDBOX_VENDOR: SandboxVendor[RebillySandboxConfig, RebillySimulator] = SandboxVendor(
    name=VENDOR,
    config_model=RebillySandboxConfig,
    mount=mount,
    expected_records=expected_records,
    serve_flags=(
        ServeFlag(
            option="records",
            field="record_count",
            type=click.IntRange(10, 10_000_000),
            help="Records per Rebilly resource (default 20000).",
        ),
        ServeFlag(
            option="records-per-file",
            field="records_per_file",
            type=click.IntRange(min=1),
            help="Past this many records a Rebilly file is a ZIP of parts (default 1000000).",
        ),
    ),
)
