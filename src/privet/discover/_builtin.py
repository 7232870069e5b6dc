"""privet's built-in recognizers, registered in the default registry on import.

Patterns are written once for both engines (Python ``re`` for spans, Polars for vectorized
column checks): no look-around, no back-references, ``\\b`` for boundaries. Entity names
follow Presidio's where it has one (EMAIL_ADDRESS, US_SSN, IBAN_CODE, …).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

import polars as pl

from privet.discover import _lexicon as lex
from privet.discover import _validators as v
from privet.discover._recognizers import (
    Found,
    PatternRecognizer,
    Recognizer,
    Strength,
    register_recognizer,
)

# Built-in patterns are compiled when first used (a test checks them all in both engines).
_Builtin = functools.partial(PatternRecognizer, check=False)

_NATIONAL_ID = "user.government_id.national_identification_number"
_NID_HINTS = (
    "national_id", "nat_id", "national_identification", "id_number", "identity_number",
    "personal_number", "citizen_id",
)  # fmt: skip
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_DATE = (
    rf"\b(?:{_YEAR}-{_MONTH}-{_DAY}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d{{1,9}})?)?"
    rf"(?:Z|[+-]\d{{2}}:?\d{{2}})?)?"
    rf"|{_YEAR}/{_MONTH}/{_DAY}"
    rf"|{_DAY}[./-]{_DAY}[./-]{_YEAR}"
    rf"|{_MONTHS}\.? {_DAY}(?:st|nd|rd|th)?,? {_YEAR}"
    rf"|{_DAY}(?:st|nd|rd|th)? (?:of )?{_MONTHS}\.?,? {_YEAR})\b"
)
_BIRTH_CONTEXT = ("born", "birth", "dob", "d.o.b", "birthday", "birthdate", "date of birth")


def _words(words: set[str] | frozenset[str]) -> str:
    """An alternation of literal words as a trie ("St(?:reet|ation)"): Python's engine tries
    a flat alternation word by word at each position, a trie only along one branch. Longer
    words come first at each branch, so the longest word that fits is taken."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict) -> str:
    branches = []
    ends = "" in node
    for ch in sorted(k for k in node if k):
        branches.append(re.escape(ch) + _trie_regex(node[ch]))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


# -- contact ------------------------------------------------------------------------------------

register_recognizer(
    _Builtin(
        name="email",
        entity="EMAIL_ADDRESS",
        category="user.contact.email",
        pattern=r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
        r"[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b",
        context=("email", "e-mail", "mail", "contact"),
        column_hints=("e_?mails?", "mail", "email_address"),
        score=0.95,
    )
)

_PHONE_HINTS = (
    "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "msisdn", "fax",
    "phone_number", "contact_number", "telefon", "telefono", "telephone_number",
)  # fmt: skip
_PHONE_CONTEXT = (
    "phone", "call", "tel", "telephone", "mobile", "cell", "fax", "desk", "office", "home",
    "text", "sms", "whatsapp", "reach", "contact", "answering", "messages", "dial",
)  # fmt: skip
_EXTENSION = r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5}\b|\b)"

