"""An identity tag (64 bytes) and the values derived from it, each
``tagged(label, data) = SHA-256(label || 0x00 || data)`` (SPEC.md section
9): the listing key of the shared blacklist, the binding commitment an
``OpenAccount`` carries, the owner id the regulator's node indexes
accounts by. Also the byte readers the identity layer's modules share.

A tag is its institution's secret: whoever holds it recognises the
customer's listing and, in the regulator's answers, accounts.
"""

from typing import Any, Optional, Union

from ..errors import MalformedError
from ..identity import IDENTITY_SALT_BYTES
from ..keys import PublicKey, SigningKey, tagged

BytesLike = Union[bytes, bytearray, str]

#: Bytes of an identity tag (the OPRF's SHA-512 output).
TAG_BYTES = 64


def as_bytes(value: Any, n: Optional[int], what: str) -> bytes:
    """Bytes from bytes or hex (``0x`` allowed), of length ``n`` if given."""
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value.startswith("0x") else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise MalformedError(what, "not hex") from None
    else:
        raise MalformedError(what, f"bytes or hex expected, not {type(value).__name__}")
    if n is not None and len(raw) != n:
        raise MalformedError(what, f"{len(raw)} bytes, expected {n}")
    return raw


def as_public_key(value: Any, what: str) -> bytes:
    """An ed25519 public key's 32 bytes: a ``PublicKey``, a ``SigningKey``'s
    public key, or bytes or hex."""
    if isinstance(value, SigningKey):
        return value.public_key.raw
    if isinstance(value, PublicKey):
        return value.raw
    return as_bytes(value, 32, what)


def _tag(tag: BytesLike) -> bytes:
    return as_bytes(tag, TAG_BYTES, "identity tag")


def listing_key(tag: BytesLike) -> bytes:
    """``tagged("hutong/blacklist/v1", tag)``: the key under which the
    shared blacklist lists this identity (``ListIdentity``,
    ``hutong_checkListing``)."""
    return tagged("hutong/blacklist/v1", _tag(tag))


def owner_id(tag: BytesLike) -> bytes:
    """``tagged("hutong/owner/v1", tag)``: the owner id the regulator's
    node indexes accounts by."""
    return tagged("hutong/owner/v1", _tag(tag))


def binding(tag: BytesLike, salt: BytesLike) -> bytes:
    """``tagged("hutong/identity-binding/v1", tag || salt)``: an account's
    ``identity_commitment`` on a chain with an identity service. With a
    fresh salt per account, two accounts of one person do not look alike."""
    return tagged("hutong/identity-binding/v1",
                  _tag(tag) + as_bytes(salt, IDENTITY_SALT_BYTES, "identity salt"))


__all__ = ["BytesLike", "TAG_BYTES", "as_bytes", "as_public_key", "binding", "listing_key", "owner_id"]
