"""The golden vectors of sdk/vectors/transactions.json, byte for byte."""

import json
from pathlib import Path

import pytest

from hutong import Address, SignedTransaction, SigningKey, Transaction

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "transactions.json"
CASES = json.loads(VECTORS.read_text())["cases"]


def test_vectors_file_has_every_case():
    names = {c["name"] for c in CASES}
    assert {"transfer", "transfer_step_up", "batch_transfer", "open_account", "freeze"} <= names
    assert {"anchor_audit_log", "hold", "capture", "void", "freeze_amount", "release_freeze",
            "set_account_state"} <= names


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
