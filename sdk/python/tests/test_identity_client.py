"""The client's side of the identity layer against a fake node (no
network): signed evaluation requests, identity tags checked against the
chain's key, accounts opened with an envelope, the blacklist, memo keys,
memos sealed by ``build`` and read back."""

import hashlib
import json
import time

import pytest

import hutong
from hutong import (
    Address,
    Expiry,
    NoIdentityServiceError,
    NotFoundError,
    OprfKey,
    SigningKey,
    Transfer,
    UnverifiedEvaluationError,
)
from hutong.auth import audit_request_hash, canonical_json, read_memo_hash

CHAIN = b"\xab" * 32
REGULATOR = hutong.identity_keys_from_seed(b"\x11" * 32)
INSTITUTION = SigningKey(b"\x21" * 32)  # a member institution's key
SENDER, RECIPIENT, OTHER, NOBODY = (SigningKey(bytes([b]) * 32) for b in (0x31, 0x32, 0x33, 0x34))
INST_A, INST_B, INST_C = (Address(bytes([b]) * 20) for b in (0xa1, 0xb1, 0xc1))
MEMO_A, MEMO_B = hutong.memo_key_from_seed(b"\x71" * 32), hutong.memo_key_from_seed(b"\x72" * 32)
REGULATOR_URL = "http://regulator.invalid"


class FakeNode:
    """Answers the methods the identity flows call, checking what a node
    checks (signatures, shapes), and records every call."""

    def __init__(self, identity=True, oprf=REGULATOR.oprf):
        self.calls = []
        self.identity = identity
        self.oprf = oprf  # the key the regulator's node evaluates with
        # account -> (institution, that institution's memo public key or None)
        self.accounts = {
            str(SENDER.address): (INST_A, MEMO_A[1]),
            str(RECIPIENT.address): (INST_B, MEMO_B[1]),
            str(OTHER.address): (INST_C, None),
        }

    def __call__(self, client, method, params=None):
        self.calls.append((client.url, method, params))
        handler = getattr(self, method.replace("hutong_", ""), None)
        if handler is None:
            raise AssertionError(f"unexpected call {method}")
        return handler(params)

    def status(self, _):
        return {"chain_id": CHAIN.hex(), "height": 9, "timestamp_ms": 1_767_225_600_000}

    def getParameters(self, _):
        params = {"decimals": {"CNY": 2}, "tiers": [], "sizes": {"memo_bytes_max": 512},
                  "utc_offset_seconds": 28800}
        if self.identity:
            params["identity"] = {"oprf_key": REGULATOR.oprf.public_key.hex(),
                                  "hpke_key": REGULATOR.hpke_public.hex()}
        return params

    def getAccount(self, params):
        return {"address": params[0], "kind": "customer", "institution": str(INST_A), "sequence": 5,
                "next_sequence": 6, "status": "active", "balances": {}, "height": 9}

    def identityEvaluate(self, params):
        [request] = params
        assert set(request) == {"query", "auth"} and set(request["auth"]) == \
            {"key", "timestamp_ms", "nonce", "signature"}
        auth = request["auth"]
        digest = audit_request_hash(CHAIN, "hutong_identityEvaluate", canonical_json(request["query"]),
                                    auth["timestamp_ms"], auth["nonce"])
        assert hutong.PublicKey(auth["key"]).verify(bytes.fromhex(auth["signature"]), digest)
        assert abs(auth["timestamp_ms"] - time.time() * 1000) < 60_000 and 16 <= len(auth["nonce"]) <= 64
        blinded = request["query"]["blinded"]
        assert 1 <= len(blinded) <= 64
        answer = self.oprf.evaluate(blinded)
        return {"elements": [e.hex() for e in answer.elements], "proof": answer.proof.hex(),
                "remaining_this_minute": 600 - len(blinded)}

    def checkListing(self, params):
        assert set(params) == {"listing_key"}
        listed = params["listing_key"] == "4c" * 32
        answer = {"listing_key": params["listing_key"], "listed": listed, "height": 9}
        if listed:
            answer.update(listed_by=str(INST_B), reason="legal-order", reference="(2026) 7",
                          listed_at_ms=1_767_225_000_000)
        return answer

    def getMemoKeys(self, params):
        assert set(params) == {"accounts"} and 1 <= len(params["accounts"]) <= 16
        out = []
        for a in params["accounts"]:
            if a not in self.accounts:
                raise NotFoundError(1003, f"no account {a}")
            inst, key = self.accounts[a]
            out.append({"account": a, "institution": str(inst), "memo_key": key and key.hex()})
        return {"regulator": REGULATOR.hpke_public.hex() if self.identity else None, "accounts": out,
                "height": 9}

    def readMemo(self, params):
        [request] = params
        assert set(request) == {"tx_hash", "key", "timestamp_ms", "signature"}
        digest = read_memo_hash(CHAIN, request["tx_hash"], request["timestamp_ms"])
        assert hutong.PublicKey(request["key"]).verify(bytes.fromhex(request["signature"]), digest)
        text = "invoice 42 发票".encode()
        return {"tx_hash": request["tx_hash"], "text": text.decode(), "text_hex": text.hex()}


