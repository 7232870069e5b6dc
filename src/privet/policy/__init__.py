"""Access governance: identities, policies, grants, the broker (the one read path), alerts.

Callers reach these through the workspace (``ws.access``, ``ws.read``):

```python
from privet.policy import GrantRequest

alice = ws.access.authenticate(bearer)                 # API token or OIDC JWT → Identity
ask = GrantRequest(dataset="people", view="masked", purpose="analytics",
                   duration_seconds=7 * 86400, reason="churn model features")
g = ws.access.request_grant(ask, identity=alice)
ws.access.approve_grant(g.id, actor="owner")           # the owner or an approver, never alice
frame = ws.read("people", actor="alice", view="masked", purpose="analytics")
```
"""

from privet.policy import _governance  # noqa: F401 - registers users, tokens, grants, policy
from privet.policy._alerts import AlertInfo, list_alerts, seed_baseline
from privet.policy._arrow import BatchStream
from privet.policy._broker import (
    DERIVE_CHANNEL,
    INCIDENT_CHANNEL,
    FileRelease,
    JobRelease,
    Release,
    export,
    larger_than_memory,
    read,
    release_to_file,
    release_to_job,
    still_allowed,
    stream,
    stream_batches,
)
from privet.policy._consent import (
    CONSENT_BASIS,
    ConsentChange,
    ConsentImport,
    ConsentLine,
    ConsentStatus,
    PurposeConsent,
    consent_summary,
    import_consent,
    parse_consent_csv,
    record_consent,
)
from privet.policy._contain import Containment, contain
from privet.policy._decide import Decision, decide
from privet.policy._grants import (
    GrantInfo,
    GrantStatus,
    approve_grant,
    check_may_erase,
    check_may_oversee,
    deny_grant,
    get_grant,
    grants_visible_to,
    list_grants,
    may_oversee,
    overseer,
    request_grant,
    revoke_grant,
)
from privet.policy._identity import (
    Identity,
    IssuedToken,
    TokenInfo,
    UserInfo,
    acting,
    add_user,
    authenticate,
    check_user_name,
    issue_token,
    list_tokens,
    list_users,
    local_identity,
    revoke_token,
    set_disabled,
    set_roles,
)
from privet.policy._request import MAX_GRANT_SECONDS, GrantRequest
from privet.policy._rules import (
    ALERT_KINDS,
    VIEWS,
    Alerts,
    Policy,
    Rule,
    View,
    current_alerts,
    parse_policy,
    proxy_limit,
    set_policy,
    show_policy,
)

__all__ = [
    "BatchStream",
    "CONSENT_BASIS",
    "ConsentChange",
    "ConsentImport",
    "ConsentLine",
    "ConsentStatus",
    "PurposeConsent",
    "consent_summary",
    "import_consent",
    "parse_consent_csv",
    "record_consent",
    "DERIVE_CHANNEL",
    "INCIDENT_CHANNEL",
    "MAX_GRANT_SECONDS",
    "VIEWS",
    "ALERT_KINDS",
    "Alerts",
    "current_alerts",
    "proxy_limit",
    "AlertInfo",
    "Containment",
    "contain",
    "Decision",
    "GrantInfo",
    "GrantRequest",
    "GrantStatus",
    "Identity",
    "IssuedToken",
    "Policy",
    "JobRelease",
    "FileRelease",
    "Release",
    "Rule",
    "TokenInfo",
    "UserInfo",
    "View",
    "add_user",
    "approve_grant",
    "check_may_erase",
    "check_may_oversee",
    "authenticate",
    "check_user_name",
    "decide",
    "deny_grant",
    "export",
    "get_grant",
    "grants_visible_to",
    "issue_token",
    "list_alerts",
    "list_grants",
    "list_tokens",
    "list_users",
    "acting",
    "local_identity",
    "may_oversee",
    "overseer",
    "parse_policy",
    "larger_than_memory",
    "read",
    "release_to_job",
    "release_to_file",
    "request_grant",
    "revoke_grant",
    "revoke_token",
    "seed_baseline",
    "set_disabled",
    "set_policy",
    "set_roles",
    "show_policy",
    "still_allowed",
    "stream",
    "stream_batches",
]
