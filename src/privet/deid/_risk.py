"""Re-identification risk of a stored dataset (a governed, logged read) or of a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from privet import tables
from privet.deid._assess import RiskReport, assess_risk
from privet.deid._columns import ASSESSMENT, file_columns, require_columns, stored_columns
from privet.deid._request import RiskRequest
from privet.engine import open_rows
from privet.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from privet.core import Core

# A population table: already read, or a CSV, Parquet or JSON-lines file.
Population = pl.DataFrame | str | Path | None


def _population(population: Population) -> pl.DataFrame | None:
    if population is None or isinstance(population, pl.DataFrame):
        return population
    return tables.read_table(Path(population)).frame


def dataset_risk(
    core: Core,
    ref: str,
    request: RiskRequest | None = None,
    *,
    actor: str,
    population: Population = None,
    engine: str | None = None,
    spark_master: str | None = None,
) -> RiskReport:
    """Risk of a stored dataset; quasi-identifiers and sensitive default to the catalog's.

    ``engine`` (``polars`` or ``spark``, default ``$PRIVET_ENGINE`` or ``polars``) counts the
    groups; the figures are computed from those counts the same way on every engine.
    """
    request = request or RiskRequest()
    columns = stored_columns(core, ref)
    qis = list(
        request.quasi_identifiers
        or [c.name for c in columns.columns if c.role == "quasi_identifier"]
    )
    if not qis:
        raise InvalidInput(
            "no column of this dataset is marked quasi_identifier; give quasi_identifiers",
            parameter="quasi_identifiers",
        )
    sensitive = (
        list(request.sensitive)
        if request.sensitive is not None
        else [c.name for c in columns.columns if c.role == "sensitive"]
    )
    require_columns(
        {c.name for c in columns.columns}, f"dataset {ref!r}",
        quasi_identifiers=qis, sensitive=sensitive,
    )  # fmt: skip
    table = _population(population)  # a bad population file fails before the logged read
    with open_rows(
        core,
        columns.ref,
        purpose=ASSESSMENT,
        actor=actor,
        engine=engine,
        spark_master=spark_master,
    ) as rows:
        return assess_risk(
            rows,
            qis,
            sensitive,
            threshold=request.threshold,
            population=table,
            population_size=request.population_size,
        )


def file_risk(
    path: str | Path,
    request: RiskRequest | None = None,
    *,
    population: Population = None,
) -> RiskReport:
    """Risk of a CSV, Parquet or JSON-lines file, read without a workspace.

    Quasi-identifiers default to the ones discovery finds; sensitive columns to none.
    """
    if not tables.names_file(str(path)):
        raise NotFound(
            f"{str(path)!r} is not a file, and there is no workspace to find a dataset in"
        )
    request = request or RiskRequest()
    table = _population(population)
    frame = tables.read_table(Path(path)).frame
    qis = list(request.quasi_identifiers or [])
    if not qis:
        qis = [c.name for c in file_columns(frame) if c.role == "quasi_identifier"]
    if not qis:
        raise InvalidInput(
            "no quasi-identifier is known for this file; give quasi_identifiers",
            parameter="quasi_identifiers",
        )
    return assess_risk(
        frame,
        qis,
        request.sensitive or [],
        threshold=request.threshold,
        population=table,
        population_size=request.population_size,
    )
