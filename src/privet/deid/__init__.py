"""De-identification: operators, hierarchies, the k-anonymity / ℓ-diversity / t-closeness
search, re-identification risk and utility.

```python
from privet import Workspace
from privet.deid import load_plan, protect, dataset_risk

with Workspace.open() as ws:
    print(dataset_risk(ws, "people", actor="dpo").k)
    report = protect(ws, "people", load_plan("plan.yaml"), name="people-safe", actor="dpo")
```
"""

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
from privet.deid._protect import (
    ProtectReport,
    dataset_columns,
    dataset_risk,
    detokenize,
    file_risk,
    protect,
    protect_file,
    run_plan,
)
from privet.deid._risk import RiskReport, assess_risk, measure
from privet.deid._search import METRICS, Lattice, SearchResult, Target
from privet.deid._utility import MlUtility, UtilityReport, information_loss, ml_utility
from privet.operators import REGISTRY, Context, Operator, make_operator, register_operator

__all__ = [
    "METRICS",
    "REGISTRY",
    "Column",
    "Context",
    "DateSpec",
    "GroupsSpec",
    "Hierarchy",
    "HierarchySpec",
    "IntervalsSpec",
    "Lattice",
    "MlUtility",
    "Operator",
    "Plan",
    "PrivacyModel",
    "ProtectReport",
    "RiskReport",
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
    "dataset_risk",
    "default_spec",
    "detokenize",
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
