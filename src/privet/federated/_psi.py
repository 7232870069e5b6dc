"""Private set intersection between two workspaces, with openmined-psi (ECDH over P-256).

One round trip. The client (``link``) reads its column through its own broker, splits the
distinct values into hash buckets under a fresh random seed, pads every bucket to the same size
with random dummies, and sends one openmined-psi request per bucket. The peer (``answer``)
reads its own column through its own broker, buckets it with the same seed, and returns
openmined's setup message and response for each bucket. The client learns the intersection
(or, with ``reveal=False``, only its size); the peer learns how many (padded) values the
client sent, and nothing about the intersection, not even its size.

Buckets are independent openmined-psi runs (one fresh key each), run in parallel processes
on both sides: the protocol per bucket is openmined's, and the union of the per-bucket
intersections is exactly the intersection, since a value lands in the same bucket on both
sides. The padding hides the per-bucket counts (each side sees ``buckets × largest bucket``
values from the other, never how the values spread over the buckets). The data structure is
openmined's ``Raw`` (the peer's encrypted values, not a Golomb-compressed set or a Bloom
filter): it has no false positives, so the intersection is exact.

Values are compared as text (``str`` of the cell: ``42`` matches ``"42"``); nulls are left out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from privet import auditlog, catalog, policy
from privet.catalog import INTERNAL_PURPOSES, SUBJECT_LINK
from privet.errors import InvalidInput, PolicyDenied
from privet.federated._extra import require_psi

if TYPE_CHECKING:
    from privet.core import Core

Progress = Callable[[str], None]
Peer = Callable[[bytes], bytes]
"""How the client reaches the peer: the request message in, the peer's answer out."""

MAGIC = b"privet-psi/1\n"
MAX_BUCKETS = 256
MAX_HEADER = 4096
SEED_BYTES = 4
PSI_CHANNEL = "psi"
# openmined's false-positive rate applies to the compressed data structures only; Raw is exact.
_FPR = 1e-9
_RUN = re.compile(r"^[0-9a-f]{32}\Z")
_SEED = re.compile(rf"^[0-9a-f]{{{2 * SEED_BYTES}}}\Z")
# Below this many values per side one process does it all: forking costs more than it saves.
PARALLEL_FROM = 4096


@dataclass(frozen=True)
class PsiResult:
    """What a private set intersection found, as counts (never a value)."""

    dataset: str  # the NAME@VERSION read on this side
    column: str
    run: str  # the run id, in both workspaces' logs
    ids: int  # distinct non-null values of this side
    missing: int  # rows whose value was null (left out)
    peer_ids: int  # the peer's set size as the protocol shows it (buckets × largest bucket)
    intersection: int
    revealed: bool  # False: only the size was learnt
    output: str | None  # the derived dataset NAME@VERSION holding the matching rows
    buckets: int
    bytes_sent: int
    bytes_received: int
    seconds: float
    log_index: int


# -- the wire format -------------------------------------------------------------------------


def pack(header: dict[str, Any], frames: Sequence[bytes]) -> bytes:
    """``MAGIC``, a JSON header and length-prefixed frames, all lengths big-endian u32."""
    head = json.dumps(header, sort_keys=True).encode()
    parts = [MAGIC, struct.pack(">I", len(head)), head]
    for frame in frames:
        parts += [struct.pack(">I", len(frame)), frame]
    return b"".join(parts)


def unpack(
    data: bytes, *, frames: Callable[[dict[str, Any]], int]
) -> tuple[dict[str, Any], list[bytes]]:
    """The header and frames of a message; ``frames(header)`` says how many there must be."""
    bad = InvalidInput("the PSI message is malformed (not a privet-psi/1 message)")
    if not data.startswith(MAGIC):
        raise bad
    at = len(MAGIC)
    view = memoryview(data)
    try:
        (size,) = struct.unpack_from(">I", data, at)
        if size > MAX_HEADER:
            raise bad
        header = json.loads(bytes(view[at + 4 : at + 4 + size]))
        if not isinstance(header, dict):
            raise bad
        at += 4 + size
        count = frames(header)
        out = []
        for _ in range(count):
            (size,) = struct.unpack_from(">I", data, at)
            if at + 4 + size > len(data):
                raise bad
            out.append(bytes(view[at + 4 : at + 4 + size]))
            at += 4 + size
    except (struct.error, ValueError, RecursionError):
        raise bad from None
    if at != len(data):
        raise bad
    return header, out


