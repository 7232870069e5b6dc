"""An import-linter contract that import-linter does not ship: private modules stay private.

A module whose name (or a parent's) starts with one underscore belongs to the package that
holds it; any other package must go through that package's public names (its ``__init__``
or its public modules). import-linter's ``forbidden`` contract cannot say this: its
wildcards replace whole module names, not an underscore prefix.
"""

from __future__ import annotations

from importlinter import Contract, ContractCheck, output


def _owner(module: str) -> str | None:
    """The package a private module belongs to, or None for a public module."""
    parts = module.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


class PrivateModulesContract(Contract):
    """Every import of a private module comes from inside the package that owns it."""

    type_name = "private_modules"

    def check(self, graph, verbose: bool) -> ContractCheck:  # noqa: ANN001 - grimp's graph
        broken = []
        for importer in sorted(graph.modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                owner = _owner(imported)
                if owner is None or importer == owner or importer.startswith(owner + "."):
                    continue
                lines = graph.get_import_details(importer=importer, imported=imported)
                broken.append((importer, imported, [d["line_number"] for d in lines]))
        return ContractCheck(kept=not broken, warnings=None, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported, lines in check.metadata["broken"]:
            where = ", ".join(f"l.{n}" for n in lines)
            output.print_error(f"{importer} imports the private module {imported} ({where})")
            output.new_line()
