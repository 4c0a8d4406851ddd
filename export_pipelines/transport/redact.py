"""Remove secrets from text before it can be logged or stored.

Two kinds of secret reach error messages: the API key itself (some vendors echo request headers in
error bodies) and signatures in pre-signed file URLs, which grant access without a key. Query
strings of URLs are therefore always dropped from messages; known secrets are masked anywhere,
also in the forms error texts print them: escaped (``repr`` turns a trailing newline into ``\\n``) and
without the surrounding whitespace that made them invalid in the first place.
"""

import re

_URL_QUERY = re.compile(r"(https?://[^\s?#\"']+)\?[^\s#\"']*")
#: ``scheme://user:password@`` in any URL-like text.
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@\"']*@")
MASK = "***"


def redact_url(url: str) -> str:
    """The URL without its query string (where signatures and tokens live) or credentials."""
    url = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", url)
    return url.split("?", 1)[0] + ("?" + MASK if "?" in url else "")


def _forms(secret: str) -> list[str]:
    forms = {secret, secret.strip(), repr(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1]}
    # Longest first, so a shorter form never leaves the tail of a longer one behind.
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every known secret masked and every URL query string dropped."""
    for secret in secrets:
        for form in _forms(secret):
            text = text.replace(form, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    return _URL_QUERY.sub(lambda m: f"{m.group(1)}?{MASK}", text)
