"""HelloData "Dataset Export Async": the decisions H-1 … H-8 of DECISIONS.md.

The vendor documents one endpoint (``POST /dataset/export``), a webhook body and an HMAC, but not
what the HMAC covers, the full query grammar, the column catalogue, the error bodies, the retry
policy, the file layout or how a failure shows. These are the answers the sandbox serves and the
client and the webhook receiver expect; only constants (and descriptions of rules) live here, never
protocol code: the signing and the serialization are written separately on each side.
"""

from typing import Final

# Transport and auth (PROTOCOLS §1.1, §1.4).

#: The vendor's host; the sandbox serves the same paths under ``{root}/hellodata``.
PRODUCTION_BASE_URL: Final = "https://api.hellodata.ai"
EXPORT_PATH: Final = "/dataset/export"
#: Documented auth header, lower-case in every example.
API_KEY_HEADER: Final = "x-api-key"

#: 201 ``{"queryUUID": "<uuid>"}``: the export is queued.
CREATED_STATUS: Final = 201
QUERY_ID_FIELD: Final = "queryUUID"

# H-4: errors. Every error body is ``{"message": str, "details": str}``.
ERROR_FIELDS: Final = ("message", "details")
#: Not https, or a private / loopback / link-local host (the sandbox may allow its own receiver).
BAD_WEBHOOK_STATUS: Final = 400
#: The body is not JSON, or not an object.
BAD_BODY_STATUS: Final = 400
#: No ``x-api-key`` header: the error-codes page's 401 "Requires authentication".
MISSING_KEY_STATUS: Final = 401
MISSING_KEY_MESSAGE: Final = "Requires authentication"
#: A wrong key: the endpoint's own page says 403 (the error-codes page says 401 "Bad credentials";
#: a client treats both 401 and 403 as an authentication failure).
BAD_KEY_STATUS: Final = 403
BAD_KEY_MESSAGE: Final = "Forbidden"
#: A request the grammar below refuses: unknown column, operator or aggregate, a value of the wrong
#: type, a missing or unknown field, a format that is neither csv nor jsonl.
INVALID_REQUEST_STATUS: Final = 422
#: Past ``MAX_RUNNING_EXPORTS`` running exports, or past the rate-limit quota.
TOO_MANY_STATUS: Final = 429
MAX_RUNNING_EXPORTS: Final = 10

# PROTOCOLS §1.5: IETF draft rate-limit headers on every API response.
RATE_LIMIT_HEADER: Final = "RateLimit"
RATE_LIMIT_POLICY_HEADER: Final = "RateLimit-Policy"
#: ``RateLimit: "default";r=<remaining>;t=<seconds to reset>``, ``RateLimit-Policy:
#: "default";q=<quota>;w=<window seconds>``; a 429 carries ``r=0`` and ``t`` = seconds to wait.
RATE_LIMIT_POLICY_NAME: Final = "default"

# Request body (PROTOCOLS §1.3, H-2).

#: Top-level fields, all required; any other field is a 422.
REQUEST_FIELDS: Final = ("format", "name", "webhookURL", "dataset")
FORMATS: Final = ("csv", "jsonl")
#: ``dataset`` fields: ``scopes`` required (a non-empty array), ``filters`` and ``limit`` optional.
DATASET_FIELDS: Final = ("scopes", "filters", "limit")

#: Aggregates a scope may carry (``{"column": "number_units", "aggregate": "Sum"}``). A query with
#: any aggregate is grouped by its plain scopes (none: one row for everything). ``Avg`` and ``Sum``
#: need a numeric column; ``Min`` / ``Max`` a numeric or date column; ``Count`` counts non-null
#: values, ``CountDistinct`` distinct non-null values. Nulls are skipped; ``Avg`` / ``Sum`` / ``Min``
#: / ``Max`` of no value are null. ``Sum`` of integers is an integer, ``Avg`` a number.
AGGREGATES: Final = ("Avg", "Sum", "Min", "Max", "Count", "CountDistinct")