register_recognizer(
    _Builtin(
        name="phone",
        entity="PHONE_NUMBER",
        category="user.contact.phone_number",
        # International (+CC), a bracketed area code, or three to five digit groups.
        pattern=r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{1,5}){1,5}"
        r"|\(\d{1,5}\)[ .-]?\d{2,5}(?:[ .-]?\d{2,5}){1,3}"
        r"|\b\d{2,5}[ .-]\d{2,5}(?:[ .-]\d{2,5}){1,3})" + _EXTENSION,
        validator=v.phone,
        strength=Strength.WEAK,
        context=_PHONE_CONTEXT,
        column_hints=_PHONE_HINTS,
        score=0.7,
    )
)
register_recognizer(
    _Builtin(
        name="phone_lenient",
        entity="PHONE_NUMBER",
        category="user.contact.phone_number",
        # Two groups or one run of digits: only beside a phone word or in a phone column.
        pattern=r"\b(?:\d{2,5}[ .-]?\d{4,10}|\d{8,15})\b",
        validator=v.phone,
        strength=Strength.WEAK,
        needs_hint=True,
        context=_PHONE_CONTEXT,
        column_hints=_PHONE_HINTS,
        score=0.5,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="url",
        entity="URL",
        pattern=r"\b(?:https?://|www\.)[^\s<>\"'(){}\[\]]*[^\s<>\"'(){}\[\].,;:!?]",
        context=("website", "site", "url", "link", "page", "profile"),
        column_hints=("url", "urls", "link", "website", "homepage", "web_?page", "profile_url"),
        score=0.8,
    )
)

# -- government ids -----------------------------------------------------------------------------

register_recognizer(
    _Builtin(
        name="us_ssn",
        entity="US_SSN",
        category=_NATIONAL_ID,
        pattern=r"\b\d{3}[- ]\d{2}[- ]\d{4}\b",
        validator=v.us_ssn,
        context=("ssn", "social security", "social", "security"),
        column_hints=("ssn", "ssns", "social_security(?:_number|_no)?", "sozial", *_NID_HINTS),
        score=0.85,
    )
)
register_recognizer(
    _Builtin(
        name="us_ssn_digits",
        entity="US_SSN",
        category=_NATIONAL_ID,
        pattern=r"\b\d{9}\b",
        validator=v.us_ssn,
        strength=Strength.WEAK,
        needs_hint=True,
        context=("ssn", "social security"),
        column_hints=("ssn", "ssns", "social_security(?:_number|_no)?"),
        score=0.6,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="uk_nino",
        entity="UK_NINO",
        category=_NATIONAL_ID,
        pattern=r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        validator=v.uk_nino,
        context=("national insurance", "nino", "ni number", "nin"),
        column_hints=("nino", "ni_number", "national_insurance(?:_number|_no)?", *_NID_HINTS),
        score=0.85,
    )
)
register_recognizer(
    _Builtin(
        name="fr_nir",
        entity="FR_NIR",
        category=_NATIONAL_ID,
        pattern=r"\b[12378] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b",
        validator=v.fr_nir,
        strength=Strength.CHECKSUM,
        context=("nir", "insee", "sécurité sociale", "securite sociale", "numéro de sécu"),
        column_hints=("nir", "insee", "num_secu", "securite_sociale", *_NID_HINTS),
        score=0.9,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="es_nif",
        entity="ES_NIF",
        category=_NATIONAL_ID,
        pattern=r"\b(?:\d{8}|[XYZ]\d{7})-?[A-HJ-NP-TV-Z]\b",
        validator=v.es_nif,
        strength=Strength.CHECKSUM,
        context=("dni", "nie", "nif", "documento"),
        column_hints=("dni", "nie", "nif", "documento", *_NID_HINTS),
        score=0.9,
    )
)
register_recognizer(
    _Builtin(
        name="it_fiscal_code",
        entity="IT_FISCAL_CODE",
        category=_NATIONAL_ID,
        pattern=r"\b[A-Z]{6}[0-9LMNP-V]{2}[A-EHLMPR-T][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]\b",
        validator=v.it_fiscal_code,
        strength=Strength.CHECKSUM,
        context=("codice fiscale", "fiscal code", "cf"),
        column_hints=("codice_fiscale", "cod_fisc", "fiscal_code", "cf", *_NID_HINTS),
        score=0.95,
    )
)
register_recognizer(
    _Builtin(
        name="in_aadhaar",
        entity="IN_AADHAAR",
        category=_NATIONAL_ID,
        pattern=r"\b\d{4}[ -]?\d{4}[ -]?\d{4}\b",
        validator=v.aadhaar,
        strength=Strength.CHECKSUM,
        # One random 12-digit number in ten passes Verhoeff: in text, only beside a word.
        needs_context=True,
        context=("aadhaar", "aadhar", "uid", "uidai"),
        column_hints=("aadhaar", "aadhar", "uid", "uidai", *_NID_HINTS),
        score=0.6,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="nl_bsn",
        entity="NL_BSN",
        category=_NATIONAL_ID,
        pattern=r"\b(?:\d{9}|\d{4}\.\d{2}\.\d{3})\b",
        validator=v.nl_bsn,
        strength=Strength.CHECKSUM,
        needs_hint=True,
        context=("bsn", "burgerservicenummer", "sofinummer"),
        column_hints=("bsn", "burgerservicenummer", "sofi(?:nummer)?"),
        score=0.8,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="passport",
        entity="PASSPORT",
        category="user.government_id.passport_number",
        pattern=r"\b(?:[A-Z]{1,2}\d{6,8}|\d{9})\b",
        strength=Strength.WEAK,
        needs_hint=True,
        context=("passport", "passport number", "passport no", "travel document"),
        column_hints=("passports?", "passport_(?:number|no|num|id)"),
        score=0.7,
    )
)

