"""Discovery, the library: recognizers, validators, the column classifier, free text and
quasi-identifiers, each checked against labels or an independent computation."""

from __future__ import annotations

import collections
import gzip
import json
import random
import re
import uuid
from pathlib import Path

import polars as pl
import pytest
from faker import Faker

from privet.datasets import adult
from privet.discover import (
    PatternRecognizer,
    Recognizer,
    RecognizerRegistry,
    default_registry,
    load_recognizers,
    mask,
    register_recognizer,
    scan_frame,
    scan_text,
    scan_texts,
)
from privet.discover import _validators as v
from privet.discover._recognizers import _needs_digit, loose_frame
from privet.errors import AlreadyExists, InvalidInput

CORPUS = Path(__file__).parent / "data" / "presidio_evaluator_sentences.jsonl.gz"
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_IN")

# -- independent check-digit references (written from the standards, not from privet) ------


def ref_luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return checksum % 10 == 0


def ref_iban(code: str) -> bool:
    code = code.replace(" ", "")
    moved = code[4:] + code[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _luhn_complete(body: str) -> str:
    for digit in "0123456789":
        if ref_luhn(body + digit):
            return body + digit
    raise AssertionError


# Verhoeff's scheme (Verhoeff 1969), computed from its group, not from privet's tables.
def _d5(i: int, j: int) -> int:
    """Multiplication in the dihedral group D5 (elements 0-4 rotations, 5-9 reflections)."""
    if i < 5 and j < 5:
        return (i + j) % 5
    if i < 5:
        return 5 + (j - 5 + i) % 5
    if j < 5:
        return 5 + (i - 5 - j) % 5
    return (i - j) % 5


_P1 = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]


def _perm(position: int, digit: int) -> int:
    for _ in range(position % 8):
        digit = _P1[digit]
    return digit


def ref_verhoeff_complete(body: str) -> str:
    """``body`` plus the Verhoeff check digit that makes the whole number valid."""
    for check in "0123456789":
        number = body + check
        c = 0
        for i, ch in enumerate(reversed(number)):
            c = _d5(c, _perm(i, int(ch)))
        if c == 0:
            return number
    raise AssertionError


def _valid_nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    return f"{first}{second} {rng.randrange(100):02d} {rng.randrange(100):02d} " + (
        f"{rng.randrange(100):02d} {rng.choice('ABCD')}"
    )


# -- acceptance 1: a labeled table in several locales, with decoys ---------------------------

# column → its true role; decoys are "other" (city is a quasi-identifier, a decoy for
# "direct identifier").
LABELS = {
    "full_name": "direct_identifier",
    "email": "direct_identifier",
    "phone": "direct_identifier",
    "ssn": "direct_identifier",
    "credit_card": "direct_identifier",
    "iban": "direct_identifier",
    "ip_address": "direct_identifier",
    "street_address": "direct_identifier",
    "mac_address": "direct_identifier",
    "dni": "direct_identifier",
    "codice_fiscale": "direct_identifier",
    "nir": "direct_identifier",
    "aadhaar": "direct_identifier",
    "national_insurance_number": "direct_identifier",
    "surname": "direct_identifier",
    "username": "direct_identifier",
    "customer_id": "direct_identifier",
    "date_of_birth": "quasi_identifier",
    "city": "quasi_identifier",
    "postcode": "quasi_identifier",
    "gender": "quasi_identifier",
    "age": "quasi_identifier",
    "order_number": "other",
    "gift_card_number": "other",
    "request_uuid": "other",
    "product_code": "other",
    "satisfaction_score": "other",
    "risk_score": "other",
    "ship_date": "other",
    "amount": "other",
    "tracking_number": "other",
}
DECOYS = {c for c, role in LABELS.items() if role == "other"} | {"city"}


