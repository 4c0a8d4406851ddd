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

Types: amounts are decimal strings in the currency's minor unit (``"12.50"``; JPY ``"1200"``);
timestamps ISO-8601 UTC to the second with ``Z``; integers and booleans are JSON numbers and
booleans; some fields are null. ``invoiceItems``, ``revenueAudit`` and ``pdf`` are refused (422).

File shapes (csv with ``/``-flattened headers, json array, json-api ``{"data": [...]}``, xml with a
resource-named root and ``<record>`` elements) and the ZIP of numbered parts past
``records_per_file``: ``formats.py``. Relative ``dateRange`` forms (R-3): ``dates.py``. Filter,
sort and q subset: ``query.py``.
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
