"""Unit tests: amounts, bech32m addresses, key files, encoding rules, RPC error mapping."""

import hashlib
import os
import stat
import time
from decimal import Decimal

import pytest

import hutong
from hutong import (
    Address,
    AddressError,
    AmountError,
    EncodingError,
    Expiry,
    KeyFileError,
    SignedTransaction,
    SigningKey,
    Transaction,
    Transfer,
    format_amount,
    parse_amount,
)
from hutong import bech32m
from hutong.client import error_from_rpc
from hutong.views import Account, Receipt, SubmitVerdict, TxStatus

VALID = "ht1lr9fsq5ahn46ndmyh2csya2x7rvzvs2g3rljkm"


# -- amounts -------------------------------------------------------------

@pytest.mark.parametrize("text,decimals,minor", [
    ("123.45", 2, 12345), ("0.01", 2, 1), ("1", 2, 100), ("1.", 2, 100), (".5", 2, 50),
    ("1.50", 2, 150), ("1.5000", 2, 150), ("0", 2, 0), ("12", 0, 12), ("1_000.00", 2, 100000),
    ("340282366920938463463374607431768211455", 0, 2**128 - 1),
])
def test_parse_amount(text, decimals, minor):
    assert parse_amount(text, decimals) == minor


def test_parse_amount_other_types():
    assert parse_amount(5, 2) == 500
    assert parse_amount(Decimal("1.23"), 2) == 123
    with pytest.raises(AmountError):
        parse_amount(1.5, 2)  # floats are refused
    with pytest.raises(AmountError):
        parse_amount(True, 2)


@pytest.mark.parametrize("bad", ["1.234", "-1", "+1", "1e3", "", "abc", "1.2.3", " . ", "3402823669209384634633746074317682114560"])
def test_parse_amount_refuses(bad):
    with pytest.raises(AmountError):
        parse_amount(bad, 2)


@pytest.mark.parametrize("minor,decimals,text", [
    (12345, 2, "123.45"), (1, 2, "0.01"), (0, 2, "0.00"), (100, 2, "1.00"), (7, 0, "7"),
    ("12345", 2, "123.45"), (10**20, 8, "1000000000000.00000000"),
])
def test_format_amount(minor, decimals, text):
    assert format_amount(minor, decimals) == text


def test_amount_round_trip():
    for minor in (0, 1, 9, 10, 99, 100, 12345, 2**128 - 1):
        for d in (0, 2, 6, 18):
            assert parse_amount(format_amount(minor, d), d) == minor


def test_format_amount_refuses():
    for bad in (-1, "1.5", "x", 1.5):
        with pytest.raises(AmountError):
            format_amount(bad, 2)


# -- bech32m and addresses ----------------------------------------------

def test_address_round_trip():
    a = Address.parse(VALID)
    assert str(a) == VALID and len(a.raw) == 20 and a == VALID
    # 20 bytes = 32 five-bit characters, plus 6 of checksum: "ht1" + 38 (SPEC.md says 39).
    assert len(VALID) == 3 + 38


def test_address_bad_checksum():
    bad = VALID[:-1] + ("q" if VALID[-1] != "q" else "p")
    with pytest.raises(AddressError, match="checksum"):
        Address.parse(bad)


def test_address_bech32_not_m_refused():
    # The same data with the bech32 (BIP 173) checksum.
    hrp, data = bech32m.decode(VALID)
    values = bech32m._convertbits(data, 8, 5, True)
    poly = bech32m._polymod(bech32m._hrp_expand(hrp) + values + [0] * 6) ^ 1
    text = hrp + "1" + "".join(bech32m.CHARSET[v] for v in values + [(poly >> 5 * (5 - i)) & 31 for i in range(6)])
    with pytest.raises(AddressError, match="bech32 checksum"):
        Address.parse(text)


def test_address_other_prefix_length_case_refused():
    with pytest.raises(AddressError):
        Address.parse(bech32m.encode("bc", b"\x01" * 20))
    with pytest.raises(AddressError):
        Address.parse(bech32m.encode("ht", b"\x01" * 21))
    with pytest.raises(AddressError):
        Address.parse(VALID.upper())
    with pytest.raises(AddressError):
        Address.parse("ht1" + "b" * 39)  # 'b' is not in the alphabet
    with pytest.raises(AddressError):
        Address.parse("")


def test_bip350_test_vectors():
    # Valid bech32m strings from BIP 350.
    for s in ["A1LQFN3A", "a1lqfn3a", "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
              "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
              "?1v759aa"]:
        bech32m.decode(s)
    # Invalid: bech32 checksums / bad checksums from BIP 350.
    for s in ["qyrz8wqd2c9m", "1qyrz8wqd2c9m", "y1b0jsk6g", "lt1igcx5c0", "in1muywd",
              "mm1crxm3i", "au1s5cgom", "M1VUXWEZ", "16plkw9", "1p2gdwpf"]:
        with pytest.raises(AddressError):
            bech32m.decode(s)


# -- keys and key files --------------------------------------------------

