"""Transactions: their fields, borsh encoding, id, signing and co-signing
(SPEC.md sections 1 to 3)."""

import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Type, Union

from .borsh import U128_MAX, Reader, Writer
from .errors import EncodingError
from .identity import identity_commitment as _identity_commitment
from .keys import Address, PublicKey, SigningKey, _hex, tagged

TX_BYTES_MAX = 16_384
#: Longest memo, in bytes: a sealed memo (a chain with an identity service)
#: to three readers holds up to 254 bytes of text, a memo in clear up to 512.
MEMO_BYTES_MAX = 512
#: Bytes of an ``OpenAccount``'s identity envelope (empty, or exactly
#: this): an HPKE encapsulated key (32), the sealed identity tag (64) and
#: salt (32), and the AEAD tag (16); see :func:`hutong.seal_identity`.
IDENTITY_ENVELOPE_BYTES = 144
BATCH_PAYOUTS_MAX = 256
#: Longest ``reference`` of a ``FreezeAmount`` or ``SetAccountState`` (a court order's number).
REFERENCE_BYTES_MAX = 64
#: Most payees a device key (``RegisterDevice``) may be limited to.
DEVICE_PAYEES_MAX = 16
#: Most legs of a ``Linked`` transaction (at least one).
LINKED_LEGS_MAX = 8
#: Most payees a mandate (``GrantMandate``) may be limited to.
MANDATE_PAYEES_MAX = 16

_ASSET_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")

AddressLike = Union[Address, str]
KeyLike = Union[PublicKey, bytes, str]
TransferIdLike = Union[int, str, bytes, uuid.UUID]


# -- primitive helpers ---------------------------------------------------

def encode_asset(code: str) -> bytes:
    """``"CNY"`` -> ``b"CNY\\0\\0\\0\\0\\0"``: 1-8 chars ``A-Z0-9``, first a letter."""
    if not isinstance(code, str) or not _ASSET_RE.match(code):
        raise EncodingError(f"invalid asset code {code!r}: 1 to 8 of A-Z0-9, the first a letter")
    return code.encode("ascii").ljust(8, b"\x00")


def decode_asset(raw: bytes) -> str:
    text = raw.rstrip(b"\x00")
    if b"\x00" in text:
        raise EncodingError("asset code has padding inside")
    try:
        code = text.decode("ascii")
    except UnicodeDecodeError:
        raise EncodingError("asset code is not ASCII") from None
    encode_asset(code)  # validates
    return code


def transfer_id(value: TransferIdLike) -> int:
    """Normalises a transfer id (int, 32 hex digits big-endian, 16 bytes
    big-endian, or a UUID) to its ``u128`` value."""
    if isinstance(value, bool):
        raise EncodingError("transfer id cannot be a bool")
    if isinstance(value, uuid.UUID):
        n = value.int
    elif isinstance(value, int):
        n = value
    elif isinstance(value, (bytes, bytearray)):
        if len(value) != 16:
            raise EncodingError("a transfer id is 16 bytes")
        n = int.from_bytes(value, "big")
    elif isinstance(value, str):
        s = value.replace("-", "")
        if len(s) != 32:
            raise EncodingError(f"a transfer id is 32 hex digits: {value!r}")
        try:
            n = int(s, 16)
        except ValueError:
            raise EncodingError(f"transfer id is not hex: {value!r}") from None
    else:
        raise EncodingError(f"cannot read a transfer id from {type(value).__name__}")
    if not 0 <= n <= U128_MAX:
        raise EncodingError("transfer id out of u128 range")
    return n


def new_transfer_id() -> int:
    """A fresh random transfer id (a UUID4's 128 bits)."""
    return uuid.uuid4().int


def transfer_id_hex(n: int) -> str:
    return format(n, "032x")


def _addr(v: AddressLike) -> Address:
    if isinstance(v, Address):
        return v
    if isinstance(v, (bytes, bytearray)) and len(v) == 20:
        return Address(bytes(v))
    return Address.parse(v)


def _key(v: KeyLike) -> PublicKey:
    if isinstance(v, SigningKey):
        return v.public_key
    return v if isinstance(v, PublicKey) else PublicKey(v)


