"""Data categories (keys of the fideslang taxonomy) with privet's default role and risk level.

The keys are those of fideslang 3.x (ethyca/fideslang, Apache-2.0). The role and level
attached to each are privet's own judgement: special categories of GDPR Art. 9/10, government
ids, credentials and payment data make a dataset ``restricted``; a direct identifier makes it
at least ``confidential``; any other personal data at least ``internal``.
"""

from __future__ import annotations

import difflib
from enum import StrEnum

from privet.errors import InvalidInput


class Role(StrEnum):
    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    OTHER = "other"


class Level(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


_D, _Q, _S, _O = Role.DIRECT_IDENTIFIER, Role.QUASI_IDENTIFIER, Role.SENSITIVE, Role.OTHER
_I, _C, _R = Level.INTERNAL, Level.CONFIDENTIAL, Level.RESTRICTED

CATEGORIES: dict[str, tuple[Role, Level]] = {
    "system": (_O, Level.PUBLIC),
    "system.authentication": (_O, _I),
    "system.operations": (_O, Level.PUBLIC),
    "user": (_O, _I),
    "user.account": (_O, _I),
    "user.account.username": (_D, _C),
    "user.authorization": (_O, _I),
    "user.authorization.credentials": (_D, _R),
    "user.authorization.password": (_S, _R),
    "user.authorization.biometrics": (_D, _R),
    "user.behavior": (_S, _I),
    "user.behavior.browsing_history": (_S, _C),
    "user.behavior.media_consumption": (_S, _I),
    "user.behavior.purchase_history": (_S, _I),
    "user.behavior.search_history": (_S, _C),
    "user.biometrics": (_D, _R),
    "user.biometrics.fingerprint": (_D, _R),
    "user.biometrics.retinal": (_D, _R),
    "user.biometrics.voice": (_D, _R),
    "user.children": (_S, _R),
    "user.contact": (_D, _C),
    "user.contact.address": (_D, _C),
    "user.contact.address.street": (_D, _C),
    "user.contact.address.mailing_address": (_D, _C),
    "user.contact.address.city": (_Q, _I),
    "user.contact.address.state": (_Q, _I),
    "user.contact.address.postal_code": (_Q, _I),
    "user.contact.address.country": (_Q, _I),
    "user.contact.email": (_D, _C),
    "user.contact.phone_number": (_D, _C),
    "user.contact.fax_number": (_D, _C),
    "user.contact.social_url": (_D, _C),
    "user.content": (_S, _I),
    "user.content.private": (_S, _C),
    "user.content.public": (_O, _I),
    "user.content.self_image": (_D, _C),
    "user.criminal_history": (_S, _R),
    "user.demographic": (_Q, _I),
    "user.demographic.age_range": (_Q, _I),
    "user.demographic.date_of_birth": (_Q, _I),
    "user.demographic.gender": (_Q, _I),
    "user.demographic.language": (_Q, _I),
    "user.demographic.marital_status": (_Q, _I),
    "user.demographic.profile": (_Q, _I),
    "user.demographic.citizenship_or_immigration_status": (_Q, _C),
    "user.demographic.race_ethnicity": (_Q, _R),
    "user.demographic.political_opinion": (_S, _R),
    "user.demographic.religious_belief": (_S, _R),
    "user.demographic.philosophical_belief": (_S, _R),
    "user.demographic.sexual_orientation": (_S, _R),
    "user.demographic.union_membership": (_S, _R),
    "user.demographic.protected_classifications": (_S, _R),
    "user.device": (_O, _I),
    "user.device.cookie_id": (_D, _C),
    "user.device.device_id": (_D, _C),
    "user.device.ip_address": (_D, _C),
    "user.financial": (_S, _C),
    "user.financial.bank_account": (_D, _R),
    "user.financial.credit_card": (_D, _R),
    "user.government_id": (_D, _R),
    "user.government_id.birth_certificate": (_D, _R),
    "user.government_id.drivers_license_number": (_D, _R),
    "user.government_id.immigration": (_D, _R),
    "user.government_id.national_identification_number": (_D, _R),
    "user.government_id.passport_number": (_D, _R),
    "user.government_id.vehicle_registration": (_D, _C),
    "user.health": (_S, _R),
    "user.health.condition": (_S, _R),
    "user.health.genetic": (_S, _R),
    "user.health.insurance_beneficiary_id": (_D, _R),
    "user.health.medical_diagnosis": (_S, _R),
    "user.health.medications": (_S, _R),
    "user.health.record_id": (_D, _R),
    "user.health.treatment": (_S, _R),
    "user.location": (_Q, _C),
    "user.location.precise": (_Q, _C),
    "user.location.imprecise": (_Q, _I),
    "user.name": (_D, _C),
    "user.name.first": (_Q, _I),
    "user.name.last": (_D, _C),
    "user.privacy_preferences": (_O, _I),
    "user.professional_information": (_Q, _I),
    "user.professional_information.job_title": (_Q, _I),
    "user.professional_information.workplace": (_Q, _I),
    "user.settings": (_O, _I),
    "user.social_activity": (_S, _I),
    "user.unique_id": (_D, _C),
    "user.unique_id.pseudonymous": (_Q, _I),
}


def check_category(key: str) -> tuple[Role, Level]:
    """The default role and level of ``key``, or a refusal naming the closest known keys."""
    try:
        return CATEGORIES[key]
    except KeyError:
        close = difflib.get_close_matches(key, CATEGORIES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InvalidInput(f"unknown data category {key!r}{hint}") from None


def level_for(categories: list[str | None]) -> Level | None:
    """The risk level implied by the columns' categories, None when none was declared."""
    levels = [check_category(c)[1] for c in categories if c]
    return max(levels, key=lambda lv: lv.rank) if levels else None