def test_key_file_round_trip(tmp_path):
    k = SigningKey.generate()
    p = tmp_path / "a.key"
    k.save(p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    k2 = SigningKey.load(p)
    assert k2.seed == k.seed and k2.public_key == k.public_key
    with pytest.raises(FileExistsError):
        k.save(p)
    text = p.read_text()
    assert text.startswith("# Hutong ed25519 key.")
    assert 'kind = "hutong-ed25519-secret-key"' in text


def _file(kind="hutong-ed25519-secret-key", pub=None, sec=None, extra=""):
    k = SigningKey(bytes(range(32)))
    pub = pub if pub is not None else k.public_key.hex()
    sec = sec if sec is not None else k.seed.hex()
    return f'kind = "{kind}"\npublic_key = "{pub}"\nsecret_key = "{sec}"\n{extra}'


def test_key_file_parses():
    k = SigningKey.from_key_file(_file())
    assert k.seed == bytes(range(32))


@pytest.mark.parametrize("text,match", [
    (_file(kind="other"), "kind"),
    (_file(extra='note = "x"\n'), "unknown fields"),
    ('kind = "hutong-ed25519-secret-key"\nsecret_key = "' + "00" * 32 + '"\n', "lacks"),
    (_file(pub="11" * 32), "not the secret key"),
    (_file(sec="zz" * 32), "not hex"),
    (_file(sec="00" * 31), "64 hex"),
    ("kind = = 3", "not TOML"),
])
def test_key_file_refused(text, match):
    with pytest.raises(KeyFileError, match=match):
        SigningKey.from_key_file(text)


def test_key_file_missing(tmp_path):
    with pytest.raises(KeyFileError):
        SigningKey.load(tmp_path / "none.key")


def test_hutong_cli_key_file_layout():
    # Exactly the layout SPEC.md section 5 shows.
    k = SigningKey(b"\x07" * 32)
    lines = k.to_key_file().splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == ['kind = "hutong-ed25519-secret-key"',
                         f'public_key = "{k.public_key.hex()}"', f'secret_key = "{"07" * 32}"']


# -- encoding rules ------------------------------------------------------

def _tx(**kw):
    k = SigningKey(b"\x01" * 32)
    base = dict(chain_id=b"\xab" * 32, sender=k.public_key, sequence=0,
                expiry=Expiry.at_height(10), kind=Transfer(VALID, "CNY", 1, 5))
    base.update(kw)
    return k, Transaction(**base)


@pytest.mark.parametrize("asset", ["", "cny", "1CNY", "ABCDEFGHI", "C-Y"])
def test_bad_asset_codes(asset):
    with pytest.raises(EncodingError):
        Transfer(VALID, asset, 1, 1)


def test_asset_padding():
    _, tx = _tx(kind=Transfer(VALID, "A1", 1, 1))
    assert b"A1\x00\x00\x00\x00\x00\x00" in tx.encode()


def test_memo_limit_and_ranges():
    _tx(memo=b"x" * 512)
    with pytest.raises(EncodingError, match="513 bytes; at most 512"):
        _tx(memo=b"x" * 513)
    with pytest.raises(EncodingError):
        _tx(sequence=-1)
    with pytest.raises(EncodingError):
        _tx(sequence=2**64)
    with pytest.raises(EncodingError):
        Transfer(VALID, "CNY", 2**128, 1)
    with pytest.raises(EncodingError):
        Transfer(VALID, "CNY", 1.0, 1)


def test_transfer_id_forms():
    import uuid
    u = uuid.UUID("01020304-0506-0708-090a-0b0c0d0e0f10")
    ids = {Transfer(VALID, "CNY", 1, x).transfer_id for x in
           (u, "0102030405060708090a0b0c0d0e0f10", bytes(range(1, 17)), 0x0102030405060708090A0B0C0D0E0F10)}
    assert ids == {0x0102030405060708090A0B0C0D0E0F10}
    # A fresh random id unless given.
    assert Transfer(VALID, "CNY", 1).transfer_id != Transfer(VALID, "CNY", 1).transfer_id


def test_strict_decoding():
    k, tx = _tx()
    raw = tx.sign(k).encode()
    assert SignedTransaction.decode(raw).encode() == raw
    with pytest.raises(EncodingError):
        SignedTransaction.decode(raw + b"\x00")  # trailing byte
    with pytest.raises(EncodingError):
        SignedTransaction.decode(raw[:-1])  # truncated
    bad_option = raw[:-1] + b"\x02"
    with pytest.raises(EncodingError):
        SignedTransaction.decode(bad_option)


def test_cosigning_rules():
    k, tx = _tx()
    other = SigningKey(b"\x02" * 32)
    with pytest.raises(EncodingError):
        tx.sign(k).cosign(other)  # no cosigner named
    tx2 = tx.with_cosigner(other.public_key)
    assert tx2.id != tx.id  # the co-signer is part of what the sender signs
    s = tx2.sign(k, other)
    assert s.verify() and s.cosignature is not None
    with pytest.raises(EncodingError):
        tx2.sign(k).cosign(SigningKey(b"\x03" * 32))  # not the named co-signer
    with pytest.raises(EncodingError):
        tx.sign(other)  # not the sender's key


def test_every_kind_encodes_and_decodes():
    k = SigningKey(b"\x01" * 32)
    kinds = [
        hutong.Transfer(VALID, "CNY", 5, 1),
        hutong.BatchTransfer("HKD", [hutong.Payout(VALID, 1), (VALID, 2)], 9),
        hutong.OpenAccount(k.public_key, 2, b"\x5a" * 32),
        hutong.SetTier(VALID, 3),
        hutong.Freeze(VALID, "fraud"),
        hutong.Unfreeze(VALID),
        hutong.Mint(VALID, "CNY", 10),
        hutong.Burn("CNY", 10),
        hutong.Vote(4, True),
        hutong.Withdraw(4),
        hutong.Hold(VALID, "CNY", 20000, 0xFEED, 1_767_229_200_000),
        hutong.Capture(VALID, 0xFEED, 7350),
        hutong.Void(VALID, 0xFEED),
        hutong.FreezeAmount(VALID, "CNY", 500000, 77, "legal-order", "(2026) Hu 0101 Zhi 123", 1_798_761_600_000),
        hutong.ReleaseFreeze(VALID, 77),
        hutong.SetAccountState(VALID, "receive-only", "fraud"),
        hutong.RegisterDevice(k.public_key, "CNY", 1, 2, [VALID]),
        hutong.RevokeDevice(k.public_key),
        hutong.Linked([hutong.Transfer(VALID, "CNY", 5, 1), hutong.Void(VALID, 2)]),
        hutong.Pvp(hutong.Quote(VALID, 1, "CNY", "HKD", 1, 1, 1, 1, 1), b"\x00" * 64, 1, 1, VALID, 1),
        hutong.GrantMandate(1, VALID, hutong.MandateScope(pay=True), "CNY", [], 1, 1, 1, 1, 2),
        hutong.RevokeMandate(1),
        hutong.MandatePay(VALID, 1, VALID, "CNY", 1, 1),
        hutong.OpenAccount(k.public_key, 1, b"\x5a" * 32, b"\x6b" * 144),
        hutong.ListIdentity(b"\x4c" * 32, "fraud", "case 7"),
        hutong.DelistIdentity("4c" * 32),
        hutong.SetMemoKey(b"\x3e" * 32),
    ]
    for i, kind in enumerate(kinds):
        tx = Transaction(b"\x00" * 32, k.public_key, i, Expiry.at_time_ms(1), kind)
        assert tx.encode()[32 + 32 + 8 + 9] == kind.INDEX
        assert Transaction.decode(tx.encode()) == tx
        assert Transaction.from_json(tx.to_json()) == tx


# -- holds, amount freezes, account states --------------------------------

HOLD_ID = "0000000000000000000000000000feed"


def _round_trip(kind):
    k = SigningKey(b"\x01" * 32)
    tx = Transaction(b"\x00" * 32, k.public_key, 3, Expiry.at_height(9), kind)
    raw = tx.encode()
    assert raw[32 + 32 + 8 + 9] == kind.INDEX
    assert Transaction.decode(raw) == tx
    assert Transaction.from_json(tx.to_json()) == tx
    signed = tx.sign(k)
    assert SignedTransaction.decode(signed.encode()) == signed and signed.verify()
    return raw[32 + 32 + 8 + 9:-5]  # the kind: tag and fields (no cosigner: 1 byte, empty memo: 4)


def test_new_kind_indices_and_names():
    for cls, index, name in [(hutong.Hold, 12, "hold"), (hutong.Capture, 13, "capture"),
                             (hutong.Void, 14, "void"), (hutong.FreezeAmount, 15, "freeze_amount"),
                             (hutong.ReleaseFreeze, 16, "release_freeze"),
                             (hutong.SetAccountState, 17, "set_account_state")]:
        assert (cls.INDEX, cls.NAME) == (index, name)


def test_hold_round_trip():
    kind = hutong.Hold(VALID, "CNY", 20000, HOLD_ID, 1_767_229_200_000)
    assert kind.hold_id == 0xFEED and kind.to == Address.parse(VALID)
    body = _round_trip(kind)
    assert body == (bytes([12]) + Address.parse(VALID).raw + b"CNY".ljust(8, b"\0")
                    + (20000).to_bytes(16, "little") + (0xFEED).to_bytes(16, "little")
                    + (1_767_229_200_000).to_bytes(8, "little"))
    assert kind.to_json() == {"to": VALID, "asset": "CNY", "amount": "20000", "hold_id": HOLD_ID,
                              "expires_at_ms": 1_767_229_200_000}
    with pytest.raises(EncodingError):
        hutong.Hold(VALID, "CNY", 1, HOLD_ID, 2**64)
    with pytest.raises(EncodingError):
        hutong.Hold(VALID, "CNY", 1, "feed", 1)  # a hold id is 32 hex digits
    with pytest.raises(EncodingError):
        hutong.Hold(VALID, "cny", 1, HOLD_ID, 1)


def test_capture_and_void_round_trip():
    body = _round_trip(hutong.Capture(VALID, HOLD_ID, 7350))
    assert body == (bytes([13]) + Address.parse(VALID).raw + (0xFEED).to_bytes(16, "little")
                    + (7350).to_bytes(16, "little"))
    body = _round_trip(hutong.Void(VALID, 0xFEED))
    assert body == bytes([14]) + Address.parse(VALID).raw + (0xFEED).to_bytes(16, "little")
    assert hutong.Void(VALID, 0xFEED).to_json() == {"payer": VALID, "hold_id": HOLD_ID}
    with pytest.raises(EncodingError):
        hutong.Capture(VALID, HOLD_ID, 2**128)


def test_freeze_amount_round_trip():
    kind = hutong.FreezeAmount(VALID, "CNY", 500000, 77, "legal-order", "(2026) Hu", 1_798_761_600_000)
    assert kind.reference == b"(2026) Hu"
    body = _round_trip(kind)
    assert body == (bytes([15]) + Address.parse(VALID).raw + b"CNY".ljust(8, b"\0")
                    + (500000).to_bytes(16, "little") + (77).to_bytes(8, "little") + bytes([1])
                    + (9).to_bytes(4, "little") + b"(2026) Hu"
                    + bytes([1]) + (1_798_761_600_000).to_bytes(8, "little"))
    assert kind.to_json()["reference"] == b"(2026) Hu".hex()
    # No expiry, no reference, the reason by index.
    bare = hutong.FreezeAmount(VALID, "CNY", 1, 2, 4)
    assert bare.reason == "other" and bare.reference == b"" and bare.expires_at_ms is None
    assert _round_trip(bare).endswith(bytes([4]) + (0).to_bytes(4, "little") + bytes([0]))
    assert bare.to_json()["expires_at_ms"] is None
    with pytest.raises(EncodingError):
        hutong.FreezeAmount(VALID, "CNY", 1, 2, "stolen")
    with pytest.raises(EncodingError):
        hutong.FreezeAmount(VALID, "CNY", 1, 2, 5)
    with pytest.raises(EncodingError):
        hutong.FreezeAmount(VALID, "CNY", 1, 2**64, "fraud")
    with pytest.raises(EncodingError):
        hutong.FreezeAmount(VALID, "CNY", 1, 2, "fraud", expires_at_ms=-1)


def test_release_freeze_round_trip():
    body = _round_trip(hutong.ReleaseFreeze(VALID, 77))
    assert body == bytes([16]) + Address.parse(VALID).raw + (77).to_bytes(8, "little")


def test_set_account_state_round_trip():
    for i, state in enumerate(hutong.ACCOUNT_STATES):
        kind = hutong.SetAccountState(VALID, state, "regulatory", b"\xffcase", 12345)
        body = _round_trip(kind)
        assert body == (bytes([17]) + Address.parse(VALID).raw + bytes([i, 2])
                        + (5).to_bytes(4, "little") + b"\xffcase"
                        + bytes([1]) + (12345).to_bytes(8, "little"))
        assert hutong.SetAccountState(VALID, i, 2, b"\xffcase", 12345) == kind
    assert hutong.ACCOUNT_STATES == ("normal", "receive-only", "send-only")
    with pytest.raises(EncodingError):
        hutong.SetAccountState(VALID, "frozen", "fraud")
    with pytest.raises(EncodingError):
        hutong.SetAccountState(VALID, 3, "fraud")


@pytest.mark.parametrize("make", [
    lambda ref: hutong.FreezeAmount(VALID, "CNY", 1, 1, "legal-order", ref),
    lambda ref: hutong.SetAccountState(VALID, "send-only", "legal-order", ref),
], ids=["freeze_amount", "set_account_state"])
def test_reference_bound(make):
    assert hutong.REFERENCE_BYTES_MAX == 64
    ok = make(b"r" * 64)
    _round_trip(ok)
    make("案" * 21)  # 63 bytes of UTF-8
    with pytest.raises(EncodingError, match="reference is 65 bytes"):
        make(b"r" * 65)
    with pytest.raises(EncodingError, match="reference"):
        make("案" * 22)  # 66 bytes of UTF-8
    # The decoder refuses a longer one too, as the node does.
    k = SigningKey(b"\x01" * 32)
    raw = Transaction(b"\x00" * 32, k.public_key, 0, Expiry.at_height(1), ok).encode()
    at = raw.index((64).to_bytes(4, "little") + b"r" * 64)
    longer = raw[:at] + (65).to_bytes(4, "little") + b"r" * 65 + raw[at + 4 + 64:]
    with pytest.raises(EncodingError, match="reference"):
        Transaction.decode(longer)
    with pytest.raises(EncodingError):
        Transaction.from_json(dict(Transaction.decode(raw).to_json(),
                                   kind={ok.NAME: dict(ok.to_json(), reference="72" * 65)}))


def test_new_kinds_strict_decoding():
    k = SigningKey(b"\x01" * 32)
    raw = Transaction(b"\x00" * 32, k.public_key, 0, Expiry.at_height(1),
                      hutong.SetAccountState(VALID, "normal", "fraud", b"", 5)).encode()
    kind_at = 32 + 32 + 8 + 9
    state_at = kind_at + 1 + 20
    with pytest.raises(EncodingError, match="account state"):
        Transaction.decode(raw[:state_at] + b"\x03" + raw[state_at + 1:])
    with pytest.raises(EncodingError, match="freeze reason"):
        Transaction.decode(raw[:state_at + 1] + b"\x05" + raw[state_at + 2:])
    opt_at = state_at + 2 + 4
    with pytest.raises(EncodingError, match="option"):
        Transaction.decode(raw[:opt_at] + b"\x02" + raw[opt_at + 1:])
    with pytest.raises(EncodingError, match="kind tag 28"):
        Transaction.decode(raw[:kind_at] + b"\x1c" + raw[kind_at + 1:])


# -- device keys, linked operations, payment versus payment, mandates -------

CNY = b"CNY".ljust(8, b"\0")
HKD = b"HKD".ljust(8, b"\0")
A22, A33, A44 = (Address(bytes([b]) * 20) for b in (0x22, 0x33, 0x44))
DEVICE = SigningKey(b"\x05" * 32).public_key


def _u(v, n):
    return v.to_bytes(n, "little")


def test_newest_kind_indices_and_names():
    for cls, index, name in [(hutong.RegisterDevice, 18, "register_device"),
                             (hutong.RevokeDevice, 19, "revoke_device"), (hutong.Linked, 20, "linked"),
                             (hutong.Pvp, 21, "pvp"), (hutong.GrantMandate, 22, "grant_mandate"),
                             (hutong.RevokeMandate, 23, "revoke_mandate"),
                             (hutong.MandatePay, 24, "mandate_pay")]:
        assert (cls.INDEX, cls.NAME) == (index, name)


def test_identity_kind_indices_and_names():
    for cls, index, name in [(hutong.ListIdentity, 25, "list_identity"),
                             (hutong.DelistIdentity, 26, "delist_identity"),
                             (hutong.SetMemoKey, 27, "set_memo_key")]:
        assert (cls.INDEX, cls.NAME) == (index, name)


def test_identity_kinds_encode_field_by_field():
    key = bytes(range(32))
    kind = hutong.ListIdentity(key.hex(), "legal-order", "(2026) Hu 0101 Zhi 456")
    assert kind.listing_key == key and kind.reference == b"(2026) Hu 0101 Zhi 456"
    assert _round_trip(kind) == bytes([25]) + key + b"\x01" + _u(22, 4) + b"(2026) Hu 0101 Zhi 456"
    assert kind.to_json() == {"listing_key": key.hex(), "reason": "legal-order",
                              "reference": b"(2026) Hu 0101 Zhi 456".hex()}
    assert _round_trip(hutong.DelistIdentity(key)) == bytes([26]) + key
    assert _round_trip(hutong.SetMemoKey(key)) == bytes([27]) + key
    assert hutong.SetMemoKey(key.hex()).to_json() == {"key": key.hex()}
    with pytest.raises(EncodingError, match="reference"):
        hutong.ListIdentity(key, "fraud", b"r" * 65)
    hutong.ListIdentity(key, 4, b"r" * 64)
    for bad in (key[:31], "zz" * 32):
        with pytest.raises(EncodingError):
            hutong.DelistIdentity(bad)
        with pytest.raises(EncodingError):
            hutong.SetMemoKey(bad)
    with pytest.raises(EncodingError):
        hutong.ListIdentity(key, "sanctions")


def test_open_account_envelope_is_empty_or_144_bytes():
    owner = SigningKey(b"\x02" * 32).public_key
    legacy = hutong.OpenAccount(owner, 1, b"\x5a" * 32)
    assert legacy.identity_envelope == b"" and legacy.to_json()["identity_envelope"] == ""
    # The envelope is a borsh Vec<u8> after the commitment: an empty one is 4 zero bytes.
    assert _round_trip(legacy) == bytes([2]) + owner.raw + b"\x01" + b"\x5a" * 32 + _u(0, 4)
    full = hutong.OpenAccount(owner, 1, b"\x5a" * 32, "6b" * 144)
    assert _round_trip(full) == bytes([2]) + owner.raw + b"\x01" + b"\x5a" * 32 + _u(144, 4) + b"\x6b" * 144
    for n in (1, 143, 145):
        with pytest.raises(EncodingError, match="empty or 144"):
            hutong.OpenAccount(owner, 1, b"\x5a" * 32, b"\x6b" * n)
    # Decoding refuses an envelope of another length too.
    k = SigningKey(b"\x01" * 32)
    raw = Transaction(b"\x00" * 32, k.public_key, 0, Expiry.at_height(1), legacy).encode()
    at = raw.index(b"\x5a" * 32) + 32
    with pytest.raises(EncodingError, match="empty or 144"):
        Transaction.decode(raw[:at] + _u(1, 4) + b"\x00" + raw[at + 4:])
    # The salted commitment of a chain without an identity service still forms.
    salted = hutong.OpenAccount.from_identity(owner, 1, "CN_RIC", "11010519491231002X", b"\x11" * 32)
    assert salted.identity_commitment.hex() == "aa8756178b5ab4d4141646f09786ec5fc2979a1499be0d42e7bac90d68f697da"
    assert salted.identity_envelope == b""


def test_open_account_with_identity_opens_for_the_regulator_only():
    keys = hutong.identity_keys_from_seed(b"\x11" * 32)
    owner, chain, tag, salt = SigningKey(b"\x02" * 32), b"\x22" * 32, b"\xba" * 64, b"\x55" * 32
    kind = hutong.OpenAccount.with_identity(owner.public_key, 2, tag, salt, chain_id=chain,
                                            hpke_key=keys.hpke_public)
    assert kind.identity_commitment == hutong.binding(tag, salt) and len(kind.identity_envelope) == 144
    assert hutong.open_identity(keys.hpke_secret, chain, owner.public_key, kind.identity_envelope,
                                kind.identity_commitment) == tag
    assert Transaction.from_json(Transaction(chain, owner.public_key, 0, Expiry.at_height(1), kind).to_json()).kind == kind
    with pytest.raises(hutong.UndecryptableError):
        hutong.open_identity(keys.hpke_secret, b"\x23" * 32, owner.public_key, kind.identity_envelope,
                             kind.identity_commitment)


def test_register_and_revoke_device():
    kind = hutong.RegisterDevice(DEVICE, "CNY", 30000, 50000, [A33])
    assert _round_trip(kind) == (bytes([18]) + DEVICE.raw + CNY + _u(30000, 16) + _u(50000, 16)
                                 + _u(1, 4) + A33.raw)
    assert kind.to_json() == {"key": DEVICE.hex(), "asset": "CNY", "max_per_hold": "30000",
                              "daily_max": "50000", "payees": [str(A33)]}
    # No payees: any payee; the key as hex or a SigningKey.
    anyone = hutong.RegisterDevice(DEVICE.hex(), "CNY", 1, 2)
    assert anyone.payees == [] and anyone.key == DEVICE
    assert _round_trip(anyone).endswith(_u(0, 4))
    assert hutong.RegisterDevice(SigningKey(b"\x05" * 32), "CNY", 1, 2) == anyone
    assert hutong.DEVICE_PAYEES_MAX == 16
    _round_trip(hutong.RegisterDevice(DEVICE, "CNY", 1, 2, [A33] * 16))
    with pytest.raises(EncodingError, match="17 payees; at most 16"):
        hutong.RegisterDevice(DEVICE, "CNY", 1, 2, [A33] * 17)
    with pytest.raises(EncodingError):
        hutong.RegisterDevice(DEVICE, "CNY", 1, 2, str(A33))  # a list, not one address
    with pytest.raises(EncodingError):
        hutong.RegisterDevice(DEVICE, "cny", 1, 2)
    assert _round_trip(hutong.RevokeDevice(DEVICE)) == bytes([19]) + DEVICE.raw
    assert hutong.RevokeDevice(DEVICE).to_json() == {"key": DEVICE.hex()}


def test_linked_legs():
    legs = [hutong.Transfer(A22, "CNY", 97000, 0xA1),
            hutong.Hold(A33, "CNY", 3000, 0xA2, 1_767_229_200_000),
            hutong.Capture(A44, 0xB1, 500),
            hutong.Void(A44, 0xB2)]
    kind = hutong.Linked(legs)
    assert _round_trip(kind) == (
        bytes([20]) + _u(4, 4)
        + bytes([0]) + A22.raw + CNY + _u(97000, 16) + _u(0xA1, 16)
        + bytes([1]) + A33.raw + CNY + _u(3000, 16) + _u(0xA2, 16) + _u(1_767_229_200_000, 8)
        + bytes([2]) + A44.raw + _u(0xB1, 16) + _u(500, 16)
        + bytes([3]) + A44.raw + _u(0xB2, 16))
    assert kind.to_json()["legs"][2] == {"capture": {"payer": str(A44), "hold_id": "0" * 30 + "b1",
                                                     "amount": "500"}}
    assert hutong.LINKED_LEGS_MAX == 8
    _round_trip(hutong.Linked(legs * 2))
    with pytest.raises(EncodingError, match="1 to 8 legs, got 0"):
        hutong.Linked([])
    with pytest.raises(EncodingError, match="1 to 8 legs, got 9"):
        hutong.Linked(legs * 2 + legs[:1])
    with pytest.raises(EncodingError, match="a linked leg is a Transfer, Hold, Capture or Void"):
        hutong.Linked([hutong.Mint(A22, "CNY", 1)])
    # The decoder refuses what the node refuses: a leg tag past Void, no legs, 9 legs.
    k = SigningKey(b"\x01" * 32)
    raw = Transaction(b"\x00" * 32, k.public_key, 0, Expiry.at_height(1),
                      hutong.Linked([hutong.Void(A44, 1)])).encode()
    kind_at = 32 + 32 + 8 + 9
    with pytest.raises(EncodingError, match="linked leg tag 4"):
        Transaction.decode(raw[:kind_at + 5] + b"\x04" + raw[kind_at + 6:])
    with pytest.raises(EncodingError, match="got 0"):
        Transaction.decode(raw[:kind_at + 1] + _u(0, 4) + raw[kind_at + 5 + 1 + 20 + 16:])
    nine = Transaction(b"\x00" * 32, k.public_key, 0, Expiry.at_height(1),
                       hutong.Linked([hutong.Void(A44, 1)] * 8)).encode()
    leg = bytes([3]) + A44.raw + _u(1, 16)
    nine = nine[:kind_at + 1] + _u(9, 4) + leg * 9 + nine[kind_at + 5 + 8 * len(leg):]
    with pytest.raises(EncodingError, match="got 9"):
        Transaction.decode(nine)


QUOTE = dict(provider=str(SigningKey(b"\x0c" * 32).address), quote_id=4242, sell="CNY", buy="HKD",
             rate_num=10912, rate_den=10000, min_sell=10000, max_sell=1000000,
             expires_at_ms=1_767_229_200_000, payer=str(SigningKey(b"\x01" * 32).address))


def test_quote_and_pvp():
    provider = SigningKey(b"\x0c" * 32)
    quote = hutong.Quote(**QUOTE)
    quote_raw = (provider.address.raw + _u(4242, 8) + CNY + HKD + _u(10912, 8) + _u(10000, 8)
                 + _u(10000, 16) + _u(1000000, 16) + _u(1_767_229_200_000, 8)
                 + bytes([1]) + SigningKey(b"\x01" * 32).address.raw)
    chain = b"\xab" * 32
    digest = hutong.quote_signing_hash(chain, quote)
    assert digest == hashlib.sha256(b"hutong/quote/v1\x00" + chain + quote_raw).digest()
    assert quote.signing_hash(chain.hex()) == digest
    sig = hutong.sign_quote(chain, quote, provider)
    assert len(sig) == 64 and provider.public_key.verify(sig, digest)
    kind = hutong.Pvp(quote, sig, 100000, 109000, A22, 0xC1)
    assert _round_trip(kind) == (bytes([21]) + quote_raw + sig + _u(100000, 16) + _u(109000, 16)
                                 + A22.raw + _u(0xC1, 16))
    assert kind.to_json()["quote"] == dict(QUOTE, min_sell="10000", max_sell="1000000")
    # Any payer; a rate's u64 bounds; the signature's length.
    anyone = hutong.Quote(**dict(QUOTE, payer=None, rate_num=2**64 - 1))
    body = _round_trip(hutong.Pvp(anyone, sig.hex(), 1, 1, A22, 1))
    assert body[1 + 20 + 8 + 16:1 + 20 + 8 + 16 + 8] == b"\xff" * 8
    assert body[1 + len(quote_raw) - 21] == 0  # the option tag: none
    with pytest.raises(EncodingError):
        hutong.Quote(**dict(QUOTE, rate_den=2**64))
    with pytest.raises(EncodingError):
        hutong.Quote(**dict(QUOTE, buy="hkd"))
    with pytest.raises(EncodingError, match="quote signature must be 64 bytes"):
        hutong.Pvp(quote, sig[:63], 1, 1, A22, 1)
    with pytest.raises(EncodingError):
        hutong.Pvp(quote, sig, -1, 1, A22, 1)


def test_mandates():
    grantee = Address(b"\x55" * 20)
    p1, p2 = Address(b"\x66" * 20), Address(b"\x77" * 20)
    kind = hutong.GrantMandate(3, grantee, hutong.MandateScope(pay=True, read=True), "CNY", [p1, p2],
                               50000, 200000, 30 * 86400, 1_767_196_800_000, 1_798_732_800_000)
    assert _round_trip(kind) == (bytes([22]) + _u(3, 8) + grantee.raw + bytes([1, 1]) + CNY
                                 + _u(2, 4) + p1.raw + p2.raw + _u(50000, 16) + _u(200000, 16)
                                 + _u(30 * 86400, 4) + _u(1_767_196_800_000, 8)
                                 + _u(1_798_732_800_000, 8))
    assert kind.to_json()["scope"] == {"pay": True, "read": True}
    read_only = hutong.GrantMandate(4, grantee, {"read": True}, "CNY", [], 0, 0, 86400, 1, 2)
    assert read_only.scope == hutong.MandateScope(False, True)
    assert _round_trip(read_only)[1 + 8 + 20:1 + 8 + 20 + 2] == bytes([0, 1])
    assert hutong.MANDATE_PAYEES_MAX == 16
    with pytest.raises(EncodingError, match="17 payees; at most 16"):
        hutong.GrantMandate(3, grantee, {"pay": True}, "CNY", [p1] * 17, 1, 1, 1, 1, 2)
    with pytest.raises(EncodingError):
        hutong.GrantMandate(3, grantee, {"pay": True}, "CNY", [], 1, 1, 2**32, 1, 2)
    with pytest.raises(EncodingError, match="mandate scope"):
        hutong.GrantMandate(3, grantee, {"write": True}, "CNY", [], 1, 1, 1, 1, 2)
    with pytest.raises(EncodingError, match="bools"):
        hutong.MandateScope(pay=1)
    assert _round_trip(hutong.RevokeMandate(3)) == bytes([23]) + _u(3, 8)
    with pytest.raises(EncodingError):
        hutong.RevokeMandate(2**64)
    payer = SigningKey(b"\x01" * 32).address
    pay = hutong.MandatePay(payer, 3, p1, "CNY", 32100, 0xD1)
    assert _round_trip(pay) == (bytes([24]) + payer.raw + _u(3, 8) + p1.raw + CNY + _u(32100, 16)
                                + _u(0xD1, 16))
    assert pay.to_json() == {"payer": str(payer), "mandate_id": 3, "to": str(p1), "asset": "CNY",
                             "amount": "32100", "transfer_id": "0" * 30 + "d1"}


def test_mandate_read_request():
    chain = b"\xab" * 32
    account = SigningKey(b"\x01" * 32).address
    grantee = SigningKey(b"\x06" * 32)
    digest = hutong.mandate_read_hash(chain, account, 3, 1_767_225_600_000)
    assert digest == hashlib.sha256(b"hutong/mandate-read/v1\x00" + chain + account.raw + _u(3, 8)
                                    + _u(1_767_225_600_000, 8)).digest()
    # The same value in the TypeScript SDK's test.
    assert digest.hex() == "f9da60d0cc9ae472aa19e6997f20b214e03bce682419224b554a574f04973db5"
    assert hutong.mandate_read_hash(chain.hex(), str(account), 3, 1_767_225_600_000) == digest
    sig = hutong.sign_mandate_read(chain, account, 3, 1_767_225_600_000, grantee)
    assert isinstance(sig, str) and grantee.public_key.verify(bytes.fromhex(sig), digest)
    with pytest.raises(EncodingError):
        hutong.mandate_read_hash(chain, account, -1, 1)


# -- RPC shapes ------------------------------------------------------------

def test_error_mapping():
    e = error_from_rpc({"code": 1001, "message": "m", "data": {"code": "stale_sequence", "retryable": False, "message": "used"}})
    assert isinstance(e, hutong.RejectedError) and e.code == "stale_sequence" and not e.retryable
    e = error_from_rpc({"code": 1002, "message": "m", "data": {"code": "busy", "retryable": True, "message": "full"}})
    assert isinstance(e, hutong.RejectedError) and e.retryable and e.rpc_code == 1002
    e = error_from_rpc({"code": 1001, "message": "m", "data": {"code": "brand_new_code", "retryable": False, "message": "x", "extra": 1}})
    assert isinstance(e, hutong.RejectedError) and e.code == "brand_new_code"
    e = error_from_rpc({"code": 1003, "message": "no account"})
    assert isinstance(e, hutong.NotFoundError) and isinstance(e, hutong.RpcError)
    e = error_from_rpc({"code": -32602, "message": "invalid params"})
    assert type(e) is hutong.RpcError and e.code == -32602
    for cls in (hutong.RejectedError, hutong.RpcError, hutong.TransportError, hutong.WaitTimeoutError,
                hutong.KeyFileError, hutong.AddressError, hutong.AmountError, hutong.ExecutionFailedError):
        assert issubclass(cls, hutong.HutongError)


def test_status_shapes_old_and_new():
    c = TxStatus.from_json({"status": "committed", "hash": "ab", "height": 3, "index": 0, "block_id": "cd",
                            "receipt": {"tx_hash": "ab", "success": False, "code": "single_limit_exceeded",
                                        "reason": "R", "failure": {"code": "single_limit_exceeded", "asset": "CNY",
                                                                   "limit": "5000.00", "amount": "6000.00"}},
                            "future_field": 1})
    assert c.is_final and not c.succeeded and c.failure_code == "single_limit_exceeded"
    assert c.receipt.failure["limit"] == "5000.00"
    with pytest.raises(hutong.ExecutionFailedError) as ei:
        c.raise_for_failure()
    assert ei.value.code == "single_limit_exceeded"
    d = TxStatus.from_json({"status": "dropped", "hash": "ab", "code": "expired", "message": "m"})
    assert d.is_final and d.failure_code == "expired"
    with pytest.raises(hutong.RejectedError):
        d.raise_for_failure()
    u = TxStatus.from_json({"status": "rejected", "hash": "ab", "code": "sequence_used", "used_by": "ff",
                            "retryable": False, "message": "m"})
    assert u.is_final and u.used_by == "ff"
    assert not TxStatus.from_json({"status": "pending", "hash": "ab"}).is_final
    assert not TxStatus.from_json({"status": "unknown", "hash": "ab"}).is_final
    v = SubmitVerdict.from_json({"status": "rejected", "code": "zero_amount", "retryable": False, "message": "m"}, hash="ee")
    assert not v.accepted and v.error.code == "zero_amount" and v.hash == "ee"
    assert SubmitVerdict.from_json({"status": "committed", "hash": "a", "height": 1, "index": 0}).accepted


def test_account_sequence_helper():
    a = Account.from_json({"address": VALID, "kind": "customer", "institution": VALID, "sequence": 5,
                           "next_sequence": 7, "status": "active", "balances": {"CNY": "100"}, "height": 9})
    assert a.usable_sequence == 7 and a.balance("CNY") == 100 and a.balance("HKD") == 0
    old = Account.from_json({"address": VALID, "kind": "customer", "institution": VALID, "sequence": 5,
                             "status": "active", "balances": {}, "height": 9})
    assert old.usable_sequence == 5
    assert Receipt.from_json({"tx_hash": "a", "success": True, "effects": []}).success
    assert old.restriction is None and old.held == {} and old.available == {}
    assert old.amount_freezes == []


def test_account_holds_freezes_and_restriction():
    a = Account.from_json({
        "address": VALID, "kind": "customer", "institution": VALID, "sequence": 5, "status": "receive-only",
        "balances": {"CNY": "100000", "HKD": "5"}, "held": {"CNY": "70000"},
        "available": {"CNY": "30000", "HKD": "5"}, "height": 9,
        "restriction": {"state": "receive-only", "reason": "fraud", "by": VALID},
        "amount_freezes": [{"id": 77, "asset": "CNY", "amount": "50000", "reason": "legal-order", "by": VALID,
                            "reference": "(2026) Hu 0101 Zhi 123", "expires_at_ms": 1798761600000}],
    })
    assert a.status == "receive-only"
    assert a.restriction == hutong.Restriction("receive-only", "fraud", VALID, None)
    assert a.held == {"CNY": 70000} and a.available == {"CNY": 30000, "HKD": 5}
    assert a.balance("CNY") == 100000
    assert a.amount_freezes == [hutong.AmountFreeze(77, "CNY", 50000, "legal-order", VALID,
                                                    "(2026) Hu 0101 Zhi 123", 1798761600000)]
    for code in ("bad_expiry", "unknown_hold", "hold_closed", "hold_exists", "capture_exceeds_hold",
                 "payer_frozen", "restricted", "not_restricted", "unknown_freeze", "freeze_exists",
                 "too_many_freezes", "too_many_holds"):
        assert code in hutong.FAILURE_CODES


def test_failure_codes_and_effects_of_the_identity_layer():
    for code in ("identity_envelope", "already_listed", "not_listed", "memo_not_sealed"):
        assert code in hutong.FAILURE_CODES
    for effect in ("identity_listed", "identity_delisted", "memo_key_set", "debit", "mandate_used"):
        assert effect in hutong.EFFECT_TYPES
    assert len(set(hutong.EFFECT_TYPES)) == len(hutong.EFFECT_TYPES)
    # The failures as the node sends them, with their fields.
    for failure in ({"code": "identity_envelope", "required": True},
                    {"code": "already_listed", "listed_by": VALID},
                    {"code": "not_listed"}, {"code": "memo_not_sealed"}):
        st = TxStatus.from_json({"status": "committed", "hash": "ab", "height": 3, "index": 0,
                                 "receipt": {"tx_hash": "ab", "success": False, "code": failure["code"],
                                             "reason": "R", "failure": failure}})
        assert st.failure_code == failure["code"] and st.receipt.failure == failure
        with pytest.raises(hutong.ExecutionFailedError) as ei:
            st.raise_for_failure()
        assert ei.value.code == failure["code"] and ei.value.failure == failure
    effects = [{"type": "identity_listed", "listing_key": "4c" * 32, "by": VALID, "reason": "legal-order"},
               {"type": "identity_delisted", "listing_key": "4c" * 32, "by": VALID},
               {"type": "memo_key_set", "institution": VALID, "key": "3e" * 32}]
    assert Receipt.from_json({"tx_hash": "ab", "success": True, "effects": effects}).effects == effects


def test_failure_codes_of_devices_exchanges_and_mandates():
    for code in ("device_scope", "unknown_device", "not_fx_provider", "bad_quote_signature",
                 "bad_quote", "quote_expired", "quote_used", "quote_not_for_payer", "outside_quote",
                 "slippage", "unknown_mandate", "mandate_exists", "too_many_mandates", "bad_mandate",
                 "mandate_inactive", "mandate_scope", "mandate_limit"):
        assert code in hutong.FAILURE_CODES
    assert len(set(hutong.FAILURE_CODES)) == len(hutong.FAILURE_CODES)


def test_receipt_failed_leg_and_leg_effects():
    failed = TxStatus.from_json({"status": "committed", "hash": "ab", "height": 3, "index": 0,
                                 "receipt": {"tx_hash": "ab", "success": False, "code": "slippage",
                                             "reason": "R", "failed_leg": 1,
                                             "failure": {"code": "slippage", "min_receive": "1090.00"}}})
    assert failed.failure_code == "slippage" and failed.receipt.failed_leg == 1
    with pytest.raises(hutong.ExecutionFailedError) as ei:
        failed.raise_for_failure()
    assert ei.value.code == "slippage"
    effects = [{"type": "leg", "leg": 0}, {"type": "debit", "account": VALID, "asset": "CNY", "amount": "100000"},
               {"type": "exchanged", "payer": VALID, "provider": VALID, "quote_id": 4242, "payee": VALID,
                "sell": "CNY", "paid": "100000", "buy": "HKD", "received": "109120"}]
    ok = Receipt.from_json({"tx_hash": "ab", "success": True, "effects": effects})
    assert ok.failed_leg is None and ok.effects == effects


def test_get_mandates_and_read_account(monkeypatch):
    calls = []
    mandate = {"mandate_id": 3, "grantee": VALID, "scope": {"pay": True, "read": False}, "asset": "CNY",
               "payees": [VALID], "per_payment": "50000", "per_period": "200000",
               "period_seconds": 2592000, "start_ms": 1767196800000, "end_ms": 1798732800000,
               "spent_in_period": "32100", "active": True}
    account = {"address": VALID, "kind": "customer", "institution": VALID, "sequence": 5,
               "status": "active", "balances": {"CNY": "100"}, "height": 9}
    chain = "ab" * 32

    def call(self, method, params=None):
        calls.append((method, params))
        if method == "hutong_status":
            return {"chain_id": chain, "height": 9, "timestamp_ms": 1}
        if method == "hutong_getMandates":
            return {"account": VALID, "mandates": [mandate]}
        return account

    monkeypatch.setattr(hutong.Client, "call", call)
    c = hutong.Client("http://127.0.0.1:1")
    ms = c.get_mandates(VALID)
    assert calls == [("hutong_getMandates", [{"account": VALID}])]
    assert ms == [hutong.MandateView(3, VALID, hutong.MandateScope(True, False), "CNY", [VALID], 50000,
                                     200000, 2592000, 1767196800000, 1798732800000, 32100, True,
                                     raw=mandate)]
    c.get_mandates(SigningKey(b"\x01" * 32))
    assert calls[-1] == ("hutong_getMandates", [{"account": VALID}])
    with pytest.raises(AddressError):
        c.get_mandates("ht1nope")

    grantee = SigningKey(b"\x06" * 32)
    a = c.read_account(VALID, 3, grantee)
    assert isinstance(a, Account) and a.balance("CNY") == 100
    method, [request] = calls[-1]
    assert method == "hutong_readAccount"
    assert set(request) == {"account", "mandate_id", "grantee_key", "timestamp_ms", "signature"}
    assert (request["account"], request["mandate_id"], request["grantee_key"]) == \
        (VALID, 3, grantee.public_key.hex())
    assert abs(request["timestamp_ms"] - time.time() * 1000) < 60_000
    digest = hutong.mandate_read_hash(chain, VALID, 3, request["timestamp_ms"])
    assert grantee.public_key.verify(bytes.fromhex(request["signature"]), digest)


def test_get_hold(monkeypatch):
    calls = []
    answer = {"payer": VALID, "hold_id": HOLD_ID, "payee": VALID, "asset": "CNY", "amount": "20000",
              "expires_at_ms": 1767229200000, "state": "captured", "captured": "7350", "height": 12}

    def call(self, method, params=None):
        calls.append((method, params))
        return answer

    monkeypatch.setattr(hutong.Client, "call", call)
    c = hutong.Client("http://127.0.0.1:1")
    h = c.get_hold(VALID, 0xFEED)
    assert calls == [("hutong_getHold", [{"payer": VALID, "hold_id": HOLD_ID}])]
    assert isinstance(h, hutong.HoldView)
    assert (h.payer, h.hold_id, h.payee, h.asset, h.amount, h.expires_at_ms, h.state, h.captured, h.height) == \
        (VALID, HOLD_ID, VALID, "CNY", 20000, 1767229200000, "captured", 7350, 12)
    key = SigningKey(b"\x01" * 32)
    c.get_hold(key, HOLD_ID)
    assert calls[-1] == ("hutong_getHold", [{"payer": str(key.address), "hold_id": HOLD_ID}])
    answer = dict(answer, state="open")
    del answer["captured"]
    assert c.get_hold(VALID, HOLD_ID).captured is None
    with pytest.raises(EncodingError):
        c.get_hold(VALID, "feed")
