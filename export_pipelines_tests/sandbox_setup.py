"""Sandbox configurations the client-side tests start: fast vendors, and HiEnergy's knobs by name.

Only the sandbox's public configuration is used here (its documented sections and fields), so the
client tests keep treating the simulator as a black box.
"""

from typing import Any

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.hienergy import HiEnergySandboxConfig

#: Rows per part the client tests ask of the sandbox: a day of clicks (~180) comes in 4 parts.
ROWS_PER_PART = 50


def hienergy_config(
    *,
    delay_seconds: float = 0.3,
    rows_per_part: int = ROWS_PER_PART,
    part_delay_seconds: float = 0.1,
    **settings: Any,
) -> HiEnergySandboxConfig:
    """HiEnergy's documented knobs: how long a report stays in flight, how it is chunked."""
    return HiEnergySandboxConfig(
        completion_delay_seconds=delay_seconds,
        rows_per_part=rows_per_part,
        part_delay_seconds=part_delay_seconds,
        **settings,
    )


def sandbox_config(**vendors: Any) -> SandboxConfig:
    """A sandbox on a free port; vendors not named finish their jobs within half a second."""
    sections: dict[str, Any] = {
        "enterpret": EnterpretSandboxConfig(completion_delay_seconds=0.5),
        "hienergy": hienergy_config(),
    }
    sections.update(vendors)
    return SandboxConfig(port=0, **sections)


def fast_sandbox_config() -> SandboxConfig:
    return sandbox_config()
