"""A vendor resource's settings are checked when Dagster builds it, and never shown.

Before: an API key ending in a newline went out as a header; httpx refused it with "Illegal header
value b'Bearer <the key>\\n'", which landed whole in the event log and the compute logs.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from export_pipelines import settings
from export_pipelines.ledger import LedgerResource
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.enterpret.resource import EnterpretResource

SECRET = "TOPSECRET4242"
BASE_ENV, KEY_ENV = "TEST_SETTINGS_ENTERPRET_BASE_URL", "TEST_SETTINGS_ENTERPRET_API_KEY"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(port=0)) as server:
        yield server


@dg.asset
def label_probe(enterpret: EnterpretResource) -> None:
    """Makes one real API call, so an unusable key would actually be sent."""
    client = enterpret.client()
    try:
        client.label("some-label")
    finally:
        client.close()


def _run(monkeypatch: pytest.MonkeyPatch, base_url: str, api_key: str) -> tuple[bool, str]:
    """Materialize through Dagster with both settings bound to env vars; (success, every text
    the run left: its events serialized, failures with their causes)."""
    monkeypatch.setenv(BASE_ENV, base_url)
    monkeypatch.setenv(KEY_ENV, api_key)
    resource = EnterpretResource(base_url=dg.EnvVar(BASE_ENV), api_key=dg.EnvVar(KEY_ENV))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [label_probe],
            resources={"enterpret": resource},
            instance=instance,
            raise_on_error=False,
        )
        records = instance.all_logs(result.run_id)
        texts = [dg.serialize_value(record) for record in records]
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            texts.append(error.to_string())
    return result.success, "\n".join(texts)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (f"sk-live-{SECRET}\n", "has a line break at character 22 of 22"),
        (f" sk-live-{SECRET}", "has whitespace at character 1 of 22"),
        (f"sk-live-{SECRET}\x1b", "has a control or non-ASCII character at character 22 of 22"),
        (f"sk-live-{SECRET}é", "has a control or non-ASCII character at character 22 of 22"),
        ("", "is empty"),
    ],
)
def test_a_bad_key_is_refused_at_load_without_showing_it(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    key: str,
    problem: str,
) -> None:
    success, text = _run(monkeypatch, sandbox.base_url("enterpret"), key)
    assert not success
    assert f"api_key (environment variable {KEY_ENV}) {problem}" in text
    printed = capfd.readouterr()
    for where in (text, printed.out, printed.err):
        assert SECRET not in where
    assert sandbox.faults.list() == []  # nothing armed; and the key never reached the vendor


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("ftp://files.example/enterpret", "must start with http:// or https://"),
        ("api.enterpret.com", "must start with http:// or https://"),
        ("https://user:pw@api.enterpret.com", "must not carry credentials"),
        ("http://127.0.0.1:8765/enterpret\n", "has whitespace or a control character"),
    ],
)
def test_a_bad_base_url_is_refused_at_load_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, base_url: str, problem: str
) -> None:
    success, text = _run(monkeypatch, base_url, "sk-fine-key")
    assert not success
    assert f"base_url (environment variable {BASE_ENV}) {problem}" in text
    assert base_url.strip() not in text


def test_good_settings_run(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path with the sandbox's real key: the call is made and answered."""
    labels = sandbox.enterpret.dataset.labels.ids_by_kind
    label = next(ids[0] for ids in labels.values() if ids)

    @dg.asset
    def real_label(enterpret: EnterpretResource) -> None:
        client = enterpret.client()
        try:
            assert client.label(label)["id"] == label
        finally:
            client.close()

    monkeypatch.setenv(BASE_ENV, sandbox.base_url("enterpret"))
    monkeypatch.setenv(KEY_ENV, sandbox.api_key("enterpret"))
    resource = EnterpretResource(base_url=dg.EnvVar(BASE_ENV), api_key=dg.EnvVar(KEY_ENV))
    assert dg.materialize([real_label], resources={"enterpret": resource}).success


def test_literal_values_are_checked_when_the_resource_is_built() -> None:
    with pytest.raises(ValidationError) as error:
        EnterpretResource(base_url="file:///etc", api_key=f"k-{SECRET}\t", max_download_bytes=0)
    text = str(error.value)
    assert "base_url must start with http:// or https://" in text
    assert "api_key has whitespace at character 16 of 16" in text
    assert "max_download_bytes must be positive" in text
    assert SECRET not in text and "/etc" not in text


def test_a_bad_key_is_refused_when_a_sensor_builds_the_resource(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The status sensor's resources are built per tick: the same check, the same silence."""
    monkeypatch.setenv(BASE_ENV, "http://127.0.0.1:9/enterpret")
    monkeypatch.setenv(KEY_ENV, f"sk-live-{SECRET}\n")
    monkeypatch.setenv(settings.LEDGER_URL_ENV, f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    resource = EnterpretResource(base_url=dg.EnvVar(BASE_ENV), api_key=dg.EnvVar(KEY_ENV))
    sensor = build_status_sensor("enterpret")
    with (
        pytest.raises(Exception) as error,
        dg.build_sensor_context(
            resources={"enterpret": resource, "ledger": LedgerResource()}
        ) as context,
    ):
        sensor.evaluate_tick(context)
    chain, seen = [], error.value
    while seen is not None:
        chain.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    text = "\n".join(chain)
    assert f"api_key (environment variable {KEY_ENV}) has a line break" in text
    assert SECRET not in text
