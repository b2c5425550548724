"""HPKE envelopes (RFC 9180 base mode, X25519-HKDF-SHA256, HKDF-SHA256,
ChaCha20-Poly1305), as ``hutong_privacy::envelope``.

**Identity envelope** (in ``OpenAccount``): the tag and a salt sealed to
the regulator, bound to the chain and the account's owner key, so that a
copy in another account or chain does not open::

    envelope = enc (32) || ciphertext of tag (64) || salt (32), with its tag (16)   = 144 bytes
    info = "hutong/identity-envelope/v1", aad = chain id (32) || owner public key (32)
    identity_commitment = binding(tag, salt)

**Sealed memo**: the text encrypted once under a fresh 32-byte key, that
key sealed to each reader (the sender's institution, the recipient's, the
regulator)::

    sealed = 0x01 || n || n × (enc (32) || sealed key (32 + 16)) || ChaCha20-Poly1305(key, nonce 0, aad = context) of the text
    info = "hutong/memo/v1", aad of each sealed key = context
    context = tagged("hutong/memo-context/v1", chain id || sender public key || sequence (u64 LE))
"""

import os
import struct
from typing import Any, Optional, Sequence, Tuple, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from . import hpke
from ..errors import (
    BadReadersError,
    CommitmentMismatchError,
    MalformedError,
    MemoTooLongError,
    UndecryptableError,
)
from ..identity import IDENTITY_SALT_BYTES
from ..keys import tagged
from ..tx import IDENTITY_ENVELOPE_BYTES, MEMO_BYTES_MAX
from .tag import TAG_BYTES, BytesLike, as_bytes, as_public_key, binding

#: Most readers of one sealed memo.
MEMO_READERS_MAX = 4
#: The first byte of a sealed memo.
MEMO_VERSION = 1
#: Bytes one reader adds to a sealed memo: enc (32), the sealed key (32 + 16).
MEMO_READER_BYTES = hpke.KEY_BYTES + 32 + hpke.AEAD_TAG_BYTES

_IDENTITY_INFO = b"hutong/identity-envelope/v1"
_MEMO_INFO = b"hutong/memo/v1"
_BODY_NONCE = bytes(12)


# -- the identity envelope -------------------------------------------------------

def _identity_aad(chain_id: BytesLike, owner: Any) -> bytes:
    return as_bytes(chain_id, 32, "chain id") + as_public_key(owner, "owner public key")


def seal_identity(hpke_public: BytesLike, chain_id: BytesLike, owner_public_key: Any,
                  tag: BytesLike, salt: Optional[BytesLike] = None) -> Tuple[bytes, bytes]:
    """The identity envelope of a new account and its commitment:
    ``(envelope, commitment)`` for ``OpenAccount``'s ``identity_envelope``
    (144 bytes) and ``identity_commitment``. The tag and ``salt`` are
    sealed to the regulator's HPKE key (``hutong_getParameters`` →
    ``identity.hpke_key``), bound to ``chain_id`` and the new account's
    key ``owner_public_key``, so the envelope opens in no other account or
    chain.

    ``salt``: 32 bytes the institution keeps with its KYC record
    (:func:`hutong.new_identity_salt`); a fresh one, which nobody keeps,
    when left out."""
    pk = as_bytes(hpke_public, hpke.KEY_BYTES, "regulator's HPKE public key")
    tag_bytes = as_bytes(tag, TAG_BYTES, "identity tag")
    salt_bytes = os.urandom(IDENTITY_SALT_BYTES) if salt is None else \
        as_bytes(salt, IDENTITY_SALT_BYTES, "identity salt")
    enc, ciphertext = hpke.single_shot_seal(pk, _IDENTITY_INFO, _identity_aad(chain_id, owner_public_key),
                                            tag_bytes + salt_bytes)
    return enc + ciphertext, binding(tag_bytes, salt_bytes)


def open_identity(hpke_secret: BytesLike, chain_id: BytesLike, owner_public_key: Any,
                  envelope: BytesLike, commitment: BytesLike) -> bytes:
    """Opens an identity envelope with the regulator's HPKE secret key and
    checks it against the account's commitment: the tag. Raises
    :class:`~hutong.MalformedError` (not 144 bytes),
    :class:`~hutong.UndecryptableError` (another key, account or chain,
    or altered) or :class:`~hutong.CommitmentMismatchError`."""
    sk = as_bytes(hpke_secret, hpke.KEY_BYTES, "HPKE secret key")
    env = as_bytes(envelope, None, "identity envelope")
    if len(env) != IDENTITY_ENVELOPE_BYTES:
        raise MalformedError("identity envelope", f"{len(env)} bytes, expected {IDENTITY_ENVELOPE_BYTES}")
    expected = as_bytes(commitment, 32, "identity commitment")
    plain = hpke.single_shot_open(sk, env[:hpke.KEY_BYTES], _IDENTITY_INFO,
                                  _identity_aad(chain_id, owner_public_key), env[hpke.KEY_BYTES:],
                                  "the identity envelope")
    # An envelope of the right length opened: its plaintext is the tag and salt.
    assert len(plain) == TAG_BYTES + IDENTITY_SALT_BYTES
    tag_bytes, salt_bytes = plain[:TAG_BYTES], plain[TAG_BYTES:]
    if binding(tag_bytes, salt_bytes) != expected:
        raise CommitmentMismatchError(expected.hex())
    return tag_bytes


# -- sealed memos ------------------------------------------------------------------