# -- financial ----------------------------------------------------------------------------------

register_recognizer(
    _Builtin(
        name="credit_card",
        entity="CREDIT_CARD",
        category="user.financial.credit_card",
        pattern=r"\b(?:[1-6]\d{12,18}|[1-6]\d{3}(?:[ -]\d{4}){2}[ -]\d{1,7}"
        r"|3[47]\d{2}[ -]\d{6}[ -]\d{5})\b",
        validator=v.luhn,
        strength=Strength.CHECKSUM,
        context=("card", "credit", "visa", "mastercard", "amex", "cc", "debit"),
        column_hints=("card", "cards", "cc", "credit_card", "card_number", "pan", "cc_number"),
        score=0.9,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="iban",
        entity="IBAN_CODE",
        category="user.financial.bank_account",
        pattern=r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b",
        validator=v.iban,
        strength=Strength.CHECKSUM,
        context=("iban", "bank", "account", "transfer", "wire"),
        column_hints=("iban", "bank_account", "account_iban"),
        score=0.95,
    )
)

# -- devices and network ------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
register_recognizer(
    _Builtin(
        name="ipv4",
        entity="IP_ADDRESS",
        category="user.device.ip_address",
        pattern=rf"\b(?:{_OCTET}\.){{3}}{_OCTET}\b",
        context=("ip", "address", "client", "host"),
        column_hints=("ip", "ips", "ip_address", "ipv4", "client_ip", "remote_addr", "host"),
        score=0.85,
    )
)
register_recognizer(
    _Builtin(
        name="ipv6",
        entity="IP_ADDRESS",
        category="user.device.ip_address",
        pattern=r"(?:^|[^\w:])(?P<m>(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4})\b",
        value_pattern=r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}",
        validator=v.ip_address,
        context=("ip", "ipv6", "address", "client", "host"),
        column_hints=("ip", "ips", "ip_address", "ipv6", "client_ip", "remote_addr"),
        score=0.85,
    )
)
register_recognizer(
    _Builtin(
        name="mac_address",
        entity="MAC_ADDRESS",
        category="user.device.device_id",
        pattern=r"\b(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
        r"\.[0-9A-Fa-f]{4})\b",
        context=("mac", "device", "hardware", "wifi"),
        column_hints=("mac", "mac_address", "macaddr", "hw_addr", "device_mac"),
        score=0.85,
    )
)

# -- secrets ------------------------------------------------------------------------------------

