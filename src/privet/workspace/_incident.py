"""``ws.incidents``: incident scoping — what one actor or API token read, exported and made."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from privet import policy

if TYPE_CHECKING:
    from privet.account import IncidentScope, Sealed
    from privet.core import Core
    from privet.policy import Containment, Identity


class Incidents:
    """Incident scoping from the audit log, the catalog and lineage.

    :meth:`scope` answers, for one actor (or only their API token) in a window: which
    datasets, versions, views and columns were read or exported, how many rows and distinct
    people, for which purposes, what releases and models came of it, where exports went,
    the alerts raised, and the GDPR Art. 33(3) fields prefilled. The people themselves are
    never in the scope's JSON: :meth:`seal` writes them encrypted to the DPO's public key.
    Each scoping is logged (``incident.scope``, counts only), and so are the internal reads
    it makes to count people.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def scope(
        self,
        *,
        actor: str | None = None,
        token: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> IncidentScope:
        """The scope of ``actor`` or of one API ``token`` id (exactly one) in
        [``since``, ``until``) (default: the whole log up to now)."""
        from privet import account

        return account.scope(self._core, actor=actor, token=token, since=since, until=until)

    def investigate(
        self,
        *,
        actor: str | None = None,
        token: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        identity: Identity | None = None,
        contain: bool = False,
        reason: str = "incident",
    ) -> IncidentScope:
        """:meth:`scope`, computed by a local actor ``by`` or an authenticated ``identity``
        (who must be one who may oversee access: an approver, an approver role or a dataset
        owner; else ``PolicyDenied``). With ``contain``, first revoke the actor's tokens and
        grants at once (``ws.access.contain``, ``reason`` a short word), and the scope's
        measures say so."""
        from privet import account

        by = policy.overseer(self._core, by, identity, to="scope an incident")
        containment: Containment | None = None
        if contain:
            who = account.scope_actor(self._core, actor=actor, token=token)
            containment = policy.contain(self._core, who, actor=by, reason=reason)
        return account.scope(
            self._core,
            actor=actor,
            token=token,
            since=since,
            until=until,
            by=by,
            containment=containment,
        )

    def seal(
        self, incident: IncidentScope, public_keyset: str | Path, out: str | Path, *, by: str
    ) -> Sealed:
        """Write ``incident``'s subject ids encrypted to the DPO's public Tink keyset (HPKE)
        at ``out``; logged with counts and the file's hash only."""
        from privet import account

        return account.seal(self._core, incident, Path(public_keyset), Path(out), by=by)

    @staticmethod
    def html(incident: IncidentScope, out: str | Path | None = None) -> str:
        """``incident`` as one self-contained HTML page (inline CSS, nothing fetched);
        written to the new file ``out`` when given."""
        from privet import account

        page = account.render_incident(incident)
        if out is not None:
            account.write_new(Path(out), page)
        return page

    def dpo_key(self, folder: str | Path) -> tuple[Path, Path]:
        """Make a DPO key pair in ``folder``: (private keyset, public keyset)."""
        from privet import account

        return account.make_dpo_key(Path(folder))

    @staticmethod
    def unseal(sealed: str | Path, private_keyset: str | Path) -> dict[str, Any]:
        """The DPO's side: open a sealed subject list with the private keyset."""
        from privet import account

        return account.unseal(Path(sealed), Path(private_keyset))
