"""The webhook receiver: completion callbacks (HelloData's) recorded in the export ledger.

A small ASGI app (Starlette under uvicorn) that imports the ledger and the vendor adapters and
nothing of Dagster, so it keeps accepting while the Dagster daemon is down: deliveries wait in the
ledger until the vendor's status sensor launches their downloads.
"""

from export_pipelines.webhooks.app import ReceiverSettings, build_app

__all__ = ["ReceiverSettings", "build_app"]