@pytest.fixture()
def node(monkeypatch):
    fake = FakeNode()
    monkeypatch.setattr(hutong.Client, "call", lambda self, method, params=None: fake(self, method, params))
    return fake


@pytest.fixture()
def client(node):
    return hutong.Client("http://chain.invalid")


def methods(node, url=None):
    return [m for u, m, _ in node.calls if url is None or u == url]


# -- signed requests ---------------------------------------------------------------

def test_audit_request_signing_message_layout():
    query = {"blinded": ["ab" * 32], "a": 1}
    text = canonical_json(query)
    assert text == '{"a":1,"blinded":["' + "ab" * 32 + '"]}'  # compact, keys sorted
    expected = hashlib.sha256(
        b"hutong/audit/request/v1\x00" + CHAIN + len(b"hutong_identityEvaluate").to_bytes(4, "little")
        + b"hutong_identityEvaluate" + len(text).to_bytes(4, "little") + text.encode()
        + (1234).to_bytes(8, "little") + (16).to_bytes(4, "little") + b"0123456789abcdef").digest()
    assert audit_request_hash(CHAIN, "hutong_identityEvaluate", text, 1234, "0123456789abcdef") == expected
    request = hutong.sign_audit_request(INSTITUTION, CHAIN, "hutong_identityEvaluate", query, 1234,
                                        "0123456789abcdef")
    assert request == {"query": query, "auth": {"key": INSTITUTION.public_key.hex(), "timestamp_ms": 1234,
                                                "nonce": "0123456789abcdef",
                                                "signature": INSTITUTION.sign(expected).hex()}}
    for bad in ("0123", "g" * 16, "a" * 65):
        with pytest.raises(hutong.EncodingError):
            hutong.sign_audit_request(INSTITUTION, CHAIN, "m", query, 1, bad)
    assert canonical_json({"b": "工", "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":"工"}'


def test_read_memo_signing_message_layout():
    tx_hash = bytes(range(32))
    expected = hashlib.sha256(b"hutong/read-memo/v1\x00" + CHAIN + tx_hash + (77).to_bytes(8, "little")).digest()
    assert read_memo_hash(CHAIN, tx_hash.hex(), 77) == expected
    request = hutong.sign_read_memo(SENDER, CHAIN, tx_hash, 77)
    assert request == {"tx_hash": tx_hash.hex(), "key": SENDER.public_key.hex(), "timestamp_ms": 77,
                       "signature": SENDER.sign(expected).hex()}


# -- identity tags ------------------------------------------------------------------

def test_identity_tags_blind_evaluate_verify_finalize(node, client):
    identities = ["CN_RIC:110101199003074514", "hk_id: A123456(3)"]
    tags = client.identity_tags(INSTITUTION, identities, REGULATOR_URL)
    assert tags == [REGULATOR.oprf.tag_of(hutong.identity_input(i)) for i in identities]
    # The chain's parameters from the chain's node; the evaluation from the regulator's.
    assert methods(node, "http://chain.invalid") == ["hutong_getParameters"]
    assert methods(node, REGULATOR_URL) == ["hutong_status", "hutong_identityEvaluate"]
    [(_, _, [request])] = [c for c in node.calls if c[1] == "hutong_identityEvaluate"]
    assert request["auth"]["key"] == INSTITUTION.public_key.hex()
    # What was sent names nobody: the blinded elements are not the identities' hashes to the group.
    assert all(len(bytes.fromhex(b)) == 32 for b in request["query"]["blinded"])
    # Evaluated again, the same identity gives the same tag (another request, another blind).
    assert client.identity_tags(INSTITUTION, identities[:1], REGULATOR_URL) == tags[:1]


def test_identity_tags_go_64_to_a_request(node, client):
    identities = [f"PASSPORT_CN:E{i:08}" for i in range(65)]
    tags = client.identity_tags(INSTITUTION, identities, hutong.Client(REGULATOR_URL))
    assert len(tags) == 65 and len(set(tags)) == 65
    sizes = [len(p[0]["query"]["blinded"]) for _, m, p in node.calls if m == "hutong_identityEvaluate"]
    assert sizes == [64, 1]


def test_an_evaluation_under_another_key_is_refused_whatever_the_regulators_node_says(node, client):
    # The evaluating node uses another key (and would say so in its own
    # parameters): the tags are checked against the chain's key and refused.
    node.oprf = OprfKey.from_seed(b"\x99" * 32)
    with pytest.raises(UnverifiedEvaluationError) as ei:
        client.identity_tags(INSTITUTION, ["CN_RIC:110101199003074514"], REGULATOR_URL)
    assert ei.value.code == "unverified_evaluation"


def test_identity_tags_refuse_a_bad_identity_before_asking(node, client):
    with pytest.raises(hutong.BadIdentityError):
        client.identity_tags(INSTITUTION, ["CN_RIC:110101199003074514", "CN RIC:1"], REGULATOR_URL)
    assert "hutong_identityEvaluate" not in methods(node)


def test_no_identity_service_no_tags(node, client):
    node.identity = False
    with pytest.raises(NoIdentityServiceError) as ei:
        client.identity_tags(INSTITUTION, ["CN_RIC:110101199003074514"], REGULATOR_URL)
    assert ei.value.code == "no_identity_service"
    with pytest.raises(NoIdentityServiceError):
        client.open_account_with_identity(SENDER.public_key, 1, b"\xba" * 64, b"\x55" * 32)
    assert client.identity_service() is None and client.parameters().identity is None


def test_identity_evaluate_bounds(node, client):
    with pytest.raises(hutong.MalformedError):
        client.identity_evaluate(INSTITUTION, [])
    _, b = hutong.blind(b"x")
    with pytest.raises(hutong.MalformedError):
        client.identity_evaluate(INSTITUTION, [b] * 65)
    answer = client.identity_evaluate(INSTITUTION, [b, b.hex()])
    assert len(answer.elements) == 2 and answer.remaining_this_minute == 598


# -- opening an account -------------------------------------------------------------------

def test_open_account_with_identity_seals_to_the_ledgers_key_for_the_owner(node, client):
    tag = client.identity_tags(INSTITUTION, ["CN_RIC:110101199003074514"], REGULATOR_URL)[0]
    owner, salt = SigningKey.generate(), hutong.new_identity_salt()
    kind = client.open_account_with_identity(owner, 2, tag, salt)
    assert isinstance(kind, hutong.OpenAccount) and kind.owner == owner.public_key and kind.tier == 2
    assert kind.identity_commitment == hutong.binding(tag, salt)
    assert hutong.open_identity(REGULATOR.hpke_secret, CHAIN, owner.public_key, kind.identity_envelope,
                                kind.identity_commitment) == tag
    tx = client.build(INSTITUTION, kind)
    assert tx.kind == kind and hutong.Transaction.decode(tx.encode()).kind == kind


# -- the blacklist ----------------------------------------------------------------------

def test_check_listing(node, client):
    tag = REGULATOR.oprf.tag_of(hutong.identity_input("CN_RIC:110101199003074514"))
    fresh = client.check_listing(hutong.listing_key(tag))
    assert not fresh.listed and fresh.listed_by is None and fresh.height == 9
    assert node.calls[-1][2] == {"listing_key": hutong.listing_key(tag).hex()}
    listed = client.check_listing("4c" * 32)
    assert (listed.listed, listed.listed_by, listed.reason, listed.reference, listed.listed_at_ms) == \
        (True, str(INST_B), "legal-order", "(2026) 7", 1_767_225_000_000)
    with pytest.raises(hutong.EncodingError):
        client.check_listing("4c" * 31)


# -- memo keys and sealed memos -------------------------------------------------------------

def test_get_memo_keys(node, client):
    keys = client.get_memo_keys([SENDER, RECIPIENT.address, str(OTHER.address)])
    assert node.calls[-1][2] == {"accounts": [str(SENDER.address), str(RECIPIENT.address), str(OTHER.address)]}
    assert keys.regulator == REGULATOR.hpke_public
    assert [(k.institution, k.memo_key) for k in keys.accounts] == \
        [(str(INST_A), MEMO_A[1]), (str(INST_B), MEMO_B[1]), (str(INST_C), None)]
    for bad in ([], [SENDER] * 17):
        with pytest.raises(hutong.EncodingError):
            client.get_memo_keys(bad)


def test_build_seals_the_memo_to_both_institutions_and_the_regulator(node, client):
    tx = client.build(SENDER, Transfer(RECIPIENT.address, "CNY", 100, 1), memo="invoice 42 发票")
    assert tx.sequence == 6
    context = hutong.memo_context(CHAIN, SENDER.public_key, 6)
    assert hutong.is_sealed_memo(tx.memo) and tx.memo[:2] == b"\x01\x03"
    for secret in (MEMO_A[0], MEMO_B[0], REGULATOR.hpke_secret):
        assert hutong.open_memo(secret, context, tx.memo) == "invoice 42 发票".encode()
    with pytest.raises(hutong.UndecryptableError):  # the context binds it to this sequence
        hutong.open_memo(MEMO_A[0], hutong.memo_context(CHAIN, SENDER.public_key, 7), tx.memo)
    assert node.calls[-1][2] == {"accounts": [str(SENDER.address), str(RECIPIENT.address)]}
    # It survives signing and decoding: the signed body holds the sealed bytes.
    signed = tx.sign(SENDER)
    assert hutong.SignedTransaction.decode(signed.encode()).tx.memo == tx.memo


def test_memo_readers_leave_out_institutions_without_a_key_and_count_one_institution_once(node, client):
    # The recipient's institution has no memo key: the sender's and the regulator's.
    tx = client.build(SENDER, Transfer(OTHER.address, "CNY", 1, 1), memo=b"x", sequence=0,
                      expiry=Expiry.at_height(10))
    assert tx.memo[:2] == b"\x01\x02"
    # Both at one institution: that institution once.
    node.accounts[str(RECIPIENT.address)] = (INST_A, MEMO_A[1])
    assert client.memo_readers(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1)) == \
        [MEMO_A[1], REGULATOR.hpke_public]
    # A recipient with no account (the transfer will fail anyway): left out.
    assert client.memo_readers(SENDER, Transfer(NOBODY.address, "CNY", 1, 1)) == [MEMO_A[1], REGULATOR.hpke_public]
    # Counterparties of other kinds: a capture's payer, a linked transaction's legs.
    assert client.memo_readers(OTHER, hutong.Capture(SENDER.address, 1, 1)) == [MEMO_A[1], REGULATOR.hpke_public]


