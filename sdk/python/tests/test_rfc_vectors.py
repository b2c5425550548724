"""The standards the identity layer builds on, by their own test vectors:
ristretto255 (RFC 9496), the VOPRF of RFC 9497 (ristretto255-SHA512,
mode 0x01, appendix A.1.2) and HPKE (RFC 9180, appendix A.2.1: base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305)."""

import pytest

from hutong import MalformedError, OprfKey, UndecryptableError, UnverifiedEvaluationError, blind, finalize
from hutong.privacy import hpke
from hutong.privacy import ristretto as group

h = bytes.fromhex


# -- RFC 9496 ------------------------------------------------------------------

# Section A.1: the encodings of 0 to 5 times the generator.
MULTIPLES = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
    "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    "e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
]


def test_ristretto_constants_are_what_rfc_9496_defines():
    p, d = group.P, group.D
    assert d * 121666 % p == (-121665) % p
    assert group.SQRT_M1 ** 2 % p == p - 1
    assert group.SQRT_AD_MINUS_ONE ** 2 % p == (-d - 1) % p  # a = -1
    assert group.INVSQRT_A_MINUS_D ** 2 * (-1 - d) % p == 1
    assert group.ONE_MINUS_D_SQ == (1 - d * d) % p
    assert group.D_MINUS_ONE_SQ == (d - 1) ** 2 % p
    assert group.is_identity(group.mul(group.L, group.BASE))


def test_multiples_of_the_generator_encode_as_rfc_9496_says():
    for n, text in enumerate(MULTIPLES):
        point = group.mul(n, group.BASE)
        assert group.encode(point).hex() == text, n
        decoded = group.decode(h(text))
        assert decoded is not None and group.equal(decoded, point)
        assert group.encode(decoded) == h(text)
    # The additions and the scalar multiplication agree.
    acc = group.IDENTITY
    for n in range(6):
        assert group.equal(acc, group.mul(n, group.BASE))
        acc = group.add(acc, group.BASE)


@pytest.mark.parametrize("bad", [
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # not below p
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p itself
    "0100000000000000000000000000000000000000000000000000000000000000",  # s negative (odd)
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d",  # 31 bytes
])
def test_non_canonical_encodings_are_refused(bad):
    assert group.decode(h(bad)) is None
    with pytest.raises(MalformedError):
        group.decode_element(h(bad), "element")


def test_the_identity_is_not_an_element_of_a_message():
    with pytest.raises(MalformedError, match="identity"):
        group.decode_element(bytes(32), "element")


def test_scalars_must_be_canonical_and_non_zero():
    with pytest.raises(MalformedError, match="canonical"):
        group.decode_scalar(group.L.to_bytes(32, "little"), "s")
    with pytest.raises(MalformedError, match="zero"):
        group.decode_scalar(bytes(32), "s")
    assert group.decode_scalar((group.L - 1).to_bytes(32, "little"), "s") == group.L - 1


def test_expand_message_xmd_sha512_rfc_9380():
    # RFC 9380 appendix K.3 (expand_message_xmd, SHA-512), len_in_bytes 0x20.
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert group.expand_message_xmd(b"", dst, 0x20).hex() == \
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    assert group.expand_message_xmd(b"abc", dst, 0x20).hex() == \
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    # Two blocks of SHA-512 (len_in_bytes 0x80).
    assert group.expand_message_xmd(b"", dst, 0x80).hex() == (
        "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
        "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
        "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
        "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961")


# -- RFC 9497, appendix A.1.2: ristretto255-SHA512, VOPRF mode -----------------------

SEED = h("a3" * 32)
KEY_INFO = h("74657374206b6579")  # "test key"
SK = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"
PK = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
BLIND_1 = "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"
BLIND_2 = "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e"
OUT_1 = ("b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
         "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c")
OUT_2 = ("8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60"
         "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6")

VOPRF_VECTORS = [
    {   # Test Vector 1, Batch Size 1
        "inputs": ["00"], "blinds": [BLIND_1],
        "blinded": ["863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945"],
        "evaluated": ["aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e"],
        "proof": "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd06"
                 "6d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
        "proof_scalar": BLIND_2, "outputs": [OUT_1],
    },
    {   # Test Vector 2, Batch Size 1
        "inputs": ["5a" * 17], "blinds": [BLIND_1],
        "blinded": ["cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c"],
        "evaluated": ["60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468"],
        "proof": "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a"
                 "67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
        "proof_scalar": BLIND_2, "outputs": [OUT_2],
    },
    {   # Test Vector 3, Batch Size 2
        "inputs": ["00", "5a" * 17], "blinds": [BLIND_1, BLIND_2],
        "blinded": ["863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
                    "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654"],
        "evaluated": ["aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
                      "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a"],
        "proof": "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a"
                 "5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08",
        "proof_scalar": "419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c",
        "outputs": [OUT_1, OUT_2],
    },
]


