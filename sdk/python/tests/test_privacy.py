"""The identity layer (SPEC.md section 9) against sdk/vectors/identity-tags.json,
and its refusals: identity inputs, OPRF transcripts with fixed blinds, the
values of a tag, the identity envelope and sealed memos."""

import json
from pathlib import Path

import pytest

import hutong
from hutong import (
    BadIdentityError,
    BadReadersError,
    CommitmentMismatchError,
    MalformedError,
    MemoTooLongError,
    OprfKey,
    PrivacyError,
    UndecryptableError,
    UnverifiedEvaluationError,
    binding,
    blind,
    check_memo,
    finalize,
    identity_input,
    identity_keys_from_seed,
    is_sealed_memo,
    listing_key,
    memo_context,
    memo_key_from_seed,
    open_identity,
    open_memo,
    owner_id,
    seal_identity,
    seal_memo,
    sealed_memo_len,
)
from hutong.privacy import hpke
from hutong.privacy import ristretto as group

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "vectors" / "identity-tags.json").read_text())
OPRF = VECTORS["oprf"]
TRANSCRIPTS = OPRF["transcripts"]
ENVELOPE = VECTORS["identity_envelope"]
MEMO = VECTORS["memo"]
h = bytes.fromhex


def flip(data, at, bit=0x01):
    out = bytearray(data)
    out[at] ^= bit
    return bytes(out)


# -- identity inputs -------------------------------------------------------------

@pytest.mark.parametrize("case", VECTORS["identity_inputs"], ids=lambda c: c["identity"])
def test_identity_input_vector(case):
    assert identity_input(case["identity"]).hex() == case["input"]


@pytest.mark.parametrize("bad", VECTORS["invalid_identities"])
def test_identity_input_refused(bad):
    with pytest.raises(BadIdentityError) as ei:
        identity_input(bad)
    assert ei.value.code == "bad_identity"
    assert isinstance(ei.value, hutong.IdentityError) and isinstance(ei.value, PrivacyError)


def test_identity_input_normalises_as_the_commitment_does():
    # The same person written two ways is one input (so one tag).
    assert identity_input("cn_ric: 1101-0119 9003-07451x") == identity_input("CN_RIC:11010119900307451X")
    assert identity_input("HK_ID", "A123456(3)") == identity_input("HK_ID:A1234563")
    # Only the first ':' separates: a ':' in the number is refused with the number.
    with pytest.raises(BadIdentityError) as ei:
        identity_input("CN_RIC:12:34")
    assert ei.value.field == "id_number"
    with pytest.raises(BadIdentityError) as ei:
        identity_input(42)
    assert ei.value.field == "identity"


# -- keys from seeds ------------------------------------------------------------------

def test_the_regulators_keys_come_from_the_seed():
    keys = identity_keys_from_seed(OPRF["seed"])
    assert keys.oprf.public_key.hex() == OPRF["public_key"]
    assert keys.hpke_secret.hex() == ENVELOPE["hpke_secret"]
    assert keys.hpke_public.hex() == ENVELOPE["hpke_public"]
    assert OprfKey.from_seed(h(OPRF["seed"]), OPRF["derive_info"].encode()).public_key.hex() == OPRF["public_key"]


def test_memo_readers_keys_come_from_their_seeds():
    # The generator's readers: two institutions' memo keys (seeds 0x71, 0x72) and
    # an HPKE key derived directly (0x73).
    readers = MEMO["readers"]
    assert memo_key_from_seed(b"\x71" * 32) == (h(readers[0]["secret"]), h(readers[0]["public"]))
    assert memo_key_from_seed(b"\x72" * 32) == (h(readers[1]["secret"]), h(readers[1]["public"]))
    assert hpke.derive_keypair(b"\x73" * 32) == (h(readers[2]["secret"]), h(readers[2]["public"]))


# -- OPRF transcripts ------------------------------------------------------------------