register_recognizer(
    _Builtin(
        name="api_key",
        entity="SECRET",
        category="user.authorization.credentials",
        # Vendor formats with fixed prefixes: AWS, GitHub, GitLab, Slack, Stripe, Google,
        # npm, JSON web tokens and PEM private keys.
        pattern=r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,255}"
        r"|github_pat_[A-Za-z0-9_]{22,255}|glpat-[A-Za-z0-9_-]{20}|xox[abposr]-[A-Za-z0-9-]{10,250}"
        r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}"
        r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})\b"
        r"|-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
        context=("key", "token", "secret", "api"),
        column_hints=("api_?keys?", "tokens?", "secrets?", "access_key", "secret_key", "jwt"),
        score=0.95,
    )
)
register_recognizer(
    _Builtin(
        name="secret_assignment",
        entity="SECRET",
        category="user.authorization.credentials",
        pattern=r"(?i)\b(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|"
        r"password|passwd|pwd)\b[\"']?\s*[:=]\s*[\"']?(?P<m>[^\s\"',;]{8,200})",
        value_pattern=r"(?i)(?:api[_-]?key|secret|access[_-]?token|auth[_-]?token|password|"
        r"passwd|pwd)\s*[:=]\s*\S{8,200}",
        score=0.85,
    )
)

# -- dates, ages, places -------------------------------------------------------------------------

register_recognizer(
    _Builtin(
        name="date",
        entity="DATE_TIME",
        pattern=_DATE,
        strength=Strength.WEAK,
        column_hints=("date", "dates", "day", "timestamp", "time", "datetime", "ts"),
        score=0.75,
    )
)
register_recognizer(
    _Builtin(
        name="date_words",
        entity="DATE_TIME",
        # A weekday, or a year after a preposition ("in 1991", "during 2000").
        pattern=r"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)days?"
        r"|(?:in|during|since|until|from|of|by) (?P<m>(?:19|20)\d{2}))\b",
        value_pattern=r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day",
        strength=Strength.WEAK,
        score=0.5,
    )
)
register_recognizer(
    _Builtin(
        name="date_of_birth",
        entity="DATE_OF_BIRTH",
        category="user.demographic.date_of_birth",
        pattern=_DATE,
        strength=Strength.WEAK,
        needs_hint=True,
        context=_BIRTH_CONTEXT,
        column_hints=("dob", "d_o_b", "birth", "birthday", "birthdate", "birth_?date",
                      "date_of_birth", "born", "born_on", "bday", "geburtsdatum"),
        score=0.8,
    )
)  # fmt: skip
register_recognizer(
    _Builtin(
        name="birth_year",
        entity="DATE_OF_BIRTH",
        category="user.demographic.date_of_birth",
        pattern=r"\b(?:born|birth)(?: in| on)? (?P<m>(?:19|20)\d{2})\b",
        value_pattern=r"(?:19|20)\d{2}",
        strength=Strength.WEAK,
        needs_hint=True,
        context=_BIRTH_CONTEXT,
        column_hints=("birth_year", "year_of_birth", "yob", "born_in"),
        score=0.7,
        numbers=True,
    )
)
register_recognizer(
    _Builtin(
        name="age",
        entity="AGE",
        category="user.demographic.age_range",
        pattern=r"(?i)\b(?P<m>\d{1,3})(?:[ -]years?[ -]old|[ -]yrs?[ -]old|[ -]y/o|[ -]yo)\b",
        value_pattern=r"(?i)\d{1,3}[ -](?:years?|yrs?)[ -]old",
        strength=Strength.WEAK,
        score=0.85,
    )
)
register_recognizer(
    _Builtin(
        name="age_stated",
        entity="AGE",
        category="user.demographic.age_range",
        pattern=r"(?i)\b(?:aged?|age:|age is|turned|turning)\s+(?P<m>\d{1,3})\b",
        value_pattern=r"(?i)(?:aged?|age:)\s*\d{1,3}",
        strength=Strength.WEAK,
        score=0.8,
    )
)