@pytest.fixture(scope="module")
def labeled() -> pl.DataFrame:
    rows, rng = 1200, random.Random(5)
    fakers = [Faker(locale) for locale in LOCALES]
    for i, fake in enumerate(fakers):
        fake.seed_instance(100 + i)
    es, it, fr, india, us = (Faker(x) for x in ("es_ES", "it_IT", "fr_FR", "en_IN", "en_US"))
    for i, fake in enumerate((es, it, fr, india, us)):
        fake.seed_instance(200 + i)
    data: dict[str, list] = {c: [] for c in LABELS}
    for row in range(rows):
        fake = fakers[row % len(fakers)]
        data["full_name"].append(fake.name())
        data["email"].append(fake.email())
        data["phone"].append(fake.phone_number())
        data["ssn"].append(us.ssn())
        data["credit_card"].append(fake.credit_card_number())
        data["iban"].append(fakers[row % 7].iban())
        data["ip_address"].append(fake.ipv4() if row % 5 else fake.ipv6())
        data["street_address"].append(fake.street_address().replace("\n", ", "))
        data["mac_address"].append(fake.mac_address())
        data["dni"].append(es.nif())
        data["codice_fiscale"].append(it.ssn())
        data["nir"].append(fr.ssn())
        # Faker's Aadhaar numbers are random digits; real ones carry a Verhoeff check digit.
        data["aadhaar"].append(ref_verhoeff_complete(india.aadhaar_id()[:11]))
        data["national_insurance_number"].append(_valid_nino(rng))
        data["surname"].append(fake.last_name())
        data["username"].append(fake.user_name())
        data["customer_id"].append(f"C{row + 1:07d}")
        data["date_of_birth"].append(fake.date_of_birth(minimum_age=18, maximum_age=95))
        data["city"].append(fake.city())
        data["postcode"].append(us.postcode())
        data["gender"].append(rng.choice(["Male", "Female", "Female", "Male", "Non-binary"]))
        data["age"].append(rng.randrange(18, 96))
        digits = "".join(str(rng.randrange(10)) for _ in range(10))
        data["order_number"].append(f"{digits[:3]}-{digits[3:6]}-{digits[6:]}")
        good = _luhn_complete(str(rng.randrange(3, 7)) + f"{rng.randrange(10**14):014d}")
        data["gift_card_number"].append(good[:-1] + str((int(good[-1]) + 1) % 10))
        data["request_uuid"].append(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        data["product_code"].append(
            f"{rng.choice('ABCDEFG')}{rng.choice('XYZ')}-{rng.randrange(10**4):04d}"
        )
        data["satisfaction_score"].append(round(rng.uniform(0, 10), 2))
        data["risk_score"].append(rng.randrange(300, 851))
        data["ship_date"].append(f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")
        data["amount"].append(f"{rng.uniform(1, 9999):.2f}")
        data["tracking_number"].append("".join(str(rng.randrange(10)) for _ in range(12)))
    return pl.DataFrame(data)


def _direct_scores(report, labels: dict[str, str]) -> tuple[float, float, set[str]]:
    predicted = {c.name for c in report.columns if c.role == "direct_identifier"}
    truth = {c for c, role in labels.items() if role == "direct_identifier"}
    precision = len(predicted & truth) / len(predicted) if predicted else 0.0
    recall = len(predicted & truth) / len(truth)
    return precision, recall, predicted


def test_labeled_table_direct_identifiers_precision_and_recall(labeled: pl.DataFrame):
    assert all(ref_luhn(n) for n in labeled["credit_card"].to_list())  # the labels are right
    assert not any(ref_luhn(n) for n in labeled["gift_card_number"].to_list())
    assert all(ref_iban(n) for n in labeled["iban"].to_list())
    report = scan_frame(labeled)
    precision, recall, predicted = _direct_scores(report, LABELS)
    print(f"\ndirect identifiers: precision {precision:.3f} recall {recall:.3f}")
    for c in report.columns:
        print(f"  {c.name:26s} {c.role:18s} {c.category} {c.confidence}")
    assert precision >= 0.95 and recall >= 0.95, (LABELS.keys() - predicted, predicted)
    assert not predicted & DECOYS


def test_labeled_table_roles_of_quasi_identifiers_and_decoys(labeled: pl.DataFrame):
    report = scan_frame(labeled)
    roles = {c.name: c.role for c in report.columns}
    for column in ("date_of_birth", "city", "postcode", "gender", "age"):
        assert roles[column] == "quasi_identifier", column
    for column in DECOYS - {"city"}:
        assert report.column(column).category is None, column
    order = report.column("order_number")
    # The values look like phones; the evidence says so and why they were set aside.
    assert order.evidence.validated["PHONE_NUMBER"] > 0.5
    assert any("things, not people" in s for s in order.evidence.signals)


def test_labeled_table_with_names_hidden_relies_on_values(labeled: pl.DataFrame):
    """Without column names only values speak: checksums still carry the ids, and the only
    decoy taken for personal data is the one shaped exactly like phone numbers."""
    hidden = labeled.rename({c: f"c{i:02d}" for i, c in enumerate(labeled.columns)})
    labels = {f"c{i:02d}": LABELS[c] for i, c in enumerate(labeled.columns)}
    names = {f"c{i:02d}": c for i, c in enumerate(labeled.columns)}
    report = scan_frame(hidden)
    precision, recall, predicted = _direct_scores(report, labels)
    print(f"\nnames hidden: precision {precision:.3f} recall {recall:.3f}")
    found = {names[c] for c in predicted}
    assert {"email", "ssn", "credit_card", "iban", "ip_address", "mac_address", "dni",
            "codice_fiscale", "nir", "aadhaar", "full_name"} <= found  # fmt: skip
    assert found & DECOYS <= {"order_number"}
    assert recall >= 0.7


# -- recognizers and validators -------------------------------------------------------------

VALIDATOR_CASES = [
    # (validator, value, expected, why)
    (v.luhn, "4111 1111 1111 1111", True, "Visa test number"),
    (v.luhn, "4111 1111 1111 1112", False, "check digit off by one"),
    (v.luhn, "0000000000000000", False, "one repeated digit"),
    (v.luhn, "378282246310005", True, "Amex test number"),
    (v.iban, "GB82 WEST 1234 5698 7654 32", True, "the ECBS example"),
    (v.iban, "GB82 WEST 1234 5698 7654 33", False, "mod-97 fails"),
    (v.us_ssn, "123-45-6780", True, "ordinary"),
    (v.us_ssn, "666-12-3456", False, "area 666 is never issued"),
    (v.us_ssn, "912-34-5678", False, "area 9xx is never issued"),
    (v.us_ssn, "123-00-4567", False, "group 00"),
    (v.us_ssn, "123-45-0000", False, "serial 0000"),
    (v.es_nif, "12345678Z", True, "DNI letter of 12345678"),
    (v.es_nif, "12345678A", False, "wrong letter"),
    (v.es_nif, "X1234567L", True, "NIE: X counts as 0"),
    (v.it_fiscal_code, "RSSMRA85T10A562S", True, "Mario Rossi, the usual example"),
    (v.it_fiscal_code, "RSSMRA85T10A562T", False, "wrong check letter"),
    (v.aadhaar, "234123412346", True, "Verhoeff check digit 6"),
    (v.aadhaar, "234123412347", False, "Verhoeff fails"),
    (v.fr_nir, "255081416802538", True, "INSEE example, key 38"),
    (v.fr_nir, "255081416802539", False, "key off by one"),
    (v.nl_bsn, "111222333", True, "11-proof holds"),
    (v.nl_bsn, "111222334", False, "11-proof fails"),
    (v.uk_nino, "AB123456C", True, "ordinary"),
    (v.uk_nino, "GB123456A", False, "GB is never a NINO prefix"),
    (v.phone, "2021-03-04", False, "a date"),
    (v.phone, "192.168.1.10", False, "an IPv4 address"),
    (v.phone, "+44 20 7946 0958", True, "London"),
    (v.phone, "650-752-7354x549", True, "US with extension"),
]


@pytest.mark.parametrize(("validator", "value", "expected", "why"), VALIDATOR_CASES,
                         ids=[c[3] for c in VALIDATOR_CASES])  # fmt: skip
def test_validators_known_answers(validator, value, expected, why):
    assert validator(pl.Series([value])).to_list() == [expected]


def test_luhn_vectorized_and_per_value_agree_with_reference():
    rng = random.Random(3)
    values = [str(rng.randrange(1, 7)) + "".join(str(rng.randrange(10)) for _ in range(15))
              for _ in range(600)]  # fmt: skip
    values += [_luhn_complete(x[:-1]) for x in values[:300]]
    expected = [ref_luhn(x) and len(set(x)) > 1 for x in values]
    assert v.luhn(pl.Series(values)).to_list() == expected  # vectorized (≥ 256 values)
    assert v.luhn(pl.Series(values[:100])).to_list() == expected[:100]  # per value


def test_phone_and_ssn_vectorized_and_per_value_agree():
    rng = random.Random(5)
    values = [
        "".join(rng.choice("0123456789 .-()+xXext\n" if rng.random() < 0.3 else "0123456789 -.")
                for _ in range(rng.randrange(1, 22)))
        for _ in range(3000)
    ]  # fmt: skip
    values += ["2021-03-04", " 2021-03-04\n", "192.168.1.10", "+44 20 7946 0958", "1111111",
               "650-752-7354x549", "078-05-1120", "٠٢٠ ٧٩٤٦ ٠٩٥٨"]  # fmt: skip
    for validator in (v.phone, v.us_ssn):
        whole = validator(pl.Series(values)).to_list()  # vectorized (≥ 256 values)
        parts = [validator(pl.Series(values[i : i + 100])).to_list() for i in range(0, 3008, 100)]
        assert [ok for part in parts for ok in part] == whole  # per value
        assert 0 < sum(whole) < len(whole)


def _shortcut_texts() -> list[str]:
    """The corpus, plus Faker addresses, phones and names in several locales, and texts whose
    digits or capitals are not ASCII."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    rng = random.Random(8)
    for locale in (*LOCALES, "pt_BR", "sv_SE", "pl_PL", "tr_TR"):
        fake = Faker(locale)
        fake.seed_instance(8)
        for _ in range(60):
            parts = [fake.name(), fake.street_address(), fake.phone_number(), fake.postcode(),
                     fake.date(), fake.city(), fake.sentence()]  # fmt: skip
            rng.shuffle(parts)
            texts.append(rng.choice([" ", ", ", "\n", " tel ", " zip ", " dob "]).join(parts[:4]))
    return texts + ["Tel. ٠٢٠ ٧٩٤٦ ٠٩٥٨", "KERKSTRAAT 12 and BERGSTİGEN 5", "Rue de la Paix 12"]


def test_free_text_shortcuts_change_no_match():
    """scan_texts reads a text with a recognizer's pattern only when a cheap Polars test
    passes it (a digit, a context word, the pattern without word boundaries, ASCII digit
    classes when every digit is 0-9), and reads streets without the slow ending alternative
    when no street-word ending is followed by a number. Each shortcut must lose nothing: on
    every text, the recognizer finds what it finds when it reads every text in full."""
    texts = _shortcut_texts()
    series = pl.Series(texts, dtype=pl.String)
    everything = list(range(len(texts)))
    ascii_only = [
        i for i, t in enumerate(texts) if all(not c.isdecimal() or c.isascii() for c in t)
    ]
    frame = loose_frame(series)
    for recognizer in default_registry():
        if not isinstance(recognizer, PatternRecognizer):
            continue
        full = recognizer.find(series, everything, texts)
        for rows, ascii_digits in ((everything, False), (ascii_only, True)):
            test = recognizer.loose_match(ascii_digits=ascii_digits).fill_null(False)
            mask = frame.select(test).collect().to_series().to_list()
            passed = [i for i in rows if mask[i]]
            expected = [hit for hit in full if hit.row in set(rows)]
            assert recognizer.find(series, passed, texts) == expected, recognizer.name
    street = default_registry().get("street_address")
    assert isinstance(street, PatternRecognizer)
    for text, pattern in zip(texts, street.patterns_for(texts), strict=True):
        spans = [m.span() for m in pattern.finditer(text)]
        assert spans == [m.span() for m in re.finditer(street.pattern, text)]
    found = scan_texts(["Tel. ٠٢٠ ٧٩٤٦ ٠٩٥٨", "BERGSTİGEN 5", "Rue de la Paix 12"])
    assert [[e.type for e in entities] for entities in found] == [
        ["PHONE_NUMBER"], ["STREET_ADDRESS"], ["STREET_ADDRESS"]]  # fmt: skip


def test_needs_digit_reads_the_parse_tree():
    assert _needs_digit(r"\b\d{3}[- ]\d{2}\b")
    assert _needs_digit(r"(?:[0-9]+|x\d)")
    assert not _needs_digit(r"\d*x")  # zero digits allowed
    assert not _needs_digit(r"(?:\d+|[A-Z]+)")  # one branch has none
    assert not _needs_digit(r"[\dA]")  # a class with a letter
    assert not _needs_digit(r"[^0-9]")


TEXT_CASES = [
    # (text, entity type, the exact substring found)
    ("Write to jane.doe@example.org today.", "EMAIL_ADDRESS", "jane.doe@example.org"),
    ("Call me at +1 415-555-0132 tonight", "PHONE_NUMBER", "+1 415-555-0132"),
    ("His SSN is 123-45-6780.", "US_SSN", "123-45-6780"),
    ("card 4111 1111 1111 1111 expired", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ("blocked 192.168.10.7 again", "IP_ADDRESS", "192.168.10.7"),
    ("from 2001:db8::8a2e:370:7334 too", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("device 00:1A:2B:3C:4D:5E joined", "MAC_ADDRESS", "00:1A:2B:3C:4D:5E"),
    ("see https://example.org/a?b=1.", "URL", "https://example.org/a?b=1"),
    ("She was born on 4/18/1960.", "DATE_OF_BIRTH", "4/18/1960"),
    ("We met on 2021-03-04 at noon", "DATE_TIME", "2021-03-04"),
    ("My name is Maria Rossi and I agree", "PERSON", "Maria Rossi"),
    ("Ask Mr. Okonkwo about it", "PERSON", "Okonkwo"),
    ("He lives at 221 Baker Street, London", "STREET_ADDRESS", "221 Baker Street"),
    ("Send it to Hauptstraße 5 in Berlin", "STREET_ADDRESS", "Hauptstraße 5"),
    ("postcode SW1A 1AA is central", "POSTAL_CODE", "SW1A 1AA"),
    ("DNI 12345678Z on file", "ES_NIF", "12345678Z"),
    ("codice fiscale RSSMRA85T10A562S", "IT_FISCAL_CODE", "RSSMRA85T10A562S"),
    ("aadhaar 2341 2341 2346 linked", "IN_AADHAAR", "2341 2341 2346"),
    ("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("password: hunter2hunter2", "SECRET", "hunter2hunter2"),
    ("a 70 year old patient", "AGE", "70"),
]


@pytest.mark.parametrize(("text", "kind", "expected"), TEXT_CASES, ids=[c[1] + ":" + c[2]
                         for c in TEXT_CASES])  # fmt: skip
def test_scan_text_finds_entities_with_exact_spans(text: str, kind: str, expected: str):
    found = [(e.type, text[e.start : e.end]) for e in scan_text(text)]
    assert (kind, expected) in found


NOT_ENTITIES = [
    ("Order 555-0134-8876 shipped", "US_SSN"),
    ("card 4111 1111 1111 1112 expired", "CREDIT_CARD"),  # fails Luhn
    ("IBAN GB82 WEST 1234 5698 7654 33", "IBAN_CODE"),  # fails mod-97
    ("SSN 666-12-3456", "US_SSN"),
    ("version 2021-03-04 build", "PHONE_NUMBER"),
    ("In May we will review", "PERSON"),
    ("The White House", "PERSON"),
    ("Paid 1234.56 on time", "PHONE_NUMBER"),
]


@pytest.mark.parametrize(("text", "kind"), NOT_ENTITIES, ids=[c[0] for c in NOT_ENTITIES])
def test_scan_text_rejects_lookalikes(text: str, kind: str):
    assert kind not in {e.type for e in scan_text(text)}


def test_scan_texts_matches_scan_text_and_handles_nulls_and_long_texts():
    long = ("filler words " * 9000) + "mail bob@example.org\n" + ("more text " * 9000)
    texts = ["x@example.com", None, "", long]
    batch = scan_texts(texts)
    assert batch[1] == [] and batch[2] == []
    assert [(e.type, e.start) for e in batch[0]] == [("EMAIL_ADDRESS", 0)]
    (hit,) = [e for e in batch[3] if e.type == "EMAIL_ADDRESS"]
    assert long[hit.start : hit.end] == "bob@example.org"
    assert scan_text(long) == batch[3]


# -- acceptance 2: entity-level precision/recall/F1 on presidio-evaluator's sentences ------

# privet's types → the corpus labels; types privet does not detect (ORGANIZATION, NRP,
# TITLE, US_DRIVER_LICENSE) are reported with recall 0.
TO_CORPUS = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE", "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS", "URL": "DOMAIN_NAME", "DATE_TIME": "DATE_TIME",
    "DATE_OF_BIRTH": "DATE_TIME", "POSTAL_CODE": "ZIP_CODE", "STREET_ADDRESS": "STREET_ADDRESS",
    "LOCATION": "GPE", "AGE": "AGE",
}  # fmt: skip
# Minimum F1 per type (the measured values, in BENCHMARKS.md, are higher).
MIN_F1 = {
    "EMAIL_ADDRESS": 0.95, "CREDIT_CARD": 0.9, "IBAN_CODE": 0.95, "US_SSN": 0.95,
    "IP_ADDRESS": 0.9, "DOMAIN_NAME": 0.9, "PHONE_NUMBER": 0.85, "DATE_TIME": 0.75,
    "PERSON": 0.72, "AGE": 0.7, "ZIP_CODE": 0.6, "STREET_ADDRESS": 0.4, "GPE": 0.35,
}  # fmt: skip


def _overlap_scores(corpus, predicted):
    """Independent of privet: a prediction is right when it overlaps a labeled span of its
    type; a labeled span is found when a prediction of its type overlaps it."""
    tp_p, n_p, tp_g, n_g = (collections.Counter() for _ in range(4))
    for sample, spans in zip(corpus, predicted, strict=True):
        gold = sample["spans"]
        for kind, start, end in spans:
            n_p[kind] += 1
            tp_p[kind] += any(g[0] == kind and start < g[2] and g[1] < end for g in gold)
        for kind, start, end in gold:
            n_g[kind] += 1
            tp_g[kind] += any(p[0] == kind and p[1] < end and start < p[2] for p in spans)
    scores = {}
    for kind in set(n_p) | set(n_g):
        p = tp_p[kind] / n_p[kind] if n_p[kind] else 0.0
        r = tp_g[kind] / n_g[kind] if n_g[kind] else 0.0
        scores[kind] = (p, r, 2 * p * r / (p + r) if p + r else 0.0, n_g[kind])
    return scores


def test_entity_level_scores_on_presidio_evaluator_sentences():
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        corpus = [json.loads(line) for line in lines]
    assert len(corpus) == 2000
    found = scan_texts([s["text"] for s in corpus])
    predicted = [[[TO_CORPUS.get(e.type, e.type), e.start, e.end] for e in ents] for ents in found]
    scores = _overlap_scores(corpus, predicted)
    print("\nentity        labeled precision recall  F1")
    for kind, (p, r, f1, n) in sorted(scores.items()):
        print(f"{kind:18s} {n:5d}   {p:.3f}   {r:.3f}  {f1:.3f}")
    for kind, floor in MIN_F1.items():
        assert scores[kind][2] >= floor, (kind, scores[kind])


# -- acceptance 3: the Adult data -----------------------------------------------------------


def _unique_share(frame: pl.DataFrame, columns: list[str]) -> float:
    counts = collections.Counter(zip(*(frame[c].to_list() for c in columns), strict=True))
    return sum(1 for n in counts.values() if n == 1) / frame.height


def test_adult_quasi_identifiers_and_fnlwgt():
    frame = adult()
    report = scan_frame(frame)
    assert {"age", "sex", "race", "native_country", "marital_status"} <= set(
        report.quasi_identifiers
    )
    assert report.column("fnlwgt").role != "direct_identifier"
    assert report.column("fnlwgt").category is None
    assert report.direct_identifiers == []
    assert {len(s.columns) for s in report.quasi_identifier_sets} == {1, 2, 3, 4}
    # Every reported share is recomputed independently (Python tuples and a Counter).
    for found in report.quasi_identifier_sets:
        assert found.unique_share == pytest.approx(_unique_share(frame, found.columns), abs=1e-4)
    # Within a size, the reported sets are the best ones (checked on pairs).
    pairs = [s for s in report.quasi_identifier_sets if len(s.columns) == 2]
    qi = report.quasi_identifiers + ["relationship"]
    best = max(_unique_share(frame, [a, b]) for i, a in enumerate(qi) for b in qi[i + 1 :])
    assert pairs[0].unique_share == pytest.approx(best, abs=1e-4)


def test_report_json_has_exactly_the_documented_shape():
    report = scan_frame(adult().head(500))
    data = json.loads(report.model_dump_json())
    assert set(data) == {"rows", "columns", "quasi_identifier_sets"}
    assert data["rows"] == 500
    for column in data["columns"]:
        assert set(column) == {"name", "category", "role", "confidence", "evidence", "entities"}
        assert column["role"] in {"direct_identifier", "quasi_identifier", "sensitive", "other"}
    for found in data["quasi_identifier_sets"]:
        assert set(found) == {"columns", "unique_share"}


# -- acceptance 4 (library side): bad input ---------------------------------------------------


def test_bad_frames_are_handled():
    empty = scan_frame(pl.DataFrame({"a": []}, schema={"a": pl.String}))
    assert empty.rows == 0 and empty.column("a").role == "other"
    nulls = scan_frame(pl.DataFrame({"email": [None, None]}, schema={"email": pl.String}))
    assert nulls.column("email").evidence.values_scanned == 0
    one = scan_frame(pl.DataFrame({"email": ["a@example.org", "b@example.org"]}))
    assert one.column("email").category == "user.contact.email"
    nested = scan_frame(pl.DataFrame({"n": [[1, 2], [3]], "b": [b"x", b"y"]}))
    assert {c.role for c in nested.columns} == {"other"}
    huge = scan_frame(pl.DataFrame({"blob": ["x" * 10_000_000, "call 415-555-0132"]}))
    assert huge.column("blob").evidence.values_scanned == 2
    with pytest.raises(InvalidInput):
        scan_frame([1, 2, 3])
    with pytest.raises(InvalidInput):
        scan_frame(pl.DataFrame({"a": [1]}), sample=0)


def test_wide_frames_are_scanned_in_one_pass():
    width = 20_000
    frame = pl.DataFrame({f"c{i}": ["1", "2"] for i in range(width)})
    report = scan_frame(frame)
    assert len(report.columns) == width


@pytest.mark.slow
def test_one_hundred_thousand_columns():
    frame = pl.DataFrame({f"c{i}": ["1", "2", "3"] for i in range(100_000)})
    assert len(scan_frame(frame).columns) == 100_000


def test_sample_scans_at_most_that_many_rows_and_reports_no_values(labeled: pl.DataFrame):
    report = scan_frame(labeled, sample=300)
    assert report.rows == 300 and report.total_rows == labeled.height
    dumped = report.model_dump_json()
    for column in ("email", "phone", "ssn", "full_name", "iban"):
        for value in labeled[column].head(200).to_list():
            assert value not in dumped


def test_mask_keeps_the_shape_only():
    assert mask("john.smith@example.org") == "j***.*****@*******.**g"
    assert mask("(415) 555-0132") == "(***) ***-***2"
    assert mask("abc") == "***"
    assert len(mask("x" * 100)) <= 41


# -- registry, decorator, YAML -------------------------------------------------------------


def test_registering_a_name_twice_is_an_error_unless_forced():
    registry = RecognizerRegistry()
    first = PatternRecognizer(name="badge", entity="BADGE", pattern=r"\bEMP-\d{6}\b")
    registry.add(first)
    with pytest.raises(AlreadyExists):
        registry.add(PatternRecognizer(name="badge", entity="BADGE", pattern=r"x"))
    registry.add(PatternRecognizer(name="badge", entity="BADGE2", pattern=r"x"), force=True)
    assert registry.get("badge").entity == "BADGE2"


def test_register_recognizer_decorator_on_a_class_and_a_factory():
    registry = RecognizerRegistry()

    @register_recognizer(registry=registry)
    class Ticket(PatternRecognizer):
        def __init__(self) -> None:
            super().__init__(name="ticket", entity="TICKET", pattern=r"\bTCK-\d{4}\b")

    @register_recognizer(registry=registry)
    def employee() -> Recognizer:
        return PatternRecognizer(
            name="employee", entity="EMPLOYEE_ID", pattern=r"\bEMP-\d{6}\b",
            category="user.unique_id", column_hints=("badge",),
        )  # fmt: skip

    assert registry.names == ["ticket", "employee"]
    with pytest.raises(AlreadyExists):
        register_recognizer(Ticket, registry=registry)
    found = scan_text("badge EMP-123456 and TCK-0042", registry=registry)
    assert [e.type for e in found] == ["EMPLOYEE_ID", "TICKET"]
    report = scan_frame(pl.DataFrame({"badge": ["EMP-000001", "EMP-000002"]}), registry=registry)
    assert report.column("badge").role == "direct_identifier"


def test_default_registry_has_the_issue_recognizers_all_valid_in_both_engines():
    registry = default_registry()
    assert {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
        "MAC_ADDRESS", "URL", "DATE_TIME", "DATE_OF_BIRTH", "POSTAL_CODE", "STREET_ADDRESS",
        "PERSON", "UK_NINO", "FR_NIR", "ES_NIF", "IT_FISCAL_CODE", "IN_AADHAAR", "NL_BSN",
        "PASSPORT", "SECRET",
    } <= set(registry.entities)  # fmt: skip
    for recognizer in registry:
        if isinstance(recognizer, PatternRecognizer):
            recognizer.check()  # compiles in Python's re and in Polars


def test_load_recognizers_from_yaml(tmp_path: Path):
    path = tmp_path / "extra.yaml"
    path.write_text(
        "recognizers:\n"
        "  - name: employee_badge\n"
        "    entity: EMPLOYEE_BADGE\n"
        "    category: user.unique_id\n"
        "    pattern: 'EMP-[0-9]{6}'\n"
        "    context: [badge]\n"
        "    column_hints: [badge]\n"
    )
    registry = load_recognizers(path)
    assert "employee_badge" in registry and "email" in registry
    assert [e.type for e in scan_text("badge EMP-123456", registry=registry)] == ["EMPLOYEE_BADGE"]
    assert "employee_badge" not in default_registry()


def test_built_in_pattern_recognizers_are_a_recognizer_file():
    import privet.discover

    path = Path(privet.discover.__file__).with_name("recognizers.yaml")
    from_file = load_recognizers(path)  # "defaults: false": the file's recognizers only
    built_in = default_registry()
    assert from_file.names == built_in.names[: len(from_file)]
    assert set(built_in.names) - set(from_file.names) == {"country", "street_address", "person"}
    for mine in from_file:
        theirs = built_in.get(mine.name)
        assert (mine.pattern, mine.score, mine.strength, mine.needs_context, mine.validator) == (
            theirs.pattern, theirs.score, theirs.strength, theirs.needs_context, theirs.validator
        )  # fmt: skip


def test_recognizer_file_takes_pattern_pieces_value_pattern_and_needs_context(tmp_path: Path):
    path = tmp_path / "extra.yaml"
    path.write_text(
        "defaults: false\n"
        "recognizers:\n"
        "  - name: ticket\n"
        "    entity: TICKET\n"
        "    pattern: ['ticket ', '(?P<m>TCK-[0-9]{4})']\n"
        "    value_pattern: 'TCK-[0-9]{4}'\n"
        "    needs_context: true\n"
        "    context: [support]\n"
    )
    registry = load_recognizers(path)
    (found,) = scan_text("support ticket TCK-0042", registry=registry)
    assert (found.type, found.start, found.end) == ("TICKET", 15, 23)
    assert scan_text("ticket TCK-0042", registry=registry) == []  # no context word
    report = scan_frame(pl.DataFrame({"t": ["TCK-0001", "TCK-0002"]}), registry=registry)
    assert report.column("t").entities[0].type == "TICKET"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("recognizers: [{name: a, entity: A, pattern: '(?<=x)y'}]", "look-around"),
        ("recognizers: [{name: a, entity: A, pattern: '('}]", "not a valid regex"),
        ("recognizers: [{name: a, entity: A, pattern: x, validator: nope}]", "unknown validator"),
        ("recognizers: [{name: a, entity: A, pattern: x, colour: red}]", "Extra inputs"),
        ("recognizers: [{name: email, entity: A, pattern: x}]", "already registered"),
        ("recognizers: [{name: a, entity: A, pattern: x, category: user.nme}]", "did you mean"),
        ("{{{", "not valid UTF-8 YAML"),
    ],
)
def test_bad_recognizer_files_are_refused(tmp_path: Path, content: str, words: str):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises((InvalidInput, AlreadyExists), match=words):
        load_recognizers(path)
