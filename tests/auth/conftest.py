"""A real `quark serve` with auth_strategy = "keystone" against the kit's Keystone.

SQLite with one worker and PostgreSQL with two (the workers get the
[keystone_authtoken] table through the environment `quark serve` exports).
"""

from __future__ import annotations

import pytest

from tests.dbs import migrated_database, selected_backends
from tests.keystone import quark_toml
from tests.servers import quark_server

AUTH_BACKENDS = [b for b in selected_backends() if b in ("sqlite", "postgresql")]


@pytest.fixture(scope="session", params=AUTH_BACKENDS)
def keystone_server(request, keystone, tmp_path_factory):
    config = quark_toml(keystone, tmp_path_factory.mktemp("keystone-quark"))
    workers = 2 if request.param == "postgresql" else 1
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, workers=workers, env={"QUARK_CONFIG": str(config)}) as server:
            yield server
