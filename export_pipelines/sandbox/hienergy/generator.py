"""HiEnergy's synthetic affiliate-marketing data: the rows of the four report types, from a seed.

Every row is a pure function of ``(seed, universe, index)`` (its own ``random.Random`` seeded by a
string, which is stable across Python versions and processes), so a report of any size streams out
row by row and a verifier in another process recomputes it from the parameters alone.

* Advertisers ``0 … advertiser_count-1``, ids from ``ADVERTISER_ID_BASE``, in id order.
* Hot advertisers: the advertisers whose own "heat" draw passes ``HOT_SHARE``, in id order.
* Deals ``0 … deal_count-1``, ids from ``DEAL_ID_BASE``, each of a random advertiser, in id order.
* Clicks ``0 … click_count-1``, ids from ``CLICK_ID_BASE``, spread evenly over
  ``[dataset_start, dataset_end)`` in time order (so a time window is an index range).

The columns and their types are ``COLUMNS``; ``search.py`` turns ``search_params`` into the filter
that ``rows`` applies.
"""

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from export_pipelines.sandbox.hienergy.search import Search

ADVERTISER_ID_BASE = 1000
DEAL_ID_BASE = 500_000
CLICK_ID_BASE = 10_000_000
HOT_SHARE = 0.1

#: Report type → (column, Python type) in file order; every type starts with ``id``.
COLUMNS: dict[str, tuple[tuple[str, type], ...]] = {
    "advertisers_csv": (
        ("id", int),
        ("name", str),
        ("domain", str),
        ("network", str),
        ("category", str),
        ("country", str),
        ("currency", str),
        ("commission_rate", float),
        ("epc", float),
        ("cookie_days", int),
        ("deal_count", int),
        ("status", str),
        ("joined_on", date),
    ),
    "deals_excel": (
        ("id", int),
        ("advertiser_id", int),
        ("advertiser_name", str),
        ("network", str),
        ("title", str),
        ("deal_type", str),
        ("code", str),
        ("discount_percent", float),
        ("currency", str),
        ("exclusive", bool),
        ("starts_on", date),
        ("ends_on", date),
    ),
    "hot_advertisers_excel": (
        ("id", int),
        ("name", str),
        ("domain", str),
        ("network", str),
        ("category", str),
        ("country", str),
        ("currency", str),
        ("commission_rate", float),
        ("epc", float),
        ("clicks_7d", int),
        ("conversions_7d", int),
        ("trend_score", float),
        ("trending_since", date),
    ),
    "clicks_details_excel": (
        ("id", int),
        ("clicked_at", datetime),
        ("advertiser_id", int),
        ("advertiser_name", str),
        ("network", str),
        ("country", str),
        ("device", str),
        ("sub_id", str),
        ("converted", bool),
        ("sale_amount", float),
        ("commission_amount", float),
        ("currency", str),
    ),
}

#: The column each report type's ``start_date`` / ``end_date`` window filters on.
DATE_COLUMNS: dict[str, str] = {
    "advertisers_csv": "joined_on",
    "deals_excel": "starts_on",
    "hot_advertisers_excel": "trending_since",
    "clicks_details_excel": "clicked_at",
}

NETWORKS = (
    "CJ Affiliate",
    "Impact",
    "Rakuten Advertising",
    "Awin",
    "ShareASale",
    "Partnerize",
    "FlexOffers",
    "Pepperjam",
)
CATEGORIES = (
    "Apparel",
    "Beauty",
    "Electronics",
    "Home & Garden",
    "Travel",
    "Finance",
    "Sports & Outdoors",
    "Food & Drink",
    "Software",
    "Pets",
)
#: (country, its currency): an advertiser pays in its home currency.
MARKETS = (
    ("US", "USD"),
    ("US", "USD"),
    ("US", "USD"),
    ("GB", "GBP"),
    ("DE", "EUR"),
    ("FR", "EUR"),
    ("CA", "CAD"),
    ("AU", "AUD"),
    ("NL", "EUR"),
    ("JP", "JPY"),
)
_NAME_HEADS = (
    "North",
    "Blue",
    "Bright",
    "Urban",
    "Pure",
    "Summit",
    "Harbor",
    "Velvet",
    "Atlas",
    "Nova",
    "Cedar",
    "Golden",
    "Café",
    "Grün",
    "Smith, Jones &",
    "O'Neil",
)
_NAME_TAILS = (
    "Outfitters",
    "Labs",
    "Supply",
    "Co",
    "Market",
    "Goods",
    "Studio",
    "Works",
    "Collective",
    "Direct",
    "Boutique",
    "Gear",
)
_TLDS = {"US": ".com", "GB": ".co.uk", "DE": ".de", "FR": ".fr", "CA": ".ca", "AU": ".com.au"}
DEAL_TYPES = ("coupon", "sale", "free_shipping", "bogo")
DEVICES = ("desktop", "mobile", "mobile", "tablet")
_COOKIE_DAYS = (7, 14, 30, 30, 45, 60, 90)