#: H-6: a JSONL row keys an aggregated scope ``<column>_<suffix>`` (``number_units_sum``); a CSV
#: header repeats the bare column name for each aggregate of it, as the real vendor's files do
#: (two ``number_units`` headers for Sum and Max), so CSV columns are read by position.
AGGREGATE_KEY_SUFFIXES: Final = {
    "Avg": "avg",
    "Sum": "sum",
    "Min": "min",
    "Max": "max",
    "Count": "count",
    "CountDistinct": "count_distinct",
}

#: ``filters``: absent, null, a bare array (AND of its elements), or a group ``{"and": [...]}`` /
#: ``{"or": [...]}``; elements are groups or nodes ``{"column": c, "filter": {operator: value, ...}}``
#: (several operators in one node are ANDed); ``null`` elements are ignored (the vendor's own
#: example has one); an empty group matches everything. Groups nest at most this deep.
FILTER_GROUPS: Final = ("and", "or")
MAX_FILTER_DEPTH: Final = 16

#: Operators and the values they take (a value of another type is a 422):
#: ``equals`` / ``notEquals``: a value of the column's type (null allowed: equals null = unknown);
#: ``in`` / ``notIn``: an array of such values;
#: ``greaterThan`` / ``greaterThanOrEqualTo`` / ``lessThan`` / ``lessThanOrEqualTo``: a number
#: (numeric columns) or an ISO date string (date columns);
#: ``from`` / ``to``: the same, both INCLUSIVE (a date-range picker's reading); for a half-open
#: window ``[start, end)`` send ``greaterThanOrEqualTo`` and ``lessThan``;
#: ``contains`` / ``notContains``: a string, case-insensitive substring (string columns);
#: ``isKnown`` / ``isUnknown``: a boolean (``{"isKnown": true}``: not null; false: null);
#: ``flag``: a boolean (boolean columns: the column is that value).
#: A null cell fails every comparison except ``equals null``, ``notEquals``/``notIn`` of a value
#: (null is not that value), ``isUnknown: true`` and ``isKnown: false``.
FILTER_OPERATORS: Final = (
    "equals",
    "notEquals",
    "in",
    "notIn",
    "greaterThan",
    "greaterThanOrEqualTo",
    "lessThan",
    "lessThanOrEqualTo",
    "contains",
    "notContains",
    "from",
    "to",
    "isKnown",
    "isUnknown",
    "flag",
)

#: ``limit``: a positive integer, the most rows the file holds (after grouping); absent: all rows.
#: Rows come in the dataset's order (property, then month); groups in order of first appearance.

#: Column types, as they appear in files: ``string``; ``integer``; ``number`` (may be fractional);
#: ``boolean``; ``date`` (``YYYY-MM-DD``). Every column but ``property_id`` and ``as_of_month`` may
#: be null where the vendor does not know it.
COLUMN_TYPES: Final = ("string", "integer", "number", "boolean", "date")

#: H-2: the column catalogue (no official one exists; names from the vendor's pages and real
#: callers), in the dataset's own order. One row is one property in one month.
COLUMNS: Final = {
    "property_id": "string",
    "property_name": "string",
    "street_address": "string",
    "city": "string",
    "state": "string",
    "zip_code": "string",
    "msa": "string",
    "lat": "number",
    "lon": "number",
    "as_of_month": "date",
    "year_built": "integer",
    "number_units": "integer",
    "asking_rent": "number",
    "effective_rent": "number",
    "concession": "number",
    "leased_percentage": "number",
    "exposure_percentage": "number",
    "days_on_market": "integer",
    "is_affordable": "boolean",
    "is_student": "boolean",
    "is_senior": "boolean",
    "is_condo": "boolean",
    "is_single_family": "boolean",
    "is_lease_up": "boolean",
    "rent_roll_lease_tradeout": "number",
    "rent_roll_renewal_percent": "number",
}

