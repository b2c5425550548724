"""The ristretto255 group (RFC 9496) and the hashes RFC 9497 builds on it
(expand_message_xmd with SHA-512, RFC 9380 section 5.3.1), in pure Python
integers: what the identity tags' OPRF (:mod:`hutong.privacy.oprf`) computes
with.

Points are extended Edwards coordinates ``(X, Y, Z, T)`` of edwards25519;
two points are the same ristretto255 element when RFC 9496's equality
says so, whatever their coordinates. Scalars are integers modulo
:data:`L`.

This is big-integer arithmetic, not constant-time code: the time a scalar
multiplication takes depends on the scalar. The scalars an institution
handles here are one-use blinds of a single OPRF request, and the
regulator's key lives in its node (Rust), not in this SDK's
:class:`~hutong.privacy.OprfKey`, which serves tests and tools.
"""

import hashlib
from typing import Optional, Tuple

from ..errors import MalformedError

#: The field's prime, 2^255 - 19.
P = 2**255 - 19
#: The group's order, 2^252 + 27742317777372353535851937790883648493.
L = 2**252 + 27742317777372353535851937790883648493
#: Bytes of an encoded element and of an encoded scalar.
ELEMENT_BYTES = 32
SCALAR_BYTES = 32

# edwards25519's d = -121665/121666, and the constants of RFC 9496 section
# 4.1 (the tests recompute each from its definition).
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
SQRT_AD_MINUS_ONE = 25063068953384623474111414158702152701244531502492656460079210482610430750235
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
ONE_MINUS_D_SQ = 1159843021668779879193775521855586647937357759715417654439879720876111806838
D_MINUS_ONE_SQ = 40440834346308536858101042469323190826248399146238708352240133220865137265952

Point = Tuple[int, int, int, int]

IDENTITY: Point = (0, 1, 1, 0)
# The edwards25519 base point (y = 4/5, x even): ristretto255's generator.
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
BASE: Point = (_BX, _BY, 1, _BX * _BY % P)

_D2 = 2 * D % P


def _is_negative(x: int) -> bool:
    """RFC 9496's IS_NEGATIVE: the least significant bit of x mod p."""
    return bool((x % P) & 1)


def _abs(x: int) -> int:
    x %= P
    return P - x if x & 1 else x


