"""The ``idempotency_keys`` table: one row per (project, Idempotency-Key).

A row is a claim while ``status`` is NULL (a request holding ``token`` is
running; ``lease_until`` says until when the claim is trusted if its worker
died), and an answer once ``status`` is set: the create's status and body,
written in the create's own transaction (quark.services.common.idempotency).
The key is stored as its SHA-256: the keys are case-sensitive and may be 255
characters, and MariaDB's default collation is neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.dialects.mysql import LONGTEXT
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of

# A bulk create's answer can be megabytes: MariaDB's TEXT holds 64 KiB.
ANSWER_TEXT = Text().with_variant(LONGTEXT(), "mysql", "mariadb")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the canonical JSON of (method, path, body): a reuse with another body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(36))
    lease_until: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(ANSWER_TEXT)


idempotency_keys = table_of(IdempotencyKey)
