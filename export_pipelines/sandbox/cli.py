"""``export-pipelines sandbox serve``: the vendor simulators on a local port.

Before serving, one ``export NAME=value`` line per vendor setting goes to stdout (logs go to stderr),
so a shell can pick the addresses up with ``eval "$(… | head -n 2)"`` or a script can parse them.
"""

import shlex
import sys
from pathlib import Path

import click

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import serve
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


@sandbox.command("serve")
@click.option("--host", default=SANDBOX_DEFAULT_HOST, show_default=True)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=SANDBOX_DEFAULT_PORT, show_default=True
)
@click.option("--seed", type=int, default=None, help="Seed of every vendor's synthetic data.")
@click.option(
    "--enterpret-records",
    type=click.IntRange(10, 10_000_000),
    default=None,
    help="Size of the Enterpret feedback universe (default 100000).",
)
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
def serve_command(
    host: str,
    port: int,
    seed: int | None,
    enterpret_records: int | None,
    completion_delay: float | None,
    work_dir: Path | None,
) -> None:
    """Serve every simulated vendor until interrupted (SIGINT or SIGTERM)."""
    overrides = {
        "seed": seed,
        "record_count": enterpret_records,
        "completion_delay_seconds": completion_delay,
    }
    enterpret = EnterpretSandboxConfig(**{k: v for k, v in overrides.items() if v is not None})
    config = SandboxConfig(host=host, port=port, work_dir=work_dir, enterpret=enterpret)
    serve(config, announce=_announce)
