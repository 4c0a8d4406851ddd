"""HelloData's client: submit ``POST /dataset/export``; completion comes only by webhook.

Vendor quirks handled here:
- there is no status, list or cancel endpoint: :meth:`HelloDataClient.status` cannot be asked and
  says so, and a submit whose answer was lost cannot be found again (``can_find_submitted``);
- ``webhookURL`` must be https and public (the vendor refuses localhost and private hosts with
  400): it is the receiver's public URL setting plus ``/webhooks/hellodata``, added at submit;
- the signed GCS URL needs no key: the API key never travels to the file host;
- a 429 says how long to wait in the IETF draft header ``RateLimit: "default";r=0;t=<seconds>``,
  not ``Retry-After`` (:func:`rate_limit_wait`).
"""

import dataclasses
from datetime import datetime
from typing import Any, ClassVar

import httpx

from export_pipelines.decisions import hellodata as decided
from export_pipelines.transport import (
    AnswerLimits,
    DownloadPolicy,
    RetryPolicy,
    VendorError,
    VendorHttp,
)
from export_pipelines.transport.retry import standard_retry_after
from export_pipelines.vendors.base import RemoteStatus, SubmitOutcome, Submitted

VENDOR = "hellodata"


def rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds until the quota resets, from ``RateLimit``'s ``t`` parameter; ``Retry-After`` where
    the vendor sends that instead; None when neither says."""
    header = response.headers.get(decided.RATE_LIMIT_HEADER)
    if header:
        for part in header.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name == "t":
                try:
                    return max(0.0, float(value))
                except ValueError:
                    break
    return standard_retry_after(response)


def webhook_path(vendor: str) -> str:
    """The receiver's path for a vendor's callbacks (``/webhooks/hellodata``)."""
    return f"/webhooks/{vendor}"


class HelloDataClient:
    can_find_submitted: ClassVar[bool] = False
    #: HelloData documents no endpoint besides the create: an export cannot be stopped.
    can_cancel: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        webhook_url: str,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        download_policy: DownloadPolicy | None = None,
        limits: AnswerLimits | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.download_policy = download_policy or DownloadPolicy.for_base_url(base_url)
        self._http = VendorHttp(
            vendor=VENDOR,
            base_url=base_url,
            headers={decided.API_KEY_HEADER: api_key},
            secrets=(api_key,),
            timeout_seconds=timeout_seconds,
            retry=dataclasses.replace(retry or RetryPolicy(), retry_after=rate_limit_wait),
            limits=limits,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "HelloDataClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, body: dict[str, Any]) -> Submitted:
        if not self.webhook_url:
            raise VendorError(
                VENDOR,
                "no webhook URL: set EXPORT_PIPELINES_WEBHOOK_PUBLIC_URL to the receiver's public "
                "https URL (HelloData completes only by calling it back)",
            )
        sent = {**body, "webhookURL": self.webhook_url}
        answer = self._http.post_json(decided.EXPORT_PATH, sent, idempotent=False)
        query_id = answer.get(decided.QUERY_ID_FIELD) if isinstance(answer, dict) else None
        if not isinstance(query_id, str) or not query_id:
            raise VendorError(VENDOR, f"submit answered without a queryUUID: {str(answer)[:200]}")
        return Submitted(query_id, SubmitOutcome.CREATED)

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        raise NotImplementedError(
            "HelloData has no endpoint that lists exports: a submit whose answer was lost cannot "
            "be found again"
        )

    def cancel(self, vendor_job_id: str) -> None:
        raise NotImplementedError(
            "HelloData documents no endpoint besides the create: an export cannot be stopped"
        )

    def status(self, vendor_job_id: str) -> RemoteStatus:
        raise VendorError(
            VENDOR,
            f"HelloData has no status endpoint; job {vendor_job_id} completes only when its "
            "webhook delivery is recorded by the receiver (its download URL lasts 30 days)",
        )

    def download_headers(self, url: str) -> dict[str, str]:
        return {}