_POSTAL_HINTS = (
    "zip", "zips", "zip_?code", "zipcode", "postal", "postal_code", "postcode", "post_code",
    "plz", "cap", "code_postal", "codigo_postal", "cp", "postleitzahl",
)  # fmt: skip
_POSTAL_CONTEXT = ("zip", "postal", "postcode", "post code", "plz", "zipcode")
register_recognizer(
    _Builtin(
        name="uk_postcode",
        entity="POSTAL_CODE",
        category="user.contact.address.postal_code",
        pattern=r"\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-HJKPS-UW\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b",
        context=_POSTAL_CONTEXT,
        column_hints=_POSTAL_HINTS,
        score=0.7,
    )
)
register_recognizer(
    _Builtin(
        name="ca_postcode",
        entity="POSTAL_CODE",
        category="user.contact.address.postal_code",
        pattern=r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d\b",
        context=_POSTAL_CONTEXT,
        column_hints=_POSTAL_HINTS,
        score=0.7,
    )
)
register_recognizer(
    _Builtin(
        name="postal_code_digits",
        entity="POSTAL_CODE",
        category="user.contact.address.postal_code",
        # US ZIP (+4), and the 4- and 5-digit codes of most of Europe: digits others share.
        pattern=r"\b(?:\d{5}-\d{4}|\d{4,5}|\d{4} ?[A-Z]{2}|\d{2}-\d{3}|\d{3} \d{2})\b",
        strength=Strength.WEAK,
        needs_hint=True,
        context=_POSTAL_CONTEXT,
        column_hints=_POSTAL_HINTS,
        score=0.6,
        numbers=True,
    )
)


@functools.cache
def _country_names() -> frozenset[str]:
    names = {c.title() for c in lex.countries() if len(c) > 3} | {"USA", "UK", "UAE"}
    return frozenset(
        n.replace(" And ", " and ").replace(" Of ", " of ").replace(" The ", " the ") for n in names
    )


def _country_pattern() -> str:
    return r"\b(?:" + _words(_country_names()) + r")\b"


def _country_names_flat() -> str:
    return "|".join(pl.escape_regex(name) for name in sorted(_country_names()))


register_recognizer(
    _Builtin(
        name="country",
        entity="LOCATION",
        category="user.contact.address.country",
        pattern=_country_pattern(),
        # The same names as one flat alternation: faster in Polars' engine than the trie.
        prefilter=pl.col("t").str.contains(_country_names_flat()),
        strength=Strength.WEAK,
        context=("from", "in", "to", "country", "visit", "live", "lives", "moved"),
        column_hints=("country", "countries", "country_name", "nation"),
        score=0.6,
    )
)


# -- street addresses ---------------------------------------------------------------------------


# Street-name endings that also end English words ("During 2000" is not "-ring 2000").
_ENGLISH_ENDINGS = frozenset({"ring", "ringen", "singel", "marka"})


@functools.cache
def _address_alternatives() -> tuple[str, str]:
    """The address pattern's alternatives: (all but the street-word ending one, that one)."""
    suffixes, endings, prefixes = lex.street_words()
    suffix = _words(suffixes)
    ending = _words({e for e in endings if len(e) >= 4} - _ENGLISH_ENDINGS)
    prefix = _words(prefixes | {p.capitalize() for p in prefixes})
    word = r"[^\W\d_][\w'’.-]*"
    particle = r"(?:de|del|de la|des|du|di|della|da|do|dos|das|van|von|der|la|le|of)"
    secondary = r"(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.? ?#?\w{1,6})?"
    number = r"\d{1,6}(?:[ -]?[A-Za-z]\b)?"
    before = (
        # 12 Main Street, 254 Damvergi St. Apt 4
        rf"\b{number},? (?:{word} ){{0,3}}{word} (?:{suffix})\b\.?{secondary}"
        # Via Roma 12, Calle de Alcalá, 45, 12 rue de la Paix
        rf"|\b(?:{number},? )?(?:{prefix})\.? (?:{particle} )?(?:{word} ){{0,3}}{word},? \d{{1,5}}"
        rf"[A-Za-z]?\b{secondary}"
        rf"|\b{number},? (?:{prefix})\.? (?:{particle} )?(?:{word} ){{0,3}}{word}\b"
    )
    # Hauptstraße 5, Kerkstraat 12a
    ends = rf"\b[^\W\d_][\w'’-]*(?i:{ending})\.? \d{{1,5}}[A-Za-z]?\b"
    # P.O. Box 63
    after = r"\bP\.? ?O\.? Box \d{1,6}\b"
    return f"{before}|{after}", f"{before}|{ends}|{after}"


