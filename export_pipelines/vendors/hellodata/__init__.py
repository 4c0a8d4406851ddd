"""HelloData: submit a dataset export; its webhook delivery completes it; download one gzip file.

HelloData has no status endpoint, so it completes by callback: the webhook receiver
(:mod:`export_pipelines.webhooks`) verifies each delivery with :meth:`HelloDataAdapter.read_delivery`
and records it in the ledger; the status sensor launches the download and times out jobs whose
delivery never came (a failed export sends nothing, H-7).

Partitions: the vendor has no time window; a monthly export filters ``as_of_month`` to its
partition (:mod:`.request`). Unpartitioned exports are the vendor's data as it stands at submit
time, never adopted by a later launch.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from export_pipelines.normalize.readers import Csv, TabularNormalizer
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.vendors.base import (
    CallbackSettings,
    Completion,
    Delivery,
    Normalizer,
    VendorAdapter,
    VendorResource,
    Window,
)
from export_pipelines.vendors.hellodata import delivery, records
from export_pipelines.vendors.hellodata.request import WINDOW_COLUMN, HelloDataRequest
from export_pipelines.vendors.hellodata.resource import HelloDataResource


class HelloDataAdapter(VendorAdapter[HelloDataRequest]):
    name: ClassVar[str] = "hellodata"
    resource_class: ClassVar[type[VendorResource]] = HelloDataResource
    completion: ClassVar[Completion] = Completion.CALLBACK
    request_model = HelloDataRequest
    #: A placeholder: every export's table comes from its scopes (:meth:`normalizer_for`).
    normalizer: ClassVar[Normalizer] = TabularNormalizer(
        TableSchema([Column("property_id", pa.string())]), Csv()
    )

    def normalizer_for(self, request: HelloDataRequest) -> Normalizer:
        return records.normalizer_for(request)

    def check_request(
        self, request: HelloDataRequest, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        if not (partitioned or windowed_by_recurrence):
            return
        months = [s for s in request.dataset.scopes if s.column == WINDOW_COLUMN]
        if any(s.aggregate for s in months):
            raise ValueError(f"dataset.scopes: a windowed export cannot aggregate {WINDOW_COLUMN}")

    def build_body(self, request: HelloDataRequest, window: Window | None) -> dict[str, Any]:
        return request.body((window.start, window.end) if window is not None else None)

    def window_is_fixed(self, request: HelloDataRequest, window: Window | None) -> bool:
        return window is not None

    def read_delivery(
        self, raw_body: bytes, headers: Mapping[str, str], settings: CallbackSettings
    ) -> Delivery:
        return delivery.read_delivery(raw_body, headers, settings)

    def file_rows_problem(self, body: dict[str, Any], rows_per_file: list[int]) -> str | None:
        limit = body.get("dataset", {}).get("limit")
        if isinstance(limit, int) and sum(rows_per_file) > limit:
            return f"the file holds {sum(rows_per_file)} rows, past the request's limit {limit}"
        return None


ADAPTER = HelloDataAdapter()
