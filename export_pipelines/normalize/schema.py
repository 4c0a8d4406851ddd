"""A table declared once per export: columns, their vendor names and Arrow types.

Types are declared, never inferred from a first block (a later block would fail or be mis-typed).
A value that does not fit its column is a :class:`~export_pipelines.normalize.errors.NormalizeError`
naming the file, the row and the column. Supported types: ``pa.string()``, ``pa.int64()``,
``pa.float64()``, ``pa.bool_()``, ``pa.decimal128(p, s)``, ``pa.date32()`` (ISO text) and
``pa.timestamp(unit, tz="UTC")`` from ISO-8601 text with a zone offset (``epoch=None``) or from
epoch numbers (``epoch="s"`` or ``"ms"``, as numbers or text).

Example (a HiEnergy-style CSV with a repeated ``price`` header)::

    ORDERS = TableSchema(
        [
            Column("order_id", pa.string(), source="Order ID", nullable=False),
            Column("amount", pa.decimal128(12, 2), source="Amount"),
            Column("list_price", pa.float64(), source="price"),
            Column("net_price", pa.float64(), source="price", occurrence=2),
            Column("created_at", pa.timestamp("ms", tz="UTC"), source="Created"),
            Column("paid_at", pa.timestamp("ms", tz="UTC"), source="paid", epoch="s"),
        ]
    )
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))

Fields of the file that no column declares go to ``_rescued`` (JSON text of the row's non-null
unknown fields) with ``extra="rescue"``, the default, so a vendor's new field is kept and shows up;
``extra="error"`` refuses such a file instead. What the pipeline then does with ``_rescued`` (keep
it, turn its fields into columns, or refuse the file) is the export's ``schema_drift`` policy
(:mod:`.drift`).
"""

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

RESCUED = pa.field("_rescued", pa.string())


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    #: The vendor's name: CSV/XLSX header, JSON key (JSON:API attribute), XML child or attribute.
    source: str | None = None
    #: Which of several equal header names (1 = the first).
    occurrence: int = 1
    nullable: bool = True
    epoch: Literal["s", "ms"] | None = None

    @property
    def key(self) -> str:
        """The source's name, made unique for repeated headers."""
        base = self.source or self.name
        return base if self.occurrence == 1 else f"{base}\x00{self.occurrence}"

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


@dataclass(frozen=True)
class TableSchema:
    columns: list[Column]
    extra: Literal["rescue", "error"] = "rescue"
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"column names repeat: {names}")
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError("two columns read the same source field")
        for c in self.columns:
            if c.epoch and not pa.types.is_timestamp(c.type):
                raise ValueError(f"column {c.name}: epoch= needs a timestamp type")
            if pa.types.is_timestamp(c.type) and c.type.tz is None:
                raise ValueError(f"column {c.name}: timestamps are UTC (tz='UTC')")
        object.__setattr__(self, "_names", frozenset(keys))

    def arrow(self) -> pa.Schema:
        fields = [c.field() for c in self.columns]
        return pa.schema([*fields, RESCUED] if self.extra == "rescue" else fields)

    def known(self, key: str) -> bool:
        return key in self._names
