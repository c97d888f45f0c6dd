"""The ``jobs`` table: the backend outbox, and what ``/v2.0/jobs`` shows.

A job is written in the transaction of the change it follows
(quark.services.backends.outbox): one resource (``resource_type``,
``resource_id``) at one ``revision``, one ``operation``, for one ``driver``.
``seq`` orders the jobs of a resource (a worker runs a resource's jobs one
after the other, in ``seq`` order). A worker that claims a job sets it
``running`` with ``lease_until`` and its ``worker`` token; a lease that
expired makes the job claimable again (its worker died). A bulk request's
jobs have a parent job (``operation`` "bulk") that counts them
(``total``, ``done``, ``failed``) and is never claimed itself.

Times have microseconds on every database (retry delays are sub-second).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.dialects.mysql import DATETIME
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of

PRECISE_TIME = DateTime().with_variant(DATETIME(fsp=6), "mysql", "mariadb")

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
BULK = "bulk"
# A backend sync's job (services/backends/periodic.py): never claimed as a
# resource's job; its row is the lease that lets one worker at a time sync a driver.
SYNC = "sync"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "status", "next_attempt_at"),
        Index("ix_jobs_resource", "resource_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36))
    # the network of a subnet or port (what a delete's driver call is told)
    network_id: Mapped[str | None] = mapped_column(String(36))
    revision: Mapped[int] = mapped_column(Integer)
    # create | update | delete | bulk | sync
    operation: Mapped[str] = mapped_column(String(16))
    driver: Mapped[str] = mapped_column(String(64))
    # queued | running | succeeded | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(255), default="")
    # an update made pointless by a newer job of its resource (coalesced)
    superseded_by: Mapped[str | None] = mapped_column(String(36))
    # sub-jobs of a bulk job: how many, how many finished, how many failed
    total: Mapped[int] = mapped_column(Integer, default=1)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(PRECISE_TIME)
    lease_until: Mapped[datetime | None] = mapped_column(PRECISE_TIME)
    worker: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(PRECISE_TIME)
    updated_at: Mapped[datetime] = mapped_column(PRECISE_TIME)
    started_at: Mapped[datetime | None] = mapped_column(PRECISE_TIME)
    finished_at: Mapped[datetime | None] = mapped_column(PRECISE_TIME)


jobs = table_of(Job)
