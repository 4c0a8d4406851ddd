"""``EnterpretResource``: the Dagster resource wrapping Enterpret's Data Export API."""

from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.enterpret.client import EnterpretClient


class EnterpretResource(VendorResource):
    """Enterpret's API: ``base_url`` is ``https://api.enterpret.com`` for the real vendor, or the
    sandbox's ``…/enterpret``; ``api_key`` is the Bearer key Customer Success issues."""

    def client(self) -> EnterpretClient:
        return EnterpretClient(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry_policy(),
            download_policy=self.download_policy(),
            limits=self.answer_limits(),
        )
