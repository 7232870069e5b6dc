"""Open a governed read on the chosen engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet import policy
from privet.engine._choose import choose_engine
from privet.engine._rows import FrameRows, Rows

if TYPE_CHECKING:
    from privet.core import Core


def open_rows(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str,
    channel: str,
    engine: str | None = None,
    spark_master: str | None = None,
) -> Rows:
    """Version ``ref`` read through the broker for ``purpose`` (one audit entry), as rows of
    ``engine`` (see :func:`choose_engine`)."""
    if choose_engine(engine) == "spark":
        from privet.engine._spark import spark_rows

        return spark_rows(
            core, ref, purpose=purpose, actor=actor, channel=channel, master=spark_master
        )
    release = policy.read(core, ref, purpose=purpose, actor=actor, channel=channel)
    return FrameRows(release.frame)
