"""A real receiver on a loopback socket (uvicorn in a thread) over a real ledger."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from export_pipelines.ledger import Ledger
from export_pipelines.vendors.hellodata.delivery import sign, stringify
from export_pipelines.webhooks import ReceiverSettings, build_app

KEY = "hd-test-key-7f3a9c"
DATASET = {"scopes": [{"column": "property_id"}, {"column": "number_units"}]}


@dataclass
class Receiver:
    url: str
    ledger: Ledger

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.url}/webhooks/hellodata",
            content=body,
            headers={"content-type": "application/json", **(headers or {})},
        )

    def deliver(self, body: bytes, key: str = KEY) -> httpx.Response:
        return self.post(body, {"SHA256-HMAC-Signature": sign(key, body)})


@contextmanager
def receiving(config: ReceiverSettings) -> Iterator[Receiver]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(config), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield Receiver(f"http://127.0.0.1:{port}", Ledger(config.ledger_url))
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def submitted_job(ledger: Ledger, query_id: str, export: str = "inventory") -> int:
    """A job as the request asset leaves it: claimed, then named by the vendor's 201."""
    body = {"format": "csv", "name": export, "dataset": DATASET}
    job, _ = ledger.claim(
        vendor="hellodata",
        export=export,
        partition_key="all",
        partitioned=False,
        window=None,
        fingerprint=query_id.ljust(64, "0")[:64],
        body=body,
        window_fixed=False,
        run_id=None,
    )
    ledger.mark_submitted(job.id, query_id)
    return job.id


def delivery_body(
    query_id: str, *, url: str = "https://storage.googleapis.com/x/export.csv.gz", rows: int = 7
) -> bytes:
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body: dict[str, Any] = {
        "queryUUID": query_id,
        "name": "inventory",
        "format": "csv",
        "payload": DATASET,
        "hmacSignature": sign(KEY, stringify(DATASET)),
        "gcsBlob": {"url": url, "expires": expires, "timeTakenMs": 1234, "numberRows": rows},
        "requestedOn": "2026-12-01T20:00:00.000Z",
        "completedOn": "2026-12-01T20:03:00.000Z",
    }
    return json.dumps(body).encode()
