"""Connhex sandbox on a real socket, and plain-httpx helpers (deliberately not the client)."""

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from export_pipelines.sandbox import SandboxConfig, SandboxServer
from export_pipelines.sandbox.connhex import ConnhexGenerator, ConnhexSandboxConfig, GeneratorParams

#: 2024-03-10T00:00:00Z, a Sunday; Europe/Rome changes to summer time on 2024-03-31 at 01:00Z.
T0 = 1_710_028_800
HOUR = 3_600


def start_server(**settings: Any) -> SandboxServer:
    return SandboxServer(SandboxConfig(port=0, connhex=ConnhexSandboxConfig(**settings))).start()


@contextmanager
def api_client(server: SandboxServer, token: str | None = None) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token or server.api_key('connhex')}"}
    with httpx.Client(base_url=server.base_url("connhex"), headers=headers, timeout=60) as client:
        yield client


@contextmanager
def control_client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_sandbox/connhex", timeout=600) as client:
        yield client


def generator_of(control: httpx.Client) -> ConnhexGenerator:
    """The deployment's generator, rebuilt from the parameters the sandbox reports."""
    return ConnhexGenerator(GeneratorParams.from_dict(control.get("/generator").json()))


def notification() -> dict[str, Any]:
    return {
        "messages": [
            {"policy": "onSuccess", "medium": "email", "title": "Export ready", "text": "ok"},
            {"policy": "onFailure", "medium": "slack", "title": "Export failed", "text": "ko"},
        ]
    }


def item(generator: ConnhexGenerator, publisher: int = 0, channel: int = 0, **params: Any) -> dict:
    """One item on a device and channel of the deployment; ``params`` override or add."""
    filename = params.pop("filename", None)
    body: dict[str, Any] = {
        "params": {
            "target": {"value": generator.publishers[publisher]},
            "channelId": generator.channels[channel],
            "subtopic": "events.data",
            **params,
        }
    }
    if filename is not None:
        body["filename"] = filename
    return body


def body(items: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A oneTime csv request of ``items``; ``format`` keys go in ``fmt``."""
    fmt = {"extension": "csv", **top.pop("fmt", {})}
    return {"format": fmt, "type": "oneTime", "items": items, "notification": notification(), **top}


def create(api: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/exports", json=request)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def complete(control: httpx.Client, export_id: str) -> dict[str, Any]:
    response = control.post(f"/exports/{export_id}/complete")
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def download(api: httpx.Client, export_id: str, job_id: str | None = None) -> dict[str, bytes]:
    """The ZIP's members, by name, in the archive's order."""
    params = {"jobId": job_id} if job_id else None
    response = api.get(f"/exports/{export_id}/download", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))


def export_rows(
    api: httpx.Client, control: httpx.Client, request: dict[str, Any], delimiter: str = ","
) -> tuple[dict[str, Any], list[list[str]]]:
    """Create, complete, download a one-item csv export: (control summary, rows with header)."""
    created = create(api, request)
    summary = complete(control, created["id"])
    members = download(api, created["id"])
    assert len(members) == 1, list(members)
    return summary, csv_rows(next(iter(members.values())), delimiter)
