"""Local simulators of the vendors' asynchronous export APIs, over real HTTP.

Each vendor is a sub-package mounted under its own path prefix (``/enterpret``…) and written from
the vendor's documents and ``shared/providers/DECISIONS.md`` only, never from the client code, so a
misreading on either side shows up as a failing end-to-end test. Data is synthetic and
deterministic per seed; faults (error statuses, delays, cut downloads) are injected per route.
"""

from export_pipelines.sandbox.app import build_app
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.server import SandboxServer, serve
from export_pipelines.sandbox.state import Sandbox

__all__ = [
    "EnterpretSandboxConfig",
    "FeedbackDataset",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "build_app",
    "serve",
]
