"""The identity commitment of ``OpenAccount`` (SPEC.md section 7, "Opening
an account"): a salted hash of the customer's identity document, formed the
same way by every institution::

    identity_commitment = tagged("hutong/identity/v1",
                                 borsh(id_type) || borsh(id_number) || salt)

with ``id_type`` and ``id_number`` normalised by :func:`normalise_id_type`
and :func:`normalise_id_number` (borsh strings: a u32 little-endian byte
length, then the bytes) and ``salt`` 32 random bytes
(:func:`new_identity_salt`). The institution keeps the salt with its KYC
record; it never goes on chain.

This follows ``runtime/src/identity.rs`` exactly, including its white space:
Rust's ``str::trim`` removes the characters of the Unicode ``White_Space``
property, which is not the set Python's ``str.strip()`` removes (that one
also strips U+001C to U+001F), so the set is spelled out here. Only the
ASCII letters ``a-z`` are upper-cased (``str.upper()`` would turn ``ı`` into
``I`` or ``ß`` into ``SS`` and accept what the node's rule refuses).
"""

import re
import secrets
import struct
from typing import Union

from .errors import IdentityError
from .keys import tagged

IDENTITY_TAG = "hutong/identity/v1"
#: Longest normalised document type.
ID_TYPE_MAX = 32
#: Longest normalised document number.
ID_NUMBER_MAX = 64
IDENTITY_SALT_BYTES = 32

# The Unicode White_Space property (what Rust's char::is_whitespace and so
# str::trim use): U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A,
# U+2028, U+2029, U+202F, U+205F, U+3000.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# Removed from a document number wherever they are.
_NUMBER_SEPARATORS = {ord(c): None for c in " \t-/()"}
_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}

_TYPE_RE = re.compile(r"[A-Z0-9_]{1,%d}" % ID_TYPE_MAX)
_NUMBER_RE = re.compile(r"[A-Z0-9]{1,%d}" % ID_NUMBER_MAX)


def normalise_id_type(id_type: str) -> str:
    """The document type as committed: surrounding white space removed,
    ASCII letters upper-cased; then 1 to 32 of ``A-Z``, ``0-9``, ``_``
    (``" Passport_CN "`` -> ``"PASSPORT_CN"``). Raises :class:`IdentityError`
    otherwise (a space inside, ``-``, any non-ASCII character)."""
    if not isinstance(id_type, str):
        raise IdentityError("id_type", id_type, f"document type must be a str, not {type(id_type).__name__}")
    t = id_type.strip(_WHITE_SPACE).translate(_ASCII_UPPER)
    if not _TYPE_RE.fullmatch(t):
        raise IdentityError(
            "id_type", id_type,
            f"document type {id_type!r} must be 1 to {ID_TYPE_MAX} characters A-Z, 0-9 or '_' "
            "(such as CN_RIC, HK_ID, PASSPORT_CN)",
        )
    return t


def normalise_id_number(id_number: str) -> str:
    """The document number as committed: every space, tab, ``-``, ``/``,
    ``(`` and ``)`` removed, ASCII letters upper-cased; then 1 to 64 of
    ``A-Z``, ``0-9`` (``"A123456(7)"`` -> ``"A1234567"``). Anything else
    (other white space, ``.``, ``_``, full-width digits, other scripts) raises
    :class:`IdentityError`: convert such a number to ASCII first."""
    if not isinstance(id_number, str):
        raise IdentityError("id_number", id_number,
                            f"document number must be a str, not {type(id_number).__name__}")
    n = id_number.translate(_NUMBER_SEPARATORS).translate(_ASCII_UPPER)
    if not _NUMBER_RE.fullmatch(n):
        raise IdentityError(
            "id_number", id_number,
            f"document number {id_number!r} must be 1 to {ID_NUMBER_MAX} ASCII letters and digits "
            "once spaces, '-', '/', '(' and ')' are removed",
        )
    return n


def _salt(salt: Union[bytes, bytearray, str]) -> bytes:
    if isinstance(salt, (bytes, bytearray)):
        raw = bytes(salt)
    elif isinstance(salt, str):
        try:
            raw = bytes.fromhex(salt[2:] if salt.startswith("0x") else salt)
        except ValueError:
            raise IdentityError("salt", salt, "identity salt is not hex") from None
    else:
        raise IdentityError("salt", salt, f"identity salt must be bytes or hex, not {type(salt).__name__}")
    if len(raw) != IDENTITY_SALT_BYTES:
        raise IdentityError("salt", salt, f"identity salt must be {IDENTITY_SALT_BYTES} bytes, got {len(raw)}")
    return raw


def new_identity_salt() -> bytes:
    """32 bytes from the operating system's cryptographic random source: a
    new salt for each account. Keep it with the KYC record; it never goes
    on chain."""
    return secrets.token_bytes(IDENTITY_SALT_BYTES)


def identity_commitment(id_type: str, id_number: str, salt: Union[bytes, bytearray, str]) -> bytes:
    """The 32-byte commitment to a customer's identity document under
    ``salt`` (32 bytes, or 64 hex digits): what ``OpenAccount`` carries as
    ``identity_commitment``. Raises :class:`IdentityError` if the type or
    number cannot be normalised or the salt is not 32 bytes."""
    t = normalise_id_type(id_type).encode("ascii")
    n = normalise_id_number(id_number).encode("ascii")
    s = _salt(salt)
    data = struct.pack("<I", len(t)) + t + struct.pack("<I", len(n)) + n + s
    return tagged(IDENTITY_TAG, data)


__all__ = [
    "IDENTITY_SALT_BYTES", "IDENTITY_TAG", "ID_NUMBER_MAX", "ID_TYPE_MAX", "identity_commitment",
    "new_identity_salt", "normalise_id_number", "normalise_id_type",
]