def memo_context(chain_id: BytesLike, sender_public_key: Any, sequence: int) -> bytes:
    """``tagged("hutong/memo-context/v1", chain_id || sender public key ||
    sequence (u64 LE))``: what a transaction's memo is sealed under. It
    binds the memo to the one transaction its sender signs with that
    sequence number."""
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence < 2**64:
        raise MalformedError("sequence", f"a u64 expected, got {sequence!r}")
    data = as_bytes(chain_id, 32, "chain id") + as_public_key(sender_public_key, "sender public key")
    return tagged("hutong/memo-context/v1", data + struct.pack("<Q", sequence))


def sealed_memo_len(text_len: int, readers: int) -> int:
    """Bytes of a sealed memo of ``text_len`` bytes to ``readers`` readers:
    ``2 + 80 × readers + text_len + 16``."""
    return 2 + readers * MEMO_READER_BYTES + text_len + hpke.AEAD_TAG_BYTES


def _text(text: Union[bytes, bytearray, str]) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    raise MalformedError("memo text", f"bytes or str expected, not {type(text).__name__}")


def seal_memo(reader_publics: Sequence[BytesLike], context: bytes, text: Union[bytes, str],
              max_len: int = MEMO_BYTES_MAX) -> bytes:
    """Seals ``text`` (bytes, or a str as UTF-8) to each of
    ``reader_publics`` (1 to :data:`MEMO_READERS_MAX` X25519 keys), bound
    to ``context`` (:func:`memo_context`)::

        0x01 || n || n × (enc (32) || sealed key (48)) || ChaCha20-Poly1305(key, nonce 0, aad = context) of the text

    The sealed memo is at most ``max_len`` bytes (the ledger's
    ``memo_bytes_max``, 512): with three readers the text has up to 254.
    Raises :class:`~hutong.BadReadersError` or
    :class:`~hutong.MemoTooLongError`."""
    readers = list(reader_publics)
    if not 1 <= len(readers) <= MEMO_READERS_MAX:
        raise BadReadersError(len(readers), MEMO_READERS_MAX)
    body_text = _text(text)
    if sealed_memo_len(len(body_text), len(readers)) > max_len:
        raise MemoTooLongError(len(body_text), max(0, max_len - sealed_memo_len(0, len(readers))))
    keys = [as_bytes(r, hpke.KEY_BYTES, "memo reader's key") for r in readers]
    aad = bytes(context)
    memo_key = os.urandom(32)
    out = bytearray([MEMO_VERSION, len(keys)])
    for pk in keys:
        enc, sealed_key = hpke.single_shot_seal(pk, _MEMO_INFO, aad, memo_key)
        out += enc + sealed_key
    # The key is used for this one text, so the zero nonce never repeats under it.
    out += ChaCha20Poly1305(memo_key).encrypt(_BODY_NONCE, body_text, aad)
    return bytes(out)


def _readers_of(memo: bytes) -> int:
    if len(memo) == 0:
        raise MalformedError("sealed memo", "empty")
    if memo[0] != MEMO_VERSION:
        raise MalformedError("sealed memo", f"version {memo[0]}, expected {MEMO_VERSION}")
    if len(memo) < 2:
        raise MalformedError("sealed memo", "no count of readers")
    n = memo[1]
    if not 1 <= n <= MEMO_READERS_MAX:
        raise BadReadersError(n, MEMO_READERS_MAX)
    if len(memo) < sealed_memo_len(0, n):
        raise MalformedError("sealed memo", f"{len(memo)} bytes, too short for {n} readers")
    return n


def check_memo(memo: BytesLike) -> None:
    """Raises unless ``memo`` has the structure the ledger requires of a
    memo on a chain with an identity service (version, 1 to 4 readers,
    room for their keys and the text's tag). Whether its readers are the
    right ones only they can tell."""
    _readers_of(as_bytes(memo, None, "sealed memo"))


def is_sealed_memo(memo: BytesLike) -> bool:
    """Whether ``memo`` has the structure of a sealed memo (:func:`check_memo`)."""
    try:
        check_memo(memo)
    except (MalformedError, BadReadersError):
        return False
    return True


def open_memo(secret: BytesLike, context: bytes, sealed: BytesLike) -> bytes:
    """Opens a sealed memo with one reader's X25519 secret key: the text
    (bytes; ``.decode()`` it if it is UTF-8). Raises
    :class:`~hutong.UndecryptableError` when the key is not a reader's, or
    the memo or its context was altered."""
    sk = as_bytes(secret, hpke.KEY_BYTES, "memo secret key")
    memo = as_bytes(sealed, None, "sealed memo")
    n = _readers_of(memo)
    body = memo[2 + n * MEMO_READER_BYTES:]
    aad = bytes(context)
    for i in range(n):
        slot = memo[2 + i * MEMO_READER_BYTES: 2 + (i + 1) * MEMO_READER_BYTES]
        try:
            memo_key = hpke.single_shot_open(sk, slot[:hpke.KEY_BYTES], _MEMO_INFO, aad,
                                             slot[hpke.KEY_BYTES:], "the memo")
        except UndecryptableError:
            continue
        try:
            return ChaCha20Poly1305(memo_key).decrypt(_BODY_NONCE, body, aad)
        except InvalidTag:
            raise UndecryptableError("the memo") from None
    raise UndecryptableError("the memo")


__all__ = [
    "IDENTITY_ENVELOPE_BYTES", "MEMO_READERS_MAX", "MEMO_READER_BYTES", "MEMO_VERSION",
    "check_memo", "is_sealed_memo", "memo_context", "open_identity", "open_memo",
    "seal_identity", "seal_memo", "sealed_memo_len",
]
