"""A browser page on ``dagster dev``; a screenshot of the page whenever a test fails."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from export_pipelines_tests.browser.chromium import LAUNCH_ARGS, chromium_or_skip
from export_pipelines_tests.browser.dagster_dev import DagsterDev, dagster_dev

#: The UI renders slowly on a loaded two-core machine: wait for elements, generously.
ELEMENT_TIMEOUT_MS = 120_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def ui(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    with dagster_dev(tmp_path_factory.mktemp("dagster_dev")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(
    browser: Any,
    ui: DagsterDev,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1200}, base_url=ui.url)
    page = context.new_page()
    page.set_default_timeout(ELEMENT_TIMEOUT_MS)
    # A fresh instance greets the first visit with a newsletter dialog; a user would skip it.
    skip = page.get_by_role("button", name="Skip", exact=True)
    page.add_locator_handler(skip, lambda: skip.click())
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            shots = tmp_path_factory.mktemp("screenshots")
            path = Path(shots) / f"{request.node.name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failed page: {path}\ndagster dev log: {ui.log}")
        context.close()
