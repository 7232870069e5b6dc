"""The workspace: where every dataset, key, log entry and lineage edge of a project lives."""

from privet.core import WorkspaceConfig, locate
from privet.workspace._workspace import Workspace

__all__ = ["Workspace", "WorkspaceConfig", "locate"]
