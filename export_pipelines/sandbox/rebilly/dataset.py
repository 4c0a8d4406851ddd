"""The deterministic synthetic Rebilly account: transactions, customers, subscriptions, invoices.

Each resource has ``record_count`` records spread evenly over ``[start, end)`` by their primary
time (``catalog.PRIMARY_TIME``), so the records of a window on that field are one index range found
by arithmetic. Every other value comes from a PRNG seeded by ``(seed, resource, i)``, so any record
is built alone and an export streams record by record. Ids are stable per index
(``cus_…``/``txn_…``/``sub_…``/``in_…``); transactions, subscriptions and invoices refer to
customers created before them.

Amounts are decimal strings in the currency's minor unit (two decimals; JPY none). A record is a
flat ``{path: value}`` dict in catalogue order (``flat``); ``nest`` turns it into the nested
object the JSON formats carry.
"""

import base64
import bisect
import hashlib
import itertools
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from export_pipelines.sandbox.rebilly.catalog import CATALOGUE, PRIMARY_TIME

_INDEX_BITS = 32
_ID_PREFIX = {"transactions": "txn", "customers": "cus", "subscriptions": "sub", "invoices": "in"}
_RESOURCE_SALT = {"transactions": 1, "customers": 2, "subscriptions": 3, "invoices": 4}

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "JPY")
_CURRENCY_WEIGHTS = (45, 25, 15, 10, 5)
_ZERO_DECIMAL = frozenset({"JPY"})
GATEWAYS = ("stripe", "adyen", "braintree", "paypal", "worldpay")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "ES", "NL", "JP", "AU", "BR")
CITIES = ("Springfield", "Toronto", "London", "Berlin", "Paris", "Madrid", "Utrecht", "Osaka")
FIRST_NAMES = ("Ada", "Grace", "Linus", "Mia", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven")
LAST_NAMES = ("Smith", "García", "Müller", "Tanaka", "Dubois", "Rossi", "Kowalski", "Nguyen")
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries")
PLANS = ("basic-monthly", "pro-monthly", "pro-yearly", "team-quarterly", "enterprise-yearly")
_PLAN_INTERVALS = {
    "basic-monthly": ("month", 1, 999),
    "pro-monthly": ("month", 1, 2999),
    "pro-yearly": ("year", 1, 29900),
    "team-quarterly": ("month", 3, 14900),
    "enterprise-yearly": ("year", 1, 99900),
}
_INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


@lru_cache(maxsize=8192)
def _day_text(day: int) -> str:
    year, month, date = time.gmtime(day * 86400)[:3]
    # Not strftime: its %Y drops the leading zeros of years before 1000 (not RFC 3339 then).
    return f"{year:04d}-{month:02d}-{date:02d}T"


def timestamp_text(ts: int) -> str:
    """The wire form of every timestamp: ISO-8601 UTC to the second with ``Z``."""
    day, seconds = divmod(ts, 86400)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    return f"{_day_text(day)}{hour:02d}:{minute:02d}:{second:02d}Z"


def money(minor: int, currency: str) -> str:
    """``minor`` units of ``currency`` as a decimal string: ``1250`` USD → ``"12.50"``."""
    if currency in _ZERO_DECIMAL:
        return str(minor)
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a/b": 1, "c": 2}`` → ``{"a": {"b": 1}, "c": 2}``, keys in the flat order."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        if "/" not in path:
            nested[path] = value
            continue
        *parents, leaf = path.split("/")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _epoch(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


@lru_cache(maxsize=64)
def _cumulative(weights: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(itertools.accumulate(weights))


class _Draws:
    __slots__ = ("bits", "unit")

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.unit = rng.random
        self.bits = rng.getrandbits

    def chance(self, probability: float) -> bool:
        return self.unit() < probability

    def between(self, low: int, high: int) -> int:
        return low + int(self.unit() * (high - low + 1))

    def pick(self, items: tuple[Any, ...]) -> Any:
        return items[int(self.unit() * len(items))]

    def weighted(self, items: tuple[Any, ...], weights: tuple[int, ...]) -> Any:
        cumulative = _cumulative(weights)
        return items[bisect.bisect_right(cumulative, self.unit() * cumulative[-1])]


class RebillyDataset:
    """``record_count`` records per resource over ``[start, end)``, fixed by ``seed``."""

    def __init__(
        self, seed: int, record_count: int, start: datetime | int, end: datetime | int
    ) -> None:
        if not 1 <= record_count < 1 << _INDEX_BITS:
            raise ValueError(f"record_count must be between 1 and {(1 << _INDEX_BITS) - 1}")
        self.seed = seed
        self.record_count = record_count
        self.start_ts = _epoch(start)
        self.end_ts = _epoch(end)
        if self.end_ts <= self.start_ts:
            raise ValueError("end must be after start")
        self._span = self.end_ts - self.start_ts
        digest = hashlib.blake2b(f"rebilly:{seed}".encode(), digest_size=8).digest()
        self._seed_base = int.from_bytes(digest, "big") << (_INDEX_BITS + 3)
        self._builders = {
            "transactions": self._transaction,
            "customers": self._customer,
            "subscriptions": self._subscription,
            "invoices": self._invoice,
        }

    def parameters(self) -> dict[str, int]:
        """What another process needs to rebuild this dataset."""
        return {
            "seed": self.seed,
            "record_count": self.record_count,
            "start": self.start_ts,
            "end": self.end_ts,
        }

    def primary_time(self, index: int) -> int:
        return self.start_ts + index * self._span // self.record_count

    def first_index_at_or_after(self, ts: int) -> int:
        offset = ts - self.start_ts
        if offset <= 0:
            return 0
        return min(self.record_count, -(-offset * self.record_count // self._span))

    def index_range(self, start_ts: int | None, end_ts: int | None) -> range:
        """Indices whose primary time is in ``[start_ts, end_ts)`` (None: unbounded)."""
        first = 0 if start_ts is None else self.first_index_at_or_after(start_ts)
        stop = self.record_count if end_ts is None else self.first_index_at_or_after(end_ts)
        return range(first, max(first, stop))

    def record_id(self, resource: str, index: int) -> str:
        digest = hashlib.blake2b(
            f"{self.seed}:{resource}:{index}".encode(), digest_size=16
        ).digest()
        # Base32 with the extended-hex alphabet (0-9, A-V): 26 characters of 130 bits' room.
        return f"{_ID_PREFIX[resource]}_{base64.b32hexencode(digest)[:26].decode()}"

    def flat(self, resource: str, index: int) -> dict[str, Any]:
        """Record ``index`` of ``resource`` as ``{path: value}`` in catalogue order."""
        if not 0 <= index < self.record_count:
            raise IndexError(index)
        draw = _Draws(self._seed_base | (index << 3) | _RESOURCE_SALT[resource])
        values = self._builders[resource](draw, index, self.primary_time(index))
        return {field.path: values[field.path] for field in CATALOGUE[resource]}

    def record(self, resource: str, index: int) -> dict[str, Any]:
        return nest(self.flat(resource, index))

    def flats(self, resource: str, indices: range) -> Iterator[dict[str, Any]]:
        for index in indices:
            yield self.flat(resource, index)

    def _customer_before(self, draw: _Draws, ts: int) -> str:
        created = self.first_index_at_or_after(ts + 1)
        return self.record_id("customers", draw.between(0, max(0, created - 1)))

    def _address(self, draw: _Draws, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}/firstName": draw.pick(FIRST_NAMES),
            f"{prefix}/lastName": draw.pick(LAST_NAMES),
            f"{prefix}/country": draw.pick(COUNTRIES),
        }

    def _transaction(self, draw: _Draws, index: int, ts: int) -> dict[str, Any]:
        currency = draw.weighted(CURRENCIES, _CURRENCY_WEIGHTS)
        minor = draw.between(100, 60000) if currency == "JPY" else draw.between(100, 50000)
        status = draw.weighted(
            ("completed", "declined", "refunded", "partially-refunded", "voided", "pending"),
            (70, 15, 7, 3, 3, 2),
        )
        result = {"declined": "declined", "pending": "unknown"}.get(status, "approved")
        refunded = {"refunded": minor, "partially-refunded": minor // 2}.get(status, 0)
        method = draw.weighted(("payment-card", "paypal", "ach"), (75, 15, 10))
        gateway = "paypal" if method == "paypal" else draw.pick(GATEWAYS[:3] + GATEWAYS[4:])
        card = method == "payment-card"
        return {
            "id": self.record_id("transactions", index),
            "type": draw.weighted(
                ("sale", "authorize", "capture", "refund", "void"), (70, 10, 10, 7, 3)
            ),
            "status": status,
            "result": result,
            "customerId": self._customer_before(draw, ts),
            "amount": money(minor, currency),
            "currency": currency,
            "refundedAmount": money(refunded, currency),
            "approvalCode": f"{draw.bits(24):06X}" if result == "approved" else None,
            "gateway/name": gateway,
            "gateway/accountId": f"gw_{gateway}_{draw.between(1, 3)}",
            "gateway/transactionId": None if status == "pending" else f"{draw.bits(48):012x}",
            "paymentInstrument/method": method,
            "paymentInstrument/brand": (
                draw.pick(("Visa", "MasterCard", "American Express", "Discover")) if card else None
            ),
            "paymentInstrument/last4": f"{draw.between(0, 9999):04d}" if card else None,
            **self._address(draw, "billingAddress"),
            "isRebill": draw.chance(0.3),
            "retryNumber": draw.weighted((0, 1, 2, 3), (85, 10, 4, 1)),
            "riskScore": draw.between(0, 100),
            "processedTime": timestamp_text(ts),
            "createdTime": timestamp_text(ts - draw.between(0, 300)),
            "updatedTime": timestamp_text(ts + draw.between(0, 7 * 86400)),
        }

    def _customer(self, draw: _Draws, index: int, ts: int) -> dict[str, Any]:
        first, last = draw.pick(FIRST_NAMES), draw.pick(LAST_NAMES)
        currency = draw.weighted(CURRENCIES, _CURRENCY_WEIGHTS)
        payments = draw.weighted((0, 1, 3, 12, 40), (15, 30, 25, 20, 10))
        average = draw.between(500, 20000) if payments else 0
        return {
            "id": self.record_id("customers", index),
            "email": f"{first.lower()}.{last.lower()}.{index}@example.com",
            "firstName": first,
            "lastName": last,
            "company": draw.pick(COMPANIES) if draw.chance(0.4) else None,
            "primaryAddress/city": draw.pick(CITIES),
            "primaryAddress/country": draw.pick(COUNTRIES),
            "primaryAddress/postalCode": f"{draw.between(10000, 99999)}",
            "defaultPaymentInstrument/method": draw.pick(("payment-card", "paypal", "ach")),
            "lifetimeRevenue/amount": money(average * payments, currency),
            "lifetimeRevenue/currency": currency,
            "averageValue/amount": money(average, currency),
            "averageValue/currency": currency,
            "paymentCount": payments,
            "isEddRequired": draw.chance(0.05),
            "lastPaymentTime": (
                timestamp_text(ts + draw.between(0, 90 * 86400)) if payments else None
            ),
            "createdTime": timestamp_text(ts),
            "updatedTime": timestamp_text(ts + draw.between(0, 30 * 86400)),
        }

    def _subscription(self, draw: _Draws, index: int, ts: int) -> dict[str, Any]:
        plan = draw.pick(PLANS)
        unit, length, price = _PLAN_INTERVALS[plan]
        currency = draw.weighted(CURRENCIES[:4], _CURRENCY_WEIGHTS[:4])
        status = draw.weighted(
            ("active", "canceled", "paused", "churned", "pending"), (60, 15, 5, 15, 5)
        )
        start = ts + draw.between(0, 3600)
        ended = status in ("canceled", "churned")
        return {
            "id": self.record_id("subscriptions", index),
            "customerId": self._customer_before(draw, ts),
            "planId": plan,
            "status": status,
            "quantity": draw.weighted((1, 2, 3, 5), (70, 15, 10, 5)),
            "recurringInterval/unit": unit,
            "recurringInterval/length": length,
            "recurringAmount": money(price, currency),
            "currency": currency,
            "inTrial": draw.chance(0.1),
            "startTime": timestamp_text(start),
            "renewalTime": timestamp_text(start + length * _INTERVAL_SECONDS[unit]),
            "canceledTime": timestamp_text(ts + draw.between(86400, 180 * 86400))
            if ended
            else None,
            "createdTime": timestamp_text(ts),
            "updatedTime": timestamp_text(ts + draw.between(0, 180 * 86400)),
        }

    def _invoice(self, draw: _Draws, index: int, ts: int) -> dict[str, Any]:
        currency = draw.weighted(CURRENCIES, _CURRENCY_WEIGHTS)
        subtotal = draw.between(500, 100000)
        discount = subtotal // 10 if draw.chance(0.2) else 0
        tax = (subtotal - discount) * draw.pick((0, 5, 10, 20)) // 100
        amount = subtotal - discount + tax
        status = draw.weighted(
            ("paid", "issued", "past-due", "voided", "partially-paid", "refunded"),
            (60, 15, 10, 5, 5, 5),
        )
        due = {"issued": amount, "past-due": amount, "partially-paid": amount // 2}.get(status, 0)
        paid = status in ("paid", "partially-paid", "refunded")
        subscription = draw.chance(0.7)
        return {
            "id": self.record_id("invoices", index),
            "invoiceNumber": 1000 + index,
            "customerId": self._customer_before(draw, ts),
            "subscriptionId": (
                self.record_id("subscriptions", draw.between(0, index)) if subscription else None
            ),
            "status": status,
            "currency": currency,
            "subtotalAmount": money(subtotal, currency),
            "discountAmount": money(discount, currency),
            "taxAmount": money(tax, currency),
            "amount": money(amount, currency),
            "amountDue": money(due, currency),
            **self._address(draw, "billingAddress"),
            "issuedTime": timestamp_text(ts),
            "dueTime": timestamp_text(ts + draw.pick((0, 7, 14, 30)) * 86400),
            "paidTime": timestamp_text(ts + draw.between(0, 30 * 86400)) if paid else None,
            "createdTime": timestamp_text(ts - draw.between(0, 86400)),
            "updatedTime": timestamp_text(ts + draw.between(0, 35 * 86400)),
        }


def primary_time_field(resource: str) -> str:
    return PRIMARY_TIME[resource]
