"""Sandbox configurations the client-side tests start: fast vendors, and HiEnergy's knobs by name.

Only the sandbox's public configuration is used here (its documented sections and fields), so the
client tests keep treating the simulator as a black box.
"""

from typing import Any

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig


def sandbox_config(**vendors: Any) -> SandboxConfig:
    """A sandbox on a free port; vendors not named finish their jobs within half a second."""
    sections: dict[str, Any] = {"enterpret": EnterpretSandboxConfig(completion_delay_seconds=0.5)}
    sections.update(vendors)
    return SandboxConfig(port=0, **sections)


def fast_sandbox_config() -> SandboxConfig:
    return sandbox_config()
