"""``POST /webhooks/<vendor>``: verify, record once, answer fast.

Order of checks, each answered before the next runs: a body past ``max_body_bytes`` is 413 (read
no further); a bad or missing signature is 401 (nothing recorded); a malformed body is 400; a
vendor job id the ledger never submitted is 404; then the delivery is recorded, and the job
completed, in one ledger transaction. A duplicate or replayed delivery answers 200 and changes
nothing. Errors name the vendor job and the reason, never the signing key.

A delivery that overtakes the submit's own answer (the request asset has not yet written the
``queryUUID``) is a 404 like any unknown id; the vendor retries a non-2xx (H-5), and the retry finds
the job.
"""

import logging
import os
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from export_pipelines import settings
from export_pipelines.ledger import FileUpdate, Ledger
from export_pipelines.ledger.store import default_ledger_url
from export_pipelines.vendors import VENDORS
from export_pipelines.vendors.base import CallbackSettings, Completion, DeliveryRefused

log = logging.getLogger("export_pipelines.webhooks")

#: Setting names (environment variables) of the receiver.
MAX_BODY_ENV = "EXPORT_PIPELINES_WEBHOOK_MAX_BODY_BYTES"
ALLOW_PAYLOAD_SIGNATURE_ENV = "EXPORT_PIPELINES_WEBHOOK_ALLOW_PAYLOAD_SIGNATURE"
ALLOWED_HOSTS_ENV = "EXPORT_PIPELINES_WEBHOOK_DOWNLOAD_HOSTS"
#: A delivery is a small JSON document (an echoed query and a URL); 1 MiB is generous.
DEFAULT_MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class ReceiverSettings:
    ledger_url: str
    #: Vendor → its signing secret (the vendor's API key, H-1).
    secrets: dict[str, str]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allow_payload_signature: bool = False
    allowed_download_hosts: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls) -> "ReceiverSettings":
        """Every callback vendor's secret from ``<VENDOR>_API_KEY`` (a vendor without one is not
        served: its deliveries get 404, never an unverified 200)."""
        secrets = {}
        for name, adapter in VENDORS.items():
            if adapter.completion is Completion.CALLBACK:
                key = os.environ.get(settings.vendor_api_key_env(name), "")
                if key:
                    secrets[name] = key
        hosts = os.environ.get(ALLOWED_HOSTS_ENV, "")
        return cls(
            ledger_url=os.environ.get(settings.LEDGER_URL_ENV) or default_ledger_url(),
            secrets=secrets,
            max_body_bytes=int(os.environ.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY_BYTES),
            allow_payload_signature=os.environ.get(ALLOW_PAYLOAD_SIGNATURE_ENV, "") == "1",
            allowed_download_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        )


def _refused(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(config: ReceiverSettings) -> Starlette:
    ledger = Ledger(config.ledger_url)

    async def receive(request: Request) -> JSONResponse:
        vendor = request.path_params["vendor"]
        adapter = VENDORS.get(vendor)
        secret = config.secrets.get(vendor)
        if adapter is None or adapter.completion is not Completion.CALLBACK or not secret:
            return _refused(404, f"no callbacks are received for {vendor[:40]!r}")
        raw = await _read_capped(request, config.max_body_bytes)
        if raw is None:
            return _refused(413, f"body larger than {config.max_body_bytes} bytes")
        callback = CallbackSettings(
            secret=secret,
            allow_payload_signature=config.allow_payload_signature,
            allowed_download_hosts=config.allowed_download_hosts,
        )
        try:
            delivery = adapter.read_delivery(raw, request.headers, callback)
        except DeliveryRefused as refused:
            log.warning("%s delivery refused (%s): %s", vendor, refused.status, refused.reason)
            return _refused(refused.status, refused.reason)
        job = await run_in_threadpool(ledger.submitted_job, vendor, delivery.vendor_job_id)
        if job is None:
            reason = f"{vendor} job {delivery.vendor_job_id[:80]} was not submitted by this ledger"
            log.warning("delivery refused: %s", reason)
            return _refused(404, reason)
        files = [FileUpdate(f.name, f.url, f.expires_at) for f in delivery.status.files]
        outcome = await run_in_threadpool(
            lambda: ledger.record_delivery(
                job.id, digest=delivery.digest, files=files, vendor_rows=delivery.status.vendor_rows
            )
        )
        log.info("%s job %s delivery: %s", vendor, delivery.vendor_job_id, outcome.value)
        return JSONResponse(
            {"queryUUID": delivery.vendor_job_id, "ledger_job": job.id, "outcome": outcome.value}
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "vendors": sorted(config.secrets)})

    return Starlette(
        routes=[
            Route("/webhooks/{vendor}", receive, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
