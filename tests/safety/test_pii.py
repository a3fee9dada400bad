"""assay.pii: each detector on valid and invalid values, checksums against independent code, redaction."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import pii


def _types(text: str) -> list[str]:
    return [e.type for e in pii.detect(text)]


# ------------------------------------------------------------------------------------ checksums
def _luhn_check_digit(payload: str) -> str:
    """Textbook Luhn check digit, written independently of assay.pii (double every second from right)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def test_luhn_matches_an_independent_implementation() -> None:
    rng = random.Random(7)
    for _ in range(500):
        payload = "4" + "".join(rng.choice("0123456789") for _ in range(14))
        number = payload + _luhn_check_digit(payload)
        assert pii.luhn_valid(number)
        wrong = number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)
        assert not pii.luhn_valid(wrong)


def test_iban_checksum_against_iso_7064_example() -> None:
    # ISO 13616 examples, and a one-character change of each (mod 97 catches every single substitution)
    for iban in ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606"]:
        assert pii.iban_valid(iban)
        i = 10
        changed = iban[:i] + ("1" if iban[i] != "1" else "2") + iban[i + 1 :]
        assert not pii.iban_valid(changed)
    assert not pii.iban_valid("XX82WEST12345698765432")  # unknown country
    assert not pii.iban_valid("GB82WEST1234569876543")  # wrong length for GB


def test_entropy() -> None:
    assert pii.shannon_entropy("") == 0.0
    assert pii.shannon_entropy("abab") == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ detectors
@pytest.mark.parametrize(
    ("text", "kind", "subtype"),
    [
        ("mail x.y+z@sub.example.co.uk now", "email", "email"),
        ("card 4012 8888 8888 1881", "credit_card", "visa"),
        ("mc 5105105105105100", "credit_card", "mastercard"),
        ("amex 3714-496353-98431", "credit_card", "amex"),
        ("jcb 3530111333300000", "credit_card", "jcb"),
        ("iban ES91 2100 0418 4502 0005 1332", "iban", "es"),
        ("iban CH9300762011623852957", "iban", "ch"),
        ("ssn 078-05-1120", "national_id", "us_ssn"),
        ("nino AB123456C", "national_id", "uk_nino"),
        ("dni 12345678Z", "national_id", "es_dni"),
        ("host 198.51.100.7", "ip_address", "ipv4"),
        ("host fe80::1ff:fe23:4567:890a", "ip_address", "ipv6"),
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwx", "api_key", "anthropic"),
        ("key glpat-abcdefghij0123456789", "api_key", "gitlab"),
        ("key npm_abcdefghijklmnopqrstuvwxyz0123456789", "api_key", "npm"),
        ("secret: 9fK2pQ7xLm4RtZ8w", "secret", "assigned"),
        ("tok 7HqP2vXk9LmN4rTz8WcY3bJd6FgS1aE0", "secret", "high_entropy"),
        ("phone +49 30 901820", "phone", "e164"),
        ("tel: 0612345678", "phone", "national"),
    ],
)
def test_detects(text: str, kind: str, subtype: str) -> None:
    found = pii.detect(text)
    assert [(e.type, e.subtype) for e in found] == [(kind, subtype)], found
    e = found[0]
    assert text[e.start : e.end] == e.text


@pytest.mark.parametrize(
    "text",
    [
        "card 4012 8888 8888 1882",  # Luhn fails
        "card 1234 5678 9012 3456",  # Luhn fails
        "card 0000 0000 0000 0000",  # one repeated digit
        "iban DE89370400440532013001",  # checksum fails
        "ssn 000-12-3456",
        "ssn 123-00-4567",
        "dni 12345678A",  # wrong check letter
        "nino QQ123456C",  # QQ is never issued
        "ip 256.1.1.1",
        "ip 1.2.3.4.5",
        "date 2024-01-31",
        "just some words and 42 numbers",
        "hash a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        "a number 12345678",
    ],
)
def test_rejects_look_alikes(text: str) -> None:
    assert pii.detect(text) == []


def test_overlaps_resolve_to_the_stronger_type() -> None:
    # a card number is not also a phone number; an email's digits are not a phone number
    assert _types("card 4111111111111111 end") == ["credit_card"]
    assert _types("mail 4155550132@example.com") == ["email"]


def test_type_filter_and_unknown_type() -> None:
    text = "a@example.com 4111 1111 1111 1111"
    assert [e.type for e in pii.detect(text, ["credit_card"])] == ["credit_card"]
    with pytest.raises(ValueError, match="unknown entity type"):
        pii.detect(text, ["passport"])


def test_canonical_value_links_spellings() -> None:
    a = pii.detect("4111-1111-1111-1111")[0]
    b = pii.detect("4111 1111 1111 1111")[0]
    assert a.key == b.key == ("credit_card", "4111111111111111")
    assert pii.detect("Jane.Doe@Example.COM")[0].value == "jane.doe@example.com"


# ------------------------------------------------------------------------------------ redaction
def test_redact_styles() -> None:
    text = "Email jane@example.com, card 4111 1111 1111 1111."
    assert pii.redact(text) == "Email [EMAIL], card [CREDIT_CARD]."
    assert pii.redact(text, style="mask") == "Email ************.com, card ***************1111."
    hashed = pii.redact(text, style="hash", salt="k")
    assert hashed.startswith("Email [EMAIL:") and "[CREDIT_CARD:" in hashed
    # the same value gets the same pseudonym, a different salt a different one
    assert pii.redact("jane@example.com", style="hash", salt="k") in hashed
    assert pii.redact("jane@example.com", style="hash", salt="other") not in hashed
    assert pii.redact(text, ["email"]) == "Email [EMAIL], card 4111 1111 1111 1111."
    with pytest.raises(ValueError, match="redaction style"):
        pii.redact(text, style="blur")  # type: ignore[arg-type]


_ALPHABET = st.sampled_from([*list("abc XYZ019@.-+:/_=()\n"), "4111 1111 1111 1111", "a@b.io", "10.0.0.1"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map(" ".join))
def test_spans_are_exact_sorted_and_disjoint(text: str) -> None:
    found = pii.detect(text)
    for e in found:
        assert text[e.start : e.end] == e.text
        assert e.type in pii.ENTITY_TYPES
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start
    redacted = pii.redact(text)
    assert pii.redact(redacted) == redacted  # nothing left to redact after redaction
