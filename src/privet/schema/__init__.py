"""privet's database schema: every table, by area, and the engines and migrations that hold it.

The tables are SQLAlchemy 2 models; the schema itself is made by the Alembic migrations in
``migrations/``. Every package that keeps rows imports its tables from here.
"""

from privet.schema._account import ReportFact
from privet.schema._auditlog import AccessEvent, Checkpoint, GovernanceHead, LogEntry, LogHead
from privet.schema._base import Base
from privet.schema._catalog import Column, Dataset, DatasetPurpose, Meta, Version
from privet.schema._db import (
    READ_ONLY,
    SCHEMA_REVISION,
    alembic_config,
    is_current,
    make_engine,
    migrating,
    reader,
    upgrade,
)
from privet.schema._dp import DpDomain, DpLedger, DpModel, DpRelease
from privet.schema._forget import ConsentRecord, ErasureRequest, KeepDecision
from privet.schema._lineage import LineageEdge
from privet.schema._policy import (
    AccessBaseline,
    Alert,
    ApiToken,
    Grant,
    PolicyDoc,
    RecentRead,
    User,
    UserRole,
)
from privet.schema._vault import Keyset

__all__ = [
    "AccessEvent",
    "alembic_config",
    "AccessBaseline",
    "Alert",
    "RecentRead",
    "ApiToken",
    "Base",
    "Checkpoint",
    "Column",
    "ConsentRecord",
    "ErasureRequest",
    "KeepDecision",
    "Dataset",
    "DatasetPurpose",
    "DpDomain",
    "DpLedger",
    "DpModel",
    "DpRelease",
    "GovernanceHead",
    "Grant",
    "Keyset",
    "LineageEdge",
    "LogEntry",
    "LogHead",
    "Meta",
    "PolicyDoc",
    "READ_ONLY",
    "ReportFact",
    "SCHEMA_REVISION",
    "User",
    "UserRole",
    "Version",
    "is_current",
    "make_engine",
    "migrating",
    "reader",
    "upgrade",
]
