"""Enterpret: submit an export, poll ``fetch`` until it lists result files, download JSON files."""

from typing import Any, ClassVar

from export_pipelines.vendors.base import Normalizer, VendorAdapter, VendorResource, Window
from export_pipelines.vendors.enterpret.records import EnterpretNormalizer
from export_pipelines.vendors.enterpret.request import EnterpretRequest
from export_pipelines.vendors.enterpret.resource import EnterpretResource


class EnterpretAdapter(VendorAdapter[EnterpretRequest]):
    name: ClassVar[str] = "enterpret"
    resource_class: ClassVar[type[VendorResource]] = EnterpretResource
    request_model = EnterpretRequest
    normalizer: ClassVar[Normalizer] = EnterpretNormalizer()

    def check_request(
        self, request: EnterpretRequest, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        declared = request.listRecords.timerange
        if partitioned and declared is not None:
            raise ValueError(
                "listRecords.timerange: remove it; a partitioned export asks for its partition's "
                "window"
            )
        if not partitioned and not windowed_by_recurrence and declared is None:
            raise ValueError(
                "listRecords.timerange: an unpartitioned export needs one (startTime/endTime or "
                "relative), unless a recurrence supplies the window"
            )

    def build_body(self, request: EnterpretRequest, window: Window | None) -> dict[str, Any]:
        if window is None:
            if request.listRecords.timerange is None:
                raise ValueError(
                    "this export takes its window from its recurrence and declares no timerange; "
                    "launch it from its schedule, or with the run tags "
                    "export_pipelines/window_start and export_pipelines/window_end (ISO-8601)"
                )
            return request.body(None, None)
        return request.body(window.start, window.end)

    def window_is_fixed(self, request: EnterpretRequest, window: Window | None) -> bool:
        if window is not None:
            return True
        timerange = request.listRecords.timerange
        return timerange is not None and timerange.relative is None

    def file_rows_problem(self, body: dict[str, Any], rows_per_file: list[int]) -> str | None:
        # The vendor splits N records into ceil(N / pageSize) files: all full but the last.
        page_size = int(body["pageSize"])
        for index, rows in enumerate(rows_per_file):
            last = index == len(rows_per_file) - 1
            if rows > page_size or (not last and rows != page_size) or (last and rows == 0):
                return (
                    f"file {index} holds {rows} records; with pageSize {page_size} every file "
                    "but the last holds exactly pageSize and the last between 1 and pageSize"
                )
        return None


ADAPTER = EnterpretAdapter()