@functools.cache
def _address_pattern() -> str:
    return "(?:" + _address_alternatives()[1] + ")"


@functools.cache
def _address_lean() -> re.Pattern[str]:
    return re.compile("(?:" + _address_alternatives()[0] + ")")


@functools.cache
def _address_filters() -> tuple[str, str]:
    """Tests for Polars: a street word; a street-word ending before a number."""
    suffixes, endings, prefixes = lex.street_words()
    # Bounded by non-ASCII-letters: a superset of the Unicode boundaries, and fast.
    words = suffixes | prefixes | {p.capitalize() for p in prefixes} | {"Box"}
    words = r"(?:^|[^A-Za-z])(?:" + _words(words) + r")(?:[^A-Za-z]|$)"
    # Python's case-insensitive "i" also matches "İ" and "ı"; Polars' needs telling.
    ending = _words({e for e in endings if len(e) >= 4} - _ENGLISH_ENDINGS)
    ends = r"(?i:" + ending.replace("i", "[iİı]") + r")\.? \d"
    return words, ends


def _address_prefilter() -> pl.Expr:
    """Every street address holds a digit and a street word (or a word ending like it)."""
    words, ends = _address_filters()
    text = pl.col("t").str
    return (text.contains(words) & pl.col("t_digits").is_not_null()) | text.contains(ends)


class StreetAddressRecognizer(PatternRecognizer):
    """Street addresses. The pattern's alternative for street-word endings ("Hauptstraße 5")
    is slow in Python's engine, so texts without such an ending before a number are read
    with the pattern without it: an alternative that matches nowhere in a text changes none
    of its matches."""

    def patterns_for(self, texts: list[str]) -> Iterable[re.Pattern[str]]:
        ending = pl.Series(texts, dtype=pl.String).str.contains(_address_filters()[1])
        lean = _address_lean()
        return [self._re if has_ending else lean for has_ending in ending.to_list()]


register_recognizer(
    StreetAddressRecognizer(
        name="street_address",
        entity="STREET_ADDRESS",
        category="user.contact.address.street",
        pattern=_address_pattern(),
        value_pattern=r"(?s).*(?:" + _address_pattern() + r").*",
        prefilter=_address_prefilter(),
        context=("address", "live", "lives", "living", "moved", "send", "ship", "deliver", "at"),
        column_hints=("address", "addresses", "street", "street_address", "addr", "address_line",
                      "address_1", "address1", "line_1", "line1", "strasse", "adresse", "calle"),
        score=0.8,
        min_share=0.7,
        check=False,
    )
)  # fmt: skip


# -- person names -------------------------------------------------------------------------------


@functools.cache
def _name_series() -> tuple[pl.Series, pl.Series]:
    return (
        pl.Series("first", sorted(lex.first_names()), pl.String),
        pl.Series("last", sorted(lex.last_names()), pl.String),
    )


_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "del",
        "della",
        "di",
        "da",
        "du",
        "le",
        "la",
        "bin",
        "ibn",
        "al",
        "el",
        "dos",
        "das",
    ]
)