def _amount(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise EncodingError(
            f"an amount is an int of minor units (use parse_amount for decimals), got {type(v).__name__}"
        )
    n = int(v) if isinstance(v, int) or v.isdigit() else None
    if n is None or not 0 <= n <= U128_MAX:
        raise EncodingError(f"amount out of u128 range: {v!r}")
    return n


def _uint(v: Any, bits: int, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (1 << bits):
        raise EncodingError(f"{what} must be a u{bits}, got {v!r}")
    return v


# -- expiry --------------------------------------------------------------

@dataclass(frozen=True)
class Expiry:
    """``Expiry.at_height(h)``: valid in blocks up to and including height h;
    ``Expiry.at_time_ms(t)``: valid in blocks whose timestamp is at most t."""

    kind: str  # "height" or "time_ms"
    value: int

    def __post_init__(self) -> None:
        if self.kind not in ("height", "time_ms"):
            raise EncodingError(f"expiry kind {self.kind!r}")
        _uint(self.value, 64, "expiry")

    @classmethod
    def at_height(cls, height: int) -> "Expiry":
        return cls("height", height)

    @classmethod
    def at_time_ms(cls, time_ms: int) -> "Expiry":
        return cls("time_ms", time_ms)

    def encode(self, w: Writer) -> None:
        w.u8(0 if self.kind == "height" else 1).u64(self.value)

    @classmethod
    def decode(cls, r: Reader) -> "Expiry":
        tag = r.u8()
        if tag > 1:
            raise EncodingError(f"expiry tag {tag}")
        return cls("height" if tag == 0 else "time_ms", r.u64())

    def to_json(self) -> Dict[str, int]:
        return {self.kind: self.value}


# -- kinds ---------------------------------------------------------------

FREEZE_REASONS = ("fraud", "legal-order", "regulatory", "customer-request", "other")
#: What ``SetAccountState`` sets: both ways, receive only, send only (borsh order).
ACCOUNT_STATES = ("normal", "receive-only", "send-only")


def _named(v: Union[str, int], names: "tuple[str, ...]", what: str) -> str:
    """A name of ``names``, given as itself or as its index (its borsh tag)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v < len(names):
            raise EncodingError(f"{what} index {v}")
        v = names[v]
    if not isinstance(v, str) or v not in names:
        raise EncodingError(f"{what} {v!r}; one of {', '.join(names)}")
    return v


def _read_named(r: Reader, names: "tuple[str, ...]", what: str) -> int:
    tag = r.u8()
    if tag >= len(names):
        raise EncodingError(f"{what} tag {tag}")
    return tag


def _reference(v: Union[bytes, str]) -> bytes:
    """A freeze's or restriction's reference: bytes, or a string as UTF-8;
    at most ``REFERENCE_BYTES_MAX`` bytes."""
    if isinstance(v, str):
        raw = v.encode("utf-8")
    elif isinstance(v, (bytes, bytearray)):
        raw = bytes(v)
    else:
        raise EncodingError(f"a reference is bytes or a string, not {type(v).__name__}")
    if len(raw) > REFERENCE_BYTES_MAX:
        raise EncodingError(f"reference is {len(raw)} bytes; at most {REFERENCE_BYTES_MAX}")
    return raw


def _envelope(v: Union[bytes, str]) -> bytes:
    """An ``OpenAccount``'s identity envelope: bytes or hex, empty or
    ``IDENTITY_ENVELOPE_BYTES`` long."""
    if isinstance(v, str):
        try:
            raw = bytes.fromhex(v[2:] if v.startswith("0x") else v)
        except ValueError:
            raise EncodingError(f"identity envelope is not hex: {v[:20]!r}...") from None
    elif isinstance(v, (bytes, bytearray)):
        raw = bytes(v)
    else:
        raise EncodingError(f"an identity envelope is bytes or hex, not {type(v).__name__}")
    if len(raw) not in (0, IDENTITY_ENVELOPE_BYTES):
        raise EncodingError(
            f"identity envelope is {len(raw)} bytes; it is empty or {IDENTITY_ENVELOPE_BYTES}")
    return raw


def _opt_time(v: Optional[int], what: str) -> Optional[int]:
    return None if v is None else _uint(v, 64, what)


def _payees(v: Any, most: int, what: str) -> List[Address]:
    """A list of at most ``most`` addresses (empty: any payee)."""
    if isinstance(v, (str, bytes, bytearray)) or not hasattr(v, "__iter__"):
        raise EncodingError(f"{what} is a list of addresses")
    payees = [_addr(p) for p in v]
    if len(payees) > most:
        raise EncodingError(f"{what} names {len(payees)} payees; at most {most}")
    return payees


def _write_payees(w: Writer, payees: Sequence[AddressLike]) -> None:
    w.u32(len(payees))
    for p in payees:
        w.fixed(_addr(p).raw, 20)


def _read_payees(r: Reader) -> List[Address]:
    return r.vec(lambda r: Address(r.fixed(20)))

_KINDS: Dict[int, Type["_Kind"]] = {}
_KIND_NAMES: Dict[str, Type["_Kind"]] = {}


def _kind(index: int, name: str) -> Callable[[Type["_Kind"]], Type["_Kind"]]:
    def deco(cls: Type["_Kind"]) -> Type["_Kind"]:
        cls.INDEX = index
        cls.NAME = name
        _KINDS[index] = cls
        _KIND_NAMES[name] = cls
        return cls

    return deco


class _Kind:
    INDEX: ClassVar[int]
    NAME: ClassVar[str]

    def encode(self, w: Writer) -> None:
        w.u8(self.INDEX)
        self._fields(w)

    def _fields(self, w: Writer) -> None:  # pragma: no cover
        raise NotImplementedError

    def to_json(self) -> Dict[str, Any]:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Payout:
    to: AddressLike
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _addr(self.to))
        object.__setattr__(self, "amount", _amount(self.amount))


@_kind(0, "transfer")
@dataclass(frozen=True)
class Transfer(_Kind):
    """Pays ``amount`` minor units of ``asset`` to ``to``."""

    to: AddressLike
    asset: str
    amount: int
    transfer_id: TransferIdLike = field(default_factory=new_transfer_id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _addr(self.to))
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))
        object.__setattr__(self, "transfer_id", transfer_id(self.transfer_id))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.to.raw, 20).fixed(encode_asset(self.asset), 8)
        w.u128(self.amount).u128(self.transfer_id)

    @classmethod
    def _decode(cls, r: Reader) -> "Transfer":
        return cls(Address(r.fixed(20)), decode_asset(r.fixed(8)), r.u128(), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"to": str(self.to), "asset": self.asset, "amount": str(self.amount),
                "transfer_id": transfer_id_hex(self.transfer_id)}


@_kind(1, "batch_transfer")
@dataclass(frozen=True)
class BatchTransfer(_Kind):
    """Pays several recipients in one asset, all or nothing (1 to 256 payouts)."""

    asset: str
    payouts: List[Payout]
    transfer_id: TransferIdLike = field(default_factory=new_transfer_id)

    def __post_init__(self) -> None:
        encode_asset(self.asset)
        ps = [p if isinstance(p, Payout) else Payout(*p) for p in self.payouts]
        object.__setattr__(self, "payouts", ps)
        object.__setattr__(self, "transfer_id", transfer_id(self.transfer_id))

    def _fields(self, w: Writer) -> None:
        w.fixed(encode_asset(self.asset), 8).u32(len(self.payouts))
        for p in self.payouts:
            w.fixed(p.to.raw, 20).u128(p.amount)
        w.u128(self.transfer_id)

    @classmethod
    def _decode(cls, r: Reader) -> "BatchTransfer":
        asset = decode_asset(r.fixed(8))
        payouts = r.vec(lambda r: Payout(Address(r.fixed(20)), r.u128()))
        return cls(asset, payouts, r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"asset": self.asset,
                "payouts": [{"to": str(p.to), "amount": str(p.amount)} for p in self.payouts],
                "transfer_id": transfer_id_hex(self.transfer_id)}


@_kind(2, "open_account")
@dataclass(frozen=True)
class OpenAccount(_Kind):
    """An institution opens a customer account for ``owner``'s key.

    On a chain with an identity service (``Client.identity_service()`` is
    not None; SPEC.md section 9), ``identity_commitment`` is the binding
    commitment of the customer's identity tag and a salt, and
    ``identity_envelope`` (144 bytes) seals them to the regulator: form
    both with :meth:`with_identity` (or
    ``Client.open_account_with_identity``). Elsewhere the envelope is
    empty and ``identity_commitment`` is the salted hash of the identity
    document (SPEC.md section 7): :meth:`from_identity`, or
    :func:`hutong.identity_commitment`.
    """

    owner: KeyLike
    tier: int
    identity_commitment: Union[bytes, str] = b"\x00" * 32
    identity_envelope: Union[bytes, str] = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", _key(self.owner))
        _uint(self.tier, 8, "tier")
        object.__setattr__(self, "identity_commitment",
                           _hex(self.identity_commitment, 32, "identity commitment"))
        object.__setattr__(self, "identity_envelope", _envelope(self.identity_envelope))

    @classmethod
    def from_identity(
        cls, owner: KeyLike, tier: int, id_type: str, id_number: str, salt: Union[bytes, str]
    ) -> "OpenAccount":
        """``OpenAccount`` whose ``identity_commitment`` is
        ``identity_commitment(id_type, id_number, salt)``, for a chain
        without an identity service. The salt (32 bytes, e.g.
        :func:`hutong.new_identity_salt`) is not kept in the transaction:
        store it with the KYC record, it never goes on chain. Raises
        :class:`~hutong.IdentityError` for a type or number the rule
        refuses."""
        return cls(owner, tier, _identity_commitment(id_type, id_number, salt))

    @classmethod
    def with_identity(
        cls, owner: KeyLike, tier: int, tag: Union[bytes, str], salt: Union[bytes, str], *,
        chain_id: Union[bytes, str], hpke_key: Union[bytes, str],
    ) -> "OpenAccount":
        """``OpenAccount`` for a chain with an identity service: the
        customer's identity ``tag`` (``Client.identity_tags``) and ``salt``
        sealed to the regulator's ``hpke_key`` (``hutong_getParameters`` →
        ``identity.hpke_key``) for this ``owner`` on ``chain_id``, and their
        binding commitment. Keep the salt (32 bytes,
        :func:`hutong.new_identity_salt`) with the KYC record."""
        from .privacy import seal_identity  # privacy builds on this module

        owner_key = _key(owner)
        envelope, commitment = seal_identity(hpke_key, chain_id, owner_key, tag, salt)
        return cls(owner_key, tier, commitment, envelope)

    def _fields(self, w: Writer) -> None:
        w.fixed(self.owner.raw, 32).u8(self.tier).fixed(self.identity_commitment, 32)
        w.vec_u8(self.identity_envelope)

    @classmethod
    def _decode(cls, r: Reader) -> "OpenAccount":
        return cls(PublicKey(r.fixed(32)), r.u8(), r.fixed(32), r.vec_u8())

    def to_json(self) -> Dict[str, Any]:
        return {"owner": self.owner.hex(), "tier": self.tier,
                "identity_commitment": self.identity_commitment.hex(),
                "identity_envelope": self.identity_envelope.hex()}


@_kind(3, "set_tier")
@dataclass(frozen=True)
class SetTier(_Kind):
    account: AddressLike
    tier: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))
        _uint(self.tier, 8, "tier")

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20).u8(self.tier)

    @classmethod
    def _decode(cls, r: Reader) -> "SetTier":
        return cls(Address(r.fixed(20)), r.u8())

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account), "tier": self.tier}


@_kind(4, "freeze")
@dataclass(frozen=True)
class Freeze(_Kind):
    """``reason``: one of ``FREEZE_REASONS`` (or its index)."""

    account: AddressLike
    reason: Union[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))
        object.__setattr__(self, "reason", _named(self.reason, FREEZE_REASONS, "freeze reason"))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20).u8(FREEZE_REASONS.index(self.reason))

    @classmethod
    def _decode(cls, r: Reader) -> "Freeze":
        account = Address(r.fixed(20))
        return cls(account, _read_named(r, FREEZE_REASONS, "freeze reason"))

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account), "reason": self.reason}


@_kind(5, "unfreeze")
@dataclass(frozen=True)
class Unfreeze(_Kind):
    account: AddressLike

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20)

    @classmethod
    def _decode(cls, r: Reader) -> "Unfreeze":
        return cls(Address(r.fixed(20)))

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account)}


@_kind(6, "mint")
@dataclass(frozen=True)
class Mint(_Kind):
    to: AddressLike
    asset: str
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _addr(self.to))
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.to.raw, 20).fixed(encode_asset(self.asset), 8).u128(self.amount)

    @classmethod
    def _decode(cls, r: Reader) -> "Mint":
        return cls(Address(r.fixed(20)), decode_asset(r.fixed(8)), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"to": str(self.to), "asset": self.asset, "amount": str(self.amount)}


@_kind(7, "burn")
@dataclass(frozen=True)
class Burn(_Kind):
    asset: str
    amount: int

    def __post_init__(self) -> None:
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))

    def _fields(self, w: Writer) -> None:
        w.fixed(encode_asset(self.asset), 8).u128(self.amount)

    @classmethod
    def _decode(cls, r: Reader) -> "Burn":
        return cls(decode_asset(r.fixed(8)), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"asset": self.asset, "amount": str(self.amount)}


@_kind(9, "vote")
@dataclass(frozen=True)
class Vote(_Kind):
    proposal: int
    approve: bool

    def __post_init__(self) -> None:
        _uint(self.proposal, 64, "proposal")
        if not isinstance(self.approve, bool):
            raise EncodingError("approve must be a bool")

    def _fields(self, w: Writer) -> None:
        w.u64(self.proposal).bool(self.approve)

    @classmethod
    def _decode(cls, r: Reader) -> "Vote":
        return cls(r.u64(), r.bool())

    def to_json(self) -> Dict[str, Any]:
        return {"proposal": self.proposal, "approve": self.approve}


@_kind(10, "withdraw")
@dataclass(frozen=True)
class Withdraw(_Kind):
    proposal: int

    def __post_init__(self) -> None:
        _uint(self.proposal, 64, "proposal")

    def _fields(self, w: Writer) -> None:
        w.u64(self.proposal)

    @classmethod
    def _decode(cls, r: Reader) -> "Withdraw":
        return cls(r.u64())

    def to_json(self) -> Dict[str, Any]:
        return {"proposal": self.proposal}


@_kind(11, "anchor_audit_log")
@dataclass(frozen=True)
class AnchorAuditLog(_Kind):
    """A regulator publishes the head of its audit-query log: ``entries``,
    how many entries the log holds, and ``head``, the last entry's hash
    (32 bytes, or hex). Only a regulator's account may send it (otherwise
    the receipt fails ``unauthorised``); it changes no state besides the
    sender's sequence (SPEC.md section 2)."""

    entries: int
    head: Union[bytes, str]

    def __post_init__(self) -> None:
        _uint(self.entries, 64, "entries")
        object.__setattr__(self, "head", _hex(self.head, 32, "head"))

    def _fields(self, w: Writer) -> None:
        w.u64(self.entries).fixed(self.head, 32)

    @classmethod
    def _decode(cls, r: Reader) -> "AnchorAuditLog":
        return cls(r.u64(), r.fixed(32))

    def to_json(self) -> Dict[str, Any]:
        return {"entries": self.entries, "head": self.head.hex()}


