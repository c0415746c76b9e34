"""The one conftest: it registers the shared fixtures of tests/support/fixtures.py."""

from __future__ import annotations

import sys

from tests.support.processes import REPO

pytest_plugins = ["tests.support.fixtures"]


def pytest_report_header() -> list[str]:
    return [f"python {sys.version.split()[0]}, repo {REPO}"]
