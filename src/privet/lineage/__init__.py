"""Provenance: edges from sources (files, versions) to what was derived from them."""

from privet.lineage._graph import (
    Edge,
    all_edges,
    derived_versions,
    edges_of,
    file_ref,
    record,
    version_ref,
)

__all__ = ["Edge", "all_edges", "derived_versions", "edges_of", "file_ref", "record", "version_ref"]
