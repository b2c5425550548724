"""The identity layer's key pairs, each derived from a 32-byte seed kept
in a Hutong key file (as ``hutong_privacy::keys``): the regulator's OPRF
and HPKE keys (one seed, its node's ``[audit] identity_key``), and an
institution's memo key (its node's ``[memo] key``). Their public halves
are in genesis, or published with ``SetMemoKey``.
"""

from dataclasses import dataclass, field
from typing import Tuple

from . import hpke
from ..keys import tagged
from .oprf import OprfKey
from .tag import BytesLike, as_bytes


@dataclass(frozen=True)
class RegulatorIdentityKeys:
    """The regulator's identity keys, derived from one 32-byte seed (its
    node's ``[audit] identity_key`` file): the OPRF key and the HPKE key
    that opens envelopes and memos. ``oprf.public_key`` and ``hpke_public``
    are what genesis publishes."""

    oprf: OprfKey
    hpke_secret: bytes = field(repr=False)
    hpke_public: bytes


def identity_keys_from_seed(seed: BytesLike) -> RegulatorIdentityKeys:
    """The regulator's identity keys from their seed (as
    ``hutong_privacy::keys::IdentityKeys::from_seed``)."""
    raw = as_bytes(seed, 32, "identity seed")
    secret, public = hpke.derive_keypair(tagged("hutong/identity/hpke-key/v1", raw))
    return RegulatorIdentityKeys(OprfKey.from_seed(raw), secret, public)


def memo_key_from_seed(seed: BytesLike) -> Tuple[bytes, bytes]:
    """An institution's memo key pair ``(secret, public)`` from a 32-byte
    seed (its node's ``[memo] key`` file holds the seed as a Hutong key
    file: ``SigningKey.load(path).seed``). The public half is what
    ``SetMemoKey`` publishes."""
    raw = as_bytes(seed, 32, "memo key seed")
    return hpke.derive_keypair(tagged("hutong/memo-key/v1", raw))


__all__ = ["RegulatorIdentityKeys", "identity_keys_from_seed", "memo_key_from_seed"]
