"""Check-digit and range validators for recognized candidates.

A validator takes a Polars Series of candidate strings (the text a pattern matched) and
returns a Boolean Series of the same length. The common ones are vectorized Polars
expressions; the rarer national-id checks run per candidate in Python (``per_value``),
which is cheap because only pattern matches reach them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import polars as pl

Validator = Callable[[pl.Series], pl.Series]

_MAX_CARD_DIGITS = 19
# The regex engine has no back-references, so "one digit repeated" is spelled out.
_ONE_DIGIT_RUN = r"^(?:0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)$"


def per_value(check: Callable[[str], bool]) -> Validator:
    """A validator from a predicate on one string (run only on pattern matches)."""

    def validate(values: pl.Series) -> pl.Series:
        return pl.Series(values.name, [_safe(check, v) for v in values.to_list()], pl.Boolean)

    validate.__name__ = getattr(check, "__name__", "per_value")
    return validate


def _safe(check: Callable[[str], bool], value: str | None) -> bool:
    if value is None:
        return False
    try:
        return bool(check(value))
    except (ValueError, IndexError, KeyError):
        return False


def _frame(values: pl.Series) -> pl.DataFrame:
    return pl.DataFrame({"v": values.cast(pl.String)})


# Below this many candidates, a Python loop beats building a vectorized query.
_SMALL = 256


def _luhn_one(value: str) -> bool:
    digits = [int(ch) for ch in value if ch.isdigit()]
    if not 13 <= len(digits) <= _MAX_CARD_DIGITS or digits[0] not in (1, 2, 3, 4, 5, 6):
        return False
    if len(set(digits)) == 1:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn(values: pl.Series) -> pl.Series:
    """Payment cards: 13–19 digits, an issuer digit 1–6 (1800/2131 are JCB), and the Luhn
    checksum (ISO/IEC 7812)."""
    if len(values) < _SMALL:
        return per_value(_luhn_one)(values)
    frame = _frame(values).with_columns(d=pl.col("v").str.replace_all(r"\D", ""))
    reverse = pl.col("d").str.reverse()
    total = pl.lit(0, pl.Int32)
    for i in range(_MAX_CARD_DIGITS):
        digit = reverse.str.slice(i, 1).cast(pl.Int32, strict=False).fill_null(0)
        if i % 2:
            digit = digit * 2
            digit = pl.when(digit > 9).then(digit - 9).otherwise(digit)
        total = total + digit
    length = pl.col("d").str.len_chars()
    ok = (
        length.is_between(13, _MAX_CARD_DIGITS)
        & pl.col("d").str.slice(0, 1).is_in(list("123456"))
        & (total % 10 == 0)
        # A run of one digit passes Luhn for some lengths and is never a real card.
        & ~pl.col("d").str.contains(_ONE_DIGIT_RUN)
    )
    return frame.select(ok.fill_null(False)).to_series().alias(values.name)


_VOIDED_SSNS = frozenset(["078051120", "219099999", "123456789"])


def _us_ssn_one(value: str) -> bool:
    digits = _NOT_DIGIT.sub("", value)
    return (
        len(digits) == 9
        and digits[:3] not in ("000", "666")
        and digits[0] != "9"
        and digits[3:5] != "00"
        and digits[5:] != "0000"
        and digits not in _VOIDED_SSNS
    )


def us_ssn(values: pl.Series) -> pl.Series:
    """US SSNs as the SSA issues them: area 001–899 but not 666, group 01–99, serial 0001–9999."""
    if len(values) < _SMALL:
        return per_value(_us_ssn_one)(values)
    frame = _frame(values).with_columns(d=pl.col("v").str.replace_all(r"\D", ""))
    area = pl.col("d").str.slice(0, 3)
    ok = (
        (pl.col("d").str.len_chars() == 9)
        & (area != "000")
        & (area != "666")
        & (area.str.slice(0, 1) != "9")
        & (pl.col("d").str.slice(3, 2) != "00")
        & (pl.col("d").str.slice(5, 4) != "0000")
        # Numbers the SSA voided after they were printed in advertisements.
        & ~pl.col("d").is_in(sorted(_VOIDED_SSNS))
    )
    return frame.select(ok.fill_null(False)).to_series().alias(values.name)


_NOT_DIGIT = re.compile(r"\D")
_DATE_LIKE = r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\s*$"
_DATE_START = r"^\s*\d{4}-\d{2}-\d{2}"
_IP_LIKE = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"


_EXTENSION = r"(?i)\s*(?:x|ext\.?)\s*\d+$"


def _python_form(pattern: str) -> re.Pattern[str]:
    """A Polars pattern as Python's engine reads it the same way: Python's ``$`` also
    matches before a final line break and its ``\\s`` also takes \\x1c-\\x1f."""
    pattern = pattern.replace(r"\s", r"[^\S\x1c-\x1f]")
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


_PY_EXTENSION = _python_form(_EXTENSION)
_PY_NOT_PHONE = [_python_form(p) for p in (_DATE_LIKE, _DATE_START, _IP_LIKE)]


def _phone_one(value: str) -> bool:
    digits = _NOT_DIGIT.sub("", _PY_EXTENSION.sub("", value, count=1))
    return (
        7 <= len(digits) <= 15
        and not any(p.match(value) for p in _PY_NOT_PHONE)
        and not (digits == digits[0] * len(digits) and digits[0] in "0123456789")
    )


def phone(values: pl.Series) -> pl.Series:
    """E.164 allows at most 15 digits; fewer than 7 is an extension or a code, and a
    candidate shaped like a date or an IPv4 address is neither."""
    if len(values) < _SMALL:
        return per_value(_phone_one)(values)
    frame = _frame(values).with_columns(
        d=pl.col("v").str.replace(_EXTENSION, "").str.replace_all(r"\D", "")
    )
    digits = pl.col("d").str.len_chars()
    ok = (
        digits.is_between(7, 15)
        & ~pl.col("v").str.contains(_DATE_LIKE)
        & ~pl.col("v").str.contains(_DATE_START)
        & ~pl.col("v").str.contains(_IP_LIKE)
        & ~pl.col("d").str.contains(_ONE_DIGIT_RUN)
    )
    return frame.select(ok.fill_null(False)).to_series().alias(values.name)


def _iban(value: str) -> bool:
    code = value.replace(" ", "").upper()
    if not 15 <= len(code) <= 34 or not code[:2].isalpha() or not code[2:4].isdigit():
        return False
    rearranged = code[4:] + code[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


iban = per_value(_iban)


def _ip(value: str) -> bool:
    ipaddress.ip_address(value)
    return True


ip_address = per_value(_ip)

# Verhoeff's dihedral-group tables (Verhoeff 1969), as used by Aadhaar.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def verhoeff_ok(digits: str) -> bool:
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


def _aadhaar(value: str) -> bool:
    digits = "".join(ch for ch in value if ch.isdigit())
    return len(digits) == 12 and len(set(digits)) > 1 and verhoeff_ok(digits)


aadhaar = per_value(_aadhaar)

_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _uk_nino(value: str) -> bool:
    code = value.replace(" ", "").upper()
    return len(code) == 9 and code[:2] not in _NINO_BAD_PREFIXES


uk_nino = per_value(_uk_nino)


def _fr_nir(value: str) -> bool:
    code = value.replace(" ", "").upper()
    if len(code) != 15 or code[0] not in "12378":
        return False
    body, key = code[:13], int(code[13:])
    # Corsica's departments 2A and 2B count as 19 and 18 in the key (INSEE).
    body = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    body = body.replace("2B", "18", 1) if body[5:7] == "2B" else body
    month = int(code[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return 97 - int(body) % 97 == key


fr_nir = per_value(_fr_nir)

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _es_nif(value: str) -> bool:
    code = value.replace("-", "").replace(" ", "").upper()
    if len(code) != 9:
        return False
    number = code[:8]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == code[8]


es_nif = per_value(_es_nif)

# Agenzia delle Entrate's values of odd-position characters (1st, 3rd, ...).
_CF_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20,
         11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
        strict=True,
    )
)  # fmt: skip


def _it_fiscal_code(value: str) -> bool:
    code = value.replace(" ", "").upper()
    if len(code) != 16:
        return False
    total = 0
    for i, ch in enumerate(code[:15]):
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - ord("A")
    return chr(ord("A") + total % 26) == code[15]


it_fiscal_code = per_value(_it_fiscal_code)


def _nl_bsn(value: str) -> bool:
    digits = "".join(ch for ch in value if ch.isdigit()).zfill(9)
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


nl_bsn = per_value(_nl_bsn)

# Validators that YAML recognizers may name.
NAMED: dict[str, Validator] = {
    "luhn": luhn,
    "iban": iban,
    "us_ssn": us_ssn,
    "phone": phone,
    "ip_address": ip_address,
    "verhoeff": aadhaar,
    "aadhaar": aadhaar,
    "uk_nino": uk_nino,
    "fr_nir": fr_nir,
    "es_nif": es_nif,
    "it_fiscal_code": it_fiscal_code,
    "nl_bsn": nl_bsn,
}
