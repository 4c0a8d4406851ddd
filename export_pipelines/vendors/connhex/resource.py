"""``ConnhexResource``: the Dagster resource wrapping Connhex's exporter API."""

from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.connhex.client import ConnhexClient


class ConnhexResource(VendorResource):
    """Connhex's exporter: ``base_url`` is the deployment's APIs host, ``https://apis.<instance-host>``
    (the exporter's routes are ``/exports…`` under it), or the sandbox's ``…/connhex``; ``api_key``
    is the bearer token (an API key or a session token), sent as ``Authorization: Bearer …``."""

    def client(self) -> ConnhexClient:
        return ConnhexClient(
            base_url=self.base_url,
            token=self.api_key,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry_policy(),
            download_policy=self.download_policy(),
            limits=self.answer_limits(),
        )
