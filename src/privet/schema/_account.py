"""Accountability: measured facts kept for reports, reused while they are current."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from privet.schema._base import Base


class ReportFact(Base):
    """A measurement a report made (a risk, a figure), under a key that names everything it
    depends on: the version's id and content hash, the request, privet's code revision. A
    changed input is a new key, so a stored row is current by construction. Holds counts,
    risks and figures of them, never a cell value."""

    __tablename__ = "report_facts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256), index=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
