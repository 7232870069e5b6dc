"""A governed read on the chosen engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from privet import policy
from privet.engine._choose import choose_engine
from privet.engine._rows import FrameRows, Rows
from privet.engine._streaming import streaming_rows, use_streaming
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core
    from privet.policy import Identity


@contextmanager
def open_rows(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: Identity | None = None,
    channel: str = "library",
    engine: str | None = None,
    spark_master: str | None = None,
) -> Iterator[Rows]:
    """The rows of version ``ref`` read through the broker (decided and logged once) as
    ``identity`` or local ``actor``, on ``engine`` (see :func:`choose_engine`); whatever the
    read left behind is gone on exit."""
    chosen = choose_engine(engine)
    if chosen == "spark":
        from privet.engine._spark import spark_rows

        yield spark_rows(
            core,
            ref,
            purpose=purpose,
            actor=actor,
            identity=identity,
            channel=channel,
            master=spark_master,
        )
        return
    if spark_master is not None:
        raise InvalidInput("--spark-master needs --engine spark", parameter="spark_master")
    if use_streaming(core, ref):
        # Larger than memory: a private plaintext file, scanned lazily, deleted on exit.
        with streaming_rows(
            core, ref, purpose=purpose, actor=actor, identity=identity, channel=channel
        ) as rows:
            yield rows
        return
    release = policy.read(
        core, ref, purpose=purpose, actor=actor, identity=identity, channel=channel
    )
    yield FrameRows(release.frame)