def test_derive_key_pair_rfc_9497():
    key = OprfKey.from_seed(SEED, KEY_INFO)
    assert key.secret_bytes().hex() == SK
    assert key.public_key.hex() == PK
    assert OprfKey.from_bytes(SK).public_key.hex() == PK


@pytest.mark.parametrize("v", VOPRF_VECTORS, ids=["vector-1", "vector-2", "vector-3-batch"])
def test_voprf_rfc_9497(v):
    key = OprfKey.from_seed(SEED, KEY_INFO)
    inputs = [h(i) for i in v["inputs"]]
    blinds = [blind(i, b) for i, b in zip(inputs, v["blinds"])]
    assert [b.hex() for _, b in blinds] == v["blinded"]
    assert [s.blinded.hex() for s, _ in blinds] == v["blinded"]

    # The server's side, with the vector's proof scalar, gives the same answer.
    answer = key.evaluate([b for _, b in blinds], proof_scalar=v["proof_scalar"])
    assert [e.hex() for e in answer.elements] == v["evaluated"]
    assert answer.proof.hex() == v["proof"]

    # The client verifies the proof and finalizes to the outputs.
    outputs = finalize([s for s, _ in blinds], inputs, v["evaluated"], v["proof"], PK)
    assert [o.hex() for o in outputs] == v["outputs"]
    assert [key.tag_of(i).hex() for i in inputs] == v["outputs"]

    # Another key's public half, or a proof with a flipped bit, is refused.
    other = OprfKey.from_seed(SEED, b"another key").public_key
    with pytest.raises(UnverifiedEvaluationError) as ei:
        finalize([s for s, _ in blinds], inputs, v["evaluated"], v["proof"], other)
    assert ei.value.code == "unverified_evaluation"
    bad = bytearray(h(v["proof"]))
    bad[3] ^= 0x10
    with pytest.raises(UnverifiedEvaluationError):
        finalize([s for s, _ in blinds], inputs, v["evaluated"], bytes(bad), PK)


# -- RFC 9180, appendix A.2.1 ----------------------------------------------------------

HPKE = {
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "ikmE": "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
    "ikmR": "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
    "skEm": "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    "skRm": "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    "pkEm": "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    "pkRm": "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    "shared_secret": "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7",
    "key": "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
    "base_nonce": "5c4d98150661b848853b547f",
    # The first encryption (sequence number 0), which single-shot seal is.
    "aad": "436f756e742d30",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "ct": "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
}


def test_hpke_derive_key_pair_rfc_9180():
    assert hpke.derive_keypair(h(HPKE["ikmR"])) == (h(HPKE["skRm"]), h(HPKE["pkRm"]))
    assert hpke.derive_keypair(h(HPKE["ikmE"])) == (h(HPKE["skEm"]), h(HPKE["pkEm"]))
    assert hpke.public_key(h(HPKE["skRm"])) == h(HPKE["pkRm"])


def test_hpke_key_schedule_rfc_9180():
    enc, pk_r = h(HPKE["pkEm"]), h(HPKE["pkRm"])
    dh = hpke._dh(h(HPKE["skEm"]), pk_r)
    assert dh is not None and dh == hpke._dh(h(HPKE["skRm"]), enc)
    shared = hpke._shared_secret(dh, enc, pk_r)
    assert shared.hex() == HPKE["shared_secret"]
    assert hpke._key_schedule(shared, h(HPKE["info"])) == (h(HPKE["key"]), h(HPKE["base_nonce"]))


def test_hpke_single_shot_seal_and_open_rfc_9180():
    enc, ct = hpke.single_shot_seal(h(HPKE["pkRm"]), h(HPKE["info"]), h(HPKE["aad"]), h(HPKE["pt"]),
                                    ephemeral_secret=h(HPKE["skEm"]))
    assert (enc.hex(), ct.hex()) == (HPKE["pkEm"], HPKE["ct"])
    assert hpke.single_shot_open(h(HPKE["skRm"]), enc, h(HPKE["info"]), h(HPKE["aad"]), ct) == h(HPKE["pt"])
    # Another aad, info or key does not open.
    for sk, info, aad in [(HPKE["skRm"], HPKE["info"], "00"), (HPKE["skRm"], "00", HPKE["aad"]),
                          (HPKE["skEm"], HPKE["info"], HPKE["aad"])]:
        with pytest.raises(UndecryptableError):
            hpke.single_shot_open(h(sk), enc, h(info), h(aad), ct)


def test_hpke_refuses_a_public_key_of_small_order():
    with pytest.raises(MalformedError, match="small order"):
        hpke.single_shot_seal(bytes(32), b"", b"", b"x")
    with pytest.raises(UndecryptableError):
        hpke.single_shot_open(h(HPKE["skRm"]), bytes(32), b"", b"", bytes(17))
