"""Remove secrets from text before it can be logged or stored.

Two kinds of secret reach error messages: the API key itself (some vendors echo request headers in
error bodies) and signatures in pre-signed file URLs, which grant access without a key. Query
strings of URLs are therefore always dropped from messages; known secrets are masked anywhere.
"""

import re

_URL_QUERY = re.compile(r"(https?://[^\s?#\"']+)\?[^\s#\"']*")
MASK = "***"


def redact_url(url: str) -> str:
    """The URL without its query string (where signatures and tokens live)."""
    return url.split("?", 1)[0] + ("?" + MASK if "?" in url else "")


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every known secret masked and every URL query string dropped."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _URL_QUERY.sub(lambda m: f"{m.group(1)}?{MASK}", text)
