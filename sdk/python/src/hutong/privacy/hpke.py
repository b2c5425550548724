"""HPKE (RFC 9180) in base mode, single-shot, for the one suite Hutong
uses: KEM DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001),
AEAD ChaCha20-Poly1305 (0x0003). X25519 and the AEAD come from
``cryptography``; HKDF's labelled steps are written out here because
RFC 9180 labels every input.

Keys are 32 raw bytes: a public key is the X25519 u-coordinate, a secret
key RFC 9180's SerializePrivateKey (the scalar before clamping, as
:func:`derive_keypair` gives it).
"""

import hashlib
import hmac
import os
from typing import Optional, Tuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import MalformedError, UndecryptableError

KEM_ID = 0x0020
KDF_ID = 0x0001
AEAD_ID = 0x0003
#: Bytes of a public key, a secret key and an encapsulated key.
KEY_BYTES = 32
#: Bytes an AEAD seal adds (the Poly1305 tag).
AEAD_TAG_BYTES = 16

_KEM_SUITE = b"KEM" + KEM_ID.to_bytes(2, "big")
_HPKE_SUITE = b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")
_MODE_BASE = 0
_NK, _NN, _NSECRET = 32, 12, 32


def _extract(salt: bytes, ikm: bytes) -> bytes:
    # HMAC pads a short key with zeros, so an empty salt is HashLen zeros, as RFC 5869 says.
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def _key(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != KEY_BYTES:
        n = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise MalformedError(what, f"{n} bytes, expected {KEY_BYTES}")
    return bytes(value)


def public_key(secret: bytes) -> bytes:
    """The X25519 public key of a secret key."""
    sk = X25519PrivateKey.from_private_bytes(_key(secret, "HPKE secret key"))
    return sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def derive_keypair(ikm: bytes) -> Tuple[bytes, bytes]:
    """RFC 9180 DeriveKeyPair for DHKEM(X25519, HKDF-SHA256): ``(secret,
    public)`` from input keying material (at least 32 bytes of it)."""
    prk = _labeled_extract(_KEM_SUITE, b"", b"dkp_prk", bytes(ikm))
    secret = _labeled_expand(_KEM_SUITE, prk, b"sk", b"", KEY_BYTES)
    return secret, public_key(secret)


def generate_keypair() -> Tuple[bytes, bytes]:
    """A fresh key pair from the operating system's random source."""
    return derive_keypair(os.urandom(KEY_BYTES))


def _dh(secret: bytes, public: bytes) -> Optional[bytes]:
    """X25519, or ``None`` for a public key of small order (an all-zero
    shared secret, which ``cryptography`` refuses and RFC 9180 forbids)."""
    try:
        shared = X25519PrivateKey.from_private_bytes(secret).exchange(
            X25519PublicKey.from_public_bytes(public))
    except ValueError:
        return None
    return None if shared == bytes(32) else shared


def _shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, prk, b"shared_secret", enc + pk_r, _NSECRET)


def _key_schedule(shared_secret: bytes, info: bytes) -> Tuple[bytes, bytes]:
    """Base mode (no PSK): the AEAD key and base nonce."""
    psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
    context = bytes([_MODE_BASE]) + psk_id_hash + info_hash
    secret = _labeled_extract(_HPKE_SUITE, shared_secret, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, _NK)
    base_nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, _NN)
    return key, base_nonce


def single_shot_seal(public: bytes, info: bytes, aad: bytes, plaintext: bytes,
                     ephemeral_secret: Optional[bytes] = None) -> Tuple[bytes, bytes]:
    """Single-shot base-mode seal to ``public``: ``(enc, ciphertext)``,
    the ciphertext ``len(plaintext) + 16`` bytes. ``ephemeral_secret``
    is for known-answer tests only; leave it out (a fresh one each time).
    Raises :class:`MalformedError` for a public key of small order."""
    pk_r = _key(public, "HPKE public key")
    sk_e = generate_keypair()[0] if ephemeral_secret is None else _key(ephemeral_secret, "ephemeral key")
    enc = public_key(sk_e)
    dh = _dh(sk_e, pk_r)
    if dh is None:
        raise MalformedError("HPKE public key", "a point of small order")
    key, nonce = _key_schedule(_shared_secret(dh, enc, pk_r), bytes(info))
    return enc, ChaCha20Poly1305(key).encrypt(nonce, bytes(plaintext), bytes(aad))


def single_shot_open(secret: bytes, enc: bytes, info: bytes, aad: bytes, ciphertext: bytes,
                     what: str = "the envelope") -> bytes:
    """Single-shot base-mode open with ``secret``: the plaintext, or
    :class:`UndecryptableError` (another key, info or aad, or altered bytes)."""
    sk_r = _key(secret, "HPKE secret key")
    if len(enc) != KEY_BYTES:
        raise UndecryptableError(what)
    dh = _dh(sk_r, bytes(enc))
    if dh is None:
        raise UndecryptableError(what)
    key, nonce = _key_schedule(_shared_secret(dh, bytes(enc), public_key(sk_r)), bytes(info))
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, bytes(ciphertext), bytes(aad))
    except InvalidTag:
        raise UndecryptableError(what) from None


__all__ = [
    "AEAD_ID", "AEAD_TAG_BYTES", "KDF_ID", "KEM_ID", "KEY_BYTES", "derive_keypair",
    "generate_keypair", "public_key", "single_shot_open", "single_shot_seal",
]
