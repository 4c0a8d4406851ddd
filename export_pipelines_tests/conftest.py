"""Fixtures shared by the test suite: ledger databases, a sandbox, a Dagster home."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from export_pipelines.ledger import Ledger
from export_pipelines_tests.services import postgres_schema


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The whole-system tests (``heavy``: minutes each) first and on one worker, one after the
    other: run at once on two cores they starve each other's daemons (a demo of a minute took
    eighteen beside the year's backfill), while the other workers take the many short tests.
    Each heavy test is marked ``xdist_group("heavy")`` itself, which ``--dist loadgroup`` reads."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a grouped test when ``--dist loadgroup`` lost its group: pytest-xdist marks a grouped
    test by a suffix on its node ID, which some pytest releases (9.2) drop without a word, and the
    heavy tests then run at once and starve each other past their deadlines (pytest-xdist issue
    1386). The check runs on xdist's workers only, where ``loadgroup`` is set."""
    grouped = item.get_closest_marker("xdist_group") is not None
    if grouped and getattr(item.config.option, "loadgroup", False) and "@" not in item.nodeid:
        pytest.fail(
            "--dist loadgroup ignored this test's xdist_group: this pytest and pytest-xdist no "
            "longer group tests (pin pytest as pyproject.toml does)",
            pytrace=False,
        )


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The ledger's two supported backends: SQLite (the default) and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    return Ledger(ledger_url)
