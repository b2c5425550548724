"""Identity tags by the verifiable oblivious PRF of RFC 9497 (mode 0x01,
ristretto255-SHA512), as ``hutong_privacy::oprf``::

    institution                                   regulator's node (key k, public K)
    input = identity_input("CN_RIC:1101…")
    (state, B) = blind(input)          ── B ──▶
                                       ◀── (Z, proof) ──  BlindEvaluate: Z = k·B, one DLEQ proof
    tag = finalize([state], [input], [Z], proof, K)   (refused unless the proof holds for K)

``B`` is uniformly random whatever the identity, so the regulator learns
nothing from a request; the proof shows the answer used the key whose
public half is in genesis, so an institution cannot be handed a tag under
another key, nor the answer to another request.
"""

import hashlib
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import ristretto as group
from ..errors import BadIdentityError, IdentityError, MalformedError, UnverifiedEvaluationError
from ..identity import normalise_id_number, normalise_id_type
from .tag import BytesLike, as_bytes

#: Bytes of a blinded or evaluated element and of the OPRF public key.
ELEMENT_BYTES = group.ELEMENT_BYTES
#: Bytes of an evaluation's proof: two scalars, ``c || s``.
PROOF_BYTES = 64
#: Most blinded identities one ``hutong_identityEvaluate`` request carries.
EVALUATION_BATCH_MAX = 64
#: The ``info`` of RFC 9497 DeriveKeyPair for the regulator's OPRF key.
OPRF_KEY_INFO = b"hutong/identity/oprf-key/v1"

# RFC 9497's context string of the suite, and the domain separation tags built on it.
CONTEXT_STRING = b"OPRFV1-\x01-ristretto255-SHA512"
_HASH_TO_GROUP_DST = b"HashToGroup-" + CONTEXT_STRING
_HASH_TO_SCALAR_DST = b"HashToScalar-" + CONTEXT_STRING
_DERIVE_KEYPAIR_DST = b"DeriveKeyPair" + CONTEXT_STRING
_SEED_DST = b"Seed-" + CONTEXT_STRING


def _i2osp2(n: int) -> bytes:
    return n.to_bytes(2, "big")


# -- the identity input --------------------------------------------------------

def identity_input(identity: str, id_number: Optional[str] = None) -> bytes:
    """The OPRF input of an identity written ``TYPE:NUMBER`` (the first
    ``:`` separates them), or of ``identity_input(TYPE, NUMBER)``:
    ``borsh(normalised type) || borsh(normalised number)``, normalised as
    the identity commitment's (SPEC.md section 7), so that every
    institution forms the same input for one person. Raises
    :class:`~hutong.BadIdentityError` (``bad_identity``) otherwise."""
    if id_number is None:
        if not isinstance(identity, str):
            raise BadIdentityError("identity", identity,
                                   f"an identity is a str, not {type(identity).__name__}")
        if ":" not in identity:
            raise BadIdentityError(
                "identity", identity,
                f"identity {identity!r} must be written TYPE:NUMBER (such as CN_RIC:110101199003074514)")
        id_type, id_number = identity.split(":", 1)
    else:
        id_type = identity
    try:
        t = normalise_id_type(id_type).encode("ascii")
        n = normalise_id_number(id_number).encode("ascii")
    except IdentityError as e:
        raise BadIdentityError(e.field, e.value, str(e)) from None
    return struct.pack("<I", len(t)) + t + struct.pack("<I", len(n)) + n


# -- the VOPRF (RFC 9497, ristretto255-SHA512, mode 0x01) ----------------------------

def _input_element(data: bytes) -> group.Point:
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedError("identity input", f"bytes expected, not {type(data).__name__}")
    if len(data) > 0xFFFF:
        raise MalformedError("identity input", f"{len(data)} bytes; at most 65535")
    point = group.hash_to_group(bytes(data), _HASH_TO_GROUP_DST)
    if group.is_identity(point):  # RFC 9497 InvalidInputError; never happens in practice
        raise MalformedError("identity input", "hashes to the identity element")
    return point


def _output(data: bytes, unblinded: group.Point) -> bytes:
    """RFC 9497 Finalize's hash: ``SHA-512(I2OSP(len(input), 2) || input ||
    I2OSP(32, 2) || element || "Finalize")``."""
    return hashlib.sha512(_i2osp2(len(data)) + bytes(data) + _i2osp2(ELEMENT_BYTES)
                          + group.encode(unblinded) + b"Finalize").digest()


