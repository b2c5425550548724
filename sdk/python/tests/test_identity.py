"""Identity commitments (SPEC.md, "Opening an account"): every case and every
refused input of sdk/vectors/identity.json, and the edges of the rule."""

import json
from pathlib import Path

import pytest

import hutong
from hutong import (
    EncodingError,
    HutongError,
    IdentityError,
    OpenAccount,
    SigningKey,
    identity_commitment,
    new_identity_salt,
    normalise_id_number,
    normalise_id_type,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "identity.json"
DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES = DATA["cases"]
REFUSED = DATA["refused"]


def test_vectors_file_has_cases_and_refusals():
    assert len(CASES) >= 5 and len(REFUSED) >= 4


@pytest.mark.parametrize("case", CASES, ids=[c["about"] for c in CASES])
def test_identity_vector(case):
    assert normalise_id_type(case["id_type"]) == case["normalised_type"]
    assert normalise_id_number(case["id_number"]) == case["normalised_number"]
    salt = bytes.fromhex(case["salt"])
    c = identity_commitment(case["id_type"], case["id_number"], salt)
    assert isinstance(c, bytes) and len(c) == 32
    assert c == bytes.fromhex(case["commitment"])
    # the salt as hex, and the normalised forms, commit the same
    assert identity_commitment(case["id_type"], case["id_number"], case["salt"]) == c
    assert identity_commitment(case["normalised_type"], case["normalised_number"], salt) == c


@pytest.mark.parametrize("case", REFUSED, ids=[c["about"] for c in REFUSED])
def test_identity_vector_refused(case):
    with pytest.raises(IdentityError) as e:
        identity_commitment(case["id_type"], case["id_number"], b"\x11" * 32)
    assert isinstance(e.value, HutongError) and isinstance(e.value, EncodingError)


def test_spec_example_bytes():
    # SPEC.md spells out the hashed bytes of the first case.
    pre = bytes.fromhex(
        "6875746f6e672f6964656e746974792f7631" "00"
        "06000000" "434e5f524943"
        "12000000" "313130313035313934393132333130303258"
    ) + b"\x11" * 32
    import hashlib
    assert hashlib.sha256(pre).hexdigest() == CASES[0]["commitment"]


# The refusals of runtime/src/identity.rs's own tests.
@pytest.mark.parametrize("bad", ["", "   ", "CN RIC", "护照", "A-B", "X" * 33, "CN_RİC", "ıD"])
def test_type_refused(bad):
    with pytest.raises(IdentityError) as e:
        normalise_id_type(bad)
    assert e.value.field == "id_type" and e.value.value == bad


@pytest.mark.parametrize("bad", ["", " - ", "１２３", "12.3", "A_1", "9" * 65, "12\n3", "12\u00a03", "ſ1", "ß1"])
def test_number_refused(bad):
    with pytest.raises(IdentityError) as e:
        normalise_id_number(bad)
    assert e.value.field == "id_number" and e.value.value == bad


def test_lengths_at_the_limit():
    assert normalise_id_type("x" * 32) == "X" * 32
    assert normalise_id_number("9" * 64 + " -") == "9" * 64


def test_type_white_space_is_unicode_white_space():
    # Rust's trim(): the White_Space property, no more and no less.
    for ws in ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680", "\u2000",
               "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]:
        assert normalise_id_type(ws + "hk_id" + ws) == "HK_ID", repr(ws)
    # str.strip() would remove U+001C..U+001F; JavaScript's trim() U+FEFF.
    for not_ws in ["\x1c", "\x1f", "\ufeff", "\u200b", "\u180e"]:
        with pytest.raises(IdentityError):
            normalise_id_type(not_ws + "HK_ID")


def test_number_separators_anywhere():
    assert normalise_id_number("(a)1/2-3\t4 5") == "A12345"


def test_non_str_refused():
    with pytest.raises(IdentityError):
        normalise_id_type(None)  # type: ignore[arg-type]
    with pytest.raises(IdentityError):
        normalise_id_number(123)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"\x11" * 31, b"\x11" * 33, "11" * 31, "zz" * 32, None])
def test_salt_must_be_32_bytes(bad):
    with pytest.raises(IdentityError) as e:
        identity_commitment("CN_RIC", "1", bad)  # type: ignore[arg-type]
    assert e.value.field == "salt"


def test_new_identity_salt():
    a, b = new_identity_salt(), new_identity_salt()
    assert isinstance(a, bytes) and len(a) == 32 and a != b


def test_open_account_from_identity():
    owner = SigningKey(b"\x07" * 32).public_key
    case = CASES[0]
    kind = OpenAccount.from_identity(owner, 1, case["id_type"], case["id_number"], case["salt"])
    assert kind == OpenAccount(owner, 1, case["commitment"])
    assert kind.identity_commitment.hex() == case["commitment"]
    with pytest.raises(IdentityError):
        OpenAccount.from_identity(owner, 1, "CN RIC", "1", b"\x00" * 32)


def test_exported_from_the_package_root():
    for name in ["identity_commitment", "normalise_id_type", "normalise_id_number",
                 "new_identity_salt", "IdentityError"]:
        assert name in hutong.__all__ and hasattr(hutong, name)
