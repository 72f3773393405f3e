"""Text cleaning, repost fingerprints and personal-data masking."""

from __future__ import annotations

import pytest

from pipeline.text.checksums import card_ok, cn_id_ok, iban_ok, luhn_ok
from pipeline.text.clean import clean_text, repost_fingerprint
from pipeline.text.fold import Folded
from pipeline.text.pii import author_hash, mask_personal_data


def test_clean_text_normalises_unicode_and_whitespace() -> None:
    assert clean_text("e\u0301te\u200b  \x00 ok\n\n") == "\u00e9te ok"
    assert clean_text("\u200b\u200d\ufeff") == ""


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Great flight!", "RT @bob: great flight"),
        ("Great flight https://t.co/x", "great   flight!!"),
        ("@acme great flight", "great flight @other"),
    ],
)
def test_reposts_share_a_fingerprint(a: str, b: str) -> None:
    assert repost_fingerprint(a) == repost_fingerprint(b)


def test_different_texts_differ() -> None:
    assert repost_fingerprint("great flight") != repost_fingerprint("terrible flight")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+x@mail.example.org now", "mail [email] now"),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("call (555) 123-4567", "call [phone]"),
        ("thanks @jane_d!", "thanks @user!"),
        ("in 2024 we paid 12,000", "in 2024 we paid 12,000"),
    ],
)
def test_mask_personal_data(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


def test_author_hash_is_stable_keyed_and_not_the_name() -> None:
    a = author_hash("@Jane", b"k1")
    assert a == author_hash("@jane ", b"k1") and a != author_hash("@jane", b"k2")
    assert a is not None and "jane" not in a
    assert author_hash(None, b"k1") is None


def test_folded_spans_map_back_when_folding_changes_lengths() -> None:
    folded = Folded("㍿ ＋４４ ２０")  # ㍿ folds to four characters
    assert folded.view == "株式会社 +44 20"
    start = folded.view.index("+")
    assert folded.replace([(start, len(folded.view), "[phone]")]) == "㍿ [phone]"
    assert Folded("plain").replace([(0, 5, "[x]")]) == "[x]"


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert card_ok("378282246310005") and not card_ok("1111111111111117")  # prefix 1: no
    assert iban_ok("gb82west12345698765432") and not iban_ok("GB82WEST12345698765433")
    assert cn_id_ok("11010519491231002x") and not cn_id_ok("110105194912310021")
    assert cn_id_ok("110105491231002") and not cn_id_ok("110105491331002")  # month 13