def _rng(seed: int, universe: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{universe}:{index}")


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


@dataclass(frozen=True)
class GeneratorParams:
    """Everything the rows depend on; what the control endpoint hands a verifier."""

    seed: int
    advertiser_count: int
    deal_count: int
    click_count: int
    dataset_start: date
    dataset_end: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "advertiser_count": self.advertiser_count,
            "deal_count": self.deal_count,
            "click_count": self.click_count,
            "dataset_start": self.dataset_start.isoformat(),
            "dataset_end": self.dataset_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorParams":
        return cls(
            seed=int(data["seed"]),
            advertiser_count=int(data["advertiser_count"]),
            deal_count=int(data["deal_count"]),
            click_count=int(data["click_count"]),
            dataset_start=date.fromisoformat(data["dataset_start"]),
            dataset_end=date.fromisoformat(data["dataset_end"]),
        )


class HiEnergyGenerator:
    """The deterministic rows of every report type; safe to share between threads."""

    def __init__(self, params: GeneratorParams) -> None:
        if params.dataset_end <= params.dataset_start:
            raise ValueError("dataset_end must be after dataset_start")
        self.params = params
        self._start = datetime.combine(params.dataset_start, datetime.min.time(), UTC)
        self._span_days = (params.dataset_end - params.dataset_start).days
        span_seconds = self._span_days * 86_400
        self._click_step = span_seconds / params.click_count
        # Advertisers are looked up by every deal and click: keep the recent ones.
        self.advertiser = lru_cache(maxsize=4096)(self._advertiser)

    def _day(self, rng: random.Random) -> date:
        return self.params.dataset_start + timedelta(days=rng.randrange(self._span_days))

    def _advertiser(self, index: int) -> dict[str, Any]:
        rng = _rng(self.params.seed, "advertiser", index)
        head, tail = rng.choice(_NAME_HEADS), rng.choice(_NAME_TAILS)
        country, currency = rng.choice(MARKETS)
        name = f"{head} {tail}"
        generation = index // (len(_NAME_HEADS) * len(_NAME_TAILS))
        if generation:
            name = f"{name} {generation + 1}"
        return {
            "id": ADVERTISER_ID_BASE + index,
            "name": name,
            "domain": f"{_slug(name)}{_TLDS.get(country, '.com')}",
            "network": rng.choice(NETWORKS),
            "category": rng.choice(CATEGORIES),
            "country": country,
            "currency": currency,
            "commission_rate": round(rng.uniform(1, 25), 2),
            "epc": round(rng.uniform(0.05, 3.5), 2),
            "cookie_days": rng.choice(_COOKIE_DAYS),
            "deal_count": rng.randrange(41),
            "status": "active" if rng.random() < 0.85 else "paused",
            "joined_on": self._day(rng),
        }

    def hot_advertiser(self, index: int) -> dict[str, Any] | None:
        """The hot-advertisers row of advertiser ``index``, or None if it is not hot."""
        rng = _rng(self.params.seed, "hot", index)
        if rng.random() >= HOT_SHARE:
            return None
        advertiser = self.advertiser(index)
        clicks = rng.randrange(500, 50_000)
        return {
            **{key: advertiser[key] for key in ("id", "name", "domain", "network", "category")},
            "country": advertiser["country"],
            "currency": advertiser["currency"],
            "commission_rate": advertiser["commission_rate"],
            "epc": advertiser["epc"],
            "clicks_7d": clicks,
            "conversions_7d": int(clicks * rng.uniform(0.005, 0.08)),
            "trend_score": round(rng.uniform(70, 100), 2),
            "trending_since": self._day(rng),
        }

    def deal(self, index: int) -> dict[str, Any]:
        rng = _rng(self.params.seed, "deal", index)
        advertiser = self.advertiser(rng.randrange(self.params.advertiser_count))
        deal_type = rng.choice(DEAL_TYPES)
        discount = round(rng.uniform(5, 60), 2) if deal_type in ("coupon", "sale") else 0.0
        titles = {
            "coupon": f"{discount:g}% off with code",
            "sale": f"Up to {discount:g}% off sitewide",
            "free_shipping": "Free shipping on all orders",
            "bogo": "Buy one, get one free",
        }
        starts_on = self._day(rng)
        return {
            "id": DEAL_ID_BASE + index,
            "advertiser_id": advertiser["id"],
            "advertiser_name": advertiser["name"],
            "network": advertiser["network"],
            "title": f"{advertiser['name']}: {titles[deal_type]}",
            "deal_type": deal_type,
            "code": f"{_slug(advertiser['name'])[:6].upper()}{rng.randrange(10, 100)}"
            if deal_type == "coupon"
            else "",
            "discount_percent": discount,
            "currency": advertiser["currency"],
            "exclusive": rng.random() < 0.2,
            "starts_on": starts_on,
            "ends_on": starts_on + timedelta(days=rng.randrange(7, 91)),
        }

    def _click_time(self, index: int, rng: random.Random) -> datetime:
        offset = math.floor((index + rng.random()) * self._click_step)
        return self._start + timedelta(seconds=offset)

    def click(self, index: int) -> dict[str, Any]:
        rng = _rng(self.params.seed, "click", index)
        clicked_at = self._click_time(index, rng)
        advertiser = self.advertiser(rng.randrange(self.params.advertiser_count))
        converted = rng.random() < 0.04
        sale = round(rng.uniform(10, 400), 2) if converted else 0.0
        return {
            "id": CLICK_ID_BASE + index,
            "clicked_at": clicked_at,
            "advertiser_id": advertiser["id"],
            "advertiser_name": advertiser["name"],
            "network": advertiser["network"],
            "country": rng.choice(MARKETS)[0],
            "device": rng.choice(DEVICES),
            "sub_id": f"pub-{rng.randrange(1, 500):03d}",
            "converted": converted,
            "sale_amount": sale,
            "commission_amount": round(sale * advertiser["commission_rate"] / 100, 2),
            "currency": advertiser["currency"],
        }

    def click_time(self, index: int) -> datetime:
        return self._click_time(index, _rng(self.params.seed, "click", index))

    def _first_click_at_or_after(self, moment: datetime) -> int:
        """The smallest click index whose time is ≥ ``moment`` (click times never decrease)."""
        count = self.params.click_count
        guess = math.floor((moment - self._start).total_seconds() / self._click_step) - 1
        index = min(max(guess, 0), count)
        while index > 0 and self.click_time(index - 1) >= moment:
            index -= 1
        while index < count and self.click_time(index) < moment:
            index += 1
        return index

    def _click_range(self, search: Search) -> range:
        first = 0 if search.start is None else self._first_click_at_or_after(search.start)
        end = self.params.click_count
        if search.end is not None:
            end = self._first_click_at_or_after(search.end)
        return range(first, max(first, end))

    def _candidates(self, report_type: str, search: Search) -> Iterator[dict[str, Any]]:
        if report_type == "advertisers_csv":
            return map(self.advertiser, range(self.params.advertiser_count))
        if report_type == "hot_advertisers_excel":
            rows = map(self.hot_advertiser, range(self.params.advertiser_count))
            return (row for row in rows if row is not None)
        if report_type == "deals_excel":
            return map(self.deal, range(self.params.deal_count))
        if report_type == "clicks_details_excel":
            return map(self.click, self._click_range(search))
        raise ValueError(f"unknown report_type {report_type!r}")

    def rows(self, report_type: str, search: Search) -> Iterator[dict[str, Any]]:
        """The report's rows passing ``search``, in file order, one at a time."""
        keep: Callable[[dict[str, Any]], bool] = search.predicate(DATE_COLUMNS[report_type])
        return (row for row in self._candidates(report_type, search) if keep(row))

    def count(self, report_type: str, search: Search) -> int:
        """How many rows ``rows`` yields; without generating them where the index says it."""
        if report_type == "clicks_details_excel" and search.only_window:
            return len(self._click_range(search))
        if search.is_empty and report_type == "advertisers_csv":
            return self.params.advertiser_count
        if search.is_empty and report_type == "deals_excel":
            return self.params.deal_count
        return sum(1 for _ in self.rows(report_type, search))