# -- bucketing -------------------------------------------------------------------------------


def distinct_values(frame: pl.DataFrame, column: str, dataset: str) -> tuple[list[str], int]:
    """The distinct non-null values of ``column`` as text, and how many rows were null."""
    if column not in frame.columns or column == SUBJECT_LINK:
        raise InvalidInput(f"dataset {dataset!r} has no column {column!r}", parameter="column")
    series = frame.get_column(column)
    missing = series.null_count()
    text = series.drop_nulls().cast(pl.String).unique()
    return text.to_list(), missing


def bucket_of(value: str, seed: int, buckets: int) -> int:
    """The bucket of ``value``: CRC-32 under the run's ``seed``, mixed by a multiplication.

    The bucketing is no secret (both sides know the seed) and needs no cryptographic hash:
    equal values meet in the same bucket whatever the function, and the padding hides how
    many values each bucket holds. It needs to be the same on both sides (so no
    ``hash()``, which Python salts per process) and fast: a keyed BLAKE2b took 8 times as
    long, a second per million values on each side.
    """
    return ((zlib.crc32(value.encode("utf-8"), seed) * 0x9E3779B1) & 0xFFFFFFFF) % buckets


def split(values: Sequence[str], seed: int, buckets: int) -> tuple[list[list[str]], list[int]]:
    """``values`` in their buckets, each padded with random dummies to the largest size, and
    how many real values each holds (its first ones).

    Padding hides how the values spread over the buckets (the other side sees each bucket's
    size); a dummy is 128 random bits, so it matches nothing on the other side.
    """
    out: list[list[str]] = [[] for _ in range(buckets)]
    if buckets == 1:
        out[0] = list(values)
    else:
        for value in values:
            out[bucket_of(value, seed, buckets)].append(value)
    real = [len(items) for items in out]
    size = max(1, *real)  # never empty: openmined wants a value
    for items in out:
        items.extend(_dummy() for _ in range(size - len(items)))
    return out, real


def _dummy() -> str:
    return "\x00privet-psi-pad:" + secrets.token_hex(16)


def choose_buckets(count: int, workers: int) -> int:
    """Buckets for ``count`` values on ``workers`` processes: one below ``PARALLEL_FROM``,
    else four per process (a process that finishes early takes the next one)."""
    if count < PARALLEL_FROM or workers <= 1:
        return 1
    return min(MAX_BUCKETS, 4 * workers)


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


T = TypeVar("T")
R = TypeVar("R")


def parallel(func: Callable[[T], R], tasks: Sequence[T], workers: int) -> list[R]:
    """``[func(t) for t in tasks]`` on up to ``workers`` forked processes, in order.

    Forked, not spawned: a child starts in milliseconds with the parent's imports, and runs
    only openmined's C++ code on the values it was handed.
    """
    if workers <= 1 or len(tasks) <= 1:
        return [func(t) for t in tasks]
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=get_context("fork")
    ) as pool:
        return list(pool.map(func, tasks))


# -- the per-bucket steps (run in worker processes) ------------------------------------------


def _client_request(task: tuple[list[str], bool]) -> tuple[bytes, bytes]:
    from private_set_intersection.python import client

    items, reveal = task
    party = client.CreateWithNewKey(reveal)
    request = party.CreateRequest(items).SerializeToString()
    # The key goes back to this side's parent process only (a pipe), for the second step.
    return party.GetPrivateKeyBytes(), request


def _client_finish(task: tuple[bytes, bool, bytes, bytes]) -> list[int] | int:
    from private_set_intersection.python import Response, ServerSetup, client

    key, reveal, setup, response = task
    party = client.CreateFromKey(key, reveal)
    try:
        setup_msg, response_msg = ServerSetup.FromString(setup), Response.FromString(response)
        if reveal:
            return list(party.GetIntersection(setup_msg, response_msg))
        return int(party.GetIntersectionSize(setup_msg, response_msg))
    except Exception:  # noqa: BLE001 - protobuf and openmined errors alike: a bad answer
        return -1


