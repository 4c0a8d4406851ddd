"""HelloData's synthetic property dataset: one row per property per month, from a seed.

Row ``i`` is property ``i // month_count`` in month ``i % month_count`` (months from
``first_month``), so the dataset is property-major and a file streams in that order. A property's
fixed attributes are a pure function of ``(seed, property index)`` and its monthly figures of
``(seed, row index)``, each from its own ``random.Random`` seeded by a string (stable across
processes), so any size streams row by row and another process recomputes it from the parameters.

Nulls on purpose, as a real dataset has them: ``concession`` when there is none (about 60 %),
``days_on_market`` when fully leased, the rent-roll figures for about a third of properties,
``year_built`` for a few. ZIP codes keep leading zeros (Boston), market names carry commas and
street names apostrophes and non-ASCII letters, so CSV quoting and typing are exercised.
"""

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from export_pipelines.decisions.hellodata import COLUMNS

#: (msa, state, city, latitude, longitude, ZIP prefix, base rent).
MARKETS = (
    (
        "Nashville-Davidson-Murfreesboro-Franklin, TN",
        "TN",
        "Nashville",
        36.1627,
        -86.7816,
        "372",
        1650,
    ),
    ("Austin-Round Rock-Georgetown, TX", "TX", "Austin", 30.2672, -97.7431, "787", 1750),
    ("Boston-Cambridge-Newton, MA-NH", "MA", "Cambridge", 42.3736, -71.1097, "021", 3100),
    ("Phoenix-Mesa-Chandler, AZ", "AZ", "Phoenix", 33.4484, -112.0740, "850", 1550),
    ("Miami-Fort Lauderdale-Pompano Beach, FL", "FL", "Miami", 25.7617, -80.1918, "331", 2600),
    ("Denver-Aurora-Lakewood, CO", "CO", "Denver", 39.7392, -104.9903, "802", 1900),
    ("Seattle-Tacoma-Bellevue, WA", "WA", "Seattle", 47.6062, -122.3321, "981", 2400),
    ("San Antonio-New Braunfels, TX", "TX", "San Antonio", 29.4241, -98.4936, "782", 1300),
)
STREETS = (
    "Main St",
    "Peña Blvd",
    "O'Connor Ave",
    "Müller Way",
    "Elm Street",
    "Lakeshore Dr",
    "Cedar Ln",
    "Broadway",
    "Ridge Rd",
    "Château Ct",
)
NAME_WORDS = ("The", "Residences at", "Lofts on", "Villas of", "Commons at", "Flats at")
NAME_PLACES = ("Riverside", "Oak Park", "Highland", "Maplewood", "Sunset", "Harbor", "Crestview")


@dataclass(frozen=True)
class DatasetParams:
    """Everything the rows depend on (what ``GET /_sandbox/hellodata/generator`` shows)."""

    seed: int
    property_count: int
    first_month: date
    month_count: int

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["first_month"] = self.first_month.isoformat()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DatasetParams":
        return cls(
            seed=int(values["seed"]),
            property_count=int(values["property_count"]),
            first_month=date.fromisoformat(values["first_month"]),
            month_count=int(values["month_count"]),
        )

    @property
    def row_count(self) -> int:
        return self.property_count * self.month_count


def _month(first: date, offset: int) -> date:
    months = first.year * 12 + first.month - 1 + offset
    return date(months // 12, months % 12 + 1, 1)


class PropertyDataset:
    """The rows of one parameter set, each a dict keyed by ``COLUMNS`` in catalogue order.

    Values are Python ``str``, ``int``, ``float``, ``bool``, ``date`` or None, typed as
    ``COLUMNS`` says (``date`` for ``date`` columns).
    """

    def __init__(self, params: DatasetParams) -> None:
        self.params = params
        self._property = lru_cache(maxsize=4096)(self._property_uncached)

    def _property_uncached(self, index: int) -> dict[str, Any]:
        rng = random.Random(f"hellodata:{self.params.seed}:property:{index}")
        msa, state, city, lat, lon, zip_prefix, base_rent = rng.choice(MARKETS)
        digest = hashlib.md5(f"{self.params.seed}:{index}".encode()).digest()
        kind = rng.random()
        return {
            "property_id": str(uuid.UUID(bytes=digest, version=4)),
            "property_name": f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_PLACES)}",
            "street_address": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
            "city": city,
            "state": state,
            "zip_code": f"{zip_prefix}{rng.randint(0, 99):02d}",
            "msa": msa,
            "lat": round(lat + rng.uniform(-0.25, 0.25), 6),
            "lon": round(lon + rng.uniform(-0.25, 0.25), 6),
            "year_built": None if rng.random() < 0.05 else rng.randint(1950, 2025),
            "number_units": rng.choice((1, 4, 12, 24, 48, 96, 150, 220, 310, 480)),
            "rent_base": base_rent * rng.uniform(0.7, 1.5),
            "is_affordable": rng.random() < 0.12,
            "is_student": rng.random() < 0.06,
            "is_senior": rng.random() < 0.05,
            "is_condo": kind < 0.08,
            "is_single_family": 0.08 <= kind < 0.15,
            "is_lease_up": rng.random() < 0.07,
            "has_rent_roll": rng.random() < 0.66,
        }

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` of the dataset (0-based)."""
        if not 0 <= index < self.params.row_count:
            raise IndexError(f"row {index} outside 0..{self.params.row_count - 1}")
        prop = self._property(index // self.params.month_count)
        offset = index % self.params.month_count
        rng = random.Random(f"hellodata:{self.params.seed}:row:{index}")
        asking = round(prop["rent_base"] * (1 + 0.004 * offset) * rng.uniform(0.97, 1.03), 2)
        concession = round(asking * rng.choice((0.5, 1.0, 1.5)), 2) if rng.random() < 0.4 else None
        leased = round(rng.uniform(0.82, 1.0), 4)
        roll = prop["has_rent_roll"]
        values: dict[str, Any] = {
            **{k: v for k, v in prop.items() if k in COLUMNS},
            "as_of_month": _month(self.params.first_month, offset),
            "asking_rent": asking,
            "effective_rent": round(asking - (concession or 0) / 12, 2),
            "concession": concession,
            "leased_percentage": leased,
            "exposure_percentage": round(min(1.0, 1 - leased + rng.uniform(0, 0.05)), 4),
            "days_on_market": None if leased >= 0.995 else rng.randint(3, 120),
            "rent_roll_lease_tradeout": round(rng.uniform(-0.08, 0.12), 4) if roll else None,
            "rent_roll_renewal_percent": round(rng.uniform(0.4, 0.75), 4) if roll else None,
        }
        return {column: values[column] for column in COLUMNS}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, in dataset order, one at a time."""
        for index in range(self.params.row_count):
            yield self.row(index)
