"""``export-pipelines webhooks serve``: the receiver under uvicorn (loopback by default; put a TLS
reverse proxy in front for a vendor to reach it, see the README)."""

import click

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790


@click.group()
def webhooks() -> None:
    """The webhook receiver for vendors that complete by callback (HelloData)."""


@webhooks.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Receive completion callbacks and record them in the export ledger."""
    import uvicorn

    from export_pipelines.webhooks.app import ReceiverSettings, build_app

    config = ReceiverSettings.from_env()
    click.echo(
        f"webhooks: receiving for {', '.join(sorted(config.secrets)) or 'no vendor'} on "
        f"http://{host}:{port}/webhooks/<vendor>",
        err=True,
    )
    uvicorn.run(build_app(config), host=host, port=port, log_level="warning", access_log=False)
