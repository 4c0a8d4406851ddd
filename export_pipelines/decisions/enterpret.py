"""Enterpret Data Export API v1: the decisions N-1 … N-7 of DECISIONS.md.

The vendor documents submit/fetch/labels but no status codes, error bodies, URL lifetimes or the
anchor of relative time ranges. These are the answers the sandbox serves and the client expects.
"""

from typing import Final

#: N-6: response file URLs expire after this many seconds ("a few hours" in the docs); fetching the
#: same queryID again hands out fresh URLs.
FILE_URL_TTL_SECONDS: Final = 4 * 60 * 60

#: N-4: relative ranges are anchored at submit time and filter ``sourceTimestamp``; the start is
#: inclusive and the end exclusive; Month and Year are calendar months and years.
TIME_FILTER_FIELD: Final = "sourceTimestamp"
RELATIVE_UNITS: Final = ("Hour", "Day", "Week", "Month", "Year")

#: Documented enumerations the request validator and the sandbox both accept.
FILTER_OPERATIONS: Final = ("AND", "OR")
METADATA_OPERATORS: Final = ("EQ", "GT", "LT", "GTE", "LTE")
HAS_LABEL_KINDS: Final = ("aspect", "reason", "sentiment")
RECORD_TYPES: Final = (
    "RecordTypeReview",
    "RecordTypeConversation",
    "RecordTypeSurvey",
    "RecordTypeForumConversationThread",
)
CONVERSATION_ACTORS: Final = ("user", "agent", "bot")

#: N-1: the error body of a 401 (``{"error": "unauthorized"}``); other errors carry a message.
UNAUTHORIZED_ERROR: Final = "unauthorized"
