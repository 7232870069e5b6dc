"""Discovery: personal data, quasi-identifiers and data categories in tables and text."""

from privet.discover._document import scan_document, scan_text_file
from privet.discover._mask import mask, masked_examples
from privet.discover._model import (
    ColumnFinding,
    Entity,
    EntityShare,
    Evidence,
    QuasiIdentifierSet,
    ScanReport,
    TextEntity,
    TextScan,
)
from privet.discover._recognizers import (
    PatternRecognizer,
    Recognizer,
    RecognizerRegistry,
    default_registry,
    load_recognizers,
    register_recognizer,
)
from privet.discover._scan import scan_file, scan_frame
from privet.discover._text import scan_text, scan_texts

__all__ = [
    "ColumnFinding",
    "Entity",
    "EntityShare",
    "Evidence",
    "QuasiIdentifierSet",
    "ScanReport",
    "TextEntity",
    "TextScan",
    "PatternRecognizer",
    "Recognizer",
    "RecognizerRegistry",
    "default_registry",
    "load_recognizers",
    "mask",
    "masked_examples",
    "register_recognizer",
    "scan_document",
    "scan_file",
    "scan_frame",
    "scan_text",
    "scan_text_file",
    "scan_texts",
]
