"""De-identification: operators, hierarchies, the k-anonymity / ℓ-diversity / t-closeness
search, re-identification risk and utility.

```python
from privet import Workspace
from privet.deid import ProtectRequest, RiskRequest

with Workspace.open() as ws:
    print(ws.deid.risk("people", RiskRequest(), actor="dpo").k)
    request = ProtectRequest(k=5, quasi_identifiers=["age", "zip"])
    report = ws.deid.protect("people", request, output="people-safe", actor="dpo")
```

A file is protected without a workspace by :func:`protect_file` (and measured by
:func:`file_risk`), as long as its plan uses no keys.
"""

from privet.deid._assess import RiskBand, RiskReport, assess_risk, measure
from privet.deid._columns import dataset_columns
from privet.deid._detokenize import Detokenized, detokenize
from privet.deid._hierarchy import (
    DateSpec,
    GroupsSpec,
    Hierarchy,
    HierarchySpec,
    IntervalsSpec,
    SuppressSpec,
    TruncateSpec,
    build,
    default_spec,
)
from privet.deid._linkage import (
    PRECISIONS,
    AtPrecision,
    LinkageReport,
    Probabilistic,
    ReleasesReport,
    SharedColumn,
    dataset_linkage,
    link_tables,
    release_linkage,
)
from privet.deid._minimize import (
    ColumnCost,
    MinimizeReport,
    MinimizeRequest,
    SetFigures,
    minimize,
)
from privet.deid._minimize_outputs import dataset_minimize, draw, file_minimize, write_plan
from privet.deid._plan import (
    Column,
    Plan,
    PrivacyModel,
    check_plan,
    check_values,
    load_plan,
    parse_plan,
    shortcut_plan,
)
from privet.deid._protect import ProtectReport, protect, protect_file, run_plan
from privet.deid._proxies import (
    ProxyFinding,
    ProxyReport,
    ProxyRequest,
    TrainingCheck,
    dataset_proxies,
    file_proxies,
    proxies,
    training_check,
)
from privet.deid._request import Metric, ProtectRequest, RiskRequest
from privet.deid._risk import Population, dataset_risk, file_risk
from privet.deid._search import METRICS, Lattice, SearchResult, Target
from privet.deid._utility import MlUtility, UtilityReport, information_loss, ml_utility
from privet.operators import REGISTRY, Context, Operator, make_operator, register_operator

__all__ = [
    "PRECISIONS",
    "AtPrecision",
    "LinkageReport",
    "Probabilistic",
    "ReleasesReport",
    "SharedColumn",
    "dataset_linkage",
    "link_tables",
    "release_linkage",
    "ColumnCost",
    "MinimizeReport",
    "MinimizeRequest",
    "SetFigures",
    "dataset_minimize",
    "draw",
    "file_minimize",
    "minimize",
    "write_plan",
    "ProxyFinding",
    "ProxyReport",
    "ProxyRequest",
    "proxies",
    "TrainingCheck",
    "training_check",
    "METRICS",
    "REGISTRY",
    "Column",
    "Context",
    "DateSpec",
    "Detokenized",
    "GroupsSpec",
    "Hierarchy",
    "HierarchySpec",
    "IntervalsSpec",
    "Lattice",
    "Metric",
    "MlUtility",
    "Operator",
    "Plan",
    "Population",
    "PrivacyModel",
    "ProtectReport",
    "ProtectRequest",
    "RiskBand",
    "RiskReport",
    "RiskRequest",
    "SearchResult",
    "SuppressSpec",
    "Target",
    "TruncateSpec",
    "UtilityReport",
    "assess_risk",
    "build",
    "check_plan",
    "check_values",
    "dataset_columns",
    "dataset_proxies",
    "dataset_risk",
    "default_spec",
    "detokenize",
    "file_proxies",
    "file_risk",
    "information_loss",
    "load_plan",
    "make_operator",
    "measure",
    "ml_utility",
    "parse_plan",
    "protect",
    "protect_file",
    "register_operator",
    "run_plan",
    "shortcut_plan",
]
