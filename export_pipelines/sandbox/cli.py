"""``export-pipelines sandbox serve``: the vendor simulators on a local port.

Before serving, one ``export NAME=value`` line per vendor setting goes to stdout (logs go to stderr),
so a shell can pick the addresses up with ``eval "$(…)"`` or a script can parse them. Enterpret comes
first, so ``head -n 2`` still gives its two lines.

The flags come from the registry: ``--seed`` and ``--completion-delay`` set every vendor that has
that setting, and each vendor adds its own ``--<vendor>-<option>`` flags (``--enterpret-records``).
"""

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from export_pipelines.sandbox import registry
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.faults import FaultSpec
from export_pipelines.sandbox.server import serve
from export_pipelines.sandbox.vendor import ServeFlag
from export_pipelines.settings import (
    SANDBOX_DEFAULT_HOST,
    SANDBOX_DEFAULT_PORT,
    vendor_api_key_env,
    vendor_base_url_env,
)


def export_lines(endpoints: dict[str, tuple[str, str]]) -> list[str]:
    """``export ENTERPRET_BASE_URL=…`` and ``export ENTERPRET_API_KEY=…`` for every vendor."""
    lines: list[str] = []
    for vendor, (base_url, api_key) in endpoints.items():
        lines.append(f"export {vendor_base_url_env(vendor)}={shlex.quote(base_url)}")
        lines.append(f"export {vendor_api_key_env(vendor)}={shlex.quote(api_key)}")
    return lines


def _announce(endpoints: dict[str, tuple[str, str]]) -> None:
    for line in export_lines(endpoints):
        click.echo(line)
    sys.stdout.flush()


@click.group("sandbox")
def sandbox() -> None:
    """Local simulators of the vendors' asynchronous export APIs."""


def _vendor_flag_param(vendor: str, flag: ServeFlag) -> str:
    return f"{vendor}_{flag.option}".replace("-", "_")


def _with_vendor_flags(command: Callable[..., None]) -> Callable[..., None]:
    """One ``--<vendor>-<option>`` per flag that a registered vendor declares."""
    for vendor in reversed(registry.VENDORS):
        for flag in reversed(vendor.serve_flags):
            command = click.option(
                f"--{vendor.name}-{flag.option}",
                _vendor_flag_param(vendor.name, flag),
                type=flag.type,
                default=None,
                help=flag.help,
            )(command)
    return command


def vendor_sections(
    seed: int | None, completion_delay: float | None, flags: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each vendor's config overrides: its own flags, and the shared ones where it has the field."""
    sections: dict[str, dict[str, Any]] = {}
    for vendor in registry.VENDORS:
        fields = vendor.config_model.model_fields
        section: dict[str, Any] = {}
        if seed is not None and "seed" in fields:
            section["seed"] = seed
        if completion_delay is not None and "completion_delay_seconds" in fields:
            section["completion_delay_seconds"] = completion_delay
        for flag in vendor.serve_flags:
            value = flags.get(_vendor_flag_param(vendor.name, flag))
            if value is not None:
                section[flag.field] = value
        sections[vendor.name] = section
    return sections


@sandbox.command("serve")
@click.option("--host", default=SANDBOX_DEFAULT_HOST, show_default=True)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=SANDBOX_DEFAULT_PORT, show_default=True
)
@click.option("--seed", type=int, default=None, help="Seed of every vendor's synthetic data.")
@click.option(
    "--completion-delay",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds an export stays in progress before its files are written (default 2).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where generated files go (default: a temporary directory removed on exit).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="JSON",
    help="Arm a fault at start, as POST /_sandbox/faults takes it (repeatable), e.g. "
    '\'{"vendor": "rebilly", "route": "export", "status": 503, "probability": 0.1, '
    '"times": 1000000}\'.',
)
@click.option(
    "--fault-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed deciding which requests a fault with a probability hits.",
)
@_with_vendor_flags
def serve_command(
    host: str,
    port: int,
    seed: int | None,
    completion_delay: float | None,
    work_dir: Path | None,
    faults: tuple[str, ...],
    fault_seed: int,
    **vendor_flags: Any,
) -> None:
    """Serve every simulated vendor until interrupted (SIGINT or SIGTERM)."""
    try:
        specs = tuple(FaultSpec.model_validate_json(text) for text in faults)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    config = SandboxConfig(
        host=host,
        port=port,
        work_dir=work_dir,
        vendors=vendor_sections(seed, completion_delay, vendor_flags),
        faults=specs,
        fault_seed=fault_seed,
    )
    serve(config, announce=_announce)