def _composites(b: bytes, cs: Sequence[Tuple[group.Point, bytes]],
                ds: Sequence[Tuple[group.Point, bytes]],
                k: Optional[int]) -> Tuple[group.Point, group.Point]:
    """RFC 9497 ComputeComposites (``k`` None) or ComputeCompositesFast
    (the server, with its key ``k``): ``(M, Z)``. Elements come with their
    encodings; ``b`` is the public key's encoding."""
    seed = hashlib.sha512(_i2osp2(ELEMENT_BYTES) + b + _i2osp2(len(_SEED_DST)) + _SEED_DST).digest()
    m, z = group.IDENTITY, group.IDENTITY
    for i, ((c, c_enc), (d, d_enc)) in enumerate(zip(cs, ds)):
        h = (_i2osp2(len(seed)) + seed + _i2osp2(i) + _i2osp2(ELEMENT_BYTES) + c_enc
             + _i2osp2(ELEMENT_BYTES) + d_enc + b"Composite")
        di = group.hash_to_scalar(h, _HASH_TO_SCALAR_DST)
        m = group.add(group.mul(di, c), m)
        if k is None:
            z = group.add(group.mul(di, d), z)
    if k is not None:
        z = group.mul(k, m)
    return m, z


def _challenge(b: bytes, m: group.Point, z: group.Point, t2: group.Point, t3: group.Point) -> int:
    h = b"".join(_i2osp2(ELEMENT_BYTES) + e for e in
                 (b, group.encode(m), group.encode(z), group.encode(t2), group.encode(t3)))
    return group.hash_to_scalar(h + b"Challenge", _HASH_TO_SCALAR_DST)


class BlindState:
    """What an institution keeps between :func:`blind` and
    :func:`finalize`: the blind (secret) and the blinded element sent."""

    __slots__ = ("_blind", "_blinded")

    def __init__(self, blind: int, blinded: group.Point):
        self._blind = blind
        self._blinded = blinded

    @property
    def blinded(self) -> bytes:
        """The element sent to the regulator's node (32 bytes)."""
        return group.encode(self._blinded)

    def __repr__(self) -> str:  # never the blind
        return "BlindState(..)"


def blind(data: bytes, fixed_blind: Optional[BytesLike] = None) -> Tuple[BlindState, bytes]:
    """RFC 9497 Blind: a random scalar ``r`` and ``B = r · HashToGroup(input)``;
    the state to keep and ``B``'s 32 bytes to send. ``B`` is uniformly
    random whatever the identity, so the regulator's node learns nothing.

    ``fixed_blind`` (a scalar, 32 bytes little-endian) is for known-answer
    tests only: a blind used twice links the two requests."""
    point = _input_element(data)
    if fixed_blind is None:
        r = secrets.randbelow(group.L - 1) + 1
    else:
        r = group.decode_scalar(as_bytes(fixed_blind, 32, "blind"), "blind")
    b = group.mul(r, point)
    return BlindState(r, b), group.encode(b)


