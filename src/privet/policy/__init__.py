"""Access governance: identities, policies, grants, the broker (the one read path), alerts.

```python
from privet.policy import add_user, authenticate, issue_token, request_grant, approve_grant

alice = authenticate(ws, bearer)                       # API token or OIDC JWT → Identity
g = request_grant(ws, alice, dataset="people", view="masked", purpose="analytics",
                  duration=timedelta(days=7), reason="churn model features")
approve_grant(ws, g.id, identity=owner)                # the owner or an approver, never alice
frame = read(ws, "people", identity=alice, view="masked", purpose="analytics").frame
```
"""

from privet.policy import _governance  # noqa: F401 - registers users, tokens, grants, policy
from privet.policy._alerts import AlertInfo, list_alerts
from privet.policy._broker import DERIVE_CHANNEL, Release, export, read, still_allowed, stream
from privet.policy._decide import Decision, decide
from privet.policy._grants import (
    GrantInfo,
    approve_grant,
    deny_grant,
    get_grant,
    grants_visible_to,
    list_grants,
    may_oversee,
    request_grant,
    revoke_grant,
)
from privet.policy._identity import (
    Identity,
    IssuedToken,
    TokenInfo,
    UserInfo,
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
from privet.policy._rules import VIEWS, Policy, Rule, parse_policy, set_policy, show_policy

__all__ = [
    "DERIVE_CHANNEL",
    "VIEWS",
    "AlertInfo",
    "Decision",
    "GrantInfo",
    "Identity",
    "IssuedToken",
    "Policy",
    "Release",
    "Rule",
    "TokenInfo",
    "UserInfo",
    "add_user",
    "approve_grant",
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
    "local_identity",
    "may_oversee",
    "parse_policy",
    "read",
    "request_grant",
    "revoke_grant",
    "revoke_token",
    "set_disabled",
    "set_policy",
    "set_roles",
    "show_policy",
    "still_allowed",
    "stream",
]