#: H-3: pricing columns and the market columns that, per a real caller's error, must filter a query
#: that includes pricing. Listed for the client's checks; the sandbox does not enforce the rule.
PRICING_COLUMNS: Final = (
    "asking_rent",
    "effective_rent",
    "concession",
    "rent_roll_lease_tradeout",
)
MARKET_COLUMNS: Final = ("msa", "state", "zip_code", "city")

# Webhook delivery (PROTOCOLS §1.6, H-1, H-5, H-7, H-8).

#: Body fields in the order the vendor lists them; ``gcsBlob`` holds the file.
WEBHOOK_FIELDS: Final = (
    "queryUUID",
    "name",
    "format",
    "payload",
    "hmacSignature",
    "gcsBlob",
    "requestedOn",
    "completedOn",
)
GCS_BLOB_FIELDS: Final = ("url", "expires", "timeTakenMs", "numberRows")

#: H-1: both signatures are lower-case hex HMAC-SHA256 keyed with the customer's API key (UTF-8).
SIGNATURE_HEADER: Final = "SHA256-HMAC-Signature"
SIGNATURE_FIELD: Final = "hmacSignature"
SIGNATURE_ALGORITHM: Final = "sha256"
#: What the header signs: the exact raw bytes of the webhook request body, as sent.
HEADER_SIGNATURE_COVERS: Final = "the exact raw request body bytes"
#: What ``hmacSignature`` signs: ``payload`` (the echoed ``dataset``) serialized as JavaScript's
#: ``JSON.stringify(payload)`` writes it, encoded UTF-8. The payload-only signature does not cover
#: ``gcsBlob.url``: a receiver accepts it alone only where a setting asks, for allow-listed hosts.
PAYLOAD_SERIALIZATION: Final = (
    "JSON.stringify: no whitespace; object keys in the order they were submitted; integral numbers "
    "without a fraction or exponent below 1e21 (50.0 -> 50, -0 -> 0); other numbers as the shortest "
    'round-trip form (1e-7, 1.5e+300); strings with only \\" \\\\ \\b \\f \\n \\r \\t and \\u00XX '
    "for other control characters escaped; non-ASCII characters written as they are (UTF-8)"
)

#: H-5: a non-2xx answer, or none within the timeout, is retried this many times (so at most
#: ``1 + WEBHOOK_RETRIES`` attempts), with exponential backoff, then the vendor gives up.
WEBHOOK_RETRIES: Final = 3
WEBHOOK_TIMEOUT_SECONDS: Final = 10.0

#: H-7: a failed export sends nothing; the pipeline stops waiting after this and marks the export
#: timed out.
DEFAULT_DEADLINE_SECONDS: Final = 6 * 60 * 60

#: H-8: ``requestedOn``, ``completedOn`` and ``gcsBlob.expires`` are JavaScript ``Date.toJSON()``
#: strings: ISO 8601 UTC with milliseconds, ``2026-12-01T20:20:22.123Z``.
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ (milliseconds, UTC)"

# Files (H-6).

#: Documented: the signed URL is valid 30 days (``gcsBlob.expires``), refused (403) afterwards.
URL_TTL_SECONDS: Final = 30 * 24 * 60 * 60
#: A gzip object (not ``Content-Encoding``), served with ``Accept-Ranges: bytes``.
FILE_CONTENT_TYPE: Final = "application/gzip"
FILE_SUFFIXES: Final = {"csv": ".csv.gz", "jsonl": ".jsonl.gz"}
#: CSV: UTF-8, a header row, RFC 4180 quoting only where needed, ``\n`` line ends; null is an
#: empty field, booleans ``true`` / ``false``, numbers as JSON writes them, dates ``YYYY-MM-DD``.
CSV_LINE_TERMINATOR: Final = "\n"
#: JSONL: one JSON object per line (``\n``), keys in scope order, null for unknown values.
JSONL_LINE_TERMINATOR: Final = "\n"