@_kind(12, "hold")
@dataclass(frozen=True)
class Hold(_Kind):
    """The payer (the sender) reserves ``amount`` of ``asset`` for ``to``
    until the block time ``expires_at_ms``: its available balance falls,
    its balance does not. ``hold_id`` is one of the payer's transfer ids
    (int, 32 hex digits, 16 bytes or a UUID; e.g. :func:`new_transfer_id`):
    the payee names the hold by the payer's address and this id to
    :class:`Capture` or :class:`Void` it."""

    to: AddressLike
    asset: str
    amount: int
    hold_id: TransferIdLike
    expires_at_ms: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", _addr(self.to))
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))
        object.__setattr__(self, "hold_id", transfer_id(self.hold_id))
        _uint(self.expires_at_ms, 64, "expires_at_ms")

    def _fields(self, w: Writer) -> None:
        w.fixed(self.to.raw, 20).fixed(encode_asset(self.asset), 8)
        w.u128(self.amount).u128(self.hold_id).u64(self.expires_at_ms)

    @classmethod
    def _decode(cls, r: Reader) -> "Hold":
        return cls(Address(r.fixed(20)), decode_asset(r.fixed(8)), r.u128(), r.u128(), r.u64())

    def to_json(self) -> Dict[str, Any]:
        return {"to": str(self.to), "asset": self.asset, "amount": str(self.amount),
                "hold_id": transfer_id_hex(self.hold_id), "expires_at_ms": self.expires_at_ms}