@functools.cache
def _run_regex() -> re.Pattern[str]:
    """Runs of capitalized words (each word: letters with inner apostrophes or hyphens, and
    maybe a final dot), one or two spaces apart. Python's ``re`` has no ``\\p{Lu}``, so the
    class of upper- and title-case letters is built from the Unicode database once. The
    first letter comes before the look-behind (not after a letter, digit, apostrophe,
    hyphen or backslash, as in a literal "\\n"): a pattern that opens with a character
    class lets the engine skip quickly to the next capital."""
    upper = _char_class(lambda ch: ch.isupper() or ch.istitle())
    tail = r"[^\W\d_]*(?:['’-][^\W\d_]+)*\.?"
    particles = "|".join(sorted(_PARTICLES))
    return re.compile(rf"{upper}(?<![\w'’\\-].){tail}(?:  ?(?:{upper}{tail}|(?:{particles})\b))*")


@functools.cache
def _name_keys() -> frozenset[str]:
    """Words that make a run worth reading: known names that are not common words, and
    titles. Every name :func:`_judge` accepts holds one of them ("I", "My", "Will" alone
    are never names)."""
    names = lex.first_names() | lex.last_names()
    return (names - lex.common_words()) | lex.TITLES


def _char_class(test: Callable[[str], bool]) -> str:
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or not test(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = (
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return "[" + "".join(parts) + "]"


class PersonNameRecognizer(Recognizer):
    """Person names from name lists (Faker's, 80+ locales, shipped with privet).

    Whole values: two to four capitalized words whose first is a known first name or whose
    last is a known family name (or "Last, First"). In text: runs of capitalized words with
    a known name that is not a common English word, or any capitalized word after a title.
    """

    def __init__(self) -> None:
        super().__init__(
            name="person",
            entity="PERSON",
            category="user.name",
            strength=Strength.FORMAT,
            context=("name", "called", "named", "mr", "mrs", "ms", "dr", "dear", "hi", "hello"),
            column_hints=("name", "names", "full_?name", "customer_name", "person", "contact_name",
                          "patient_name", "employee_name", "display_name", "holder", "nombre",
                          "nom", "nome", "vorname_nachname"),
            min_share=0.6,
            score=0.85,
        )  # fmt: skip

    def match_values(self, values: pl.Series) -> tuple[pl.Series, pl.Series]:
        first, last = _name_series()
        frame = pl.DataFrame({"v": values}).with_columns(
            t=pl.col("v").str.to_lowercase().str.extract_all(r"\p{L}[\p{L}'’-]*"),
            shape=pl.col("v").str.contains(
                r"^(?:\p{Lu}\p{L}*\.? )?\p{Lu}[\p{L}'’-]*,?(?: \p{Lu}\.|(?: \p{Ll}{1,4})? "
                r"\p{Lu}[\p{L}'’-]*){1,3}$"
            ),
            comma=pl.col("v").str.contains(","),
        )
        n = pl.col("t").list.len()
        given = pl.when(pl.col("comma")).then(pl.col("t").list.get(1, null_on_oob=True))
        given = given.otherwise(pl.col("t").list.first())
        family = pl.when(pl.col("comma")).then(pl.col("t").list.first())
        family = family.otherwise(pl.col("t").list.last())
        known = given.is_in(first.implode()) | family.is_in(last.implode())
        place = pl.col("t").list.first().is_in(sorted(lex.PLACE_WORDS))
        result = frame.select(
            matched=(pl.col("shape") & (n >= 2)).fill_null(False),
            valid=(pl.col("shape") & (n >= 2) & known & ~place).fill_null(False),
        )
        return result["matched"], result["valid"]

    def find(self, texts: pl.Series) -> list[Found]:
        found: list[Found] = []
        firsts, lasts, common = lex.first_names(), lex.last_names(), lex.common_words()
        keys, finditer = _name_keys(), _run_regex().finditer
        # Runs of capitalized words; only those holding a name or a title are read word by
        # word.
        for row, text in enumerate(texts.to_list()):
            if not text:
                continue
            for run in finditer(text):
                words = run.group()
                lower = words.lower()
                # Most runs are one word (a sentence's first): one set lookup.
                if " " not in lower:
                    if lower.rstrip(".") not in keys:
                        continue
                elif keys.isdisjoint(lower.replace(".", " ").split()):
                    continue
                for start, end, score in _names_in(words, run.start(), firsts, lasts, common):
                    context = self.has_context(text, start, end)
                    found.append(Found(row, start, end, min(1.0, score + (0.1 if context else 0))))
        return found


Word = tuple[int, str]  # a word of a run: its offset in the text, and the word


def _names_in(
    run: str,
    offset: int,
    firsts: frozenset[str],
    lasts: frozenset[str],
    common: frozenset[str],
) -> list[tuple[int, int, float]]:
    """The names in one run (at ``offset`` in its text): spans and scores.

    A title opens a titled part ("Dr. Ann Lee"); an all-capitals word ends a part, and so
    does a particle with no name before it.
    """
    out: list[tuple[int, int, float]] = []
    part: list[Word] = []
    titled = False
    at = offset
    # The words of a run are one or two spaces apart: empty pieces are the second spaces.
    for token in run.split(" "):
        if not token:
            at += 1
            continue
        word = token.rstrip(".")
        lower = word.lower()
        if word[:1].isupper() and not (len(word) > 1 and word.isupper()):
            if lower in lex.TITLES and not part:
                titled = True
            else:
                part.append((at, token))
        elif part and lower in _PARTICLES:
            part.append((at, token))
        else:
            if part:
                span = _judge(part, titled, firsts, lasts, common)
                if span is not None:
                    out.append(span)
            part, titled = [], False
        at += len(token) + 1
    if part:
        span = _judge(part, titled, firsts, lasts, common)
        if span is not None:
            out.append(span)
    return out


def _judge(
    run: list[Word],
    titled: bool,
    firsts: frozenset[str],
    lasts: frozenset[str],
    common: frozenset[str],
) -> tuple[int, int, float] | None:
    """Whether a run of capitalized words is a person's name, and its span and score."""
    words = [token.rstrip(".") for _, token in run]
    lowered = [w.lower() for w in words]
    # Drop leading common words ("Hi", "Dear", "My") and trailing particles.
    first, stop = 0, len(words)
    if not titled:
        while first < stop and lowered[first] in common and lowered[first] not in firsts:
            first += 1
    while stop > first and lowered[stop - 1] in _PARTICLES:
        stop -= 1
    count = stop - first
    if not count or count > 4:
        return None
    lowered = lowered[first:stop]
    if count > 1 and lowered[0] in lex.PLACE_WORDS:
        return None
    if not _not_names().isdisjoint(lowered):
        return None
    start = run[first][0]
    last_at, last_token = run[stop - 1]
    end = last_at + len(last_token)
    if last_token.endswith(".") and len(words[stop - 1]) > 1:
        end -= 1
    if titled:
        return start, end, 0.85
    is_first = lowered[0] in firsts and lowered[0] not in common
    is_last = lowered[-1] in lasts and lowered[-1] not in common
    if count >= 2 and (is_first or (is_last and lowered[0] in firsts)):
        return start, end, 0.85
    if count >= 2 and is_last and len(lowered[0]) > 1 and lowered[0] not in common:
        return start, end, 0.6
    if count == 1 and is_first:
        return start, end, 0.6
    if count == 1 and is_last and len(lowered[0]) > 3:
        return start, end, 0.5
    return None


@functools.cache
def _not_names() -> frozenset[str]:
    """Words that make a capitalized run a place or a street, not a person."""
    suffixes, _, prefixes = lex.street_words()
    words = {w.lower() for w in suffixes | prefixes if len(w) > 2}
    return frozenset(words | {c for c in lex.countries() if " " not in c})


register_recognizer(PersonNameRecognizer)
