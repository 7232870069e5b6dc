"""What column names and value vocabularies say about a column, beyond recognizers.

Each hint is a pattern over the normalized column name (lowercase tokens joined by ``_``:
``DateOfBirth`` → ``date_of_birth``) with the category it suggests and the column kinds it
applies to. The first hint that matches wins, so the specific ones come first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STRING, INTEGER, FLOAT, DATE, BOOL = "string", "integer", "float", "date", "bool"
_TEXTUAL = frozenset({STRING})
_DISCRETE = frozenset({STRING, INTEGER})
_NUMERIC = frozenset({INTEGER, FLOAT})
_ANY = frozenset({STRING, INTEGER, FLOAT, DATE})


@dataclass(frozen=True)
class Hint:
    label: str
    pattern: re.Pattern[str]
    category: str
    kinds: frozenset[str]
    # Values must look like identifiers of one person each (mostly distinct).
    distinct: bool = False
    # Numeric values must fall in this range (ages, coordinates).
    value_range: tuple[float, float] | None = None


def _hint(
    label: str,
    names: str,
    category: str,
    kinds: frozenset[str] = _DISCRETE,
    *,
    distinct: bool = False,
    value_range: tuple[float, float] | None = None,
) -> Hint:
    pattern = re.compile(r"(?:^|_)(?:" + names + r")(?:_|$)")
    return Hint(label, pattern, category, kinds, distinct, value_range)


_PEOPLE = (
    r"person|customer|cust|user|client|patient|member|employee|emp|subscriber|citizen|student"
    r"|subject|guest|passenger|applicant|voter|policyholder|beneficiary|individual|people"
)

# Most specific first: the first hint whose pattern matches is taken.
HINTS: tuple[Hint, ...] = (
    _hint("person id", rf"(?:{_PEOPLE})_?(?:id|uuid|guid|key|number|no|num|ref|code)",
          "user.unique_id", distinct=True),
    _hint("username", r"user_?name|login|login_name|handle|screen_name|nickname|nick",
          "user.account.username", _TEXTUAL),
    _hint("password", r"password|passwd|pwd|password_hash|pass_hash|passcode|pin_code",
          "user.authorization.password", _DISCRETE),
    _hint("credential", r"api_?key|secret|secret_key|access_key|access_token|auth_token"
          r"|refresh_token|bearer_token", "user.authorization.credentials", _TEXTUAL),
    _hint("device id", r"device_?id|imei|idfa|gaid|advertising_id|android_id|udid|serial_number"
          r"_device", "user.device.device_id", _DISCRETE),
    _hint("cookie id", r"cookie|cookie_id|tracking_cookie", "user.device.cookie_id", _TEXTUAL),
    _hint("bank account", r"account_number|account_no|acct_no|acct_num|bank_account"
          r"|routing_number|sort_code|bsb", "user.financial.bank_account", distinct=True),
    _hint("medical record", r"mrn|medical_record(?:_number)?|patient_record|health_record"
          r"|chart_number", "user.health.record_id"),
    _hint("insurance id", r"insurance_(?:id|number|no)|beneficiary_id|medicare(?:_number)?"
          r"|medicaid(?:_number)?|nhs_number|health_insurance_number",
          "user.health.insurance_beneficiary_id"),
    _hint("driver's license", r"drivers?_?licen[cs]e(?:_number|_no)?|dl_number|dl_no"
          r"|licen[cs]e_number", "user.government_id.drivers_license_number"),
    _hint("vehicle", r"licen[cs]e_plate|number_plate|plate_number|vin|vehicle_registration"
          r"|registration_plate", "user.government_id.vehicle_registration"),
    _hint("tax id", r"tax_?id|tin|taxpayer_id|ssn_tin|steuer_?id|nif_fiscal",
          "user.government_id.national_identification_number"),
    _hint("photo", r"photo|photo_url|avatar|selfie|face_image|profile_picture|profile_photo",
          "user.content.self_image", _TEXTUAL),
    _hint("biometric", r"fingerprint|retina|iris_scan|voiceprint|face_embedding|biometrics?",
          "user.biometrics", _ANY),
    _hint("social profile", r"twitter|linkedin|facebook|instagram|tiktok|social(?:_media)?"
          r"|social_url|profile_url", "user.contact.social_url", _TEXTUAL),
    _hint("first name", r"first_?name|given_?name|forename|fname|vorname|prenom|nombre"
          r"|first_names", "user.name.first", _TEXTUAL),
    _hint("last name", r"last_?name|surname|family_?name|lname|nachname|apellidos?"
          r"|maiden_name", "user.name.last", _TEXTUAL),
    _hint("age group", r"age_?group|age_?band|age_?range|age_?bracket|age_?category",
          "user.demographic.age_range", _ANY),
    _hint("age", r"age|ages|age_years|age_in_years|current_age|patient_age|edad|alter",
          "user.demographic.age_range", _DISCRETE | {FLOAT}, value_range=(0, 130)),
    _hint("sex", r"sex|gender|sexe|geschlecht|genero|sesso", "user.demographic.gender"),
    _hint("race", r"race|races|ethnicity|ethnic|ethnic_group|race_ethnicity|ethnicity_race",
          "user.demographic.race_ethnicity"),
    _hint("marital status", r"marital|marital_status|civil_status|relationship_status"
          r"|married|estado_civil", "user.demographic.marital_status"),
    _hint("religion", r"religion|religious|faith|denomination|religious_affiliation",
          "user.demographic.religious_belief"),
    _hint("political opinion", r"political|political_party|party_affiliation"
          r"|voting_intention|politics", "user.demographic.political_opinion"),
    _hint("sexual orientation", r"sexual_orientation|orientation|sexuality",
          "user.demographic.sexual_orientation"),
    _hint("union membership", r"union_member(?:ship)?|trade_union|union_status",
          "user.demographic.union_membership", _ANY | {BOOL}),
    _hint("diagnosis", r"diagnosis|diagnoses|icd|icd_?10|icd_code|dx",
          "user.health.medical_diagnosis"),
    _hint("condition", r"condition|conditions|disease|illness|disability|disorder|comorbidity",
          "user.health.condition"),
    _hint("medication", r"medications?|drugs?|prescriptions?|rx", "user.health.medications"),
    _hint("treatment", r"treatments?|procedures?|therapy|therapies", "user.health.treatment"),
    _hint("genetic", r"genetic|genotype|dna|gene|genome", "user.health.genetic"),
    _hint("health", r"health|medical|symptoms?|allergy|allergies|blood_type|bmi|pregnan\w*"
          r"|hiv|smoker|smoking", "user.health", _ANY | {BOOL}),
    _hint("criminal history", r"criminal|criminal_record|convictions?|offen[cs]es?|arrests?"
          r"|felony", "user.criminal_history", _ANY | {BOOL}),
    _hint("income", r"income|salary|salaries|wages?|earnings|compensation|net_worth"
          r"|capital_gain|capital_loss", "user.financial", _DISCRETE | {FLOAT}),
    _hint("job title", r"occupation|job|job_title|profession|position|designation",
          "user.professional_information.job_title", _TEXTUAL),
    _hint("employer", r"employer|workplace|company_name|organi[sz]ation",
          "user.professional_information.workplace", _TEXTUAL),
    _hint("work class", r"workclass|work_class|employment_type|employment_status|sector",
          "user.professional_information", _TEXTUAL),
    _hint("education", r"education|education_level|degree|qualification|schooling",
          "user.demographic", _DISCRETE),
    _hint("language", r"language|languages|lang|mother_tongue|native_language",
          "user.demographic.language", _TEXTUAL),
    _hint("citizenship", r"nationality|citizenship|citizen_of|immigration_status|visa_status"
          r"|residency_status", "user.demographic.citizenship_or_immigration_status", _TEXTUAL),
    _hint("native country", r"native_country|country_of_birth|birth_country|birthplace"
          r"|place_of_birth|country_of_origin|origin_country", "user.demographic", _TEXTUAL),
    _hint("country", r"country|country_code|country_name|nation", "user.contact.address.country",
          _TEXTUAL),
    _hint("state", r"state|province|region|county|canton|prefecture|bundesland|state_code",
          "user.contact.address.state", _TEXTUAL),
    _hint("city", r"city|town|municipality|locality|village|ciudad|ville|stadt|city_name",
          "user.contact.address.city", _TEXTUAL),
    _hint("postal code", r"zip|zip_?code|zipcode|postal|postal_code|postcode|post_code|plz",
          "user.contact.address.postal_code", _DISCRETE),
    _hint("coordinates", r"lat|latitude|lon|lng|long|longitude|geo|geolocation|gps|coordinates",
          "user.location.precise", _NUMERIC | _TEXTUAL, value_range=(-180, 180)),
    _hint("free text", r"notes?|comments?|remarks?|messages?|feedback|free_text|description"
          r"|complaint|review|narrative|body|transcript|memo", "user.content.private", _TEXTUAL),
)  # fmt: skip

# Words in a column name that say its values are about things, not people. They overrule
# value shapes that other data shares (phone-like order numbers, ZIP-like codes).
THING_WORDS = re.compile(
    r"(?:^|_)(?:order|orders|invoice|tracking|shipment|shipping|sku|product|products|item|items"
    r"|part|serial|model|batch|lot|ticket|transaction|txn|ref|reference|version|build|hash"
    r"|checksum|amount|price|total|score|scores|count|qty|quantity|seq|sequence|barcode|ean|upc"
    r"|isbn|catalog|catalogue|stock|warehouse|store|request|session|trace|event|job_id|run"
    r"|file|host|server|company|vendor|supplier|parcel|package|route|flight)(?:_|$)"
)

_SEX = {
    "male", "female", "m", "f", "man", "woman", "men", "women", "other", "non binary",
    "nonbinary", "unknown", "diverse", "x", "intersex", "männlich", "weiblich", "homme",
    "femme", "hombre", "mujer", "boy", "girl", "trans", "transgender", "prefer not to say",
}  # fmt: skip
_RACE = {
    "white", "black", "asian", "asian pac islander", "amer indian eskimo", "hispanic",
    "latino", "latina", "latinx", "african american", "black or african american", "caucasian",
    "native american", "american indian", "american indian or alaska native", "alaska native",
    "pacific islander", "native hawaiian", "native hawaiian or other pacific islander", "mixed",
    "multiracial", "two or more races", "middle eastern", "arab", "south asian", "east asian",
    "hispanic or latino", "non hispanic white", "non hispanic black", "white british",
    "white other", "black african", "black caribbean", "aboriginal", "indigenous", "other",
}  # fmt: skip
_MARITAL = {
    "married", "single", "divorced", "widowed", "separated", "never married",
    "married civ spouse", "married af spouse", "married spouse absent", "domestic partner",
    "domestic partnership", "civil partnership", "civil union", "partnered", "engaged",
    "cohabiting", "widow", "widower", "unmarried", "not married",
}  # fmt: skip
_GENERIC = {"other", "unknown", "x", "m", "f"}

# Vocabularies that identify a categorical column without a name hint.
VOCABULARIES: tuple[tuple[str, str, frozenset[str], int], ...] = (
    ("sex values", "user.demographic.gender", frozenset(_SEX), 8),
    ("race values", "user.demographic.race_ethnicity", frozenset(_RACE), 25),
    ("marital status values", "user.demographic.marital_status", frozenset(_MARITAL), 12),
)
GENERIC_VALUES = frozenset(_GENERIC)


def normalize(column: str) -> str:
    """``DateOfBirth`` / ``date-of-birth`` / ``Date of Birth`` → ``date_of_birth``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column.strip())
    spaced = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", spaced)
    return "_".join(re.findall(r"[^\W_]+", spaced.lower()))


def name_hint(column: str, kind: str) -> Hint | None:
    for hint in HINTS:
        if kind in hint.kinds and hint.pattern.search(column):
            return hint
    return None
