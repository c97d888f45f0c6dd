"""Shell completion is on: ``quark --show-completion`` prints a script, and the
completion protocol it installs offers the operator commands and their options."""

from __future__ import annotations

import os
import subprocess

from tests.servers import QUARK


def complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_QUARK_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    done = subprocess.run([QUARK], env=env, capture_output=True, text=True, timeout=60)
    return done.stdout.split()


def test_show_completion_prints_a_bash_script():
    done = subprocess.run([QUARK, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "complete -o default -F _quark_completion quark" in done.stdout


def test_commands_and_options_complete():
    assert complete("quark mac") == ["mac-ranges"]
    assert {"list", "show", "create", "delete"} <= set(complete("quark segment-ranges ''"))
    assert complete("quark purge --dr") == ["--dry-run"]
    assert {"table", "json", "yaml"} == set(complete("quark jobs list --format ''"))
