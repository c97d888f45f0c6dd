"""The rate-limit settings: the [rate_limits] table, the environment, bad values."""

from __future__ import annotations

import pytest

from quark.config import load_settings
from tests.auth.test_settings_and_headers import clean_env  # noqa: F401 - the fixture: no QUARK_* of the shell

pytestmark = pytest.mark.usefixtures("clean_env")

TOML = """
[quark]
log_level = "info"

[rate_limits]
redis_url = "redis://cache:6379/1"
reads = 100
period = 10
exempt_roles = "service"

[rate_limits.overrides.big-project]
writes = 5000
"""


def test_the_table_sets_the_prefixed_settings_and_travels_to_the_workers(monkeypatch, tmp_path):
    path = tmp_path / "quark.toml"
    path.write_text(TOML)
    settings = load_settings(str(path))
    assert settings.rate_limit_redis_url == "redis://cache:6379/1"
    assert (settings.rate_limit_reads, settings.rate_limit_period) == (100, 10.0)
    assert settings.rate_limit_writes == 1200  # the default
    assert settings.rate_limit_exempt_roles == "service"
    assert settings.rate_limit_overrides == {"big-project": {"writes": 5000}}
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings


def test_flat_keys_and_environment(monkeypatch, tmp_path):
    path = tmp_path / "quark.toml"
    path.write_text('rate_limit_redis_url = "redis://x"\nrate_limit_allocations = 7\n')
    monkeypatch.setenv("QUARK_RATE_LIMIT_OVERRIDES", '{"p": {"reads": 3}}')
    settings = load_settings(str(path))
    assert (settings.rate_limit_redis_url, settings.rate_limit_allocations) == ("redis://x", 7)
    assert settings.rate_limit_overrides == {"p": {"reads": 3}}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[rate_limits]\nbogus = 1\n", "unknown setting 'rate_limit_bogus'"),
        ("[rate_limits]\nperiod = 0\n", "rate_limit_period must be positive"),
        ("[rate_limits.overrides.p]\nreeds = 1\n", "unknown class"),
        ('[rate_limits.overrides.p]\nreads = "many"\n', "must be an integer"),
        ("[rate_limits]\nlease = -1\n", "rate_limit_lease must be 0 or more"),
    ],
)
def test_bad_values_are_refused_at_start(monkeypatch, tmp_path, toml, message):
    path = tmp_path / "quark.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=message):
        load_settings(str(path))