@pytest.mark.parametrize("t", TRANSCRIPTS, ids=lambda t: t["identity"])
def test_transcript_blinds_verifies_and_finalizes(t):
    data = identity_input(t["identity"])
    assert data.hex() == t["input"]
    state, blinded = blind(data, t["blind"])
    assert blinded.hex() == t["blinded"] and state.blinded == blinded
    assert repr(state) == "BlindState(..)"  # never the blind
    tags = finalize([state], [data], [t["evaluated"]], t["proof"], OPRF["public_key"])
    assert [x.hex() for x in tags] == [t["tag"]]
    # Bytes or hex, either way.
    assert finalize([state], [data], [h(t["evaluated"])], h(t["proof"]), h(OPRF["public_key"])) == tags
    # The regulator computes the same tag directly.
    assert identity_keys_from_seed(OPRF["seed"]).oprf.tag_of(data).hex() == t["tag"]
    assert listing_key(tags[0]).hex() == t["listing_key"]
    assert owner_id(tags[0]).hex() == t["owner"]


@pytest.mark.parametrize("t", TRANSCRIPTS, ids=lambda t: t["identity"])
def test_transcript_tampered_proof_is_refused(t):
    data = h(t["input"])
    state, _ = blind(data, t["blind"])
    proof = h(t["proof"])
    # A low bit of c, of s (both stay canonical scalars), and of the evaluated element.
    for bad in (flip(proof, 0), flip(proof, 5, 0x40), flip(proof, 32), flip(proof, 40, 0x08)):
        with pytest.raises(UnverifiedEvaluationError) as ei:
            finalize([state], [data], [t["evaluated"]], bad, OPRF["public_key"])
        assert ei.value.code == "unverified_evaluation"
    # Another evaluated element with the same proof (the regulator's answer to someone else).
    other = next(o for o in TRANSCRIPTS if o is not t)
    with pytest.raises(UnverifiedEvaluationError):
        finalize([state], [data], [other["evaluated"]], t["proof"], OPRF["public_key"])


@pytest.mark.parametrize("t", TRANSCRIPTS, ids=lambda t: t["identity"])
def test_transcript_wrong_public_key_is_refused(t):
    data = h(t["input"])
    state, _ = blind(data, t["blind"])
    for wrong in (OprfKey.from_seed(b"\x12" * 32).public_key,
                  OprfKey.from_seed(h(OPRF["seed"]), b"another info").public_key,
                  group.encode(group.BASE)):
        with pytest.raises(UnverifiedEvaluationError):
            finalize([state], [data], [t["evaluated"]], t["proof"], wrong)


@pytest.mark.parametrize("t", TRANSCRIPTS, ids=lambda t: t["identity"])
def test_transcript_answer_replayed_for_another_blind_is_refused(t):
    data = h(t["input"])
    # The same identity blinded again (another request): the old answer does not fit.
    for fresh in (blind(data)[0], blind(data, (int.from_bytes(h(t["blind"]), "little") + 1).to_bytes(32, "little"))[0]):
        with pytest.raises(UnverifiedEvaluationError):
            finalize([fresh], [data], [t["evaluated"]], t["proof"], OPRF["public_key"])
    # Another transcript's state, with this transcript's answer.
    other = next(o for o in TRANSCRIPTS if o is not t)
    other_state, _ = blind(h(other["input"]), other["blind"])
    with pytest.raises(UnverifiedEvaluationError):
        finalize([other_state], [h(other["input"])], [t["evaluated"]], t["proof"], OPRF["public_key"])


def test_transcript_verified_with_another_input_is_another_tag():
    # The proof covers the elements, not the input: finalizing under a wrong
    # input gives a wrong tag, never the right one (an institution's own bug).
    t = TRANSCRIPTS[0]
    state, _ = blind(h(t["input"]), t["blind"])
    tags = finalize([state], [h(TRANSCRIPTS[1]["input"])], [t["evaluated"]], t["proof"], OPRF["public_key"])
    assert tags[0].hex() != t["tag"]


