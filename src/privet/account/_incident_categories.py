"""What the kind of data says about a breach: the special categories of GDPR Art. 9 and 10,
and the likely consequences of disclosing each category (EDPB Guidelines 9/2022)."""

from __future__ import annotations

# GDPR Art. 9 and 10 categories (and their subcategories).
SPECIAL = (
    "user.health",
    "user.biometrics",
    "user.criminal_history",
    "user.demographic.race_ethnicity",
    "user.demographic.political_opinion",
    "user.demographic.religious_belief",
    "user.demographic.philosophical_belief",
    "user.demographic.sexual_orientation",
    "user.demographic.union_membership",
)
# What a disclosure of a category may do to the people concerned (EDPB Guidelines 9/2022 on
# breach notification: consequences follow from the kind of data and who can be identified).
CONSEQUENCES = {
    "user.health": "discrimination, exclusion or distress from disclosed health data",
    "user.biometrics": "permanent identity compromise (biometrics cannot be changed)",
    "user.criminal_history": "discrimination and reputational damage",
    "user.demographic.race_ethnicity": "discrimination",
    "user.demographic.sexual_orientation": "discrimination and reputational damage",
    "user.demographic.religious_belief": "discrimination",
    "user.demographic.political_opinion": "discrimination",
    "user.demographic.union_membership": "discrimination by employers",
    "user.government_id": "identity theft and fraud",
    "user.financial": "financial loss and fraud",
    "user.authorization": "account takeover",
    "user.children": "harm to children, who merit specific protection",
    "user.contact": "phishing, spam and unwanted contact",
    "user.name": "identification of the people concerned",
    "user.location": "tracking and physical safety risks",
}


def is_special(category: str | None) -> bool:
    return category is not None and any(
        category == s or category.startswith(s + ".") for s in SPECIAL
    )
