"""The sandbox's in-flight meter: how many calls a vendor route serves at once, seen from the
vendor's side (what a pool test compares with the pool's limit)."""

import threading

import httpx

from export_pipelines.sandbox import SandboxServer
from export_pipelines_tests.sandbox.conftest import FETCH, SUBMIT, submit, window_body

START, END = 1704067200, 1706745600  # January 2024
SUBMIT_ROUTE = f"POST {SUBMIT}"


def _meter(control: httpx.Client) -> dict:  # type: ignore[type-arg]
    return control.get("/in-flight").raise_for_status().json()


def test_concurrent_calls_are_counted_per_vendor_and_route(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    control.delete("/in-flight").raise_for_status()
    # Held submits overlap for sure: three at once, each held 1 s by the sandbox.
    control.post(
        "/faults",
        json={"vendor": "enterpret", "route": "submit", "delay_seconds": 1.0, "times": 3},
    ).raise_for_status()
    query_ids: list[str] = []
    start = threading.Barrier(3)

    def one() -> None:
        start.wait()
        query_ids.append(submit(api, window_body(START, END)))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    api.post(FETCH, json={"queryID": query_ids[0]}).raise_for_status()

    meter = _meter(control)["enterpret"]
    assert len(query_ids) == 3
    assert meter["routes"][SUBMIT_ROUTE] == {"in_flight": 0, "high_water": 3, "served": 3}
    assert meter["routes"][f"POST {FETCH}"] == {"in_flight": 0, "high_water": 1, "served": 1}
    assert (meter["in_flight"], meter["high_water"], meter["served"]) == (0, 3, 4)
    assert _meter(control)["hienergy"]["served"] == 0

    reset = control.delete("/in-flight").raise_for_status().json()["enterpret"]
    assert (reset["high_water"], reset["served"], reset["routes"]) == (0, 0, {})
