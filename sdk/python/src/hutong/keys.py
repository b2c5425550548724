"""Ed25519 keys, addresses (``ht1...``) and key files."""

import hashlib
import os
import stat
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import bech32m
from .errors import AddressError, EncodingError, KeyFileError

try:  # Python 3.11+
    import tomllib as _toml
except ImportError:  # pragma: no cover - Python 3.9/3.10
    import tomli as _toml  # type: ignore[no-redef]

ADDRESS_HRP = "ht"
KEY_FILE_KIND = "hutong-ed25519-secret-key"


def tagged(tag: str, data: bytes) -> bytes:
    """``SHA-256(tag || 0x00 || data)``, the hash every Hutong id uses."""
    return hashlib.sha256(tag.encode("ascii") + b"\x00" + bytes(data)).digest()


def _hex(value: Union[str, bytes, bytearray], n: int, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str):
        s = value[2:] if value.startswith("0x") else value
        try:
            raw = bytes.fromhex(s)
        except ValueError:
            raise EncodingError(f"{what} is not hex: {value!r}") from None
    else:
        raise EncodingError(f"{what} must be hex or bytes, not {type(value).__name__}")
    if len(raw) != n:
        raise EncodingError(f"{what} must be {n} bytes, got {len(raw)}")
    return raw


class Address:
    """An account address: 20 bytes, shown as bech32m ``ht1...``."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes):
        if len(raw) != 20:
            raise AddressError(f"an address is 20 bytes, got {len(raw)}")
        self._raw = bytes(raw)

    @classmethod
    def from_public_key(cls, public_key: Union["PublicKey", bytes, str]) -> "Address":
        pk = public_key.raw if isinstance(public_key, PublicKey) else _hex(public_key, 32, "public key")
        return cls(tagged("hutong/address/v1", pk)[:20])

    @classmethod
    def parse(cls, text: Union[str, "Address"]) -> "Address":
        """Parses ``ht1...`` text; refuses other prefixes, lengths, case mixes and the bech32 checksum."""
        if isinstance(text, Address):
            return text
        if not isinstance(text, str) or text != text.lower():
            raise AddressError(f"an address is lowercase text: {text!r}")
        hrp, data = bech32m.decode(text)
        if hrp != ADDRESS_HRP:
            raise AddressError(f"address prefix is {hrp!r}, expected {ADDRESS_HRP!r}")
        if len(data) != 20:
            raise AddressError(f"address holds {len(data)} bytes, expected 20")
        return cls(data)

    @property
    def raw(self) -> bytes:
        return self._raw

    def __bytes__(self) -> bytes:
        return self._raw

    def __str__(self) -> str:
        return bech32m.encode(ADDRESS_HRP, self._raw)

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        return isinstance(other, Address) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class PublicKey:
    """An ed25519 public key (32 bytes)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Union[bytes, str]):
        self._raw = _hex(raw, 32, "public key")

    @property
    def raw(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    @property
    def address(self) -> Address:
        return Address.from_public_key(self._raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """RFC 8032 verification (the node verifies under ZIP-215, which accepts all of these)."""
        try:
            Ed25519PublicKey.from_public_bytes(self._raw).verify(bytes(signature), bytes(message))
            return True
        except (InvalidSignature, ValueError):
            return False

    def __bytes__(self) -> bytes:
        return self._raw

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"PublicKey({self.hex()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class SigningKey:
    """An ed25519 secret key (the 32-byte RFC 8032 seed) with its public key."""

    __slots__ = ("_sk", "_seed", "public_key")

    def __init__(self, seed: Union[bytes, str]):
        self._seed = _hex(seed, 32, "secret key")
        self._sk = Ed25519PrivateKey.from_private_bytes(self._seed)
        self.public_key = PublicKey(
            self._sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(os.urandom(32))

    @property
    def seed(self) -> bytes:
        return self._seed

    @property
    def address(self) -> Address:
        return self.public_key.address

    def sign(self, message: bytes) -> bytes:
        """An RFC 8032 ed25519 signature (64 bytes) over ``message``."""
        return self._sk.sign(bytes(message))

    # key files -------------------------------------------------------
    def to_key_file(self) -> str:
        """The key file text (TOML) ``hutong keys new`` writes."""
        return (
            "# Hutong ed25519 key. Keep this file secret: it is the whole key.\n"
            f'kind = "{KEY_FILE_KIND}"\n'
            f'public_key = "{self.public_key.hex()}"\n'
            f'secret_key = "{self._seed.hex()}"\n'
        )

    @classmethod
    def from_key_file(cls, text: str) -> "SigningKey":
        """Parses key file text; refuses another ``kind``, extra or missing
        fields, bad hex, and a ``public_key`` the secret key does not give."""
        try:
            doc = _toml.loads(text)
        except Exception as e:  # tomllib.TOMLDecodeError
            raise KeyFileError(f"key file is not TOML: {e}") from None
        expected = {"kind", "public_key", "secret_key"}
        extra = set(doc) - expected
        if extra:
            raise KeyFileError(f"key file has unknown fields: {', '.join(sorted(extra))}")
        missing = expected - set(doc)
        if missing:
            raise KeyFileError(f"key file lacks fields: {', '.join(sorted(missing))}")
        if doc["kind"] != KEY_FILE_KIND:
            raise KeyFileError(f"key file kind is {doc['kind']!r}, expected {KEY_FILE_KIND!r}")
        for f in ("public_key", "secret_key"):
            v = doc[f]
            if not isinstance(v, str) or len(v) != 64:
                raise KeyFileError(f"{f} must be 64 hex digits")
            try:
                bytes.fromhex(v)
            except ValueError:
                raise KeyFileError(f"{f} is not hex") from None
        key = cls(doc["secret_key"])
        if key.public_key.hex() != doc["public_key"].lower():
            raise KeyFileError("public_key is not the secret key's public key")
        return key

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "SigningKey":
        """Reads a key file."""
        try:
            with open(path, "r", encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise KeyFileError(f"cannot read key file {path}: {e}") from e
        except UnicodeDecodeError:
            raise KeyFileError(f"key file {path} is not UTF-8 text") from None
        return cls.from_key_file(text)

    def save(self, path: Union[str, "os.PathLike[str]"], overwrite: bool = False) -> None:
        """Writes the key file with mode 0600 (refuses to overwrite unless asked)."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(path, flags, stat.S_IRUSR | stat.S_IWUSR)
        try:
            os.fchmod(fd, 0o600)
        except (AttributeError, OSError):  # pragma: no cover - non-POSIX
            pass
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.to_key_file())

    def __repr__(self) -> str:
        return f"SigningKey(public_key={self.public_key.hex()!r})"


def generate_key() -> SigningKey:
    return SigningKey.generate()


def load_key(path: Union[str, "os.PathLike[str]"]) -> SigningKey:
    return SigningKey.load(path)
