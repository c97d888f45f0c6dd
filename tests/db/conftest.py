"""Fixtures for tests that talk to the database directly (no HTTP)."""

from __future__ import annotations

import pytest

from quark.db import migrate
from tests.dbs import create_database, selected_backends


@pytest.fixture(scope="session", params=selected_backends())
def database_url(request, tmp_path_factory):
    url, drop = create_database(request.param, tmp_path_factory)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()