def test_malformed_answers_are_malformed_not_unverified():
    t = TRANSCRIPTS[0]
    data = h(t["input"])
    state, _ = blind(data, t["blind"])
    pk = OPRF["public_key"]
    cases = [
        ([state], [data], [t["evaluated"]], group.L.to_bytes(32, "little") + h(t["proof"])[32:], pk),  # c not canonical
        ([state], [data], [t["evaluated"]], h(t["proof"])[:32] + bytes(32), pk),  # s zero
        ([state], [data], [t["evaluated"]], h(t["proof"])[:63], pk),  # short proof
        ([state], [data], ["ff" * 32], t["proof"], pk),  # not an element
        ([state], [data], ["00" * 32], t["proof"], pk),  # the identity
        ([state], [data], ["zz" * 32], t["proof"], pk),  # not hex
        ([state], [data], [t["evaluated"], t["evaluated"]], t["proof"], pk),  # counts differ
        ([state], [], [t["evaluated"]], t["proof"], pk),
        ([], [], [], t["proof"], pk),
        ([state], [data], [t["evaluated"]], t["proof"], "00" * 32),  # the key is the identity
        ([state], [data], [t["evaluated"]], t["proof"], pk[:-2]),
        (["state"], [data], [t["evaluated"]], t["proof"], pk),
    ]
    for args in cases:
        with pytest.raises(MalformedError) as ei:
            finalize(*args)
        assert ei.value.code == "malformed"


def test_a_batch_has_one_proof_and_keeps_its_order(rng, seed):
    print(f"random inputs from HUTONG_TEST_SEED={seed}")
    key = OprfKey.from_seed(rng.getrandbits(256).to_bytes(32, "little"))
    identities = [f"PASSPORT_CN:E{rng.randrange(10**8):08}" for _ in range(5)]
    inputs = [identity_input(i) for i in identities]
    blinds = [blind(i) for i in inputs]
    answer = key.evaluate([b for _, b in blinds])
    assert len(answer.elements) == 5 and len(answer.proof) == 64
    tags = finalize([s for s, _ in blinds], inputs, answer.elements, answer.proof, key.public_key)
    assert tags == [key.tag_of(i) for i in inputs]
    # Two answers swapped: refused, not two wrong tags.
    swapped = [answer.elements[1], answer.elements[0]] + answer.elements[2:]
    with pytest.raises(UnverifiedEvaluationError):
        finalize([s for s, _ in blinds], inputs, swapped, answer.proof, key.public_key)
    # Blinded twice, the same identity gives other requests and the same tag.
    again = blind(inputs[0])
    assert again[1] != blinds[0][1]
    answer2 = key.evaluate([again[1]])
    assert finalize([again[0]], [inputs[0]], answer2.elements, answer2.proof, key.public_key) == [tags[0]]


def test_evaluation_bounds_are_refusals():
    key = OprfKey.from_seed(b"\x01" * 32)
    _, b = blind(b"x")
    for bad in ([], [b] * 65, ["ff" * 32], ["00" * 32], [b[:31]]):
        with pytest.raises(MalformedError):
            key.evaluate(bad)
    assert len(key.evaluate([b] * 64).elements) == 64
    with pytest.raises(MalformedError):
        blind(b"x", group.L.to_bytes(32, "little"))  # a blind that is not a scalar
    with pytest.raises(MalformedError):
        blind("not bytes")


def test_evaluation_from_the_nodes_json():
    t = TRANSCRIPTS[0]
    ev = hutong.Evaluation.from_json({"elements": [t["evaluated"]], "proof": t["proof"],
                                      "remaining_this_minute": 599})
    assert ev.elements == [h(t["evaluated"])] and ev.proof == h(t["proof"]) and ev.remaining_this_minute == 599
    for bad in ({}, {"elements": "x", "proof": t["proof"]}, {"elements": [t["evaluated"]]},
                {"elements": ["00"], "proof": t["proof"]}):
        with pytest.raises(MalformedError):
            hutong.Evaluation.from_json(bad)


