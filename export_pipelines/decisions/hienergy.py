"""HiEnergy export reports: the decisions E-1 … E-5 of DECISIONS.md.

The vendor documents create, status and list with the export object, but not the status codes of a
dedupe hit, the dedupe window, the chunking threshold or the URL lifetime. These are the answers the
sandbox serves and the client expects; only constants live here, never protocol code.
"""

from typing import Final

#: The vendor's documented base path, under its host (``https://app.hienergy.ai/api/v1``).
API_PREFIX: Final = "/api/v1"

#: Documented report types; ``*_csv`` reports are CSV files, ``*_excel`` reports XLSX (E-5).
REPORT_TYPES: Final = (
    "advertisers_csv",
    "deals_excel",
    "hot_advertisers_excel",
    "clicks_details_excel",
)
CSV_SUFFIX: Final = "_csv"
EXCEL_SUFFIX: Final = "_excel"

#: Documented statuses: pending → processing → completed | failed.
STATUSES: Final = ("pending", "processing", "completed", "failed")
TERMINAL_STATUSES: Final = ("completed", "failed")

#: E-2: create answers 201 for a new report, 200 with ``deduped: true`` when an identical request was
#: answered by a completed report inside the window, 409 ``{"export": …}`` for one still in flight.
CREATED_STATUS: Final = 201
DEDUPED_STATUS: Final = 200
IN_FLIGHT_STATUS: Final = 409

#: E-3: the dedupe window; identical means same API key, ``report_type`` and the canonical JSON
#: (sorted keys, no spaces) of ``search_params`` and ``index_params``.
DEDUPE_WINDOW_SECONDS: Final = 15 * 60

#: E-4: past this many rows a report is chunked into child reports of at most this many rows each
#: (a sandbox setting; the real threshold is unknown).
ROWS_PER_PART: Final = 100_000

#: E-5: lifetime of a presigned ``download_url``; a later GET of the report hands out a fresh one.
DOWNLOAD_EXPIRES_IN_SECONDS: Final = 900

#: Documented auth headers: ``X-Api-Key`` preferred, ``Authorization: Bearer`` accepted.
API_KEY_HEADER: Final = "X-Api-Key"

#: Documented rate-limit headers.
RATE_LIMIT_HEADERS: Final = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

#: E-6: ``limit`` of ``GET /exports`` when not given, and its largest accepted value.
LIST_DEFAULT_LIMIT: Final = 25
LIST_MAX_LIMIT: Final = 100
