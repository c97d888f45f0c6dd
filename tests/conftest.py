"""Settings for the whole suite: the Hypothesis profiles.

Hypothesis loads its built-in "ci" profile whenever CI is set, and that
profile sets ``derandomize=True``: every CI run then draws the same examples
(seeded from each test's source), so a class of inputs the fixed draw never
reaches (a pool wholly excluded, say) stays untested for ever, and a broken
property can pass CI by luck. Our "ci" profile replaces it: the same fixed
number of examples per test on every run, but drawn afresh each time, so
successive CI runs cover more of the input space. A failure prints its
(shrunk) falsifying example and a ``@reproduce_failure`` blob that replays it.
Edge cases a property must always cover are pinned with ``@example`` beside
its ``@given``, not left to the draw.

No profile has a deadline: an example's run time on a loaded two-core CI
machine says nothing about correctness (the suite has no timing assertions
but generous bounds).

HYPOTHESIS_PROFILE picks a profile by name; otherwise "ci" when CI=true
(as tests/dbs.py reads it) and "dev" elsewhere.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The suite's servers and CLIs read their settings from QUARK_* and from
# $QUARK_CONFIG: what a developer's shell exports (a keystone quark.toml, say)
# must not change what the tests run against. The tests' own knobs stay.
_SUITE_KNOBS = {
    "QUARK_TEST_BACKENDS",
    "QUARK_KEYSTONE_KIT",
    "QUARK_DUMP",
    "QUARK_TEST_REDIS_URL",
    # the fuzz run's bounds (tests/fuzzing.py)
    "QUARK_FUZZ_EXAMPLES",
    "QUARK_FUZZ_SEED",
    "QUARK_FUZZ_STEPS",
    "QUARK_FUZZ_SCENARIOS",
    # where the dashboard's browser tests save their screenshots (tests/dashboard/)
    "QUARK_SCREENSHOTS",
}
for _name in [n for n in os.environ if n.startswith("QUARK_") and n not in _SUITE_KNOBS]:
    del os.environ[_name]

# Examples per test where a test does not set its own count (the database-backed
# properties set a smaller one: each of their examples creates networks and subnets).
EXAMPLES = 100
# Generating examples can be slow on a loaded machine; that is not a failure.
SLOW_IS_FINE = [HealthCheck.too_slow]

settings.register_profile(
    "ci",
    max_examples=EXAMPLES,
    derandomize=False,
    deadline=None,
    database=None,  # nothing to keep between runs on a throwaway CI machine
    print_blob=True,
    suppress_health_check=SLOW_IS_FINE,
)
# Local runs keep Hypothesis's example database (.hypothesis/): a failure found
# once is replayed first on the next run until it is fixed.
settings.register_profile("dev", max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_IS_FINE)


def _profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI", "").lower() == "true" else "dev"


settings.load_profile(_profile_name())


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Name the shuffled order at the end of the run, even under -q (which
    hides pytest-randomly's header line), so a failure that depends on the
    order can be replayed."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and config.getoption("randomly_reorganize", True):
        terminalreporter.write_line(f"Tests ran in a shuffled order; replay it with -p randomly --randomly-seed={seed}")


@pytest.fixture(scope="session")
def keystone():
    """The real Keystone of ../shared/peers/keystone (tests/keystone.py), started once."""
    from tests.keystone import start

    return start()