@_kind(13, "capture")
@dataclass(frozen=True)
class Capture(_Kind):
    """The payee (or the payer) moves ``amount`` (at most the amount held)
    of ``payer``'s hold ``hold_id`` to the payee; the rest is released."""

    payer: AddressLike
    hold_id: TransferIdLike
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "payer", _addr(self.payer))
        object.__setattr__(self, "hold_id", transfer_id(self.hold_id))
        object.__setattr__(self, "amount", _amount(self.amount))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.payer.raw, 20).u128(self.hold_id).u128(self.amount)

    @classmethod
    def _decode(cls, r: Reader) -> "Capture":
        return cls(Address(r.fixed(20)), r.u128(), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"payer": str(self.payer), "hold_id": transfer_id_hex(self.hold_id),
                "amount": str(self.amount)}


@_kind(14, "void")
@dataclass(frozen=True)
class Void(_Kind):
    """The payee releases ``payer``'s hold ``hold_id`` without moving anything."""

    payer: AddressLike
    hold_id: TransferIdLike

    def __post_init__(self) -> None:
        object.__setattr__(self, "payer", _addr(self.payer))
        object.__setattr__(self, "hold_id", transfer_id(self.hold_id))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.payer.raw, 20).u128(self.hold_id)

    @classmethod
    def _decode(cls, r: Reader) -> "Void":
        return cls(Address(r.fixed(20)), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"payer": str(self.payer), "hold_id": transfer_id_hex(self.hold_id)}


@_kind(15, "freeze_amount")
@dataclass(frozen=True)
class FreezeAmount(_Kind):
    """Freezes ``amount`` of ``account``'s ``asset`` (the account's
    institution, or a regulator). ``freeze_id`` (a u64 the sender picks)
    names it to :class:`ReleaseFreeze`; ``reason``: one of
    ``FREEZE_REASONS`` (or its index); ``reference`` names the order (a
    court case number): bytes, or a string as UTF-8, at most
    ``REFERENCE_BYTES_MAX`` (64) bytes; ``expires_at_ms``: the block time
    it lapses, or ``None`` (until released)."""

    account: AddressLike
    asset: str
    amount: int
    freeze_id: int
    reason: Union[str, int]
    reference: Union[bytes, str] = b""
    expires_at_ms: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))
        _uint(self.freeze_id, 64, "freeze_id")
        object.__setattr__(self, "reason", _named(self.reason, FREEZE_REASONS, "freeze reason"))
        object.__setattr__(self, "reference", _reference(self.reference))
        _opt_time(self.expires_at_ms, "expires_at_ms")

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20).fixed(encode_asset(self.asset), 8).u128(self.amount)
        w.u64(self.freeze_id).u8(FREEZE_REASONS.index(self.reason)).vec_u8(self.reference)
        if self.expires_at_ms is None:
            w.u8(0)
        else:
            w.u8(1).u64(self.expires_at_ms)

    @classmethod
    def _decode(cls, r: Reader) -> "FreezeAmount":
        account = Address(r.fixed(20))
        asset = decode_asset(r.fixed(8))
        amount = r.u128()
        freeze_id = r.u64()
        reason = _read_named(r, FREEZE_REASONS, "freeze reason")
        reference = r.vec_u8()
        return cls(account, asset, amount, freeze_id, reason, reference, r.option(Reader.u64))

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account), "asset": self.asset, "amount": str(self.amount),
                "freeze_id": self.freeze_id, "reason": self.reason,
                "reference": self.reference.hex(),
                "expires_at_ms": self.expires_at_ms}


@_kind(16, "release_freeze")
@dataclass(frozen=True)
class ReleaseFreeze(_Kind):
    """Lifts ``account``'s amount freeze ``freeze_id``; the same authority
    as :class:`FreezeAmount` (a regulator's only by a regulator)."""

    account: AddressLike
    freeze_id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))
        _uint(self.freeze_id, 64, "freeze_id")

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20).u64(self.freeze_id)

    @classmethod
    def _decode(cls, r: Reader) -> "ReleaseFreeze":
        return cls(Address(r.fixed(20)), r.u64())

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account), "freeze_id": self.freeze_id}


@_kind(17, "set_account_state")
@dataclass(frozen=True)
class SetAccountState(_Kind):
    """Makes ``account`` receive-only or send-only, or lifts that
    (``"normal"``): the account's institution, or a regulator (a
    regulator's restriction is lifted only by a regulator). ``state``: one
    of ``ACCOUNT_STATES`` (or its index); ``reason``, ``reference`` and
    ``expires_at_ms`` as in :class:`FreezeAmount`."""

    account: AddressLike
    state: Union[str, int]
    reason: Union[str, int]
    reference: Union[bytes, str] = b""
    expires_at_ms: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", _addr(self.account))
        object.__setattr__(self, "state", _named(self.state, ACCOUNT_STATES, "account state"))
        object.__setattr__(self, "reason", _named(self.reason, FREEZE_REASONS, "freeze reason"))
        object.__setattr__(self, "reference", _reference(self.reference))
        _opt_time(self.expires_at_ms, "expires_at_ms")

    def _fields(self, w: Writer) -> None:
        w.fixed(self.account.raw, 20).u8(ACCOUNT_STATES.index(self.state))
        w.u8(FREEZE_REASONS.index(self.reason)).vec_u8(self.reference)
        if self.expires_at_ms is None:
            w.u8(0)
        else:
            w.u8(1).u64(self.expires_at_ms)

    @classmethod
    def _decode(cls, r: Reader) -> "SetAccountState":
        account = Address(r.fixed(20))
        state = _read_named(r, ACCOUNT_STATES, "account state")
        reason = _read_named(r, FREEZE_REASONS, "freeze reason")
        reference = r.vec_u8()
        return cls(account, state, reason, reference, r.option(Reader.u64))

    def to_json(self) -> Dict[str, Any]:
        return {"account": str(self.account), "state": self.state, "reason": self.reason,
                "reference": self.reference.hex(),
                "expires_at_ms": self.expires_at_ms}


