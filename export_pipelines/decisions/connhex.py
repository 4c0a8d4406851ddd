"""Connhex exporter: the decisions C-1 … C-7 of DECISIONS.md, and this project's where both are silent.

The vendor documents the create body (seed 003, v1.3.7), the list filters and the job statuses, but
not the error bodies, the bytes of the files, the ZIP member names, the timestamp text or how a
recurring request's job says which period it covers. These are the answers the sandbox serves and the
client expects; only constants live here, never protocol code (both sides implement the rules below
on their own, so that a bug in one is caught by the other).

Rules written here as text, because they are behaviour rather than values:

- Window (C-3): ``from``/``to`` are Unix seconds and win over ``period``; a point belongs to the
  window when ``from <= time < to``. With only ``period`` (ISO-8601 duration), the window is
  ``[run time - period, run time)``.
- Recurring (C-1, docs silent on a job's period): a recurring request runs at
  ``periodStart + k * periodicity`` (k = 0, 1, …) and each run creates one job per item. A job's
  ``startedAt`` is at or after its run time and before the next one, so a client finds the run time
  as ``periodStart + floor((startedAt - periodStart) / periodicity) * periodicity`` and the job's window
  from the item's ``period`` ending there. ``periodicity`` must be a fixed duration (no years or months).
- Decimation (C-5): buckets ``[k * ds, (k + 1) * ds)`` seconds since the Unix epoch in UTC; a bucket's
  point is written at the bucket's start; buckets without points are not written. ``stddev`` and
  ``variance`` are the population ones (ddof 0), so a bucket of one point has 0.
- Transform ``delta`` (C-5): applied after decimation, per variable (publisher, channel, name) in time
  order; each point's value minus the previous point's; the first point of a variable in the window has
  no previous one and is not written.
- Long (C-6): one row per point with columns ``LONG_COLUMNS`` in that order. Wide: one row per ``time``
  with a ``time`` column, then one column per ``format.columns`` entry, headed by its ``label`` and holding
  the variable whose name is the entry's ``id``; a variable absent at a time is an empty cell.
- Timestamps in files are ``TIME_TEXT_FORMAT`` in ``format.timezone`` with its UTC offset; numbers are
  written in decimal with a dot, whatever the CSV delimiter.
"""

from typing import Final

#: Exporter routes sit at ``/exports…`` on the deployment's APIs host (``https://apis.<instance-host>``).
EXPORTS_PATH: Final = "/exports"

#: Auth: ``Authorization: Bearer <token>`` (the ``chx_auth_session`` scheme is the documented other way).
AUTH_HEADER: Final = "Authorization"
AUTH_SCHEME: Final = "Bearer"

#: Request types and the job (and request) status enum; a request's status is the worst of its jobs'.
REQUEST_TYPES: Final = ("oneTime", "recurring")
STATUSES: Final = ("notProcessed", "inProgress", "failed", "done", "expired")
TERMINAL_STATUSES: Final = ("failed", "done", "expired")
#: "Worst" for C-1, worst first: a request with any failed job is failed, then expired, then in
#: progress, then not processed; done only when every job is done.
STATUS_SEVERITY: Final = ("failed", "expired", "inProgress", "notProcessed", "done")

#: File formats the exporter writes; ``pdf`` cannot become a table and is refused when declared.
EXTENSIONS: Final = ("csv", "xlsx", "pdf")
TABLE_EXTENSIONS: Final = ("csv", "xlsx")
TEMPLATES: Final = ("tabular", "expanded")
OUTPUT_FORMATS: Final = ("long", "wide")
DEFAULT_OUTPUT_FORMAT: Final = "long"
DEFAULT_TIMEZONE: Final = "utc"
DEFAULT_CSV_DELIMITER: Final = ","
TRANSFORMS: Final = ("delta",)

#: Decimation (C-5): ``ds`` is a positive integer and one of these units (seconds per unit).
DS_UNITS: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
DSF_FUNCTIONS: Final = ("avg", "max", "min", "sum", "stddev", "variance")

#: Notification: exactly one message per policy; ``title`` and ``text`` required.
NOTIFICATION_POLICIES: Final = ("onSuccess", "onFailure")
NOTIFICATION_MEDIUMS: Final = ("email", "telegram", "slack", "discord")

#: C-6: long-form columns, in the order the files hold them.
LONG_COLUMNS: Final = ("publisher", "channel", "name", "unit", "time", "value")
#: Timestamp text in files (``strftime``), e.g. ``2024-03-10T01:30:00+01:00``.
TIME_TEXT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%z"  # %z written with a colon, as ISO-8601 has it

#: C-2: ZIP member name of an item's file: the item's ``filename``, else the format's, else this,
#: followed by ``-<item index>`` when two items would share a name, then ``.<extension>``.
DEFAULT_FILENAME: Final = "export"
#: Content type of ``GET /exports/{id}/download``.
DOWNLOAD_CONTENT_TYPE: Final = "application/zip"

#: C-7: queued (not terminal) exports an account may hold; one more is refused with 429.
MAX_QUEUED_EXPORTS: Final = 20
#: C-7 / §4.5: the error body, Ory style: ``{"error": {"message": "..."}}`` (validation errors: 400).
ERROR_KEY: Final = "error"
ERROR_MESSAGE_KEY: Final = "message"
QUEUE_FULL_MESSAGE: Final = "Maximum number of queued exports reached"

#: ``GET /exports`` paging defaults and the default sort.
LIST_DEFAULT_PAGE_SIZE: Final = 1_000
LIST_DEFAULT_SORT: Final = "createdAt:desc"
