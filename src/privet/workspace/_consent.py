"""``ws.consent``: each subject's consent per purpose, which the broker honours on every read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from privet import policy

if TYPE_CHECKING:
    from privet.core import Core
    from privet.policy import ConsentChange, ConsentImport, Identity, PurposeConsent


class Consent:
    """Consent records: per subject and purpose, the latest decision (granted or withdrawn).

    A read for purpose P of a dataset whose legal basis is ``consent`` leaves out the rows of
    everyone who withdrew for P, in every view, stream, export, DP query, training and
    synthesis, and its log entry counts them (``consent_excluded``). Subjects are named by
    their id as the text it is stored as (``42``, ``P-0007``); privet keeps only its keyed
    link, never the id, and logs neither.

    Who may record consent: anyone in a workspace that is not governed yet; then an approver
    (named, or by role) or the owner of a dataset that rests on consent. Others are refused
    with ``PolicyDenied``, and the refusal is logged. Name who acts as a local ``actor`` or an
    authenticated ``identity``.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def _who(self, actor: str | None, identity: Identity | None) -> Identity:
        return policy.acting(self._core, actor, identity)

    def import_file(
        self, path: str | Path, *, actor: str | None = None, identity: Identity | None = None
    ) -> ConsentImport:
        """Store the records of the CSV at ``path``: a header naming ``subject_id``,
        ``purpose``, ``status`` (``granted`` or ``withdrawn``) and optionally ``recorded_at``
        (ISO 8601; default now). All or nothing: the first bad line is refused with its line
        number and column (never its value), and nothing is stored. Per subject and purpose
        the latest decision wins, also against what is already recorded."""
        return policy.import_consent(self._core, Path(path), identity=self._who(actor, identity))

    def withdraw(
        self,
        subject: str,
        purpose: str,
        *,
        actor: str | None = None,
        identity: Identity | None = None,
    ) -> ConsentChange:
        """Record, now, that ``subject`` withdrew consent for ``purpose``: from the next read
        on, their rows are left out of every read for it."""
        who = self._who(actor, identity)
        return policy.record_consent(self._core, subject, purpose, "withdrawn", identity=who)

    def grant(
        self,
        subject: str,
        purpose: str,
        *,
        actor: str | None = None,
        identity: Identity | None = None,
    ) -> ConsentChange:
        """Record, now, that ``subject`` (again) consents to ``purpose``."""
        who = self._who(actor, identity)
        return policy.record_consent(self._core, subject, purpose, "granted", identity=who)

    def summary(self) -> list[PurposeConsent]:
        """Per purpose, how many subjects granted and how many withdrew (counts only)."""
        return policy.consent_summary(self._core)