@_kind(18, "register_device")
@dataclass(frozen=True)
class RegisterDevice(_Kind):
    """The account's owner lets a device key (an EV, a meter) sign
    :class:`Hold` and :class:`Capture` for its account, within a scope:
    one ``asset``, at most ``max_per_hold`` per hold and ``daily_max`` per
    day (minor units), to ``payees`` (at most ``DEVICE_PAYEES_MAX``, 16;
    none: any payee). The device has its own sequence numbers, from 0."""

    key: KeyLike
    asset: str
    max_per_hold: int
    daily_max: int
    payees: Sequence[AddressLike] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key(self.key))
        encode_asset(self.asset)
        object.__setattr__(self, "max_per_hold", _amount(self.max_per_hold))
        object.__setattr__(self, "daily_max", _amount(self.daily_max))
        object.__setattr__(self, "payees", _payees(self.payees, DEVICE_PAYEES_MAX, "a device scope"))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.key.raw, 32).fixed(encode_asset(self.asset), 8)
        w.u128(self.max_per_hold).u128(self.daily_max)
        _write_payees(w, self.payees)

    @classmethod
    def _decode(cls, r: Reader) -> "RegisterDevice":
        return cls(PublicKey(r.fixed(32)), decode_asset(r.fixed(8)), r.u128(), r.u128(), _read_payees(r))

    def to_json(self) -> Dict[str, Any]:
        return {"key": self.key.hex(), "asset": self.asset, "max_per_hold": str(self.max_per_hold),
                "daily_max": str(self.daily_max), "payees": [str(p) for p in self.payees]}


@_kind(19, "revoke_device")
@dataclass(frozen=True)
class RevokeDevice(_Kind):
    """The account's owner revokes a device key: the key becomes an unknown sender."""

    key: KeyLike

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key(self.key))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.key.raw, 32)

    @classmethod
    def _decode(cls, r: Reader) -> "RevokeDevice":
        return cls(PublicKey(r.fixed(32)))

    def to_json(self) -> Dict[str, Any]:
        return {"key": self.key.hex()}


#: What a leg of a :class:`Linked` may be, by leg tag (its own borsh enum, ``LinkedOp``).
LINKED_OPS: "tuple[Type[_Kind], ...]" = (Transfer, Hold, Capture, Void)
LinkedOp = Union[Transfer, Hold, Capture, Void]


def _read_leg(r: Reader) -> LinkedOp:
    tag = r.u8()
    if tag >= len(LINKED_OPS):
        raise EncodingError(f"linked leg tag {tag}")
    return LINKED_OPS[tag]._decode(r)  # type: ignore[attr-defined, no-any-return]


@_kind(20, "linked")
@dataclass(frozen=True)
class Linked(_Kind):
    """The sender's payment operations, all or none: ``legs`` (1 to
    ``LINKED_LEGS_MAX``, 8) are :class:`Transfer`, :class:`Hold`,
    :class:`Capture` and :class:`Void` kinds, run in order, each under the
    rules of the kind of the same name; if one fails nothing of any leg
    stays (the receipt's ``failed_leg`` names it)."""

    legs: List[LinkedOp]

    def __post_init__(self) -> None:
        legs = list(self.legs)
        for leg in legs:
            if not isinstance(leg, LINKED_OPS):
                raise EncodingError(
                    f"a linked leg is a Transfer, Hold, Capture or Void, not {type(leg).__name__}")
        if not 1 <= len(legs) <= LINKED_LEGS_MAX:
            raise EncodingError(f"a linked transaction has 1 to {LINKED_LEGS_MAX} legs, got {len(legs)}")
        object.__setattr__(self, "legs", legs)

    def _fields(self, w: Writer) -> None:
        w.u32(len(self.legs))
        for leg in self.legs:
            w.u8(LINKED_OPS.index(type(leg)))
            leg._fields(w)

    @classmethod
    def _decode(cls, r: Reader) -> "Linked":
        return cls(r.vec(_read_leg))

    def to_json(self) -> Dict[str, Any]:
        return {"legs": [{leg.NAME: leg.to_json()} for leg in self.legs]}


@dataclass(frozen=True)
class Quote:
    """An FX provider's offer to settle one payment versus payment
    (:class:`Pvp`), signed off the ledger (:func:`sign_quote`): the payer
    pays between ``min_sell`` and ``max_sell`` of ``sell`` (minor units) to
    ``provider``, and the payee receives ``floor(pay * rate_num /
    rate_den)`` minor units of ``buy``, until the block time
    ``expires_at_ms``; ``payer``: the one payer it is for, or ``None``
    (any). ``quote_id`` (a u64 the provider picks): a quote settles once."""

    provider: AddressLike
    quote_id: int
    sell: str
    buy: str
    rate_num: int
    rate_den: int
    min_sell: int
    max_sell: int
    expires_at_ms: int
    payer: Optional[AddressLike] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", _addr(self.provider))
        _uint(self.quote_id, 64, "quote_id")
        encode_asset(self.sell)
        encode_asset(self.buy)
        _uint(self.rate_num, 64, "rate_num")
        _uint(self.rate_den, 64, "rate_den")
        object.__setattr__(self, "min_sell", _amount(self.min_sell))
        object.__setattr__(self, "max_sell", _amount(self.max_sell))
        _uint(self.expires_at_ms, 64, "expires_at_ms")
        if self.payer is not None:
            object.__setattr__(self, "payer", _addr(self.payer))

    def encode(self, w: Writer) -> None:
        """Writes ``borsh(Quote)``."""
        w.fixed(self.provider.raw, 20).u64(self.quote_id)
        w.fixed(encode_asset(self.sell), 8).fixed(encode_asset(self.buy), 8)
        w.u64(self.rate_num).u64(self.rate_den).u128(self.min_sell).u128(self.max_sell)
        w.u64(self.expires_at_ms)
        if self.payer is None:
            w.u8(0)
        else:
            w.u8(1).fixed(self.payer.raw, 20)

    @classmethod
    def decode(cls, r: Reader) -> "Quote":
        provider = Address(r.fixed(20))
        quote_id = r.u64()
        sell, buy = decode_asset(r.fixed(8)), decode_asset(r.fixed(8))
        rate_num, rate_den = r.u64(), r.u64()
        min_sell, max_sell = r.u128(), r.u128()
        expires_at_ms = r.u64()
        payer = r.option(lambda r: Address(r.fixed(20)))
        return cls(provider, quote_id, sell, buy, rate_num, rate_den, min_sell, max_sell,
                   expires_at_ms, payer)

    def signing_hash(self, chain_id: Union[bytes, str]) -> bytes:
        """``tagged("hutong/quote/v1", chain_id || borsh(quote))``: what the provider signs."""
        w = Writer()
        w.fixed(_hex(chain_id, 32, "chain id"), 32)
        self.encode(w)
        return tagged("hutong/quote/v1", w.bytes())

    def sign(self, chain_id: Union[bytes, str], key: SigningKey) -> bytes:
        """The provider's signature (64 bytes) for :class:`Pvp`'s ``quote_signature``."""
        return key.sign(self.signing_hash(chain_id))

    def to_json(self) -> Dict[str, Any]:
        return {"provider": str(self.provider), "quote_id": self.quote_id, "sell": self.sell,
                "buy": self.buy, "rate_num": self.rate_num, "rate_den": self.rate_den,
                "min_sell": str(self.min_sell), "max_sell": str(self.max_sell),
                "expires_at_ms": self.expires_at_ms,
                "payer": None if self.payer is None else str(self.payer)}

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Quote":
        if not isinstance(obj, dict):
            raise EncodingError("a quote is an object")
        return cls(**obj)


