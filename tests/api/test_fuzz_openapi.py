"""Schemathesis over /openapi.json against a live server: every operation, every
check, the OpenAPI links chained statefully, as admin and as a member.

The run is bounded and reproducible: a fixed seed, deterministic generation,
a few examples per operation (tests/fuzzing.py has the settings and why).
A failure names its check, the operation and a ``curl`` that reproduces it;
the seed is printed with the run. To explore further than the bounded run:

    QUARK_FUZZ_EXAMPLES=100 QUARK_FUZZ_SEED=7 .venv/bin/python -m pytest -p no:randomly \
        tests/api/test_fuzz_openapi.py

The server is a fresh one per backend (not the shared ``api_server``): the
fuzzer creates and deletes thousands of resources and changes quotas, which
must not leak into the other API tests' session.
"""

from __future__ import annotations

import copy

import pytest
import schemathesis

from quark.api.openapi import document
from tests.dbs import migrated_database, selected_backends
from tests.fuzzing import (
    IDENTITIES,
    fuzz_config,
    keep_failure,
    replay_line,
    shape_case,
    state_machine_settings,
)
from tests.servers import quark_server


@pytest.fixture(scope="module", params=selected_backends())
def fuzz_server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
            yield server


@pytest.fixture(autouse=True)
def _name_the_run():
    """Print the run's bounds (shown as captured output with a failure) so that it can be replayed."""
    print(f"fuzz run: {replay_line()}")


@pytest.fixture(scope="module", params=sorted(IDENTITIES))
def identity(request):
    """The noauth headers of who is fuzzing (admin, or a member of a project)."""
    return IDENTITIES[request.param]


# The document the server serves at /openapi.json, built by the same code in this
# process (a schema loaded from the live server would have to be resolved lazily,
# per test, which schemathesis's pytest plugin does not support on pytest 9).
# A copy: schemathesis adds its inferred links to the dict it is given, and
# document() is the server's cached one (tests/unit/api/test_openapi.py reads it too).
schema = schemathesis.openapi.from_dict(copy.deepcopy(document()), config=fuzz_config())
schema.hook("map_case")(shape_case)
schema.hook("filter_failure")(keep_failure)


@schema.parametrize()
def test_every_operation_conforms(case, fuzz_server, identity):
    case.call_and_validate(base_url=fuzz_server.url, headers=identity)


def test_linked_operations_conform(fuzz_server, identity):
    """Create → show/update/delete through the document's links (the stateful phase)."""

    # GET /v2.0/auto-allocated-topology/{project_id} makes the topology when the
    # deployment has defaults, so its answer depends on earlier scenarios, which the
    # stateful phase's replays cannot reproduce; every other phase fuzzes it, and
    # tests/api/test_auto_allocated_topology.py tests it. POST
    # /v2.0/flavors/{flavor_id}/service_profiles names a profile in its body, which a link
    # from the flavor cannot fill: its right 404 ServiceProfileNotFound reads to the
    # availability check as the new flavor missing. The other phases fuzz it, and
    # tests/api/test_flavors.py tests it.
    linked = schema.exclude(path_regex="^/v2.0/auto-allocated-topology/|^/v2.0/flavors/[^/]+/service_profiles$")

    class Machine(linked.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"base_url": fuzz_server.url, "headers": identity}

    Machine.run(settings=state_machine_settings())
