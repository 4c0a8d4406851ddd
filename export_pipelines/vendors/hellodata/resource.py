"""``HelloDataResource``: the Dagster resource wrapping HelloData's Dataset Export Async API."""

import os

from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.hellodata.client import VENDOR, HelloDataClient, webhook_path

#: The receiver's public https root (behind a TLS reverse proxy); HelloData calls
#: ``<root>/webhooks/hellodata``. Not a secret, so read from the environment here.
WEBHOOK_PUBLIC_URL_ENV = "EXPORT_PIPELINES_WEBHOOK_PUBLIC_URL"


class HelloDataResource(VendorResource):
    """HelloData's API: ``base_url`` is ``https://api.hellodata.ai`` for the real vendor, or the
    sandbox's ``…/hellodata``; ``api_key`` is sent as ``x-api-key`` and is also the webhook
    signing key (H-1). ``webhook_public_url`` empty: ``$EXPORT_PIPELINES_WEBHOOK_PUBLIC_URL``."""

    webhook_public_url: str = ""

    def webhook_url(self) -> str:
        root = self.webhook_public_url or os.environ.get(WEBHOOK_PUBLIC_URL_ENV, "")
        return root.rstrip("/") + webhook_path(VENDOR) if root else ""

    def client(self) -> HelloDataClient:
        return HelloDataClient(
            base_url=self.base_url,
            api_key=self.api_key,
            webhook_url=self.webhook_url(),
            timeout_seconds=self.timeout_seconds,
            retry=self.retry_policy(),
            download_policy=self.download_policy(),
            limits=self.answer_limits(),
        )