# -- values of a tag ----------------------------------------------------------------------

def test_derived_values_vector():
    b = VECTORS["binding"]
    assert binding(b["tag"], b["salt"]).hex() == b["commitment"]
    assert binding(h(b["tag"]), h(b["salt"])).hex() == b["commitment"]
    assert owner_id(b["tag"]).hex() == b["owner"]
    assert listing_key(b["tag"]).hex() == b["listing_key"]
    # Each is SHA-256(label || 0x00 || data).
    import hashlib
    assert listing_key(b["tag"]) == hashlib.sha256(b"hutong/blacklist/v1\x00" + h(b["tag"])).digest()
    assert binding(b["tag"], b["salt"]) == hashlib.sha256(
        b"hutong/identity-binding/v1\x00" + h(b["tag"]) + h(b["salt"])).digest()
    for bad in (h(b["tag"])[:63], "zz"):
        with pytest.raises(MalformedError):
            listing_key(bad)
    with pytest.raises(MalformedError):
        binding(b["tag"], b"\x55" * 31)


# -- the identity envelope ---------------------------------------------------------------

def open_vector(**over):
    args = dict(hpke_secret=ENVELOPE["hpke_secret"], chain_id=ENVELOPE["chain_id"],
                owner_public_key=ENVELOPE["owner"], envelope=ENVELOPE["envelope"],
                commitment=ENVELOPE["commitment"])
    args.update(over)
    return open_identity(**args)


def test_the_envelope_vector_opens_to_its_tag():
    assert len(h(ENVELOPE["envelope"])) == hutong.IDENTITY_ENVELOPE_BYTES == 144
    assert open_vector().hex() == ENVELOPE["tag"]
    assert ENVELOPE["info"] == "hutong/identity-envelope/v1"


def test_the_envelope_does_not_open_for_another_owner_chain_or_key():
    for over in (dict(owner_public_key="34" * 32), dict(chain_id="23" * 32),
                 dict(hpke_secret=identity_keys_from_seed(b"\x12" * 32).hpke_secret)):
        with pytest.raises(UndecryptableError) as ei:
            open_vector(**over)
        assert ei.value.code == "undecryptable"


def test_a_flipped_byte_anywhere_does_not_open():
    env = h(ENVELOPE["envelope"])
    for at in (0, 31, 32, 100, 127, 128, 143):
        with pytest.raises(UndecryptableError):
            open_vector(envelope=flip(env, at, 0x40))


def test_envelope_of_another_length_is_malformed_and_another_commitment_mismatches():
    env = h(ENVELOPE["envelope"])
    for bad in (env[1:], env + b"\x00", b""):
        with pytest.raises(MalformedError) as ei:
            open_vector(envelope=bad)
        assert ei.value.code == "malformed"
    with pytest.raises(CommitmentMismatchError) as ei:
        open_vector(commitment="05" * 32)
    assert ei.value.code == "commitment_mismatch" and ei.value.commitment == "05" * 32


def test_own_envelopes_open_and_their_commitment_binds_tag_and_salt():
    keys = identity_keys_from_seed(OPRF["seed"])
    tag, chain, owner = h(ENVELOPE["tag"]), h(ENVELOPE["chain_id"]), hutong.SigningKey(b"\x33" * 32)
    salt = hutong.new_identity_salt()
    env, commitment = seal_identity(keys.hpke_public, chain, owner.public_key, tag, salt)
    assert len(env) == 144 and commitment == binding(tag, salt)
    assert open_identity(keys.hpke_secret, chain, owner.public_key, env, commitment) == tag
    assert open_identity(keys.hpke_secret, chain.hex(), owner, env.hex(), commitment.hex()) == tag
    # The envelope shows neither the tag nor the salt.
    assert not any(tag[i:i + 16] in env for i in range(0, 48)) and salt not in env
    # One owner, two accounts: unlinkable commitments, the same owner id inside.
    env2, commitment2 = seal_identity(keys.hpke_public, chain, b"\x44" * 32, tag)
    assert commitment2 != commitment and env2 != env
    assert owner_id(open_identity(keys.hpke_secret, chain, b"\x44" * 32, env2, commitment2)) == owner_id(tag)
    # Copied into another account: does not open.
    with pytest.raises(UndecryptableError):
        open_identity(keys.hpke_secret, chain, b"\x44" * 32, env, commitment)


