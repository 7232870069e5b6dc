"""The peer for bench_synth.py: anonymeter's three evaluators on the same splits.

Runs in bench/.venv-anonymeter (anonymeter pins NumPy < 1.27); never imported by privet.
Usage: anonymeter_peer.py ORI.csv SYN.csv CONTROL.csv [N_ATTACKS]; prints one JSON document.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pandas as pd
from anonymeter.evaluators import (
    InferenceEvaluator,
    LinkabilityEvaluator,
    SinglingOutEvaluator,
)


def summary(evaluator, seconds: float) -> dict:
    results = evaluator.results()
    risk = results.risk()
    return {
        "attack_rate": results.attack_rate.value,
        "attack_error": results.attack_rate.error,
        "control_rate": results.control_rate.value if results.control_rate else None,
        "control_error": results.control_rate.error if results.control_rate else None,
        "risk": risk.value,
        "risk_ci": list(risk.ci),
        "seconds": seconds,
    }


def main() -> None:
    ori, syn, control = (pd.read_csv(p) for p in sys.argv[1:4])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    columns = list(ori.columns)
    out = {}
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    single = SinglingOutEvaluator(ori, syn, n_attacks=n, n_cols=3, control=control, seed=0)
    single.evaluate(mode="multivariate")
    out["singling_out"] = summary(single, time.perf_counter() - started)
    started = time.perf_counter()
    link = LinkabilityEvaluator(
        ori, syn, aux_cols=(columns[0::2], columns[1::2]), n_attacks=n, control=control
    )
    link.evaluate(n_jobs=1)
    out["linkability"] = summary(link, time.perf_counter() - started)
    out["inference"] = {}
    for secret in columns:
        started = time.perf_counter()
        aux = [c for c in columns if c != secret]
        inference = InferenceEvaluator(
            ori, syn, aux_cols=aux, secret=secret, n_attacks=n, control=control
        )
        inference.evaluate(n_jobs=1)
        out["inference"][secret] = summary(inference, time.perf_counter() - started)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
