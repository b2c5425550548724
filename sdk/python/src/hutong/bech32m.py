"""Bech32m (BIP 350) encoding, as Hutong addresses use it (hrp ``ht``)."""

from typing import List, Tuple

from .errors import AddressError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: List[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> List[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes, frombits: int, tobits: int, pad: bool) -> List[int]:
    acc = 0
    bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise AddressError("invalid data value")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise AddressError("invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encodes bytes as bech32m under the human-readable part ``hrp``."""
    values = _convertbits(data, 8, 5, True)
    polymod = _polymod(_hrp_expand(hrp) + values + [0] * 6) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in values + checksum)


def decode(text: str) -> Tuple[str, bytes]:
    """Decodes a bech32m string into (hrp, bytes).

    Refuses mixed case, characters outside the charset, a bad checksum and
    the bech32 (non-"m") checksum.
    """
    if not isinstance(text, str):
        raise AddressError("address must be a string")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise AddressError("address has characters outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise AddressError("address mixes upper and lower case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or len(text) > 90:
        raise AddressError("address has no valid separator or length")
    hrp = text[:pos]
    try:
        values = [CHARSET.index(c) for c in text[pos + 1 :]]
    except ValueError:
        raise AddressError("address has a character outside the bech32 alphabet") from None
    const = _polymod(_hrp_expand(hrp) + values)
    if const != _BECH32M_CONST:
        if const == 1:
            raise AddressError("address has a bech32 checksum, not bech32m")
        raise AddressError("address checksum is invalid")
    data = bytes(_convertbits(bytes(values[:-6]), 5, 8, False))
    return hrp, data
