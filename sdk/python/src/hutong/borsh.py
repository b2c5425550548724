"""A minimal borsh writer and strict reader (the subset Hutong uses)."""

import struct
from typing import Callable, List, Optional, TypeVar

from .errors import EncodingError

T = TypeVar("T")

U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1


class Writer:
    def __init__(self) -> None:
        self._buf = bytearray()

    def bytes(self) -> bytes:
        return bytes(self._buf)

    def u8(self, v: int) -> "Writer":
        if not 0 <= v <= 0xFF:
            raise EncodingError(f"u8 out of range: {v}")
        self._buf.append(v)
        return self

    def u32(self, v: int) -> "Writer":
        if not 0 <= v <= 0xFFFFFFFF:
            raise EncodingError(f"u32 out of range: {v}")
        self._buf += struct.pack("<I", v)
        return self

    def u64(self, v: int) -> "Writer":
        if not 0 <= v <= U64_MAX:
            raise EncodingError(f"u64 out of range: {v}")
        self._buf += struct.pack("<Q", v)
        return self

    def u128(self, v: int) -> "Writer":
        if not 0 <= v <= U128_MAX:
            raise EncodingError(f"u128 out of range: {v}")
        self._buf += v.to_bytes(16, "little")
        return self

    def bool(self, v: bool) -> "Writer":
        return self.u8(1 if v else 0)

    def fixed(self, data: bytes, n: int) -> "Writer":
        if len(data) != n:
            raise EncodingError(f"expected {n} bytes, got {len(data)}")
        self._buf += data
        return self

    def vec_u8(self, data: bytes) -> "Writer":
        self.u32(len(data))
        self._buf += data
        return self

    def string(self, s: str) -> "Writer":
        return self.vec_u8(s.encode("utf-8"))


class Reader:
    """Strict reader: call :meth:`finish` to refuse trailing bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise EncodingError("unexpected end of input")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self) -> int:
        return self._take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self._take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self._take(8))[0]

    def u128(self) -> int:
        return int.from_bytes(self._take(16), "little")

    def bool(self) -> bool:
        b = self.u8()
        if b > 1:
            raise EncodingError(f"bool tag {b}")
        return b == 1

    def fixed(self, n: int) -> bytes:
        return self._take(n)

    def vec_u8(self) -> bytes:
        return self._take(self.u32())

    def vec(self, item: Callable[["Reader"], T]) -> List[T]:
        n = self.u32()
        if n > len(self._data) - self._pos:
            raise EncodingError("vector length exceeds input")
        return [item(self) for _ in range(n)]

    def option(self, item: Callable[["Reader"], T]) -> Optional[T]:
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return item(self)
        raise EncodingError(f"option tag {tag}")

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise EncodingError(f"{len(self._data) - self._pos} trailing bytes")
