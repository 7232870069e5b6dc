"""The ``privet`` command line: a thin layer over the library."""

from privet.cli import (  # noqa: F401 - registers the commands
    _access,  # noqa: F401 - user, role, token, policy, grant, alerts
    _audit,  # noqa: F401 - audit
    _catalog,
    _consent,  # noqa: F401 - consent import, withdraw, grant, show
    _demo,
    _dp,  # noqa: F401 - query, budget, train, models
    _drill,  # noqa: F401 - drill
    _federate,  # noqa: F401 - federate
    _forget,  # noqa: F401 - erase, erasure, retention
    _incident,  # noqa: F401 - incident (scope, contain, seal), incident unseal, dpo-key
    _joint,  # noqa: F401 - joint count, sum, histogram
    _kpis,  # noqa: F401 - kpis
    _lineage,  # noqa: F401 - lineage export
    _link,  # noqa: F401 - link --psi
    _log,
    _minimize,  # noqa: F401 - minimize
    _protect,  # noqa: F401 - protect, risk, detokenize
    _report,  # noqa: F401 - report
    _scan,  # noqa: F401 - scan
    _serve,  # noqa: F401 - serve
    _synth,  # noqa: F401 - synth, synth evaluate
)
from privet.cli._app import cli, native_panics_silenced
from privet.cli._remote import install as _install_remote

_install_remote(cli)  # --server URL --token T on datasets, export, query, grant, alerts, kpis


def main() -> None:
    with native_panics_silenced():
        cli(prog_name="privet")


__all__ = ["cli", "main"]
