"""The sample policy file: current, and every rule in it is its default."""

from __future__ import annotations

from pathlib import Path

import yaml

from quark.policy.defaults import all_rules
from quark.policy.sample import sample

SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "policy.yaml.sample"


def test_the_committed_sample_is_current():
    assert SAMPLE.read_text() == sample(), "regenerate: quark policy sample -o docs/policy.yaml.sample"


def test_uncommented_the_sample_is_the_defaults():
    lines = [line[1:] for line in sample().splitlines() if line.startswith('#"')]
    assert yaml.safe_load("\n".join(lines)) == {rule.name: rule.check_str for rule in all_rules()}


def test_every_documented_rule_says_what_it_governs():
    text = sample()
    for rule in all_rules():
        if getattr(rule, "operations", None):
            assert rule.description and f'#"{rule.name}":' in text
