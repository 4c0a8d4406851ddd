"""HiEnergy's four report types as declared tables: one schema each, stable across partitions and parts.

The vendor's page names the report types but not their columns (PROTOCOLS §6 E-8); the columns
below are the ones the sandbox documents for each type, in file order. ``*_csv`` reports are CSV and
``*_excel`` reports XLSX (E-5); both go through the normalization engine's C readers with the types
declared here, never inferred from a first block, so a part whose values are all empty still has
the same schema as its siblings.

Types:
- identifiers and counts: int64; names, codes and categories: string (an empty cell is null);
- money (``epc``, ``sale_amount``, ``commission_amount``): decimal128(18, 2) — the vendor writes cents;
- rates, percentages and scores (``commission_rate``, ``discount_percent``, ``trend_score``): float64,
  as the vendor documents them (two decimals, not money);
- calendar days (``joined_on``, ``starts_on``, ``ends_on``, ``trending_since``): date32;
- ``clicked_at``: timestamp[ms, UTC] (the vendor's datetimes are UTC);
- a column the vendor adds later is kept in ``_rescued`` (JSON of the row's unknown fields), or
  becomes a column, or fails the file, by the export's ``schema_drift`` (``normalize.drift``).
"""

from typing import Final

import pyarrow as pa

from export_pipelines.normalize.readers import Csv, TabularNormalizer, Xlsx
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.vendors.base import Normalizer

MONEY: Final = pa.decimal128(18, 2)
UTC_MS: Final = pa.timestamp("ms", tz="UTC")


def _id() -> Column:
    return Column("id", pa.int64(), nullable=False)


def _text(*names: str) -> list[Column]:
    return [Column(name, pa.string()) for name in names]


ADVERTISERS = TableSchema(
    [
        _id(),
        *_text("name", "domain", "network", "category", "country", "currency"),
        Column("commission_rate", pa.float64()),
        Column("epc", MONEY),
        Column("cookie_days", pa.int64()),
        Column("deal_count", pa.int64()),
        *_text("status"),
        Column("joined_on", pa.date32()),
    ]
)

DEALS = TableSchema(
    [
        _id(),
        Column("advertiser_id", pa.int64()),
        *_text("advertiser_name", "network", "title", "deal_type", "code"),
        Column("discount_percent", pa.float64()),
        *_text("currency"),
        Column("exclusive", pa.bool_()),
        Column("starts_on", pa.date32()),
        Column("ends_on", pa.date32()),
    ]
)

HOT_ADVERTISERS = TableSchema(
    [
        _id(),
        *_text("name", "domain", "network", "category", "country", "currency"),
        Column("commission_rate", pa.float64()),
        Column("epc", MONEY),
        Column("clicks_7d", pa.int64()),
        Column("conversions_7d", pa.int64()),
        Column("trend_score", pa.float64()),
        Column("trending_since", pa.date32()),
    ]
)

CLICKS = TableSchema(
    [
        _id(),
        Column("clicked_at", UTC_MS),
        Column("advertiser_id", pa.int64()),
        *_text("advertiser_name", "network", "country", "device", "sub_id"),
        Column("converted", pa.bool_()),
        Column("sale_amount", MONEY),
        Column("commission_amount", MONEY),
        *_text("currency"),
    ]
)

#: Report type → the normalizer of its table.
NORMALIZERS: Final[dict[str, Normalizer]] = {
    "advertisers_csv": TabularNormalizer(ADVERTISERS, Csv()),
    "deals_excel": TabularNormalizer(DEALS, Xlsx()),
    "hot_advertisers_excel": TabularNormalizer(HOT_ADVERTISERS, Xlsx()),
    "clicks_details_excel": TabularNormalizer(CLICKS, Xlsx()),
}
