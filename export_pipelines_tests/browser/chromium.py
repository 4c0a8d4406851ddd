"""Which browser the UI test drives, and the rule for when there is none.

Debian's ``chromium`` package (``apt-get install chromium``), never a browser Playwright downloads:
the test runs offline on the machine's own packages. Without it the test is skipped, saying so;
under CI (``CI=true``) it fails instead, since CI must not pass by testing less (``.ci/run``
installs it first).
"""

import os
import shutil
from pathlib import Path

import pytest

#: Where Debian installs it; ``$EXPORT_PIPELINES_CHROMIUM`` names another build.
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ENV = "EXPORT_PIPELINES_CHROMIUM"
#: Headless in a container or as root needs the sandbox off (the page is our own UI).
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chromium_or_skip() -> str:
    """The chromium executable; skips the test (fails it under CI) when there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    candidates = [Path(named)] if named else [DEBIAN_CHROMIUM]
    if not named and (found := shutil.which("chromium")):
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    reason = (
        f"no chromium at {', '.join(map(str, candidates))}: "
        "`apt-get install -y chromium` (Debian's package; `playwright install` is not used)"
    )
    if _in_ci():
        pytest.fail(f"the browser test is required in CI (CI=true): {reason}")
    pytest.skip(reason)