def _server_answer(task: tuple[list[str], bool, bytes]) -> tuple[bytes, bytes] | None:
    from private_set_intersection.python import DataStructure, Request, server

    items, reveal, request = task
    party = server.CreateWithNewKey(reveal)
    try:
        parsed = Request.FromString(request)
        setup = party.CreateSetupMessage(
            _FPR, max(1, len(parsed.encrypted_elements)), items, DataStructure.RAW
        )
        return setup.SerializeToString(), party.ProcessRequest(parsed).SerializeToString()
    except Exception:  # noqa: BLE001 - a malformed request: refused by the caller
        return None


# -- the two sides ---------------------------------------------------------------------------


def _check_purpose(purpose: str) -> None:
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for linking")


def link(
    core: Core,
    ref: str,
    column: str,
    *,
    peer: Peer,
    peer_label: str,
    purpose: str,
    identity: policy.Identity,
    reveal: bool = True,
    name: str | None = None,
    buckets: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> PsiResult:
    """The client side: intersect ``column`` of ``ref`` with the peer's, through ``peer``.

    With ``reveal``, the matching rows of ``ref`` become a new version of derived dataset
    ``name`` (default ``<dataset>-psi``), encrypted and in lineage; the result itself holds
    counts only. ``peer_label`` (the peer's URL) is logged as its SHA-256.
    """
    require_psi()
    _check_purpose(purpose)
    step = progress or (lambda _stage: None)
    workers = workers or cpus()
    if buckets is not None and not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInput(f"buckets must be 1 to {MAX_BUCKETS}", parameter="buckets")
    target = name
    if reveal:
        source_name = catalog.parse_ref(ref)[0]
        target = catalog.check_name(name or f"{source_name}-psi")
    started = time.perf_counter()
    step("reading")
    release = policy.read(core, ref, purpose=purpose, identity=identity, channel=PSI_CHANNEL)
    values, missing = distinct_values(release.frame, column, release.version.ref)
    count = buckets or choose_buckets(len(values), workers)
    seed, run = secrets.randbits(8 * SEED_BYTES), secrets.token_hex(16)
    step(f"encrypting {len(values):,} values in {count} buckets")
    parts, real = split(values, seed, count)
    made = parallel(_client_request, [(items, reveal) for items in parts], workers)
    message = pack(
        {"run": run, "seed": f"{seed:0{2 * SEED_BYTES}x}", "buckets": count, "reveal": reveal},
        [request for _, request in made],
    )
    step("waiting for the peer")
    answer = peer(message)
    header, frames = unpack(answer, frames=lambda h: 2 * count)
    if header.get("run") != run:
        raise InvalidInput("the peer answered another PSI run")
    step("intersecting")
    found = parallel(
        _client_finish,
        [(secret, reveal, frames[2 * i], frames[2 * i + 1]) for i, (secret, _) in enumerate(made)],
        workers,
    )
    if any(f == -1 for f in found):
        raise InvalidInput("the peer's PSI answer is malformed")
    peer_ids = sum(_setup_size(frames[2 * i]) for i in range(count))
    matches: list[str] = []
    if reveal:
        for items, own, indices in zip(parts, real, found, strict=True):
            assert isinstance(indices, list)
            # Only real values: a dummy cannot match an honest peer's value.
            matches += [items[i] for i in set(indices) if 0 <= i < own]
        size = len(matches)
    else:
        size = sum(f for f in found if isinstance(f, int))
    output = None
    if reveal:
        assert target is not None
        step("storing the matching rows")
        output = _store(core, release, column, matches, target, identity.name, run, step)
    ms = round((time.perf_counter() - started) * 1000, 1)
    with core.session() as session:
        [index] = auditlog.append(
            session,
            [
                auditlog.events.psi_link(
                    ts=core.now(),
                    actor=identity.name,
                    dataset=release.version.dataset,
                    version=release.version.id,
                    column=column,
                    purpose=purpose,
                    run=run,
                    peer_sha256=hashlib.sha256(peer_label.encode()).hexdigest(),
                    revealed=reveal,
                    ids=len(values),
                    peer_ids=peer_ids,
                    intersection=size,
                    buckets=count,
                    bytes_sent=len(message),
                    bytes_received=len(answer),
                    read_entry=release.log_index,
                    output=output.id if output else None,
                    ms=ms,
                )
            ],
        )
        session.commit()
    return PsiResult(
        dataset=release.version.ref,
        column=column,
        run=run,
        ids=len(values),
        missing=missing,
        peer_ids=peer_ids,
        intersection=size,
        revealed=reveal,
        output=output.ref if output else None,
        buckets=count,
        bytes_sent=len(message),
        bytes_received=len(answer),
        seconds=round(time.perf_counter() - started, 3),
        log_index=index,
    )


def _setup_size(setup: bytes) -> int:
    from private_set_intersection.python import ServerSetup

    parsed = ServerSetup.FromString(setup)
    return len(parsed.raw.encrypted_elements) if parsed.HasField("raw") else 0


def _store(
    core: Core,
    release: policy.Release,
    column: str,
    matches: list[str],
    name: str,
    actor: str,
    run: str,
    step: Progress,
) -> catalog.VersionInfo:
    """The rows of the release whose value is in ``matches``, as a derived dataset."""
    frame = release.frame
    keep = frame.get_column(column).cast(pl.String).is_in(matches)
    rows = frame.filter(keep.fill_null(False))
    with core.reading() as session:
        source, _ = catalog.resolve(session, release.version.ref)
        subject = source.subject_id_column
    if SUBJECT_LINK not in rows.columns and subject and subject in rows.columns:
        # Erasure and DP on the derived rows find each person through this link.
        rows = rows.with_columns(catalog.subject_links(core, rows.get_column(subject)))
    return catalog.derive(
        core,
        release.version.ref,
        rows,
        name=name,
        kind="psi",
        actor=actor,
        facts={"column": column, "run": run, "matched_values": len(matches)},
        progress=step,
    )


def answer(
    core: Core,
    name: str,
    message: bytes,
    *,
    column: str,
    purpose: str,
    identity: policy.Identity,
    channel: str = PSI_CHANNEL,
    workers: int | None = None,
) -> bytes:
    """The peer side: openmined's setup message and response for each bucket of ``message``.

    The column is read through this workspace's broker (policy, grant and log entry for
    ``purpose``); one more log entry records the run with counts only.
    """
    require_psi()
    _check_purpose(purpose)
    started = time.perf_counter()
    header, requests = unpack(message, frames=_request_frames)
    run, seed, count = header["run"], int(header["seed"], 16), header["buckets"]
    reveal = header["reveal"]
    release = policy.read(core, name, purpose=purpose, identity=identity, channel=channel)
    values, _ = distinct_values(release.frame, column, release.version.ref)
    parts, _ = split(values, seed, count)
    answers = parallel(
        _server_answer,
        [(items, reveal, request) for items, request in zip(parts, requests, strict=True)],
        workers or cpus(),
    )
    frames: list[bytes] = []
    for pair in answers:
        if pair is None:
            raise InvalidInput("the PSI request is malformed (openmined-psi refused it)")
        frames += pair
    reply = pack({"run": run, "buckets": count}, frames)
    peer_ids = sum(_request_size(r) for r in requests)
    with core.session() as session:
        auditlog.append(
            session,
            [
                auditlog.events.psi_answer(
                    ts=core.now(),
                    actor=identity.name,
                    dataset=release.version.dataset,
                    version=release.version.id,
                    column=column,
                    purpose=purpose,
                    run=run,
                    revealed=reveal,
                    ids=len(values),
                    peer_ids=peer_ids,
                    buckets=count,
                    bytes_received=len(message),
                    bytes_sent=len(reply),
                    read_entry=release.log_index,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            ],
        )
        session.commit()
    return reply


def _request_frames(header: dict[str, Any]) -> int:
    """Check a request header; its number of frames (one per bucket)."""
    run, seed, count, reveal = (header.get(k) for k in ("run", "seed", "buckets", "reveal"))
    if not (
        isinstance(run, str)
        and _RUN.match(run)
        and isinstance(seed, str)
        and _SEED.match(seed)
        and isinstance(count, int)
        and not isinstance(count, bool)
        and 1 <= count <= MAX_BUCKETS
        and isinstance(reveal, bool)
    ):
        raise InvalidInput("the PSI request header is malformed")
    return count


def _request_size(request: bytes) -> int:
    from private_set_intersection.python import Request

    return len(Request.FromString(request).encrypted_elements)