def quote_signing_hash(chain_id: Union[bytes, str], quote: Quote) -> bytes:
    """``SHA-256("hutong/quote/v1" || 0x00 || chain_id || borsh(quote))``, 32 bytes."""
    return quote.signing_hash(chain_id)


def sign_quote(chain_id: Union[bytes, str], quote: Quote, key: SigningKey) -> bytes:
    """An FX provider's ed25519 signature (64 bytes) of ``quote`` on the chain ``chain_id``."""
    return quote.sign(chain_id, key)


@_kind(21, "pvp")
@dataclass(frozen=True)
class Pvp(_Kind):
    """Payment versus payment: the sender pays ``pay`` of the quote's
    ``sell`` to its provider, and the provider pays ``to`` ``floor(pay *
    rate_num / rate_den)`` of its ``buy``, at least ``min_receive`` (the
    slippage bound), both or neither. ``quote_signature``: the provider's
    (64 bytes or hex; :func:`sign_quote`)."""

    quote: Quote
    quote_signature: Union[bytes, str]
    pay: int
    min_receive: int
    to: AddressLike
    transfer_id: TransferIdLike = field(default_factory=new_transfer_id)

    def __post_init__(self) -> None:
        if isinstance(self.quote, dict):
            object.__setattr__(self, "quote", Quote.from_json(self.quote))
        if not isinstance(self.quote, Quote):
            raise EncodingError("quote must be a Quote")
        object.__setattr__(self, "quote_signature", _hex(self.quote_signature, 64, "quote signature"))
        object.__setattr__(self, "pay", _amount(self.pay))
        object.__setattr__(self, "min_receive", _amount(self.min_receive))
        object.__setattr__(self, "to", _addr(self.to))
        object.__setattr__(self, "transfer_id", transfer_id(self.transfer_id))

    def _fields(self, w: Writer) -> None:
        self.quote.encode(w)
        w.fixed(self.quote_signature, 64).u128(self.pay).u128(self.min_receive)
        w.fixed(self.to.raw, 20).u128(self.transfer_id)

    @classmethod
    def _decode(cls, r: Reader) -> "Pvp":
        quote = Quote.decode(r)
        return cls(quote, r.fixed(64), r.u128(), r.u128(), Address(r.fixed(20)), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"quote": self.quote.to_json(), "quote_signature": self.quote_signature.hex(),
                "pay": str(self.pay), "min_receive": str(self.min_receive), "to": str(self.to),
                "transfer_id": transfer_id_hex(self.transfer_id)}


@dataclass(frozen=True)
class MandateScope:
    """What a mandate allows its grantee: ``pay`` from the account,
    ``read`` it through the RPC (:meth:`Client.read_account`), or both."""

    pay: bool = False
    read: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.pay, bool) or not isinstance(self.read, bool):
            raise EncodingError("a mandate scope's pay and read are bools")

    def to_json(self) -> Dict[str, bool]:
        return {"pay": self.pay, "read": self.read}


def _scope(v: Any) -> MandateScope:
    if isinstance(v, MandateScope):
        return v
    if isinstance(v, dict) and set(v) <= {"pay", "read"}:
        return MandateScope(**v)
    raise EncodingError(f"a mandate scope is a MandateScope or {{'pay', 'read'}}, not {v!r}")


@_kind(22, "grant_mandate")
@dataclass(frozen=True)
class GrantMandate(_Kind):
    """The account's owner lets ``grantee`` (another account: a
    bill-paying app) pay from it (:class:`MandatePay`) or read it, within
    ``scope``: one ``asset``, to ``payees`` (at most
    ``MANDATE_PAYEES_MAX``, 16; none: any payee), at most ``per_payment``
    a payment and ``per_period`` a period of ``period_seconds`` (a u32)
    counted from ``start_ms``, from ``start_ms`` to ``end_ms`` (block
    time). ``mandate_id``: a u64 the owner picks."""

    mandate_id: int
    grantee: AddressLike
    scope: MandateScope
    asset: str
    payees: Sequence[AddressLike]
    per_payment: int
    per_period: int
    period_seconds: int
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        _uint(self.mandate_id, 64, "mandate_id")
        object.__setattr__(self, "grantee", _addr(self.grantee))
        object.__setattr__(self, "scope", _scope(self.scope))
        encode_asset(self.asset)
        object.__setattr__(self, "payees", _payees(self.payees, MANDATE_PAYEES_MAX, "a mandate"))
        object.__setattr__(self, "per_payment", _amount(self.per_payment))
        object.__setattr__(self, "per_period", _amount(self.per_period))
        _uint(self.period_seconds, 32, "period_seconds")
        _uint(self.start_ms, 64, "start_ms")
        _uint(self.end_ms, 64, "end_ms")

    def _fields(self, w: Writer) -> None:
        w.u64(self.mandate_id).fixed(self.grantee.raw, 20)
        w.bool(self.scope.pay).bool(self.scope.read).fixed(encode_asset(self.asset), 8)
        _write_payees(w, self.payees)
        w.u128(self.per_payment).u128(self.per_period).u32(self.period_seconds)
        w.u64(self.start_ms).u64(self.end_ms)

    @classmethod
    def _decode(cls, r: Reader) -> "GrantMandate":
        mandate_id = r.u64()
        grantee = Address(r.fixed(20))
        scope = MandateScope(r.bool(), r.bool())
        asset = decode_asset(r.fixed(8))
        payees = _read_payees(r)
        return cls(mandate_id, grantee, scope, asset, payees, r.u128(), r.u128(), r.u32(),
                   r.u64(), r.u64())

    def to_json(self) -> Dict[str, Any]:
        return {"mandate_id": self.mandate_id, "grantee": str(self.grantee),
                "scope": self.scope.to_json(), "asset": self.asset,
                "payees": [str(p) for p in self.payees], "per_payment": str(self.per_payment),
                "per_period": str(self.per_period), "period_seconds": self.period_seconds,
                "start_ms": self.start_ms, "end_ms": self.end_ms}


@_kind(23, "revoke_mandate")
@dataclass(frozen=True)
class RevokeMandate(_Kind):
    """The account's owner ends its mandate ``mandate_id``, from this transaction on."""

    mandate_id: int

    def __post_init__(self) -> None:
        _uint(self.mandate_id, 64, "mandate_id")

    def _fields(self, w: Writer) -> None:
        w.u64(self.mandate_id)

    @classmethod
    def _decode(cls, r: Reader) -> "RevokeMandate":
        return cls(r.u64())

    def to_json(self) -> Dict[str, Any]:
        return {"mandate_id": self.mandate_id}


