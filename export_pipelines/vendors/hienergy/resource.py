"""``HiEnergyResource``: the Dagster resource wrapping HiEnergy's export reports API."""

from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.hienergy.client import HiEnergyClient


class HiEnergyResource(VendorResource):
    """HiEnergy's API: ``base_url`` is ``https://app.hienergy.ai/api/v1`` for the real vendor, or
    the sandbox's ``…/hienergy/api/v1``; ``api_key`` is sent as ``X-Api-Key``."""

    def client(self) -> HiEnergyClient:
        return HiEnergyClient(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry_policy(),
            download_policy=self.download_policy(),
            limits=self.answer_limits(),
        )
