"""HelloData's client and delivery reader where no sandbox is needed: the webhook URL setting, the
missing status endpoint, and the payload serialization the body's ``hmacSignature`` signs (H-1)."""

import pytest

from export_pipelines.transport import VendorError
from export_pipelines.vendors.hellodata.delivery import stringify
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV, HelloDataResource

KEY = "hd-client-key"


def test_the_webhook_url_is_the_public_url_setting_plus_the_vendor_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, "https://hooks.example.com/")
    resource = HelloDataResource(base_url="https://api.hellodata.ai", api_key=KEY)
    assert resource.webhook_url() == "https://hooks.example.com/webhooks/hellodata"
    explicit = HelloDataResource(
        base_url="https://api.hellodata.ai", api_key=KEY, webhook_public_url="https://a.example"
    )
    assert explicit.webhook_url() == "https://a.example/webhooks/hellodata"


def test_without_a_public_url_the_submit_is_refused_before_it_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(WEBHOOK_PUBLIC_URL_ENV, raising=False)
    # Port 9 on loopback: nothing listens, so a request that left would fail differently.
    resource = HelloDataResource(base_url="http://127.0.0.1:9", api_key=KEY, max_attempts=1)
    with resource.client() as client, pytest.raises(VendorError) as raised:
        client.submit({"format": "csv", "name": "x", "dataset": {"scopes": []}})
    assert WEBHOOK_PUBLIC_URL_ENV in str(raised.value)
    assert KEY not in str(raised.value)


def test_status_says_completion_comes_only_by_webhook() -> None:
    resource = HelloDataResource(base_url="https://api.hellodata.ai", api_key=KEY)
    with resource.client() as client, pytest.raises(VendorError, match="no status endpoint"):
        client.status("q-1")


@pytest.mark.parametrize(
    ("value", "javascript"),
    [
        # What node's JSON.stringify writes for each (node -e, run when these were written).
        ({"b": 1, "a": [50.0, -0.0, 1.5]}, '{"b":1,"a":[50,0,1.5]}'),
        (
            {"msa": "Nashville, TN", "n": None, "t": True},
            '{"msa":"Nashville, TN","n":null,"t":true}',
        ),
        ({"city": "Bogotá"}, '{"city":"Bogotá"}'),
        ({"x": 1e-7, "y": 1.5e300}, '{"x":1e-7,"y":1.5e+300}'),
    ],
)
def test_payload_serialization_matches_json_stringify(value: object, javascript: str) -> None:
    assert stringify(value) == javascript.encode()


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"RateLimit": '"default";r=0;t=12'}, 12.0),
        ({"RateLimit": '"default";r=0;t=0.5', "Retry-After": "99"}, 0.5),
        ({"Retry-After": "7"}, 7.0),
        ({"RateLimit": '"default";r=3'}, None),
        ({}, None),
    ],
)
def test_a_429_waits_as_the_ratelimit_header_says(headers: dict[str, str], wait: float) -> None:
    import httpx

    from export_pipelines.vendors.hellodata.client import rate_limit_wait

    assert rate_limit_wait(httpx.Response(429, headers=headers)) == wait