def test_seal_identity_refuses_bad_inputs():
    pk = ENVELOPE["hpke_public"]
    for args in ((pk[:-2], "22" * 32, "33" * 32, "ba" * 64), (pk, "22" * 31, "33" * 32, "ba" * 64),
                 (pk, "22" * 32, "33" * 32, "ba" * 63), ("00" * 32, "22" * 32, "33" * 32, "ba" * 64)):
        with pytest.raises(MalformedError):
            seal_identity(*args)
    with pytest.raises(MalformedError):
        seal_identity(pk, "22" * 32, "33" * 32, "ba" * 64, b"\x00" * 31)


# -- sealed memos ------------------------------------------------------------------

def context_of_vector():
    c = MEMO["context_of"]
    return memo_context(c["chain_id"], c["sender"], c["sequence"])


def test_memo_context_vector():
    assert context_of_vector().hex() == MEMO["context"]
    c = MEMO["context_of"]
    assert memo_context(c["chain_id"], hutong.PublicKey(c["sender"]), c["sequence"]).hex() == MEMO["context"]
    assert memo_context(c["chain_id"], c["sender"], c["sequence"] + 1).hex() != MEMO["context"]
    for bad in (-1, 2**64, True):
        with pytest.raises(MalformedError):
            memo_context(c["chain_id"], c["sender"], bad)


@pytest.mark.parametrize("reader", range(3))
def test_the_memo_vector_opens_for_each_reader(reader):
    sealed = h(MEMO["sealed"])
    text = open_memo(MEMO["readers"][reader]["secret"], h(MEMO["context"]), sealed)
    assert text.hex() == MEMO["text"] and text.decode() == "salary March 工资"
    assert len(sealed) == sealed_memo_len(len(text), 3) and sealed[:2] == b"\x01\x03"
    assert is_sealed_memo(sealed)


def test_the_memo_vector_does_not_open_for_a_stranger_or_another_context():
    sealed, ctx = h(MEMO["sealed"]), h(MEMO["context"])
    stranger = memo_key_from_seed(b"\x74" * 32)[0]
    with pytest.raises(UndecryptableError) as ei:
        open_memo(stranger, ctx, sealed)
    assert ei.value.code == "undecryptable"
    c = MEMO["context_of"]
    for other in (memo_context(c["chain_id"], c["sender"], c["sequence"] + 1),
                  memo_context("23" * 32, c["sender"], c["sequence"]), b"ctx"):
        with pytest.raises(UndecryptableError):
            open_memo(MEMO["readers"][0]["secret"], other, sealed)
    # Altered: a reader's slot, or the body.
    for at in (2, 2 + 40, len(sealed) - 1, len(sealed) - 20):
        with pytest.raises(UndecryptableError):
            open_memo(MEMO["readers"][0]["secret"], ctx, flip(sealed, at))


