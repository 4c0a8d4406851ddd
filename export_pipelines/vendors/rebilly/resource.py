"""``RebillyResource``: the Dagster resource wrapping Rebilly's data-exports API."""

import dataclasses

from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.rebilly.client import RebillyClient, rebilly_retry_after


class RebillyResource(VendorResource):
    """Rebilly's API: ``base_url`` is the organization's API root,
    ``https://api.rebilly.com/experimental/organizations/{organizationId}`` for the real vendor
    (``api-sandbox.rebilly.com`` for Rebilly's own sandbox) or the project sandbox's
    ``…/rebilly/experimental/organizations/{organizationId}``; ``api_key`` is a secret API key,
    sent as ``REB-APIKEY``."""

    def client(self) -> RebillyClient:
        return RebillyClient(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout_seconds=self.timeout_seconds,
            retry=dataclasses.replace(self.retry_policy(), retry_after=rebilly_retry_after),
            download_policy=self.download_policy(),
            limits=self.answer_limits(),
        )
