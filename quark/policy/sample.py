"""The sample policy file: every default rule, commented out, with what it
governs (``oslopolicy-sample-generator``'s YAML layout).

An operator copies a line, removes the ``#`` and changes the check string;
rules left out keep their defaults. ``quark policy sample`` prints it and
``docs/policy.yaml.sample`` is this output (a test keeps it current).
"""

from __future__ import annotations

import json
import textwrap

from oslo_policy import policy

from quark.policy import defaults

HEADER = """\
# Quark's policy: Neutron's rule names and default check strings, and Quark's
# own extensions in the same style. Every rule below is commented out: it is
# its default. Uncomment and change the ones to override in the file named by
# the `policy_file` setting (default /etc/quark/policy.yaml); the file is
# re-read when it changes. See docs/policy.md.

"""


def _rule_text(rule: policy.RuleDefault) -> str:
    lines = [f"# {line}" for line in textwrap.wrap(rule.description or "", 76)] or ["#"]
    for operation in getattr(rule, "operations", None) or []:
        lines.append(f"# {operation['method']:<7}{operation['path']}")
    if rule.scope_types:
        lines.append(f"# Intended scope(s): {', '.join(rule.scope_types)}")
    lines.append(f"#{json.dumps(rule.name)}: {json.dumps(rule.check_str)}")
    return "\n".join(lines) + "\n\n"


def sample() -> str:
    parts = [HEADER]
    for module in defaults.MODULES:
        title = (module.__doc__ or module.__name__).strip().splitlines()[0]
        parts.append(f"# --- {title}\n\n")
        parts += [_rule_text(rule) for rule in module.RULES]
    return "".join(parts).rstrip("\n") + "\n"
