"""HelloData's webhook delivery: verify its signature, read it as a completed ``RemoteStatus``.

H-1: the header ``SHA256-HMAC-Signature`` is lower-case hex HMAC-SHA256 keyed with the API key
over the exact raw body; it is what we verify, in constant time. The body's ``hmacSignature`` signs
only the echoed ``payload`` (the vendor's Node sample), so it does not cover ``gcsBlob.url``: a
captured delivery could be replayed with another URL. It is accepted only where the receiver's
setting allows it, and then only for a download host on the allow-list.
"""

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from export_pipelines.decisions import hellodata as decided
from export_pipelines.vendors.base import (
    CallbackSettings,
    Delivery,
    DeliveryRefused,
    RemoteFile,
    RemoteState,
    RemoteStatus,
)


def sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _js_number(value: float) -> int | float:
    # JSON.stringify writes integral numbers without a fraction (50.0 -> 50).
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return int(value)
    return value


def _js_ready(value: Any) -> Any:
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return [_js_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: _js_ready(item) for key, item in value.items()}
    return value


def stringify(value: Any) -> bytes:
    """``JSON.stringify(value)`` as the vendor's JavaScript writes it (H-1): compact, keys in
    order, non-ASCII as is. Python's float repr differs from JavaScript's only in exponent form
    (``1e-07`` / ``1e-7``), which the regular exponent rewrite below settles."""
    text = json.dumps(_js_ready(value), separators=(",", ":"), ensure_ascii=False)
    return text.replace("e-0", "e-").replace("e+0", "e+").encode()


def _verify(raw: bytes, headers: Mapping[str, str], body: Any, settings: CallbackSettings) -> None:
    given = headers.get(decided.SIGNATURE_HEADER.lower())
    if given is not None:
        if hmac.compare_digest(given.strip().lower(), sign(settings.secret, raw)):
            return
        raise DeliveryRefused(401, f"{decided.SIGNATURE_HEADER} does not match the body")
    if not settings.allow_payload_signature:
        raise DeliveryRefused(401, f"no {decided.SIGNATURE_HEADER} header")
    field = body.get(decided.SIGNATURE_FIELD) if isinstance(body, dict) else None
    if not isinstance(field, str) or "payload" not in body:
        raise DeliveryRefused(401, f"no {decided.SIGNATURE_HEADER} header and no hmacSignature")
    if not hmac.compare_digest(field.lower(), sign(settings.secret, stringify(body["payload"]))):
        raise DeliveryRefused(401, "hmacSignature does not match the payload")
    url = (body.get("gcsBlob") or {}).get("url") if isinstance(body.get("gcsBlob"), dict) else None
    host = urlsplit(url).hostname if isinstance(url, str) else None
    if host is None or host.lower() not in {h.lower() for h in settings.allowed_download_hosts}:
        raise DeliveryRefused(
            401,
            f"signed by hmacSignature only, which does not cover gcsBlob.url, and the download "
            f"host {host!r} is not on the allow-list",
        )


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise DeliveryRefused(400, f"{field} is not a date string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DeliveryRefused(400, f"{field} {value[:40]!r} is not an ISO-8601 date") from None
    if parsed.tzinfo is None:
        raise DeliveryRefused(400, f"{field} {value[:40]!r} names no zone")
    return parsed


def read_delivery(raw: bytes, headers: Mapping[str, str], settings: CallbackSettings) -> Delivery:
    """``headers`` with lower-case names. Refuses (401) before reading anything it would act on."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    _verify(raw, headers, body, settings)
    if not isinstance(body, dict):
        raise DeliveryRefused(400, "the body is not a JSON object")
    query_id = body.get(decided.QUERY_ID_FIELD)
    if not isinstance(query_id, str) or not query_id:
        raise DeliveryRefused(400, "queryUUID is missing")
    blob = body.get("gcsBlob")
    if not isinstance(blob, dict):
        raise DeliveryRefused(400, f"delivery {query_id}: gcsBlob is missing")
    url, rows = blob.get("url"), blob.get("numberRows")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryRefused(400, f"delivery {query_id}: gcsBlob.url is not an http(s) URL")
    if isinstance(rows, float) and rows.is_integer():
        rows = int(rows)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise DeliveryRefused(400, f"delivery {query_id}: gcsBlob.numberRows is not a count")
    fmt = body.get("format")
    if fmt not in decided.FILE_SUFFIXES:
        raise DeliveryRefused(400, f"delivery {query_id}: format {str(fmt)[:20]!r} is unknown")
    expires = _timestamp(blob.get("expires"), f"delivery {query_id}: gcsBlob.expires")
    status = RemoteStatus(
        RemoteState.COMPLETED,
        files=(
            RemoteFile(url=url, name=f"export{decided.FILE_SUFFIXES[fmt]}", expires_at=expires),
        ),
        vendor_rows=rows,
        detail={k: body.get(k) for k in ("requestedOn", "completedOn")}
        | {"timeTakenMs": blob.get("timeTakenMs")},
    )
    return Delivery(query_id, status, hashlib.sha256(raw).hexdigest())
