"""Attribute map of Quark's backend jobs (``/v2.0/jobs``, read-only;
docs/jobs.md). Data only; see ``base.Attr``."""

from __future__ import annotations

from quark.api.definitions.base import INT_FILTER, STR_FILTER, Attr, Resource

JOB = Resource(
    name="job",
    collection="jobs",
    has_tags=False,
    bulk=False,
    read_only=True,
    attributes=(
        Attr("id", filter=STR_FILTER, sortable=True),
        Attr("project_id", filter=STR_FILTER, sortable=True),
        Attr("tenant_id", filter=STR_FILTER, sortable=True),
        Attr(
            "status",
            filter=STR_FILTER,
            sortable=True,
            description="queued, running, succeeded or failed",
        ),
        Attr("progress", "integer", description="percent done (a bulk job: of its sub-jobs)"),
        Attr(
            "resource_type",
            filter=STR_FILTER,
            sortable=True,
            description="network, subnet, port, security_group or router; of a bulk job, its resources' type",
        ),
        Attr("resource_id", filter=STR_FILTER, sortable=True, nullable=True, description="null for a bulk job"),
        Attr("operation", filter=STR_FILTER, sortable=True, description="create, update, delete or bulk"),
        Attr("driver", filter=STR_FILTER, sortable=True, nullable=True, description="the backend driver"),
        Attr("revision", "integer", filter=INT_FILTER, sortable=True, description="the resource's revision"),
        Attr("attempts", "integer", filter=INT_FILTER, sortable=True),
        Attr("last_error", description="the last failed attempt's error (empty: none)"),
        Attr("parent_id", filter=STR_FILTER, sortable=True, nullable=True, description="the bulk job it is part of"),
        Attr("sub_jobs", "array", items="string", description="the jobs of a bulk job"),
        Attr("superseded_by", nullable=True, description="the newer job that made this update pointless"),
        Attr("created_at", sortable=True),
        Attr("updated_at", sortable=True),
        Attr("started_at", sortable=True, nullable=True),
        Attr("finished_at", sortable=True, nullable=True),
    ),
)
