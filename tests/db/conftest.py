"""Fixtures for tests that talk to the database directly (no HTTP)."""

from __future__ import annotations

import pytest

from tests.dbs import migrated_database, selected_backends


@pytest.fixture(scope="session", params=selected_backends())
def database_url(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        yield url