def test_more_than_four_readers_is_refused(node, client):
    extra = [SigningKey(bytes([0x40 + i]) * 32) for i in range(3)]
    for i, k in enumerate(extra):
        node.accounts[str(k.address)] = (Address(bytes([0xd0 + i]) * 20),
                                         hutong.memo_key_from_seed(bytes([0x80 + i]) * 32)[1])
    batch = hutong.BatchTransfer("CNY", [hutong.Payout(RECIPIENT.address, 1)] + [hutong.Payout(k.address, 1) for k in extra])
    with pytest.raises(hutong.BadReadersError) as ei:
        client.build(SENDER, batch, memo="payroll", sequence=0, expiry=Expiry.at_height(10))
    assert ei.value.code == "bad_readers" and ei.value.got == 6
    # Without a memo there is nothing to seal.
    assert client.build(SENDER, batch, sequence=0, expiry=Expiry.at_height(10)).memo == b""


def test_memo_in_clear_when_asked_or_without_an_identity_service(node, client):
    tx = client.build(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1), memo="clear", seal_memo=False,
                      sequence=0, expiry=Expiry.at_height(10))
    assert tx.memo == b"clear"
    node.identity = False
    plain = hutong.Client("http://other-chain.invalid")
    assert plain.build(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1), memo="clear", sequence=0,
                       expiry=Expiry.at_height(10)).memo == b"clear"
    with pytest.raises(NoIdentityServiceError):
        plain.build(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1), memo="x", seal_memo=True, sequence=0,
                    expiry=Expiry.at_height(10))


