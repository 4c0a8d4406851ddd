"""The ``export-pipelines`` command: the sandbox, recurrence previews, the demo, a dev server."""

import contextlib
import os
import signal
import sys
from pathlib import Path

import click

from export_pipelines.normalize.cli import normalize_cli
from export_pipelines.recurrence.preview import recurrence_cli
from export_pipelines.sandbox.cli import sandbox
from export_pipelines.webhooks.cli import webhooks


def _exit_on_sigterm() -> None:
    """SIGTERM ends the command like Ctrl-C does, so the processes it started are stopped too."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@click.group()
def main() -> None:
    """Vendors' asynchronous data exports as typed Parquet, with Dagster."""


@main.command()
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the jobs.")
def demo(timeout: float) -> None:
    """Run every export in the catalog end to end against the sandbox, then print a summary."""
    from export_pipelines.demo.runner import run_demo

    _exit_on_sigterm()
    sys.exit(run_demo(timeout_seconds=timeout))


@main.command()
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(port: int) -> None:
    """The sandbox plus ``dagster dev`` (UI on :3000), wired to each other."""
    from export_pipelines.demo import processes

    _exit_on_sigterm()
    root = Path(__file__).resolve().parents[1]
    home = root / ".dagster_home" / "dev"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((root / "dagster.yaml").read_text())
    logs = processes.log_dir(home)  # not $DAGSTER_HOME/logs: Dagster's telemetry queue
    with (
        contextlib.ExitStack() as stack,
        processes.sandbox(log_path=logs / "sandbox.log", work_dir=home / "sandbox") as vendor_env,
    ):
        env = {**os.environ, **vendor_env, "DAGSTER_HOME": str(home)}
        receiver = processes.webhook_receiver(env=env, log_path=logs / "webhooks.log")
        env.update(stack.enter_context(receiver))
        click.echo(f"webhooks: receiver on {env[processes.WEBHOOK_PUBLIC_URL_ENV]}")
        for name, value in vendor_env.items():
            if name.endswith("_BASE_URL"):
                click.echo(f"sandbox: {name}={value}")
        args = [processes.dagster_executable("dagster"), "dev", "-w", "workspace.yaml"]
        with processes.running(
            [*args, "-p", str(port)], env=env, log_path=logs / "dagster.log", cwd=root
        ) as process:
            click.echo(f"dagster dev on http://127.0.0.1:{port} (log: {logs})")
            process.wait()


main.add_command(sandbox)
main.add_command(recurrence_cli)
main.add_command(normalize_cli)
main.add_command(webhooks)

if __name__ == "__main__":
    main()
