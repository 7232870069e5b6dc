"""The catalog: datasets, immutable versions, columns and their classification."""

from privet.catalog import _governance  # noqa: F401 - registers the dataset and version kinds
from privet.catalog._analysis import analysis_dtype, for_analysis
from privet.catalog._annotate import ColumnAnnotation, annotate
from privet.catalog._derive import derive
from privet.catalog._info import (
    INTERNAL_PURPOSES,
    RESERVED_PREFIX,
    SUBJECT_LINK,
    ColumnInfo,
    DatasetInfo,
    DatasetSummary,
    VersionInfo,
    check_name,
    check_purpose,
    dataset_info,
    find_dataset,
    is_reserved,
    parse_ref,
    resolve,
    version_info,
)
from privet.catalog._ingest import LEGAL_BASES, ingest, register_schema
from privet.catalog._links import LINK_DOMAIN, keyed_prf, subject_link, subject_links
from privet.catalog._store import ParquetFile
from privet.taxonomy import CATEGORIES, Level, Role

__all__ = [
    "ParquetFile",
    "INTERNAL_PURPOSES",
    "CATEGORIES",
    "RESERVED_PREFIX",
    "SUBJECT_LINK",
    "ColumnAnnotation",
    "LEGAL_BASES",
    "LINK_DOMAIN",
    "ColumnInfo",
    "DatasetInfo",
    "DatasetSummary",
    "Level",
    "Role",
    "VersionInfo",
    "analysis_dtype",
    "annotate",
    "check_name",
    "check_purpose",
    "dataset_info",
    "derive",
    "find_dataset",
    "for_analysis",
    "ingest",
    "register_schema",
    "is_reserved",
    "keyed_prf",
    "parse_ref",
    "resolve",
    "subject_link",
    "subject_links",
    "version_info",
]
