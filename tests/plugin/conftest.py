"""Fixtures for testing the pytest plugin from the outside, as a user's suite runs it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # `pytest_plugins = ["pytester"]` is refused outside the top-level conftest (pytest errors on it during
    # collection of the whole suite), so pytester is registered here instead: same plugin, same fixture.
    config.pluginmanager.import_plugin("pytester")