@dataclass(frozen=True)
class Evaluation:
    """The regulator's answer to one ``hutong_identityEvaluate`` request:
    one evaluated element per blinded one, in order, and one proof (``c ||
    s``) for all of them; ``remaining_this_minute`` is the requesting
    key's allowance left, when the node says."""

    elements: List[bytes]
    proof: bytes
    remaining_this_minute: Optional[int] = field(default=None, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Evaluation":
        """Reads the node's answer ``{"elements": [hex…], "proof": hex,
        "remaining_this_minute": n}``; :class:`MalformedError` if it is not that."""
        if not isinstance(d, dict) or not isinstance(d.get("elements"), list):
            raise MalformedError("evaluation", "an object with elements and proof expected")
        elements = [as_bytes(e, ELEMENT_BYTES, "evaluated element") for e in d["elements"]]
        proof = as_bytes(d.get("proof"), PROOF_BYTES, "proof")
        remaining = d.get("remaining_this_minute")
        return cls(elements, proof, remaining if isinstance(remaining, int) else None)


def finalize(states: Sequence[BlindState], inputs: Sequence[bytes], elements: Sequence[BytesLike],
             proof: BytesLike, oprf_public_key: BytesLike) -> List[bytes]:
    """RFC 9497 VerifyProof then Finalize, for one answer to the requests
    of ``states`` (in the order they were sent) for ``inputs``: the
    64-byte tags. Raises :class:`~hutong.UnverifiedEvaluationError` unless
    the batch's DLEQ proof holds for ``oprf_public_key`` (take it from the
    ledger's parameters, never from the node that evaluated), and
    :class:`~hutong.MalformedError` for counts that differ or encodings
    that are not elements or scalars."""
    states, inputs, elements = list(states), list(inputs), list(elements)
    if not states or len(states) != len(inputs) or len(states) != len(elements):
        raise MalformedError("evaluation", f"{len(elements)} evaluated elements for {len(states)} "
                                           f"blinded identities and {len(inputs)} inputs")
    for st in states:
        if not isinstance(st, BlindState):
            raise MalformedError("blind state", f"a BlindState expected, not {type(st).__name__}")
    for data in inputs:
        if not isinstance(data, (bytes, bytearray)) or len(data) > 0xFFFF:
            raise MalformedError("identity input", "bytes, at most 65535 of them, expected")
    pk_bytes = as_bytes(oprf_public_key, ELEMENT_BYTES, "regulator's OPRF public key")
    pk = group.decode_element(pk_bytes, "regulator's OPRF public key")
    evaluated = []
    for e in elements:
        raw = as_bytes(e, ELEMENT_BYTES, "evaluated element")
        evaluated.append((group.decode_element(raw, "evaluated element"), raw))
    proof_bytes = as_bytes(proof, PROOF_BYTES, "proof")
    c = group.decode_scalar(proof_bytes[:32], "proof")
    s = group.decode_scalar(proof_bytes[32:], "proof")
    blinded = [(st._blinded, group.encode(st._blinded)) for st in states]

    m, z = _composites(pk_bytes, blinded, evaluated, None)
    t2 = group.add(group.mul(s, group.BASE), group.mul(c, pk))
    t3 = group.add(group.mul(s, m), group.mul(c, z))
    if _challenge(pk_bytes, m, z, t2, t3) != c:
        raise UnverifiedEvaluationError()

    tags = []
    for st, data, (z_i, _) in zip(states, inputs, evaluated):
        tags.append(_output(bytes(data), group.mul(pow(st._blind, group.L - 2, group.L), z_i)))
    return tags


class OprfKey:
    """An OPRF key pair of the suite: the regulator's side (evaluation with
    a proof). The regulator's real key lives in its node; this class serves
    tests, tools and the published vectors (its arithmetic is not
    constant-time, see :mod:`hutong.privacy.ristretto`)."""

    __slots__ = ("_k", "_public")

    def __init__(self, secret: int):
        if not isinstance(secret, int) or not 0 < secret < group.L:
            raise MalformedError("OPRF secret key", "a scalar in 1 .. L-1 expected")
        self._k = secret
        self._public = group.encode(group.mul(secret, group.BASE))

    @classmethod
    def from_seed(cls, seed: bytes, info: bytes = OPRF_KEY_INFO) -> "OprfKey":
        """RFC 9497 DeriveKeyPair (with Hutong's ``info`` unless given)."""
        if len(info) > 0xFFFF:
            raise MalformedError("key info", "longer than 65535 bytes")
        derive_input = bytes(seed) + _i2osp2(len(info)) + bytes(info)
        for counter in range(256):
            k = group.hash_to_scalar(derive_input + bytes([counter]), _DERIVE_KEYPAIR_DST)
            if k:
                return cls(k)
        raise MalformedError("OPRF seed", "derives no key")  # pragma: no cover

    @classmethod
    def from_bytes(cls, secret: BytesLike) -> "OprfKey":
        return cls(group.decode_scalar(as_bytes(secret, 32, "OPRF secret key"), "OPRF secret key"))

    @property
    def public_key(self) -> bytes:
        """The public key genesis publishes (``identity.oprf_key``)."""
        return self._public

    def secret_bytes(self) -> bytes:
        return group.encode_scalar(self._k)

    def evaluate(self, blinded: Sequence[BytesLike],
                 proof_scalar: Optional[BytesLike] = None) -> Evaluation:
        """RFC 9497 BlindEvaluate of 1 to :data:`EVALUATION_BATCH_MAX`
        blinded elements with one proof. ``proof_scalar`` is for
        known-answer tests only."""
        blinded = list(blinded)
        if not 1 <= len(blinded) <= EVALUATION_BATCH_MAX:
            raise MalformedError("request", f"1 to {EVALUATION_BATCH_MAX} blinded identities, "
                                            f"not {len(blinded)}")
        cs = []
        for i, b in enumerate(blinded):
            raw = as_bytes(b, ELEMENT_BYTES, "blinded element")
            cs.append((group.decode_element(raw, f"blinded element number {i}"), raw))
        ds = []
        for c, _ in cs:
            d = group.mul(self._k, c)
            ds.append((d, group.encode(d)))
        m, z = _composites(self._public, cs, ds, self._k)
        if proof_scalar is None:
            r = secrets.randbelow(group.L - 1) + 1
        else:
            r = group.decode_scalar(as_bytes(proof_scalar, 32, "proof scalar"), "proof scalar")
        t2 = group.mul(r, group.BASE)
        t3 = group.mul(r, m)
        c = _challenge(self._public, m, z, t2, t3)
        s = (r - c * self._k) % group.L
        return Evaluation([e for _, e in ds], group.encode_scalar(c) + group.encode_scalar(s))

    def tag_of(self, data: bytes) -> bytes:
        """The tag of ``data`` computed directly (no blinding): what an
        institution obtains through :func:`blind` and :func:`finalize`."""
        return _output(bytes(data), group.mul(self._k, _input_element(data)))

    def __repr__(self) -> str:
        return f"OprfKey(public {self._public.hex()})"


__all__ = [
    "BlindState", "CONTEXT_STRING", "ELEMENT_BYTES", "EVALUATION_BATCH_MAX", "Evaluation",
    "OPRF_KEY_INFO", "OprfKey", "PROOF_BYTES", "blind", "finalize", "identity_input",
]