def sqrt_ratio_m1(u: int, v: int) -> Tuple[bool, int]:
    """RFC 9496 SQRT_RATIO_M1: ``(True, sqrt(u/v))`` if u/v is a square,
    else ``(False, sqrt(i*u/v))``; the root is the non-negative one."""
    u %= P
    v %= P
    v3 = v * v % P * v % P
    v7 = v3 * v3 % P * v % P
    r = u * v3 % P * pow(u * v7 % P, (P - 5) // 8, P) % P
    check = v * r % P * r % P
    correct_sign = check == u
    flipped_sign = check == (-u) % P
    flipped_sign_i = check == (-u) % P * SQRT_M1 % P
    if flipped_sign or flipped_sign_i:
        r = r * SQRT_M1 % P
    return correct_sign or flipped_sign, _abs(r)


# -- the group -----------------------------------------------------------------

def add(p: Point, q: Point) -> Point:
    """``p + q``: the complete addition of twisted Edwards curves with
    a = -1 (add-2008-hwcd-3), valid for every pair of points, doubling
    included."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * _D2 % P * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    x, y, z, t = p
    return ((-x) % P, y, z, (-t) % P)


def mul(k: int, p: Point) -> Point:
    """``k · p`` for an integer ``k`` (taken modulo :data:`L`), by a
    4-bit fixed window."""
    k %= L
    table = [IDENTITY, p]
    for _ in range(14):
        table.append(add(table[-1], p))
    acc = IDENTITY
    for shift in range(252, -1, -4):
        for _ in range(4):
            acc = add(acc, acc)
        digit = (k >> shift) & 0xF
        if digit:
            acc = add(acc, table[digit])
    return acc


def equal(p: Point, q: Point) -> bool:
    """RFC 9496 equality: whether two representatives are one element."""
    x1, y1, _, _ = p
    x2, y2, _, _ = q
    return (x1 * y2 - y1 * x2) % P == 0 or (y1 * y2 - x1 * x2) % P == 0


def is_identity(p: Point) -> bool:
    return equal(p, IDENTITY)


def encode(p: Point) -> bytes:
    """RFC 9496 section 4.3.2: the canonical 32-byte encoding."""
    x0, y0, z0, t0 = p
    u1 = (z0 + y0) * (z0 - y0) % P
    u2 = x0 * y0 % P
    _, invsqrt = sqrt_ratio_m1(1, u1 * u2 % P * u2 % P)
    den1 = invsqrt * u1 % P
    den2 = invsqrt * u2 % P
    z_inv = den1 * den2 % P * t0 % P
    ix0 = x0 * SQRT_M1 % P
    iy0 = y0 * SQRT_M1 % P
    enchanted_denominator = den1 * INVSQRT_A_MINUS_D % P
    rotate = _is_negative(t0 * z_inv)
    x, y = (iy0, ix0) if rotate else (x0, y0)
    den_inv = enchanted_denominator if rotate else den2
    if _is_negative(x * z_inv):
        y = (-y) % P
    s = _abs(den_inv * (z0 - y))
    return s.to_bytes(32, "little")


def decode(data: bytes) -> Optional[Point]:
    """RFC 9496 section 4.3.1: the element ``data`` encodes, or ``None``
    when it is not a canonical encoding of one."""
    if len(data) != ELEMENT_BYTES:
        return None
    s = int.from_bytes(data, "little")
    if s >= P or s & 1:
        return None
    ss = s * s % P
    u1 = (1 - ss) % P
    u2 = (1 + ss) % P
    u2_sqr = u2 * u2 % P
    v = (-(D * u1 % P * u1) - u2_sqr) % P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr % P)
    den_x = invsqrt * u2 % P
    den_y = invsqrt * den_x % P * v % P
    x = _abs(2 * s * den_x)
    y = u1 * den_y % P
    t = x * y % P
    if not was_square or _is_negative(t) or y == 0:
        return None
    return (x, y, 1, t)


def _map(t: int) -> Point:
    """RFC 9496 section 4.3.4's MAP, from a field element to a point."""
    r = SQRT_M1 * t % P * t % P
    u = (r + 1) * ONE_MINUS_D_SQ % P
    v = (-1 - r * D) * (r + D) % P
    was_square, s = sqrt_ratio_m1(u, v)
    s_prime = (-_abs(s * t)) % P
    s = s if was_square else s_prime
    c = P - 1 if was_square else r
    n = (c * (r - 1) % P * D_MINUS_ONE_SQ - v) % P
    w0 = 2 * s * v % P
    w1 = n * SQRT_AD_MINUS_ONE % P
    w2 = (1 - s * s) % P
    w3 = (1 + s * s) % P
    return (w0 * w3 % P, w2 * w1 % P, w1 * w3 % P, w0 * w2 % P)


def from_uniform_bytes(data: bytes) -> Point:
    """RFC 9496 section 4.3.4: the element of 64 uniformly random bytes."""
    if len(data) != 64:
        raise ValueError("from_uniform_bytes takes 64 bytes")
    mask = (1 << 255) - 1
    t1 = (int.from_bytes(data[:32], "little") & mask) % P
    t2 = (int.from_bytes(data[32:], "little") & mask) % P
    return add(_map(t1), _map(t2))


# -- hashing (RFC 9380, RFC 9497) ---------------------------------------------------

def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-512."""
    b_in_bytes, s_in_bytes = 64, 128
    ell = -(-len_in_bytes // b_in_bytes)
    if ell > 255 or len_in_bytes > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd: output or domain separation tag too long")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(s_in_bytes) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha512(msg_prime).digest()
    out = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        prev = bytes(x ^ y for x, y in zip(b0, out[-1]))
        out.append(hashlib.sha512(prev + bytes([i]) + dst_prime).digest())
    return b"".join(out)[:len_in_bytes]


def hash_to_group(msg: bytes, dst: bytes) -> Point:
    """``hash_to_ristretto255`` (RFC 9380 appendix B): 64 bytes of
    expand_message_xmd, mapped by :func:`from_uniform_bytes`."""
    return from_uniform_bytes(expand_message_xmd(msg, dst, 64))


def hash_to_scalar(msg: bytes, dst: bytes) -> int:
    """RFC 9497's HashToScalar for ristretto255: 64 bytes of
    expand_message_xmd, little-endian, modulo :data:`L`."""
    return int.from_bytes(expand_message_xmd(msg, dst, 64), "little") % L


# -- scalars -------------------------------------------------------------------

def encode_scalar(k: int) -> bytes:
    return (k % L).to_bytes(SCALAR_BYTES, "little")


def decode_scalar(data: bytes, what: str) -> int:
    """A canonical non-zero scalar (32 bytes little-endian, below
    :data:`L`), as RFC 9497's DeserializeScalar; else :class:`MalformedError`."""
    if len(data) != SCALAR_BYTES:
        raise MalformedError(what, f"{len(data)} bytes, expected {SCALAR_BYTES}")
    k = int.from_bytes(data, "little")
    if k >= L:
        raise MalformedError(what, "not a canonical scalar (not below the group order)")
    if k == 0:
        raise MalformedError(what, "the zero scalar")
    return k


def decode_element(data: bytes, what: str) -> Point:
    """A canonical encoding of an element other than the identity, as RFC
    9497's DeserializeElement; else :class:`MalformedError`."""
    if len(data) != ELEMENT_BYTES:
        raise MalformedError(what, f"{len(data)} bytes, expected {ELEMENT_BYTES}")
    p = decode(data)
    if p is None:
        raise MalformedError(what, "not a canonical ristretto255 encoding")
    if is_identity(p):
        raise MalformedError(what, "the identity element")
    return p


__all__ = [
    "BASE", "ELEMENT_BYTES", "IDENTITY", "L", "P", "SCALAR_BYTES", "add", "decode",
    "decode_element", "decode_scalar", "encode", "encode_scalar", "equal", "expand_message_xmd",
    "from_uniform_bytes", "hash_to_group", "hash_to_scalar", "is_identity", "mul", "neg",
]