@_kind(24, "mandate_pay")
@dataclass(frozen=True)
class MandatePay(_Kind):
    """The grantee of ``payer``'s mandate ``mandate_id`` (the sender, with
    its own key and sequence numbers) pays ``amount`` of ``asset`` from
    ``payer``'s account to ``to``; ``transfer_id`` is one of the payer's."""

    payer: AddressLike
    mandate_id: int
    to: AddressLike
    asset: str
    amount: int
    transfer_id: TransferIdLike = field(default_factory=new_transfer_id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payer", _addr(self.payer))
        _uint(self.mandate_id, 64, "mandate_id")
        object.__setattr__(self, "to", _addr(self.to))
        encode_asset(self.asset)
        object.__setattr__(self, "amount", _amount(self.amount))
        object.__setattr__(self, "transfer_id", transfer_id(self.transfer_id))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.payer.raw, 20).u64(self.mandate_id).fixed(self.to.raw, 20)
        w.fixed(encode_asset(self.asset), 8).u128(self.amount).u128(self.transfer_id)

    @classmethod
    def _decode(cls, r: Reader) -> "MandatePay":
        return cls(Address(r.fixed(20)), r.u64(), Address(r.fixed(20)), decode_asset(r.fixed(8)),
                   r.u128(), r.u128())

    def to_json(self) -> Dict[str, Any]:
        return {"payer": str(self.payer), "mandate_id": self.mandate_id, "to": str(self.to),
                "asset": self.asset, "amount": str(self.amount),
                "transfer_id": transfer_id_hex(self.transfer_id)}


@_kind(25, "list_identity")
@dataclass(frozen=True)
class ListIdentity(_Kind):
    """A member institution or a regulator puts an identity on the shared
    blacklist by its ``listing_key`` (32 bytes or hex:
    :func:`hutong.listing_key` of the customer's tag). ``reason``: one of
    ``FREEZE_REASONS`` (or its index); ``reference``: the authority's
    order or case (bytes, or a string as UTF-8, at most
    ``REFERENCE_BYTES_MAX``, 64). Fails ``already_listed`` (with
    ``listed_by``) if it is listed."""

    listing_key: Union[bytes, str]
    reason: Union[str, int]
    reference: Union[bytes, str] = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "listing_key", _hex(self.listing_key, 32, "listing key"))
        object.__setattr__(self, "reason", _named(self.reason, FREEZE_REASONS, "freeze reason"))
        object.__setattr__(self, "reference", _reference(self.reference))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.listing_key, 32).u8(FREEZE_REASONS.index(self.reason)).vec_u8(self.reference)

    @classmethod
    def _decode(cls, r: Reader) -> "ListIdentity":
        key = r.fixed(32)
        reason = _read_named(r, FREEZE_REASONS, "freeze reason")
        return cls(key, reason, r.vec_u8())

    def to_json(self) -> Dict[str, Any]:
        return {"listing_key": self.listing_key.hex(), "reason": self.reason,
                "reference": self.reference.hex()}


@_kind(26, "delist_identity")
@dataclass(frozen=True)
class DelistIdentity(_Kind):
    """Takes ``listing_key`` off the shared blacklist: the institution that
    listed it, or a regulator (a regulator's listing only a regulator).
    Fails ``not_listed`` if it is not listed, ``unauthorised`` for another's."""

    listing_key: Union[bytes, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "listing_key", _hex(self.listing_key, 32, "listing key"))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.listing_key, 32)

    @classmethod
    def _decode(cls, r: Reader) -> "DelistIdentity":
        return cls(r.fixed(32))

    def to_json(self) -> Dict[str, Any]:
        return {"listing_key": self.listing_key.hex()}


@_kind(27, "set_memo_key")
@dataclass(frozen=True)
class SetMemoKey(_Kind):
    """A member institution publishes ``key``, the X25519 public key (32
    bytes or hex) its customers' memos are sealed to
    (:func:`hutong.memo_key_from_seed` derives one from a seed). A new key
    replaces the old; memos sealed to the old one still open with its
    secret."""

    key: Union[bytes, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _hex(self.key, 32, "memo key"))

    def _fields(self, w: Writer) -> None:
        w.fixed(self.key, 32)

    @classmethod
    def _decode(cls, r: Reader) -> "SetMemoKey":
        return cls(r.fixed(32))

    def to_json(self) -> Dict[str, Any]:
        return {"key": self.key.hex()}


# -- mandate read requests -------------------------------------------------

def mandate_read_hash(chain_id: Union[bytes, str], account: AddressLike, mandate_id: int,
                      timestamp_ms: int) -> bytes:
    """What a read mandate's grantee signs to read ``account``
    (``hutong_readAccount``): ``SHA-256("hutong/mandate-read/v1" || 0x00 ||
    chain_id || account || u64 mandate_id || u64 timestamp_ms)``."""
    w = Writer()
    w.fixed(_hex(chain_id, 32, "chain id"), 32).fixed(_addr(account).raw, 20)
    w.u64(_uint(mandate_id, 64, "mandate_id")).u64(_uint(timestamp_ms, 64, "timestamp_ms"))
    return tagged("hutong/mandate-read/v1", w.bytes())


def sign_mandate_read(chain_id: Union[bytes, str], account: AddressLike, mandate_id: int,
                      timestamp_ms: int, key: SigningKey) -> str:
    """The grantee's signature of a read request, in hex (``hutong_readAccount``'s ``signature``)."""
    return key.sign(mandate_read_hash(chain_id, account, mandate_id, timestamp_ms)).hex()


TxKind = Union[
    Transfer, BatchTransfer, OpenAccount, SetTier, Freeze, Unfreeze, Mint, Burn, Vote, Withdraw,
    AnchorAuditLog, Hold, Capture, Void, FreezeAmount, ReleaseFreeze, SetAccountState,
    RegisterDevice, RevokeDevice, Linked, Pvp, GrantMandate, RevokeMandate, MandatePay,
    ListIdentity, DelistIdentity, SetMemoKey,
]


def _decode_kind(r: Reader) -> TxKind:
    tag = r.u8()
    if tag == 8:
        raise EncodingError("Propose (governance) is not supported by this SDK yet")
    cls = _KINDS.get(tag)
    if cls is None:
        raise EncodingError(f"transaction kind tag {tag}")
    return cls._decode(r)  # type: ignore[attr-defined, no-any-return]


