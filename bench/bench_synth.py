"""DP synthetic data benchmarks, each against its peer in the same run.

1. ``privet synth`` (ws.dp.synthesize: governed read, planning, ledger, derived dataset)
   against OpenDP's ``make_contingency_table`` called directly on the same Polars frame,
   the same public keys and the same algorithm: wall time and quality (mean and worst
   2-way marginal TVD against the real rows, computed here by a plain Polars count).
   MST at ε ∈ {0.3, 1, 3}; AIM at ε = 1 (AIM takes many minutes on Adult on 2 shared cores).
   The independent-marginals baseline is reported beside them.
2. Privacy-risk figures of ``privet synth evaluate`` (singling out, linkability, attribute
   inference) against anonymeter's on the same real / synthetic / control splits; anonymeter
   runs in its own venv (bench/.venv-anonymeter; it pins NumPy < 1.27) as a subprocess.

Data: Adult's 8 categorical columns; the synthesizer reads adult.data (32,561 rows), and
adult.test (16,281 rows) is the holdout / control that the synthesizer never saw.

    .venv/bin/python bench/bench_synth.py              # everything (AIM included: long)
    .venv/bin/python bench/bench_synth.py --part aim   # the AIM run only
    .venv/bin/python bench/bench_synth.py --part mst --part risk
    .venv/bin/python bench/bench_synth.py --quick      # smoke run (small data, MST only)
    .venv/bin/python bench/bench_synth.py --part tables --part evaluate  # cheap inputs
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "synth"
sys.path.insert(0, str(BENCH.parent / "src"))

import polars as pl  # noqa: E402

from privet import Workspace  # noqa: E402
from privet.datasets import adult  # noqa: E402
from privet.dp import SynthRequest  # noqa: E402

N_ATTACKS = 1000
STAGES: dict[str, dict[str, float]] = {}
COLUMNS = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "income",
]


def tvd_2way(real: pl.DataFrame, synth: pl.DataFrame) -> tuple[float, float]:
    """Mean and worst TVD over all column pairs (nulls count as a category)."""
    values = []
    for a, b in itertools.combinations(real.columns, 2):
        p = real.group_by(a, b).len().with_columns(pl.col("len") / real.height)
        q = synth.group_by(a, b).len().with_columns(pl.col("len") / synth.height)
        joined = p.join(q, on=[a, b], how="full", coalesce=True, nulls_equal=True)
        diff = (joined["len"].fill_null(0) - joined["len_right"].fill_null(0)).abs().sum()
        values.append(diff / 2)
    return sum(values) / len(values), max(values)


def public_keys(frame: pl.DataFrame) -> dict[str, list[str]]:
    # Adult's categories are listed in its public codebook (adult.names): public domains.
    return {c: sorted(frame[c].drop_nulls().unique().to_list()) for c in frame.columns}


def workspace(folder: Path, real: pl.DataFrame) -> Workspace:
    ws = Workspace.init(folder, actor="owner")
    path = folder / "real.csv"
    real.write_csv(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws.ingest(path, name="adult", owner="owner", purposes=["research"], actor="owner")
    ws.dp.set_budget("adult", actor="owner", epsilon=100, delta=1e-7)
    ws.dp.declare("adult", actor="owner", keys=public_keys(real))
    return ws


def run_privet(
    ws: Workspace, method: str, epsilon: float, name: str, **options: Any
) -> tuple[pl.DataFrame, float]:
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws.dp.synthesize(
            "adult",
            SynthRequest(
                name=name,
                method=method,
                epsilon=epsilon if method != "independent" else None,
                columns=COLUMNS,
                **options,
            ),
            actor="owner",
            progress=lambda stage: marks.append((stage, time.perf_counter())),
        )
    seconds = time.perf_counter() - started
    # Where the time went, stage by stage (the fit is OpenDP's own work).
    ends = [t for _, t in marks[1:]] + [started + seconds]
    STAGES[name] = {s: round(e - t, 3) for (s, t), e in zip(marks, ends, strict=True)}
    return ws.read(name, purpose="research", actor="owner"), seconds


def run_direct(
    real: pl.DataFrame, method: str, epsilon: float, rows: int, **options: Any
) -> tuple[pl.DataFrame, float]:
    """OpenDP alone: the contingency table with the same keys, then sample."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    started = time.perf_counter()
    lazy = real.lazy()
    domain = dp.domain_of(lazy, infer=True)
    stable = dp.t.make_stable_lazyframe(
        domain,
        dp.symmetric_distance(),
        lazyframe=pl.LazyFrame(schema=real.schema),
        MO="FrameDistance<SymmetricDistance>",
    )
    algorithm = dp.mbi.AIM(**options) if method == "aim" else dp.mbi.MST()
    measurement, _, _ = dp.mbi.make_contingency_table(
        stable.output_domain,
        stable.output_metric,
        dp.max_divergence(),
        stable.map(1),
        epsilon,
        keys=public_keys(real),
        algorithm=algorithm,
    )
    table = (stable >> measurement)(lazy)
    synth = table.synthesize(rows=rows, method="sample")
    return synth, time.perf_counter() - started


