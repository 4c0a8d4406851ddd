"""The declared table of each Rebilly resource: one schema whatever format the export was asked in.

Rebilly documents no field catalogue (PROTOCOLS R-5); these are the fields the sandbox's docstring
lists, which follow the vendor's API resources. A field is addressed by its ``source`` path, nested
members joined with ``/`` as the vendor's ``fields`` parameter and CSV headers spell them
(``gateway/name``); its column is the path in snake case joined with ``_`` (``gateway_name``).

Types: amounts are the vendor's decimal strings (``"12.50"``; JPY ``"1200"``), declared as
``decimal128(20, 4)`` beside their currency column: four places hold every ISO 4217 minor unit, and
a value with more is an error rather than a rounding. Timestamps are ISO-8601 with a zone, declared
``timestamp[ms, UTC]``. Counts are ``int64``, flags ``bool``, everything else text; an empty text
is null in every format (CSV cannot tell them apart, so no format may).
"""

import re
from dataclasses import dataclass

import pyarrow as pa

AMOUNT = pa.decimal128(20, 4)
TIMESTAMP = pa.timestamp("ms", tz="UTC")
TEXT = pa.string()
COUNT = pa.int64()
FLAG = pa.bool_()


def column_name(source: str) -> str:
    """``paymentInstrument/last4`` → ``payment_instrument_last4``."""
    parts = [re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).lower() for part in source.split("/")]
    return "_".join(parts)


@dataclass(frozen=True)
class Column:
    source: str
    type: pa.DataType
    nullable: bool = True

    @property
    def name(self) -> str:
        return column_name(self.source)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.source.split("/"))


@dataclass(frozen=True)
class Table:
    resource: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    def by_source(self) -> dict[str, Column]:
        return {c.source: c for c in self.columns}

    def covered_by(self, field: str) -> list[Column]:
        """The columns a ``fields`` entry asks for: the field itself, or every member of it."""
        return [c for c in self.columns if c.source == field or c.source.startswith(field + "/")]


def _columns(*spec: tuple[str, pa.DataType]) -> tuple[Column, ...]:
    return tuple(Column(source, kind, nullable=source != "id") for source, kind in spec)


_BILLING_ADDRESS = (
    ("billingAddress/firstName", TEXT),
    ("billingAddress/lastName", TEXT),
    ("billingAddress/country", TEXT),
)

TABLES: dict[str, Table] = {
    table.resource: table
    for table in (
        Table(
            "transactions",
            _columns(
                ("id", TEXT),
                ("type", TEXT),
                ("status", TEXT),
                ("result", TEXT),
                ("customerId", TEXT),
                ("amount", AMOUNT),
                ("currency", TEXT),
                ("refundedAmount", AMOUNT),
                ("approvalCode", TEXT),
                ("gateway/name", TEXT),
                ("gateway/accountId", TEXT),
                ("gateway/transactionId", TEXT),
                ("paymentInstrument/method", TEXT),
                ("paymentInstrument/brand", TEXT),
                ("paymentInstrument/last4", TEXT),
                *_BILLING_ADDRESS,
                ("isRebill", FLAG),
                ("retryNumber", COUNT),
                ("riskScore", COUNT),
                ("processedTime", TIMESTAMP),
                ("createdTime", TIMESTAMP),
                ("updatedTime", TIMESTAMP),
            ),
        ),
        Table(
            "customers",
            _columns(
                ("id", TEXT),
                ("email", TEXT),
                ("firstName", TEXT),
                ("lastName", TEXT),
                ("company", TEXT),
                ("primaryAddress/city", TEXT),
                ("primaryAddress/country", TEXT),
                ("primaryAddress/postalCode", TEXT),
                ("defaultPaymentInstrument/method", TEXT),
                ("lifetimeRevenue/amount", AMOUNT),
                ("lifetimeRevenue/currency", TEXT),
                ("averageValue/amount", AMOUNT),
                ("averageValue/currency", TEXT),
                ("paymentCount", COUNT),
                ("isEddRequired", FLAG),
                ("lastPaymentTime", TIMESTAMP),
                ("createdTime", TIMESTAMP),
                ("updatedTime", TIMESTAMP),
            ),
        ),
        Table(
            "subscriptions",
            _columns(
                ("id", TEXT),
                ("customerId", TEXT),
                ("planId", TEXT),
                ("status", TEXT),
                ("quantity", COUNT),
                ("recurringInterval/unit", TEXT),
                ("recurringInterval/length", COUNT),
                ("recurringAmount", AMOUNT),
                ("currency", TEXT),
                ("inTrial", FLAG),
                ("startTime", TIMESTAMP),
                ("renewalTime", TIMESTAMP),
                ("canceledTime", TIMESTAMP),
                ("createdTime", TIMESTAMP),
                ("updatedTime", TIMESTAMP),
            ),
        ),
        Table(
            "invoices",
            _columns(
                ("id", TEXT),
                ("invoiceNumber", COUNT),
                ("customerId", TEXT),
                ("subscriptionId", TEXT),
                ("status", TEXT),
                ("currency", TEXT),
                ("subtotalAmount", AMOUNT),
                ("discountAmount", AMOUNT),
                ("taxAmount", AMOUNT),
                ("amount", AMOUNT),
                ("amountDue", AMOUNT),
                *_BILLING_ADDRESS,
                ("issuedTime", TIMESTAMP),
                ("dueTime", TIMESTAMP),
                ("paidTime", TIMESTAMP),
                ("createdTime", TIMESTAMP),
                ("updatedTime", TIMESTAMP),
            ),
        ),
    )
}
