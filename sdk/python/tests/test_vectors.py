"""The golden vectors of sdk/vectors/transactions.json, byte for byte."""

import json
from pathlib import Path

import pytest

from hutong import (
    Address,
    Quote,
    SignedTransaction,
    SigningKey,
    Transaction,
    quote_signing_hash,
    sign_quote,
    tagged,
)
from hutong.borsh import Writer

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "transactions.json"
CASES = json.loads(VECTORS.read_text())["cases"]


def test_vectors_file_has_every_case():
    names = {c["name"] for c in CASES}
    assert {"transfer", "transfer_step_up", "batch_transfer", "open_account", "freeze"} <= names
    assert {"anchor_audit_log", "hold", "capture", "void", "freeze_amount", "release_freeze",
            "set_account_state"} <= names
    assert {"register_device", "revoke_device", "linked", "pvp", "grant_mandate", "revoke_mandate",
            "mandate_pay"} <= names


def test_pvp_quote_signature():
    """The pvp case's quote was signed by secret key 12 (0x0c x 32) over
    its signing hash on the vectors' chain: ed25519 is deterministic, so
    signing the quote again gives the vector's signature."""
    case = next(c for c in CASES if c["name"] == "pvp")
    fields = case["tx"]["kind"]["pvp"]
    quote = Quote.from_json(fields["quote"])
    provider = SigningKey(b"\x0c" * 32)
    chain_id = bytes.fromhex(case["tx"]["chain_id"])
    assert chain_id == b"\xab" * 32
    assert quote.provider == provider.address
    assert sign_quote(chain_id, quote, provider).hex() == fields["quote_signature"]
    digest = quote_signing_hash(chain_id, quote)
    assert digest == tagged("hutong/quote/v1", chain_id + quote_bytes(quote))
    assert provider.public_key.verify(bytes.fromhex(fields["quote_signature"]), digest)
    # Another chain's quote, or an altered one, is another signature.
    assert sign_quote(b"\xac" * 32, quote, provider).hex() != fields["quote_signature"]
    altered = Quote.from_json(dict(fields["quote"], rate_num=fields["quote"]["rate_num"] + 1))
    assert not provider.public_key.verify(bytes.fromhex(fields["quote_signature"]),
                                          quote_signing_hash(chain_id, altered))


def quote_bytes(quote):
    w = Writer()
    quote.encode(w)
    return w.bytes()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case):
    tx = Transaction.from_json(case["tx"])
    key = SigningKey(case["sender_secret_key"])
    assert key.public_key.hex() == case["tx"]["sender"]

    # encoding and id
    assert tx.encode().hex() == case["encoding"]
    assert tx.id.hex() == case["tx_id"]
    assert tx.hash == case["tx_id"]

    # the sender's signature (ed25519 is deterministic)
    signed = tx.sign(key)
    assert signed.signature.hex() == case["signature"]

    # co-signature
    if case["cosigner_secret_key"] is not None:
        cokey = SigningKey(case["cosigner_secret_key"])
        assert cokey.public_key.hex() == case["tx"]["cosigner"]
        assert tx.cosign_message().hex() == case["cosign_message"]
        signed = signed.cosign(cokey)
        assert signed.cosignature.hex() == case["cosignature"]
    else:
        assert case["cosignature"] is None and case["cosign_message"] is None
        assert signed.cosignature is None

    # what is sent
    assert signed.encode().hex() == case["signed_encoding"]
    assert signed.verify()

    # the address
    assert str(key.address) == case["sender_address"]
    assert str(Address.from_public_key(case["tx"]["sender"])) == case["sender_address"]
    assert Address.parse(case["sender_address"]) == key.address

    # round trips: decode the bytes back, and the JSON form
    assert SignedTransaction.decode(bytes.fromhex(case["signed_encoding"])) == signed
    assert Transaction.decode(bytes.fromhex(case["encoding"])) == tx
    assert tx.to_json() == case["tx"]
