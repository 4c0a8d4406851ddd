"""The field catalogue of each simulated resource: leaf paths, types, which are searched by ``q``.

Paths use ``/`` for nesting, as the vendor's ``fields`` do (``lifetimeRevenue/amount``); filters
may spell the same path with dots (``billingAddress.lastName``). The catalogue's order is the order
of a record's keys and of the CSV columns when ``fields`` is omitted (then every field is exported).
Each resource's default ``dateRange.field`` is its *primary* time: record ``i`` of a resource has
primary time ``start + floor(i * span / n)``; every other timestamp lies within a bounded offset of
it (``Field.offset``), which keeps a window on any timestamp a bounded scan.
"""

from dataclasses import dataclass
from enum import StrEnum

from export_pipelines.decisions.rebilly import DEFAULT_DATE_FIELDS

DAY = 86400


class Kind(StrEnum):
    STRING = "string"
    #: A decimal amount written as a string ("12.50", "1200" for JPY), beside its currency.
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    #: ISO-8601 UTC with seconds and ``Z``: ``2024-01-31T13:05:00Z``.
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Field:
    path: str
    kind: Kind
    nullable: bool = False
    #: Searched by ``q`` (case-insensitive substring).
    text: bool = False
    #: Timestamps only: (earliest, latest) seconds from the record's primary time.
    offset: tuple[int, int] = (0, 0)


S, D, N, B, T = Kind.STRING, Kind.DECIMAL, Kind.INTEGER, Kind.BOOLEAN, Kind.TIMESTAMP

_ADDRESS = (
    Field("billingAddress/firstName", S, text=True),
    Field("billingAddress/lastName", S, text=True),
    Field("billingAddress/country", S),
)

CATALOGUE: dict[str, tuple[Field, ...]] = {
    "transactions": (
        Field("id", S, text=True),
        Field("type", S),
        Field("status", S),
        Field("result", S),
        Field("customerId", S, text=True),
        Field("amount", D),
        Field("currency", S),
        Field("refundedAmount", D),
        Field("approvalCode", S, nullable=True),
        Field("gateway/name", S),
        Field("gateway/accountId", S),
        Field("gateway/transactionId", S, nullable=True),
        Field("paymentInstrument/method", S),
        Field("paymentInstrument/brand", S, nullable=True),
        Field("paymentInstrument/last4", S, nullable=True),
        *_ADDRESS,
        Field("isRebill", B),
        Field("retryNumber", N),
        Field("riskScore", N),
        Field("processedTime", T),
        Field("createdTime", T, offset=(-300, 0)),
        Field("updatedTime", T, offset=(0, 7 * DAY)),
    ),
    "customers": (
        Field("id", S, text=True),
        Field("email", S, text=True),
        Field("firstName", S, text=True),
        Field("lastName", S, text=True),
        Field("company", S, nullable=True, text=True),
        Field("primaryAddress/city", S, text=True),
        Field("primaryAddress/country", S),
        Field("primaryAddress/postalCode", S),
        Field("defaultPaymentInstrument/method", S),
        Field("lifetimeRevenue/amount", D),
        Field("lifetimeRevenue/currency", S),
        Field("averageValue/amount", D),
        Field("averageValue/currency", S),
        Field("paymentCount", N),
        Field("isEddRequired", B),
        Field("lastPaymentTime", T, nullable=True, offset=(0, 90 * DAY)),
        Field("createdTime", T),
        Field("updatedTime", T, offset=(0, 30 * DAY)),
    ),
    "subscriptions": (
        Field("id", S, text=True),
        Field("customerId", S, text=True),
        Field("planId", S, text=True),
        Field("status", S),
        Field("quantity", N),
        Field("recurringInterval/unit", S),
        Field("recurringInterval/length", N),
        Field("recurringAmount", D),
        Field("currency", S),
        Field("inTrial", B),
        Field("startTime", T, offset=(0, 3600)),
        Field("renewalTime", T, offset=(DAY, 3 * 366 * DAY + 3600)),
        Field("canceledTime", T, nullable=True, offset=(DAY, 180 * DAY)),
        Field("createdTime", T),
        Field("updatedTime", T, offset=(0, 180 * DAY)),
    ),
    "invoices": (
        Field("id", S, text=True),
        Field("invoiceNumber", N),
        Field("customerId", S, text=True),
        Field("subscriptionId", S, nullable=True, text=True),
        Field("status", S),
        Field("currency", S),
        Field("subtotalAmount", D),
        Field("discountAmount", D),
        Field("taxAmount", D),
        Field("amount", D),
        Field("amountDue", D),
        *_ADDRESS,
        Field("issuedTime", T),
        Field("dueTime", T, offset=(0, 30 * DAY)),
        Field("paidTime", T, nullable=True, offset=(0, 30 * DAY)),
        Field("createdTime", T, offset=(-DAY, 0)),
        Field("updatedTime", T, offset=(0, 35 * DAY)),
    ),
}

#: The resources the sandbox generates (``invoiceItems`` and ``revenueAudit`` are refused, 422).
SIMULATED_RESOURCES = tuple(CATALOGUE)
PRIMARY_TIME = {resource: DEFAULT_DATE_FIELDS[resource] for resource in SIMULATED_RESOURCES}
FIELDS = {resource: {f.path: f for f in fields} for resource, fields in CATALOGUE.items()}
TIMESTAMP_FIELDS = {
    resource: tuple(f.path for f in fields if f.kind is Kind.TIMESTAMP)
    for resource, fields in CATALOGUE.items()
}
TEXT_FIELDS = {
    resource: tuple(f.path for f in fields if f.text) for resource, fields in CATALOGUE.items()
}


def field_path(name: str) -> str:
    """A filter's or sort's dotted path in the catalogue's ``/`` spelling."""
    return name.replace(".", "/")


def select_fields(resource: str, names: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """The leaf paths ``fields`` selects, in order, and the (index, message) of unknown names.

    A name is a leaf (``lifetimeRevenue/amount``) or an object (``lifetimeRevenue``: all its leaves).
    """
    leaves = [f.path for f in CATALOGUE[resource]]
    selected: list[str] = []
    errors: list[tuple[int, str]] = []
    for index, name in enumerate(names):
        path = field_path(name.strip())
        matched = [leaf for leaf in leaves if leaf == path or leaf.startswith(path + "/")]
        if not path or not matched:
            errors.append((index, f"unknown field {name!r} of {resource}"))
            continue
        selected += [leaf for leaf in matched if leaf not in selected]
    return selected, errors
