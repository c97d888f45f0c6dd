"""Quark's backend jobs (/v2.0/jobs, read-only): a project's own, and every job for admins."""

from __future__ import annotations

from quark.policy.defaults._build import documented
from quark.policy.personas import ADMIN_OR_PROJECT_READER

RULES = [
    *documented("job", "/jobs", "backend job", [("get_job", ADMIN_OR_PROJECT_READER)]),
]