def kind_from_json(obj: Dict[str, Any]) -> TxKind:
    """Reads a kind from the vectors' JSON form: ``{"transfer": {...}}``."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise EncodingError("a kind is an object with one key")
    (name, fields), = obj.items()
    cls = _KIND_NAMES.get(name)
    if cls is None:
        raise EncodingError(f"unknown transaction kind {name!r}")
    if cls is BatchTransfer:
        fields = dict(fields, payouts=[Payout(p["to"], int(p["amount"])) for p in fields["payouts"]])
    if cls is Linked:
        fields = dict(fields, legs=[kind_from_json(leg) for leg in fields["legs"]])
    if cls is Pvp:
        fields = dict(fields, quote=Quote.from_json(fields["quote"]))
    if "amount" in fields:
        fields = dict(fields, amount=int(fields["amount"]))
    if "reference" in fields:
        ref = fields["reference"]
        try:
            fields = dict(fields, reference=bytes.fromhex(ref or ""))
        except (TypeError, ValueError):
            raise EncodingError(f"reference is not hex: {ref!r}") from None
    return cls(**fields)  # type: ignore[call-arg, return-value]


# -- transaction ---------------------------------------------------------

@dataclass(frozen=True)
class Transaction:
    """The signed body. ``cosigner`` names the institution key that co-signs
    (step-up); it must be set *before* the sender signs."""

    chain_id: Union[bytes, str]
    sender: KeyLike
    sequence: int
    expiry: Expiry
    kind: TxKind
    cosigner: Optional[KeyLike] = None
    memo: Union[bytes, str] = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain_id", _hex(self.chain_id, 32, "chain id"))
        object.__setattr__(self, "sender", _key(self.sender))
        _uint(self.sequence, 64, "sequence")
        if not isinstance(self.expiry, Expiry):
            raise EncodingError("expiry must be an Expiry")
        if not isinstance(self.kind, _Kind):
            raise EncodingError("kind must be a transaction kind (Transfer, ...)")
        if self.cosigner is not None:
            object.__setattr__(self, "cosigner", _key(self.cosigner))
        memo = self.memo.encode("utf-8") if isinstance(self.memo, str) else bytes(self.memo)
        if len(memo) > MEMO_BYTES_MAX:
            raise EncodingError(f"memo is {len(memo)} bytes; at most {MEMO_BYTES_MAX}")
        object.__setattr__(self, "memo", memo)

    def _write(self, w: Writer) -> None:
        w.fixed(self.chain_id, 32).fixed(self.sender.raw, 32).u64(self.sequence)
        self.expiry.encode(w)
        self.kind.encode(w)
        if self.cosigner is None:
            w.u8(0)
        else:
            w.u8(1).fixed(self.cosigner.raw, 32)
        w.vec_u8(self.memo)

    def encode(self) -> bytes:
        """``borsh(Transaction)``."""
        w = Writer()
        self._write(w)
        return w.bytes()

    @classmethod
    def _read(cls, r: Reader) -> "Transaction":
        chain_id = r.fixed(32)
        sender = PublicKey(r.fixed(32))
        sequence = r.u64()
        expiry = Expiry.decode(r)
        kind = _decode_kind(r)
        cosigner = r.option(lambda r: PublicKey(r.fixed(32)))
        memo = r.vec_u8()
        return cls(chain_id, sender, sequence, expiry, kind, cosigner, memo)

    @classmethod
    def decode(cls, data: bytes) -> "Transaction":
        r = Reader(data)
        tx = cls._read(r)
        r.finish()
        return tx

    @property
    def id(self) -> bytes:
        """``tagged("hutong/tx/v1", borsh(tx))``: the 32-byte transaction id."""
        return tagged("hutong/tx/v1", self.encode())

    @property
    def hash(self) -> str:
        """The transaction id in hex, as the RPC names it."""
        return self.id.hex()

    @property
    def sender_address(self) -> Address:
        return self.sender.address

    def cosign_message(self) -> bytes:
        """What the co-signer signs: ``tagged("hutong/cosign/v1", tx_id)``."""
        return tagged("hutong/cosign/v1", self.id)

    def sign(self, key: SigningKey, cosigner_key: Optional[SigningKey] = None) -> "SignedTransaction":
        """Signs as the sender (and co-signs too if ``cosigner_key`` is given)."""
        if key.public_key != self.sender:
            raise EncodingError("the key does not match the transaction's sender")
        signed = SignedTransaction(self, key.sign(self.id), None)
        if cosigner_key is not None:
            signed = signed.cosign(cosigner_key)
        return signed

    def with_cosigner(self, cosigner: KeyLike) -> "Transaction":
        return replace(self, cosigner=_key(cosigner))

    def to_json(self) -> Dict[str, Any]:
        return {
            "chain_id": self.chain_id.hex(),
            "sender": self.sender.hex(),
            "sequence": self.sequence,
            "expiry": self.expiry.to_json(),
            "kind": {self.kind.NAME: self.kind.to_json()},
            "cosigner": None if self.cosigner is None else self.cosigner.hex(),
            "memo": self.memo.hex(),
        }

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "Transaction":
        """Reads the JSON form of the golden vectors (SPEC.md, "Vectors")."""
        exp = obj["expiry"]
        if "height" in exp:
            expiry = Expiry.at_height(exp["height"])
        elif "time_ms" in exp:
            expiry = Expiry.at_time_ms(exp["time_ms"])
        else:
            raise EncodingError(f"unknown expiry {exp!r}")
        return cls(
            chain_id=obj["chain_id"],
            sender=obj["sender"],
            sequence=obj["sequence"],
            expiry=expiry,
            kind=kind_from_json(obj["kind"]),
            cosigner=obj.get("cosigner"),
            memo=bytes.fromhex(obj.get("memo") or ""),
        )


@dataclass(frozen=True)
class SignedTransaction:
    """What is sent: the body, the sender's signature and, exactly when the
    body names a co-signer, the co-signature."""

    tx: Transaction
    signature: bytes
    cosignature: Optional[bytes] = None

    def __post_init__(self) -> None:
        if len(self.signature) != 64:
            raise EncodingError("a signature is 64 bytes")
        if self.cosignature is not None and len(self.cosignature) != 64:
            raise EncodingError("a co-signature is 64 bytes")

    def cosign(self, key: SigningKey) -> "SignedTransaction":
        """Adds the co-signature of ``key``, which must be the body's ``cosigner``."""
        if self.tx.cosigner is None:
            raise EncodingError("the transaction names no co-signer; set cosigner before the sender signs")
        if key.public_key != self.tx.cosigner:
            raise EncodingError("the key is not the co-signer the transaction names")
        return replace(self, cosignature=key.sign(self.tx.cosign_message()))

    def encode(self) -> bytes:
        """``borsh(SignedTransaction)``: what ``hutong_submitTransaction`` takes (as hex)."""
        w = Writer()
        self.tx._write(w)
        w.fixed(self.signature, 64)
        if self.cosignature is None:
            w.u8(0)
        else:
            w.u8(1).fixed(self.cosignature, 64)
        return w.bytes()

    def hex(self) -> str:
        return self.encode().hex()

    @classmethod
    def decode(cls, data: Union[bytes, str]) -> "SignedTransaction":
        if isinstance(data, str):
            data = bytes.fromhex(data)
        r = Reader(data)
        tx = Transaction._read(r)
        sig = r.fixed(64)
        cosig = r.option(lambda r: r.fixed(64))
        r.finish()
        return cls(tx, sig, cosig)

    @property
    def id(self) -> bytes:
        return self.tx.id

    @property
    def hash(self) -> str:
        return self.tx.hash

    def verify(self) -> bool:
        """Checks the signature and co-signature locally."""
        if not self.tx.sender.verify(self.signature, self.tx.id):
            return False
        if (self.tx.cosigner is None) != (self.cosignature is None):
            return False
        if self.tx.cosigner is not None:
            return self.tx.cosigner.verify(self.cosignature or b"", self.tx.cosign_message())
        return True
