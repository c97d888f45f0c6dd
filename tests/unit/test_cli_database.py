"""`quark` commands that open the database refuse a missing or unmigrated one
with one clear line, create nothing, and never print a traceback for an
operator's mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quark.cli.main import app
from quark.db import migrate

QUARK = str(Path(sys.executable).with_name("quark"))
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/quark"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    # A clean exit (typer.Exit / SystemExit), never an exception escaping the command.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """An empty working directory: the default data dir (./var) does not exist."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("QUARK_")]:
        monkeypatch.delenv(name)
    return tmp_path


@pytest.mark.parametrize("command", [["ipam", "check"], ["ipam", "check", "--fix"], ["db", "check"]])
def test_missing_database_is_refused_and_nothing_is_created(elsewhere, command):
    result = run(*command)
    assert result.exit_code == 1
    assert "quark db upgrade" in result.output
    assert list(elsewhere.iterdir()) == []  # no var/, no quark.db


@pytest.mark.parametrize("command", [["ipam", "check"], ["db", "check"]])
def test_unmigrated_database_is_refused(elsewhere, command):
    db = elsewhere / "empty.db"
    db.touch()
    result = run(*command, "--database-url", f"sqlite+aiosqlite:///{db}")
    assert result.exit_code == 1
    assert "is not migrated" in result.output and "quark db upgrade" in result.output


def test_ipam_check_on_a_migrated_database_runs(elsewhere):
    url = f"sqlite+aiosqlite:///{elsewhere / 'quark.db'}"
    migrate.upgrade(url)
    result = run("ipam", "check", "--database-url", url)
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.output


@pytest.mark.parametrize(
    "command",
    [["ipam", "check"], ["db", "check"], ["db", "upgrade"], ["serve", "--port", "1"]],
)
def test_unreachable_database_is_one_line(elsewhere, command):
    result = run(*command, "--database-url", UNREACHABLE)
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.startswith("quark:")]
    assert len(lines) == 1 and "cannot use the database" in lines[0], result.output


@pytest.mark.parametrize("command", [["ipam", "check"], ["db", "check"], ["db", "upgrade"], ["serve"]])
def test_bad_config_file_is_one_line(elsewhere, command):
    bad = elsewhere / "quark.toml"
    bad.write_text("database_url = [unterminated\n")
    result = run(*command, "--config", str(bad))
    assert result.exit_code == 2
    assert result.output.startswith("quark: ")


def test_quark_ipam_check_from_another_directory(elsewhere):
    """The reported case, as an operator runs it: the real command, its real output."""
    proc = subprocess.run([QUARK, "ipam", "check"], cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "quark db upgrade" in proc.stderr
    assert not (elsewhere / "var").exists()


def test_serve_still_creates_its_embedded_database(elsewhere):
    """`quark serve` on SQLite migrates its own file on start; run only that step."""
    from quark.cli import main

    url = f"sqlite+aiosqlite:///{elsewhere / 'var' / 'quark.db'}"
    main._db_step(lambda: migrate.upgrade(url))
    assert main._require_current(url) == url


@pytest.mark.parametrize("command", [["policy", "check"], ["serve"]])
def test_policy_file_that_does_not_parse_is_one_line(elsewhere, command):
    (elsewhere / "policy.yaml").write_text('"get_network": [unterminated\n')
    (elsewhere / "quark.toml").write_text(f'policy_file = "{elsewhere / "policy.yaml"}"\n')
    result = run(*command, "--config", str(elsewhere / "quark.toml"))
    assert result.exit_code == 2
    assert result.output.startswith("quark: policy file ")
    assert not (elsewhere / "var").exists()
