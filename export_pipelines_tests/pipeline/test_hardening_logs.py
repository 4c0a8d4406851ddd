"""Nothing of a user's is handed to Dagster's telemetry uploader (issue 6, item 6).

Dagster's uploader POSTs whatever is in ``$DAGSTER_HOME/logs/`` to ``$DAGSTER_TELEMETRY_URL`` and
deletes it, whatever ``telemetry.enabled`` says. Here the uploader runs for real in a child
started the way the demo and ``make dev`` start theirs, against a local HTTP server standing in for
the endpoint: nothing may arrive and the file must stay. And the demo's logs are not in that folder.
"""

import http.server
import sys
import threading
from pathlib import Path

from export_pipelines.demo import processes

UPLOAD = (
    "import threading\n"
    "from dagster._core.telemetry_upload import upload_logs\n"
    "upload_logs(threading.Event(), raise_errors=True)\n"
    "print('uploader returned')\n"
)


class _Endpoint(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _Recorder)


class _Recorder(http.server.BaseHTTPRequestHandler):
    server: _Endpoint

    def do_POST(self) -> None:
        self.server.received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_children_never_upload_the_dagster_home_logs(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    (home / "logs").mkdir(parents=True)
    queued = home / "logs" / "event.log"
    queued.write_text('{"action": "x", "key": "sandbox-enterpret-key"}\n')
    endpoint = _Endpoint()
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    env = {
        "PATH": "/usr/bin:/bin",
        "DAGSTER_HOME": str(home),
        "DAGSTER_TELEMETRY_URL": f"http://127.0.0.1:{endpoint.server_address[1]}/actions",
    }
    log = processes.log_dir(home) / "uploader.log"
    try:
        with processes.running([sys.executable, "-c", UPLOAD], env=env, log_path=log) as child:
            assert child.wait(120) == 0, log.read_text()
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    assert "uploader returned" in log.read_text()
    assert endpoint.received == []
    assert queued.exists()


def test_the_project_logs_live_outside_the_telemetry_queue(tmp_path: Path) -> None:
    home = tmp_path / ".dagster_home" / "demo"
    logs = processes.log_dir(home)
    assert logs != home / "logs" and not logs.is_relative_to(home)
    assert logs.parent == home.parent