def test_a_memo_too_long_to_seal_is_refused_before_sending(node, client):
    with pytest.raises(hutong.MemoTooLongError) as ei:
        client.build(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1), memo=b"x" * 255, sequence=0,
                     expiry=Expiry.at_height(10))
    assert ei.value.max == 254
    assert len(client.build(SENDER, Transfer(RECIPIENT.address, "CNY", 1, 1), memo=b"x" * 254, sequence=0,
                            expiry=Expiry.at_height(10)).memo) == 512


def test_read_memo(node, client):
    memo = client.read_memo("ab" * 32, SENDER)
    assert memo.text == "invoice 42 发票" and memo.data == "invoice 42 发票".encode()
    assert memo.tx_hash == "ab" * 32
    [request] = node.calls[-1][2]
    assert request["key"] == SENDER.public_key.hex() and abs(request["timestamp_ms"] - time.time() * 1000) < 60_000


def test_parameters_identity_view():
    p = hutong.Parameters.from_json({"decimals": {"CNY": 2}, "identity": {"oprf_key": "36" * 32,
                                                                         "hpke_key": "65" * 32}})
    assert p.identity == hutong.IdentityService(b"\x36" * 32, b"\x65" * 32) and p.memo_bytes_max == 512
    assert hutong.Parameters.from_json({"decimals": {}}).identity is None
    with pytest.raises(hutong.MalformedError):
        hutong.Parameters.from_json({"decimals": {}, "identity": {"oprf_key": "36", "hpke_key": "65" * 32}})


def test_call_sends_params_by_name_or_by_position(monkeypatch):
    sent = []

    class Answer:
        def __init__(self, body):
            self.body = body

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return json.dumps({"jsonrpc": "2.0", "id": 1, "result": True}).encode()

    def urlopen(req, timeout=None):
        sent.append(json.loads(req.data))
        return Answer(req.data)

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    c = hutong.Client("http://127.0.0.1:1")
    c.call("m", {"listing_key": "ab"})
    c.call("m", ["x"])
    c.call("m")
    assert [s["params"] for s in sent] == [{"listing_key": "ab"}, ["x"], []]
