"""Rebilly data exports: the documented constants and the decisions R-1 … R-9 of DECISIONS.md.

The vendor's OpenAPI description (``shared/providers/rebilly-data-exports.openapi.json``, the 2022
generation that seed 002 shows) gives paths, fields and enums, but not the status timing, the
relative ``dateRange`` grammar, when and how file links appear, their lifetime, the list defaults or
the error type URIs. These are the answers the sandbox serves and the client expects; only
constants live here, never protocol code.
"""

from typing import Final

#: Base path under the host; the client's base URL is ``{host}{BASE_PATH_TEMPLATE}``.
BASE_PATH_TEMPLATE: Final = "/experimental/organizations/{organizationId}"

#: Auth: the secret key in this header (``Authorization: Bearer <JWT>`` is the documented other way).
API_KEY_HEADER: Final = "REB-APIKEY"

#: Resources of the seed-era ``DataExport.resource`` enum.
RESOURCES: Final = (
    "transactions",
    "customers",
    "subscriptions",
    "invoices",
    "invoiceItems",
    "revenueAudit",
)
#: Documented default ``dateRange.field`` per resource.
DEFAULT_DATE_FIELDS: Final = {
    "transactions": "processedTime",
    "customers": "createdTime",
    "subscriptions": "createdTime",
    "invoices": "issuedTime",
    "invoiceItems": "issuedTime",
    "revenueAudit": "scheduledTime",
}

#: The seed-era format enum; ``pdf`` cannot become a table and is refused when an export is declared.
FORMATS: Final = ("csv", "json", "json-api", "xml", "pdf")
TABLE_FORMATS: Final = ("csv", "json", "json-api", "xml")
#: Content type of a downloaded file per format, and of a file split into parts.
CONTENT_TYPES: Final = {
    "csv": "text/csv",
    "json": "application/json",
    "json-api": "application/vnd.api+json",
    "xml": "application/xml",
    "pdf": "application/pdf",
}
ZIP_CONTENT_TYPE: Final = "application/zip"

#: File layout where the documents are silent. Nested fields are addressed with ``/`` (documented
#: for ``fields``, e.g. ``lifetimeRevenue/amount``), so CSV headers flatten nested fields with ``/``.
#: XML: one root element named after the resource, one ``XML_RECORD_ELEMENT`` per record, nested
#: fields as nested elements, list items as ``XML_LIST_ITEM_ELEMENT`` children.
CSV_NESTED_SEPARATOR: Final = "/"
XML_RECORD_ELEMENT: Final = "record"
XML_LIST_ITEM_ELEMENT: Final = "item"

#: Past this many records the file is a ZIP of numbered parts (``{name}-part1.csv``, …) of at most
#: this many records each; CSV parts repeat the header, JSON parts are whole arrays, XML parts have
#: their own root (the vendor's newer definitions). Parts are numbered from 1; the sandbox's stem
#: is the file id (``file_….zip`` holding ``file_…-part1.csv``…).
RECORDS_PER_FILE: Final = 1_000_000
PART_NAME_TEMPLATE: Final = "{stem}-part{number}.{extension}"
FILE_EXTENSIONS: Final = {"csv": "csv", "json": "json", "json-api": "json", "xml": "xml"}

#: R-1: ``pending`` until ``scheduledTime``, then ``queued``, ``processing``, then ``completed`` or
#: ``failed`` (with ``failureReason``; ``failed`` comes from the vendor's newer definitions).
STATUSES: Final = ("pending", "queued", "processing", "completed", "failed")
TERMINAL_STATUSES: Final = ("completed", "failed")
#: A data export may be changed (PUT) only while it is in this status (documented).
MODIFIABLE_STATUS: Final = "pending"
#: ``failureReason`` is null unless ``failed`` (the newer definitions' nullable enum).
FAILURE_REASONS: Final = ("record-limit-exceeded", "max-retries-reached")
#: What each reason means for asking again (the names say it; the definitions say no more):
#: ``record-limit-exceeded`` is the window holding more records than the vendor exports at once,
#: so a narrower ``dateRange`` is asked for instead; ``max-retries-reached`` is the vendor giving
#: up on its own retries, so the same request may succeed later.
TOO_LARGE_FAILURE_REASONS: Final = ("record-limit-exceeded",)
TRANSIENT_FAILURE_REASONS: Final = ("max-retries-reached",)
#: ``recordCount`` (excluding the CSV header) and ``fileId`` are present only once ``completed``.

#: R-3: relative ``dateRange`` forms both sides understand, besides ISO-8601; all times are UTC.
#: ``-N unit(s)`` and ``N unit(s) ago`` count from now; as in PHP, ``first day of last month`` keeps
#: the time of day (``first day of last month midnight`` is 00:00).
RELATIVE_KEYWORDS: Final = ("now", "today", "yesterday", "tomorrow", "midnight")
RELATIVE_UNITS: Final = ("second", "minute", "hour", "day", "week", "month", "year")
FIRST_DAY_OF_LAST_MONTH: Final = "first day of last month"
DATE_RANGE_TIME_ZONE: Final = "UTC"
#: A window is ``start <= value < end`` on ``dateRange.field``, so adjacent partitions never share
#: a record; an omitted ``dateRange`` is all time.
DATE_RANGE_END_EXCLUSIVE: Final = True

#: R-4: link relations added to ``_links`` only once ``completed``. ``download`` is
#: ``{base}/files/{fileId}/download`` and needs the API key; ``signedLink`` is a pre-signed URL that
#: needs no key and is valid for ``SIGNED_LINK_TTL_SECONDS``.
LINK_SELF: Final = "self"
LINK_USER: Final = "user"
LINK_DOWNLOAD: Final = "download"
LINK_SIGNED: Final = "signedLink"
FILE_DOWNLOAD_PATH: Final = "/files/{fileId}/download"
SIGNED_LINK_TTL_SECONDS: Final = 60 * 60

#: R-6: ``limit`` of ``GET /data-exports`` when not given (the documented example), its documented
#: bounds, and the default order (newest first).
LIST_DEFAULT_LIMIT: Final = 100
LIST_MAX_LIMIT: Final = 1000
LIST_DEFAULT_SORT: Final = "-createdTime"
PAGINATION_HEADERS: Final = ("Pagination-Total", "Pagination-Limit", "Pagination-Offset")

#: Documented rate-limit headers; on 429 ``X-RateLimit-Retry-After`` is the UTC epoch second of the
#: reset. Sandbox environment: 3 000 non-GET requests per 10 minutes per organization.
RATE_LIMIT_HEADERS: Final = ("X-RateLimit-Limit", "X-RateLimit-Remaining")
RATE_LIMIT_RETRY_AFTER_HEADER: Final = "X-RateLimit-Retry-After"
RATE_LIMIT_REQUESTS: Final = 3000
RATE_LIMIT_WINDOW_SECONDS: Final = 10 * 60

#: R-8: RFC 7807 problem bodies, served as ``application/json`` (the only error content type the
#: description lists), with a ``title`` per status; ``type`` is ``about:blank``.
PROBLEM_TITLES: Final = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Invalid data",
    429: "Rate Limit Exceeded",
}
#: Malformed bodies and a PUT of an export no longer pending are 422 with ``invalidFields`` (the
#: description lists no 400 or 409 for these operations).
INVALID_REQUEST_STATUS: Final = 422

#: R-9: DELETE removes an export in any status; one still being generated is cancelled.
DELETE_STATUS: Final = 204
