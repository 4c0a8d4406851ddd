"""Secrets never reach a message; waits follow the vendor's own word."""

import httpx

from export_pipelines.transport import AuthenticationError, RetryPolicy
from export_pipelines.transport.redact import redact_text, redact_url


def test_keys_and_signed_query_strings_are_masked() -> None:
    text = "401 for key sk-live-1234 at https://files.example/x.json?sig=abc&expires=1 ok"
    cleaned = redact_text(text, ("sk-live-1234",))
    assert "sk-live-1234" not in cleaned and "sig=abc" not in cleaned
    assert "https://files.example/x.json?***" in cleaned
    assert redact_url("https://h/p?token=t") == "https://h/p?***"


def test_errors_redact_what_they_are_given() -> None:
    error = AuthenticationError(
        "enterpret", "echoed Bearer sk-9876", status=401, secrets=("sk-9876",)
    )
    assert "sk-9876" not in str(error) and str(error).startswith("enterpret: ")


def test_retry_after_in_seconds_and_as_a_date_and_the_cap() -> None:
    policy = RetryPolicy(max_retry_after_seconds=10)
    assert policy.delay(1, httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert policy.delay(1, dated) == 0.0
    assert policy.delay(1, httpx.Response(429, headers={"Retry-After": "3600"})) is None


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay_seconds=1, max_delay_seconds=4)
    delays = [policy.delay(attempt) for attempt in range(1, 10) for _ in range(20)]
    assert all(d is not None and 0 <= d <= 4 for d in delays)
    assert len(set(delays)) > 1


def test_submits_are_not_retried_on_ambiguous_failures() -> None:
    policy = RetryPolicy()
    assert policy.should_retry_status(500, idempotent=True)
    assert not policy.should_retry_status(500, idempotent=False)
    assert policy.should_retry_status(429, idempotent=False)


def test_credentials_in_urls_are_masked() -> None:
    assert redact_url("ftp://user:pw-1@files.example/x?sig=1") == "ftp://***@files.example/x?***"
    cleaned = redact_text("see https://bob:hunter2@h.example/p and http://h.example/q")
    assert "hunter2" not in cleaned and "https://***@h.example/p" in cleaned
