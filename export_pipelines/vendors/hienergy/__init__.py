"""HiEnergy: create an export report, poll it (and its parts when chunked), download CSV or XLSX.

Each of the four report types is its own table with its own declared schema
(:mod:`export_pipelines.vendors.hienergy.records`), so the normalizer is chosen by the request.
"""

from typing import Any, ClassVar

from export_pipelines.vendors.base import Normalizer, VendorAdapter, VendorResource, Window
from export_pipelines.vendors.hienergy.records import NORMALIZERS
from export_pipelines.vendors.hienergy.request import WINDOW_KEYS, HiEnergyRequest
from export_pipelines.vendors.hienergy.resource import HiEnergyResource


class HiEnergyAdapter(VendorAdapter[HiEnergyRequest]):
    name: ClassVar[str] = "hienergy"
    resource_class: ClassVar[type[VendorResource]] = HiEnergyResource
    request_model = HiEnergyRequest
    #: The advertisers table's; every report type has its own (:meth:`normalizer_for`).
    normalizer: ClassVar[Normalizer] = NORMALIZERS["advertisers_csv"]

    def normalizer_for(self, request: HiEnergyRequest) -> Normalizer:
        return NORMALIZERS[request.report_type]

    def check_request(
        self, request: HiEnergyRequest, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        if (partitioned or windowed_by_recurrence) and request.declares_window:
            keys = ", ".join(
                f"search_params.{k}" for k in WINDOW_KEYS if k in request.search_params
            )
            raise ValueError(
                f"{keys}: remove it; a partitioned or recurring export asks for its own window"
            )

    def build_body(self, request: HiEnergyRequest, window: Window | None) -> dict[str, Any]:
        # No window: the report as declared (HiEnergy needs no time range).
        if window is None:
            return request.body(None, None)
        return request.body(window.start, window.end)

    def window_is_fixed(self, request: HiEnergyRequest, window: Window | None) -> bool:
        # A report without a closed date window is the vendor's data as it stands at submit time
        # (today's hot advertisers): a later launch must ask again rather than adopt the old one.
        if window is not None:
            return True
        return all(request.search_params.get(key) is not None for key in WINDOW_KEYS)

    def file_rows_problem(self, body: dict[str, Any], rows_per_file: list[int]) -> str | None:
        # A chunked report's parts each hold rows (an empty report is one file, not parts).
        if len(rows_per_file) > 1 and 0 in rows_per_file:
            return (
                f"part {rows_per_file.index(0)} of {len(rows_per_file)} holds no rows; every part "
                "of a chunked report holds at least one"
            )
        return None


ADAPTER = HiEnergyAdapter()
