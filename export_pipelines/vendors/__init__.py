"""The vendor registry: name → adapter. Adding a vendor is one sub-package and one line here."""

from typing import Any

from export_pipelines.vendors.base import VendorAdapter
from export_pipelines.vendors.connhex import ADAPTER as CONNHEX
from export_pipelines.vendors.enterpret import ADAPTER as ENTERPRET
from export_pipelines.vendors.hellodata import ADAPTER as HELLODATA
from export_pipelines.vendors.hienergy import ADAPTER as HIENERGY
from export_pipelines.vendors.rebilly import ADAPTER as REBILLY

VENDORS: dict[str, VendorAdapter[Any]] = {
    adapter.name: adapter for adapter in (ENTERPRET, HIENERGY, REBILLY, HELLODATA, CONNHEX)
}


def adapter_for(vendor: str) -> VendorAdapter[Any]:
    try:
        return VENDORS[vendor]
    except KeyError:
        known = ", ".join(sorted(VENDORS))
        raise ValueError(f"unknown vendor {vendor!r}; known vendors: {known}") from None
