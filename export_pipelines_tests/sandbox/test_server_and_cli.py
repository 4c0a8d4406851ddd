"""Starting and stopping the sandbox: the background server, its work directory, the CLI."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from export_pipelines.sandbox import EnterpretSandboxConfig, SandboxConfig, SandboxServer
from export_pipelines_tests.sandbox.conftest import FETCH, SUBMIT, window_body

START = 1704067200


def test_server_picks_a_port_serves_and_cleans_its_temporary_work_dir() -> None:
    config = SandboxConfig(
        port=0, enterpret=EnterpretSandboxConfig(record_count=1000, completion_delay_seconds=0)
    )
    with SandboxServer(config) as server:
        assert server.port > 0
        assert server.base_url("enterpret") == f"http://127.0.0.1:{server.port}/enterpret"
        assert server.api_key("enterpret") == "sandbox-enterpret-key"
        with pytest.raises(KeyError):
            server.base_url("nosuch")
        headers = {"Authorization": "Bearer sandbox-enterpret-key"}
        response = httpx.post(
            server.base_url("enterpret") + SUBMIT,
            json=window_body(START, START + 10**7),
            headers=headers,
        )
        query_id = response.json()["queryID"]
        job = server.enterpret.wait(query_id, timeout=10)
        assert job.files and all(path.exists() for path in job.files)
        work_dir = server.sandbox.work_dir if server.sandbox else None
        assert work_dir is not None and job.files[0].is_relative_to(work_dir)
    assert not work_dir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}/_sandbox/vendors")


def test_server_keeps_an_explicit_work_dir(tmp_path: Path) -> None:
    config = SandboxConfig(
        port=0,
        work_dir=tmp_path,
        enterpret=EnterpretSandboxConfig(record_count=1000, completion_delay_seconds=0),
    )
    with SandboxServer(config) as server:
        query_id = server.enterpret.submit(window_body(START, START + 10**7)).query_id
        server.enterpret.complete(query_id)
    assert (tmp_path / "enterpret" / query_id / "0.json").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_eval_able_exports_then_serves_until_signalled(
    tmp_path: Path, stop: signal.Signals
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    explicit_work_dir = stop == signal.SIGTERM
    command = [
        sys.executable,
        "-c",
        "from export_pipelines.sandbox.cli import sandbox; sandbox(prog_name='sandbox')",
        "serve",
        "--port=0",
        "--seed=9",
        "--enterpret-records=1000",
        "--completion-delay=0",
    ]
    if explicit_work_dir:
        command.append(f"--work-dir={tmp_path / 'work'}")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(2)]
        assert re.fullmatch(
            r"export ENTERPRET_BASE_URL=http://127\.0\.0\.1:\d+/enterpret", lines[0]
        )
        assert lines[1] == "export ENTERPRET_API_KEY=sandbox-enterpret-key"
        script = tmp_path / "env.sh"
        script.write_text("\n".join(lines) + "\n")
        shell = subprocess.run(
            [
                "bash",
                "-c",
                f'eval "$(cat {script})"; echo "$ENTERPRET_BASE_URL $ENTERPRET_API_KEY"',
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": os.environ.get("PATH", "")},
        )
        base_url, api_key = shell.stdout.split()
        headers = {"Authorization": f"Bearer {api_key}"}
        submitted = httpx.post(
            base_url + SUBMIT, json=window_body(START, START + 10**7), headers=headers
        )
        assert submitted.status_code == 200
        query_id = submitted.json()["queryID"]
        for _ in range(200):
            answer = httpx.post(
                base_url + FETCH, json={"queryID": query_id}, headers=headers
            ).json()
            if answer.get("isCompleted"):
                break
        assert answer["isCompleted"] is True and answer["responseFiles"]
        assert httpx.get(answer["responseFiles"][0]).status_code == 200
    finally:
        process.send_signal(stop)
        try:
            returncode = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert returncode == 0
    # Files stay in an explicit work directory; a temporary one is removed on the way out.
    assert (tmp_path / "work" / "enterpret" / query_id / "0.json").exists() is explicit_work_dir
    assert list(temporary.iterdir()) == []