def part_quality(real: pl.DataFrame, methods: list[tuple[str, float]], tag: str) -> dict:
    results: dict[str, Any] = {"rows": real.height, "columns": real.columns, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PRIVET_KEY_DIR", str(Path(tmp) / "keys"))
        ws = workspace(Path(tmp) / "ws", real)
        base, base_s = run_privet(ws, "independent", 0.0, "independent")
        mean, worst = tvd_2way(real, base)
        results["independent"] = {"seconds": base_s, "tvd2_mean": mean, "tvd2_max": worst}
        print(f"[{tag}] independent: {base_s:.1f}s tvd2 {mean:.4f}/{worst:.4f}", flush=True)
        base.write_parquet(OUT / f"{tag}-independent.parquet")
        # Warm-up: JAX compiles Private-PGM's kernels on first use; neither side pays for it.
        run_direct(real.head(500), "mst", 1.0, 500)
        run_privet(ws, "mst", 1.0, "warm-up", rows=500)
        for method, epsilon in methods:
            direct, direct_s = run_direct(real, method, epsilon, real.height)
            ours, ours_s = run_privet(
                ws, method, epsilon, f"{method}-{epsilon:g}", rows=real.height
            )
            run = {
                "method": method,
                "epsilon": epsilon,
                "privet_seconds": ours_s,
                "opendp_seconds": direct_s,
                "overhead": ours_s / direct_s - 1,
                "privet_tvd2": tvd_2way(real, ours),
                "opendp_tvd2": tvd_2way(real, direct),
                "privet_stages": STAGES.get(f"{method}-{epsilon:g}", {}),
            }
            results["runs"].append(run)
            ours.write_parquet(OUT / f"{tag}-{method}-{epsilon:g}.parquet")
            print(f"[{tag}] {json.dumps(run)}", flush=True)
    return results


def part_tables(real: pl.DataFrame) -> None:
    """The cheapest inputs of ``--part evaluate``: privet's independent baseline and MST at
    ε = 1 (no OpenDP-direct run, no other ε), written where ``--part mst`` writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PRIVET_KEY_DIR", str(Path(tmp) / "keys"))
        ws = workspace(Path(tmp) / "ws", real)
        for method, name in (("independent", "independent"), ("mst", "mst-1")):
            frame, seconds = run_privet(
                ws, method, 1.0, name, **({"rows": real.height} if method == "mst" else {})
            )
            frame.write_parquet(OUT / f"mst-{name}.parquet")
            print(f"[tables] {name}: {seconds:.1f}s tvd2 {tvd_2way(real, frame)}", flush=True)


def part_risk(real: pl.DataFrame, control: pl.DataFrame, synth_path: Path) -> dict:
    """privet's attacks and anonymeter's on the same splits."""
    from privet.attacks import synthetic_risk

    synth = pl.read_parquet(synth_path)
    started = time.perf_counter()
    ours = synthetic_risk(real, synth, control, seed=0, n_attacks=N_ATTACKS)
    ours_s = time.perf_counter() - started
    peer_python = BENCH / ".venv-anonymeter" / "bin" / "python"
    peer: dict[str, Any] = {"error": "bench/.venv-anonymeter is missing"}
    if peer_python.exists():
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for key, frame in (("ori", real), ("syn", synth), ("control", control)):
                paths[key] = Path(tmp) / f"{key}.csv"
                frame.write_csv(paths[key])
            started = time.perf_counter()
            done = subprocess.run(
                [
                    str(peer_python),
                    str(BENCH / "anonymeter_peer.py"),
                    *map(str, paths.values()),
                    str(N_ATTACKS),
                ],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            peer_s = time.perf_counter() - started
            if done.returncode == 0:
                peer = json.loads(done.stdout)
                peer["seconds"] = peer_s
            else:
                peer = {"error": done.stderr[-2000:]}
    return {"privet": ours.model_dump(), "privet_seconds": ours_s, "anonymeter": peer}


def part_evaluate(real: pl.DataFrame, control: pl.DataFrame) -> dict:
    """`privet synth evaluate` (the library call) on every synthetic table written above."""
    from privet.attacks import evaluate_synthetic as evaluate

    results = {}
    for stem in ("aim-aim-1", "mst-mst-1", "mst-independent"):
        path = OUT / f"{stem}.parquet"
        if not path.exists():
            continue
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = evaluate(real, pl.read_parquet(path), control, n_attacks=N_ATTACKS, seed=0)
        seconds = time.perf_counter() - started
        results[path.stem] = {
            **result.model_dump(),
            "seconds": seconds,
            "load_average_1min": [load, os.getloadavg()[0]],  # before, after
        }
        f, u, p = result.fidelity, result.utility, result.privacy
        assert u is not None and p is not None
        print(
            f"[evaluate] {path.stem}: {seconds:.1f}s (load {load:.1f}) tvd1 "
            f"{f.one_way.mean_tvd:.4f} tvd2 {f.two_way.mean_tvd:.4f}/{f.two_way.max_tvd:.4f} "
            f"tvd3 {f.three_way.mean_tvd if f.three_way else 0:.4f} "
            f"tstr {u.accuracy_synthetic:.4f}/{u.accuracy_real:.4f}",
            flush=True,
        )
        for r in (p.singling_out, p.linkability, p.inference_worst):
            low, high = r.risk_interval
            print(
                f"[evaluate] {path.stem}: {r.attack} risk {r.risk:.3f} [{low:.3f}, {high:.3f}] "
                f"width {high - low:.3f}",
                flush=True,
            )
    return results


def agreement(result: dict) -> list[dict]:
    """privet's risk and interval beside anonymeter's, attack by attack; do they overlap?"""
    ours, peer = result["privet"], result["anonymeter"]
    if "error" in peer:
        return []
    rows = [
        ("singling out", ours["singling_out"], peer["singling_out"]),
        ("linkability", ours["linkability"], peer["linkability"]),
    ]
    for attack in ours["inference"]:
        secret = attack["detail"]["secret"]
        rows.append((f"inference of {secret}", attack, peer["inference"][secret]))
    out = []
    for name, a, b in rows:
        low, high = a["risk_interval"]
        peer_low, peer_high = b["risk_ci"]
        out.append(
            {
                "attack": name,
                "privet_risk": a["risk"],
                "privet_interval": [low, high],
                "privet_rates": [a["success_rate"], a["control_rate"]],
                "anonymeter_risk": b["risk"],
                "anonymeter_interval": [peer_low, peer_high],
                "anonymeter_rates": [b["attack_rate"], b["control_rate"]],
                "intervals_overlap": low <= peer_high and peer_low <= high,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", action="append", choices=["tables", "aim", "mst", "risk", "evaluate"]
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    global OUT
    if args.quick:
        OUT = OUT / "quick"  # a smoke run never overwrites the full run's tables
    parts = args.part or ["mst", "aim", "risk", "evaluate"]
    OUT.mkdir(parents=True, exist_ok=True)
    real = adult("train").select(COLUMNS)
    control = adult("test").select(COLUMNS)
    if args.quick:
        real, control, parts = real.head(3000), control.head(1500), ["mst", "risk", "evaluate"]
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count()}
    report: dict[str, Any] = {"meta": meta}
    if "tables" in parts:
        part_tables(real)
    if "mst" in parts:
        epsilons = [1.0] if args.quick else [0.3, 1.0, 3.0]
        report["mst"] = part_quality(real, [("mst", e) for e in epsilons], "mst")
        (OUT / "mst.json").write_text(json.dumps(report["mst"], indent=2))
    if "aim" in parts:
        report["aim"] = part_quality(real, [("aim", 1.0)], "aim")
        (OUT / "aim.json").write_text(json.dumps(report["aim"], indent=2))
    if "risk" in parts:
        risk = {}
        files = {"mst-1": "mst-mst-1", "independent": "mst-independent", "aim-1": "aim-aim-1"}
        for label, stem in files.items():
            path = OUT / f"{stem}.parquet"
            if path.exists():
                risk[label] = part_risk(real, control, path)
                risk[label]["agreement"] = agreement(risk[label])
                print(f"[risk] {label}: {json.dumps(risk[label]['agreement'])}", flush=True)
                (OUT / "risk.json").write_text(json.dumps(risk, indent=2))
        report["risk"] = risk
        (OUT / "risk.json").write_text(json.dumps(risk, indent=2))
    if "evaluate" in parts:
        report["evaluate"] = part_evaluate(real, control)
        (OUT / "evaluate.json").write_text(json.dumps(report["evaluate"], indent=2))
    name = f"report-{'quick-' if args.quick else ''}{'-'.join(parts)}.json"
    (OUT / name).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