def test_own_memos_round_trip(rng, seed):
    print(f"random inputs from HUTONG_TEST_SEED={seed}")
    keys = [memo_key_from_seed(rng.getrandbits(256).to_bytes(32, "little")) for _ in range(4)]
    for _ in range(12):
        n = rng.randrange(1, 5)
        limit = 512 - sealed_memo_len(0, n)
        text = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, rng.randrange(limit + 1), limit])))
        context = memo_context(rng.getrandbits(256).to_bytes(32, "little"), b"\x01" * 32, rng.getrandbits(64))
        sealed = seal_memo([pk for _, pk in keys[:n]], context, text)
        assert len(sealed) == sealed_memo_len(len(text), n) <= 512
        check_memo(sealed)
        for sk, _ in keys[:n]:
            assert open_memo(sk, context, sealed) == text
        for sk, _ in keys[n:]:
            with pytest.raises(UndecryptableError):
                open_memo(sk, context, sealed)
        assert len(text) < 8 or text not in sealed
    # A str is sealed as UTF-8; two seals of one text differ.
    a = seal_memo([keys[0][1]], b"c", "発票 42")
    assert open_memo(keys[0][0], b"c", a) == "発票 42".encode() and a != seal_memo([keys[0][1]], b"c", "発票 42")


def test_memo_bounds_are_refusals():
    pk = MEMO["readers"][0]["public"]
    with pytest.raises(BadReadersError) as ei:
        seal_memo([], b"", b"x")
    assert ei.value.code == "bad_readers" and (ei.value.got, ei.value.max) == (0, 4)
    with pytest.raises(BadReadersError):
        seal_memo([pk] * 5, b"", b"x")
    # Three readers: 254 bytes of text fill the 512; 255 do not fit.
    assert len(seal_memo([pk] * 3, b"", b"x" * 254)) == 512
    with pytest.raises(MemoTooLongError) as ei:
        seal_memo([pk] * 3, b"", b"x" * 255)
    assert ei.value.code == "memo_too_long" and (ei.value.len, ei.value.max) == (255, 254)
    assert len(seal_memo([pk], b"", b"x" * 414)) == 512
    with pytest.raises(MemoTooLongError):
        seal_memo([pk], b"", b"x" * 415)
    with pytest.raises(MemoTooLongError):
        seal_memo([pk], b"", b"x" * 300, max_len=256)
    with pytest.raises(MalformedError):
        seal_memo([pk[:-2]], b"", b"x")
    with pytest.raises(MalformedError):
        seal_memo(["00" * 32], b"", b"x")  # a key of small order


@pytest.mark.parametrize("bad,code", [
    (b"", "malformed"), (b"\x02\x01", "malformed"), (b"\x01", "malformed"), (b"\x01\x00", "bad_readers"),
    (b"\x01\x05", "bad_readers"), (b"\x01\x01\x00", "malformed"),
    (b"\x01\x01" + bytes(80 + 15), "malformed"),
])
def test_memo_structure_refusals(bad, code):
    with pytest.raises(PrivacyError) as ei:
        check_memo(bad)
    assert ei.value.code == code
    assert not is_sealed_memo(bad)
    with pytest.raises(PrivacyError) as ei:
        open_memo(MEMO["readers"][0]["secret"], b"", bad)
    assert ei.value.code == code


def test_the_shortest_sealed_memo_has_the_structure():
    assert is_sealed_memo(b"\x01\x01" + bytes(80 + 16))
    assert is_sealed_memo(b"\x01\x04" + bytes(4 * 80 + 16))


def test_error_codes_are_stable():
    assert [c.code for c in (BadIdentityError, MalformedError, UnverifiedEvaluationError, UndecryptableError,
                             CommitmentMismatchError, BadReadersError, MemoTooLongError)] == [
        "bad_identity", "malformed", "unverified_evaluation", "undecryptable", "commitment_mismatch",
        "bad_readers", "memo_too_long"]
    for cls in (BadIdentityError, MalformedError, UnverifiedEvaluationError, UndecryptableError,
                CommitmentMismatchError, BadReadersError, MemoTooLongError, hutong.NoIdentityServiceError):
        assert issubclass(cls, PrivacyError) and issubclass(cls, hutong.HutongError)
    assert issubclass(MalformedError, hutong.EncodingError)
