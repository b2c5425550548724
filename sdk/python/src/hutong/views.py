"""Typed views of the node's JSON answers. Every view keeps the JSON it
was read from in ``raw``; fields the SDK does not know are ignored."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .amount import format_amount
from .errors import ExecutionFailedError, MalformedError, RejectedError
from .tx import MEMO_BYTES_MAX, MandateScope

# Admission rejection codes (JSON-RPC error 1001/1002 ``data.code``, and
# ``rejected`` statuses). A node may answer others: they still arrive as
# ``RejectedError.code``. A frozen sender is not among them: its
# transaction is admitted and fails in its receipt (``sender_frozen``,
# a failure code below), its sequence number used.
REJECTION_CODES = (
    "too_large", "malformed", "wrong_chain", "bad_signature", "unknown_sender",
    "stale_sequence", "sequence_too_far", "retired_key", "expired",
    "sequence_taken", "busy", "sender_busy", "zero_amount", "self_transfer",
    "unknown_asset", "cosignature_missing", "cosignature_unexpected", "cosignature_invalid",
    "sequence_used",
)

# Execution failure codes (a committed receipt with ``success = False``).
FAILURE_CODES = (
    "out_of_bounds", "wrong_chain", "bad_signature", "unknown_sender", "bad_sequence",
    "expired", "zero_amount", "self_transfer", "unknown_asset", "unknown_account",
    "unknown_tier", "sender_frozen", "recipient_frozen", "unauthorised", "account_exists",
    "weak_key", "already_frozen", "not_frozen", "asset_not_allowed", "single_limit_exceeded",
    "daily_limit_exceeded", "step_up_required", "insufficient_balance", "overflow", "exists",
    "exists_with_different_fields", "retired_key", "unknown_proposal", "voting_closed",
    "proposal_closed", "bad_voting_period", "too_many_proposals", "invalid_action",
    "cosigner_not_institution",
    # Holds, amount freezes and receive-only/send-only accounts (newer nodes):
    "bad_expiry", "unknown_hold", "hold_closed", "hold_exists", "capture_exceeds_hold",
    "too_many_holds",
    "payer_frozen", "restricted", "not_restricted", "unknown_freeze", "freeze_exists",
    "too_many_freezes",
    # Device keys:
    "device_scope", "unknown_device",
    # Payment versus payment (FX quotes):
    "not_fx_provider", "bad_quote_signature", "bad_quote", "quote_expired", "quote_used",
    "quote_not_for_payer", "outside_quote", "slippage",
    # Mandates:
    "unknown_mandate", "mandate_exists", "too_many_mandates", "bad_mandate", "mandate_inactive",
    "mandate_scope", "mandate_limit",
    # The identity layer (SPEC.md section 9): an OpenAccount without an
    # envelope where one is ``required`` (or with one where none is), the
    # shared blacklist, a memo in clear where memos are sealed.
    "identity_envelope", "already_listed", "not_listed", "memo_not_sealed",
)

# The ``type`` of a successful receipt's effects (SPEC.md, "Receipts"). A
# node may send others: they arrive in ``Receipt.effects`` all the same.
EFFECT_TYPES = (
    "debit", "credit", "supply_changed", "account_opened", "tier_set", "frozen", "unfrozen",
    "proposal_created", "voted", "proposal_withdrawn", "proposal_executed", "proposal_rejected",
    "proposal_failed", "hold_placed", "hold_captured", "hold_voided", "amount_frozen",
    "amount_released", "account_state_set", "device_registered", "device_revoked", "leg",
    "exchanged", "mandate_granted", "mandate_revoked", "mandate_used",
    # The identity layer: ``{listing_key, by, reason}``, ``{listing_key, by}``,
    # ``{institution, key}``.
    "identity_listed", "identity_delisted", "memo_key_set",
)

FINAL_STATUSES = frozenset({"committed", "rejected", "dropped"})


def _int(v: Any) -> Optional[int]:
    if v is None:
        return None
    return int(v)


@dataclass
class Receipt:
    """A transaction's receipt. ``effects`` are the node's JSON objects
    (``{"type": "debit", ...}``; amounts strings of minor units); a linked
    transaction's or a payment versus payment's are grouped per leg, each
    group opened by ``{"type": "leg", "leg": i}``."""

    tx_hash: str
    success: bool
    effects: List[Dict[str, Any]] = field(default_factory=list)
    code: Optional[str] = None
    reason: Optional[str] = None
    #: The structured failure (newer nodes): ``{"code", "asset", "limit", ...}``,
    #: amounts as decimal strings in major units.
    failure: Optional[Dict[str, Any]] = None
    #: The leg (from 0) that failed a linked transaction or a payment versus
    #: payment (every leg was undone); else None.
    failed_leg: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Receipt":
        failure = d.get("failure")
        code = d.get("code")
        if code is None and isinstance(failure, dict):
            code = failure.get("code")
        return cls(
            tx_hash=d.get("tx_hash", ""),
            success=bool(d.get("success")),
            effects=list(d.get("effects") or []),
            code=code,
            reason=d.get("reason"),
            failure=failure if isinstance(failure, dict) else None,
            failed_leg=_int(d.get("failed_leg")),
            raw=d,
        )


@dataclass
class TxStatus:
    """Where a transaction stands: ``unknown``, ``pending``, ``rejected``,
    ``dropped`` or ``committed``. The last three are final."""

    status: str
    hash: str
    height: Optional[int] = None
    index: Optional[int] = None
    block_id: Optional[str] = None
    receipt: Optional[Receipt] = None
    #: rejected/dropped: the stable code, whether retrying may help, and why.
    code: Optional[str] = None
    retryable: Optional[bool] = None
    message: Optional[str] = None
    #: ``sequence_used``: the committed transaction that took the sequence.
    used_by: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any], hash: Optional[str] = None) -> "TxStatus":
        r = d.get("receipt")
        return cls(
            status=d.get("status", "unknown"),
            hash=d.get("hash") or hash or "",
            height=_int(d.get("height")),
            index=_int(d.get("index")),
            block_id=d.get("block_id"),
            receipt=Receipt.from_json(r) if isinstance(r, dict) else None,
            code=d.get("code"),
            retryable=d.get("retryable"),
            message=d.get("message"),
            used_by=d.get("used_by"),
            raw=d,
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def committed(self) -> bool:
        return self.status == "committed"

    @property
    def succeeded(self) -> bool:
        """Committed with a successful receipt."""
        return self.committed and self.receipt is not None and self.receipt.success

    @property
    def failure_code(self) -> Optional[str]:
        """The code of a rejection, a drop, or a failed receipt; else None."""
        if self.status in ("rejected", "dropped"):
            return self.code
        if self.committed and self.receipt is not None and not self.receipt.success:
            return self.receipt.code
        return None

    def raise_for_failure(self) -> "TxStatus":
        """Raises :class:`RejectedError` (rejected/dropped) or
        :class:`ExecutionFailedError` (committed with a failed receipt); else returns self."""
        if self.status in ("rejected", "dropped"):
            raise RejectedError(self.code or self.status, bool(self.retryable), self.message or "",
                                hash=self.hash, data=self.raw)
        if self.committed and self.receipt is not None and not self.receipt.success:
            raise ExecutionFailedError(self.receipt.code or "failed", self.receipt.reason or "",
                                       hash=self.hash, failure=self.receipt.failure)
        return self


@dataclass
class SubmitVerdict:
    """The node's answer to one submitted transaction: ``pending``,
    ``committed`` (the same bytes were committed already) or ``rejected``."""

    status: str
    hash: str
    height: Optional[int] = None
    index: Optional[int] = None
    code: Optional[str] = None
    retryable: Optional[bool] = None
    message: Optional[str] = None
    #: ``sequence_used``: the committed transaction that took the sequence.
    used_by: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any], hash: Optional[str] = None) -> "SubmitVerdict":
        return cls(
            status=d.get("status", ""),
            hash=d.get("hash") or hash or "",
            height=_int(d.get("height")),
            index=_int(d.get("index")),
            code=d.get("code"),
            retryable=d.get("retryable"),
            message=d.get("message"),
            used_by=d.get("used_by"),
            raw=d,
        )

    @property
    def accepted(self) -> bool:
        """Admitted (pending) or already committed."""
        return self.status in ("pending", "committed")

    @property
    def error(self) -> Optional[RejectedError]:
        if self.accepted:
            return None
        return RejectedError(self.code or self.status, bool(self.retryable), self.message or "",
                             hash=self.hash or None, data=self.raw)


@dataclass
class Limits:
    """A customer's limits today for one asset, in minor units."""

    spent_today: int
    daily_max: int
    remaining_today: int
    single_max: int
    step_up_threshold: Optional[int] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Limits":
        return cls(
            spent_today=int(d.get("spent_today", 0)),
            daily_max=int(d.get("daily_max", 0)),
            remaining_today=int(d.get("remaining_today", 0)),
            single_max=int(d.get("single_max", 0)),
            step_up_threshold=_int(d.get("step_up_threshold")),
        )


@dataclass
class Restriction:
    """A receive-only or send-only state on an account: which, why, by
    whom, until when (block time; ``None``: until lifted)."""

    state: str
    reason: str
    by: str
    expires_at_ms: Optional[int] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Restriction":
        return cls(
            state=d.get("state", ""),
            reason=d.get("reason", ""),
            by=d.get("by", ""),
            expires_at_ms=_int(d.get("expires_at_ms")),
        )


@dataclass
class AmountFreeze:
    """An amount freeze on an account (a court order, a fraud hold on part
    of a balance); ``amount`` in minor units, ``reference`` as text."""

    id: int
    asset: str
    amount: int
    reason: str
    by: str
    reference: str = ""
    expires_at_ms: Optional[int] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "AmountFreeze":
        return cls(
            id=int(d.get("id", 0)),
            asset=d.get("asset", ""),
            amount=int(d.get("amount", 0)),
            reason=d.get("reason", ""),
            by=d.get("by", ""),
            reference=d.get("reference") or "",
            expires_at_ms=_int(d.get("expires_at_ms")),
        )


@dataclass
class Account:
    address: str
    kind: str
    institution: str
    sequence: int
    next_sequence: int
    #: ``active``, ``frozen``, ``receive-only`` or ``send-only``.
    status: str
    balances: Dict[str, int]
    limits: Dict[str, Limits]
    height: int
    tier: Optional[int] = None
    frozen: Optional[Dict[str, Any]] = None
    #: Balances in major units as decimal strings (newer nodes; else empty).
    balances_decimal: Dict[str, str] = field(default_factory=dict)
    #: Receive-only or send-only, by whom, until when (newer nodes; else None).
    restriction: Optional[Restriction] = None
    #: What holds and amount freezes reserve, minor units by asset (only
    #: assets with something held; empty on older nodes).
    held: Dict[str, int] = field(default_factory=dict)
    #: What the account may send: the balance less what is held, minor
    #: units by asset (newer nodes; else empty).
    available: Dict[str, int] = field(default_factory=dict)
    #: Amount freezes on the account (newer nodes; else empty).
    amount_freezes: List[AmountFreeze] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Account":
        seq = int(d.get("sequence", 0))
        r = d.get("restriction")
        return cls(
            address=d.get("address", ""),
            kind=d.get("kind", ""),
            institution=d.get("institution", ""),
            sequence=seq,
            next_sequence=int(d.get("next_sequence", seq) or 0),
            status=d.get("status", ""),
            balances={k: int(v) for k, v in (d.get("balances") or {}).items()},
            limits={k: Limits.from_json(v) for k, v in (d.get("limits") or {}).items()},
            height=int(d.get("height", 0)),
            tier=d.get("tier"),
            frozen=d.get("frozen"),
            balances_decimal=dict(d.get("balances_decimal") or {}),
            restriction=Restriction.from_json(r) if isinstance(r, dict) else None,
            held={k: int(v) for k, v in (d.get("held") or {}).items()},
            available={k: int(v) for k, v in (d.get("available") or {}).items()},
            amount_freezes=[AmountFreeze.from_json(f) for f in (d.get("amount_freezes") or [])
                            if isinstance(f, dict)],
            raw=d,
        )

    @property
    def usable_sequence(self) -> int:
        """The sequence a new transaction should carry: ``max(sequence, next_sequence)``."""
        return max(self.sequence, self.next_sequence)

    def balance(self, asset: str) -> int:
        """Balance in minor units (0 if the account holds none)."""
        return self.balances.get(asset, 0)


@dataclass
class HoldView:
    """A hold (``hutong_getHold``): ``state`` is ``open``, ``captured``,
    ``voided`` or ``expired``; ``amount`` and ``captured`` (what a capture
    moved) in minor units; ``expires_at_ms`` in block time."""

    payer: str
    hold_id: str
    payee: str
    asset: str
    amount: int
    expires_at_ms: int
    state: str
    height: int
    captured: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "HoldView":
        return cls(
            payer=d.get("payer", ""),
            hold_id=d.get("hold_id", ""),
            payee=d.get("payee", ""),
            asset=d.get("asset", ""),
            amount=int(d.get("amount", 0)),
            expires_at_ms=int(d.get("expires_at_ms", 0)),
            state=d.get("state", ""),
            height=int(d.get("height", 0)),
            captured=_int(d.get("captured")),
            raw=d,
        )


@dataclass
class MandateView:
    """A mandate an account granted (``hutong_getMandates``): ``scope``
    (``pay``, ``read``), the ``asset``, the ``payees`` (empty: any),
    ``per_payment``, ``per_period`` and ``spent_in_period`` in minor
    units, the period's length, ``start_ms`` and ``end_ms`` in block time,
    and whether it is ``active`` (in force at the node's last block)."""

    mandate_id: int
    grantee: str
    scope: MandateScope
    asset: str
    payees: List[str]
    per_payment: int
    per_period: int
    period_seconds: int
    start_ms: int
    end_ms: int
    spent_in_period: int
    active: bool
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "MandateView":
        scope = d.get("scope") or {}
        return cls(
            mandate_id=int(d.get("mandate_id", 0)),
            grantee=d.get("grantee", ""),
            scope=MandateScope(bool(scope.get("pay")), bool(scope.get("read"))),
            asset=d.get("asset", ""),
            payees=[str(p) for p in d.get("payees") or []],
            per_payment=int(d.get("per_payment", 0)),
            per_period=int(d.get("per_period", 0)),
            period_seconds=int(d.get("period_seconds", 0)),
            start_ms=int(d.get("start_ms", 0)),
            end_ms=int(d.get("end_ms", 0)),
            spent_in_period=int(d.get("spent_in_period", 0)),
            active=bool(d.get("active")),
            raw=d,
        )


@dataclass
class Status:
    chain_id: str
    height: int
    timestamp_ms: int
    role: str
    assets: List[Dict[str, Any]]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Status":
        return cls(
            chain_id=d.get("chain_id", ""),
            height=int(d.get("height", 0)),
            timestamp_ms=int(d.get("timestamp_ms", 0)),
            role=d.get("role", ""),
            assets=list(d.get("assets") or []),
            raw=d,
        )

    def decimals(self, asset: str) -> int:
        for a in self.assets:
            if a.get("code") == asset:
                return int(a["decimals"])
        raise KeyError(f"the chain has no asset {asset!r}")


def _key_bytes(v: Any, what: str) -> bytes:
    """32 bytes from the node's hex; :class:`MalformedError` otherwise."""
    try:
        raw = bytes.fromhex(v) if isinstance(v, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != 32:
        raise MalformedError(what, f"64 hex digits expected, got {v!r}")
    return raw


@dataclass(frozen=True)
class IdentityService:
    """The regulator's identity keys as the ledger publishes them
    (``hutong_getParameters`` → ``identity``): ``oprf_key`` checks
    evaluations of identity tags, ``hpke_key`` is what identity envelopes
    and memos are sealed to. 32 bytes each."""

    oprf_key: bytes
    hpke_key: bytes

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "IdentityService":
        return cls(_key_bytes(d.get("oprf_key"), "identity.oprf_key"),
                   _key_bytes(d.get("hpke_key"), "identity.hpke_key"))


@dataclass
class Parameters:
    """``hutong_getParameters``: tiers and limits (minor units), assets'
    decimals, size limits, the consortium's UTC offset, and the
    regulator's identity service if the chain runs one."""

    decimals: Dict[str, int]
    tiers: List[Dict[str, Any]]
    sizes: Dict[str, int]
    utc_offset_seconds: int
    #: The identity service's keys; ``None`` on a chain without one (then
    #: accounts carry no envelope and memos are in clear).
    identity: Optional[IdentityService] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Parameters":
        decimals = d.get("decimals")
        if not isinstance(decimals, dict):  # a list of assets with decimals
            decimals = {a["code"]: a["decimals"] for a in d.get("assets", [])
                        if isinstance(a, dict) and "decimals" in a}
        identity = d.get("identity")
        return cls(
            decimals={k: int(v) for k, v in decimals.items()},
            tiers=list(d.get("tiers") or []),
            sizes={k: int(v) for k, v in (d.get("sizes") or {}).items() if isinstance(v, int)},
            utc_offset_seconds=int(d.get("utc_offset_seconds", 0)),
            identity=IdentityService.from_json(identity) if isinstance(identity, dict) else None,
            raw=d,
        )

    @property
    def memo_bytes_max(self) -> int:
        """The longest memo (``sizes.memo_bytes_max``; 512 if the node does not say)."""
        return self.sizes.get("memo_bytes_max", MEMO_BYTES_MAX)

    def tier_limits(self, tier: int, asset: str) -> Optional[Limits]:
        """A tier's limits for one asset (``spent_today``/``remaining_today`` unset, 0)."""
        for t in self.tiers:
            if t.get("tier") == tier:
                for lim in t.get("limits") or []:
                    if lim.get("asset") == asset:
                        return Limits(0, int(lim["daily_max"]), int(lim["daily_max"]),
                                      int(lim["single_max"]), _int(lim.get("step_up_threshold")))
        return None

    def format(self, asset: str, minor: int) -> str:
        return format_amount(minor, self.decimals[asset])


@dataclass
class Listing:
    """Whether an identity is on the shared blacklist
    (``hutong_checkListing``), by its listing key: ``listed``, and if so by
    whom, why (a freeze reason), under which ``reference`` (as text) and
    since when (block time); ``height`` is the executed height it is of."""

    listing_key: str
    listed: bool
    height: int
    listed_by: Optional[str] = None
    reason: Optional[str] = None
    reference: Optional[str] = None
    listed_at_ms: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Listing":
        return cls(
            listing_key=d.get("listing_key", ""),
            listed=bool(d.get("listed")),
            height=int(d.get("height", 0)),
            listed_by=d.get("listed_by"),
            reason=d.get("reason"),
            reference=d.get("reference"),
            listed_at_ms=_int(d.get("listed_at_ms")),
            raw=d,
        )


@dataclass
class AccountMemoKey:
    """One account of ``hutong_getMemoKeys``: its institution (itself for
    an institution) and that institution's memo key (32 bytes), or
    ``None`` when it published none."""

    account: str
    institution: str
    memo_key: Optional[bytes] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "AccountMemoKey":
        key = d.get("memo_key")
        return cls(account=d.get("account", ""), institution=d.get("institution", ""),
                   memo_key=None if key is None else _key_bytes(key, "memo_key"))


@dataclass
class MemoKeys:
    """``hutong_getMemoKeys``: the regulator's key (its identity service's
    HPKE key; ``None`` on a chain without one) and each account's
    institution's memo key, in the order asked."""

    regulator: Optional[bytes]
    accounts: List[AccountMemoKey]
    height: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "MemoKeys":
        regulator = d.get("regulator")
        return cls(
            regulator=None if regulator is None else _key_bytes(regulator, "regulator"),
            accounts=[AccountMemoKey.from_json(a) for a in d.get("accounts") or []
                      if isinstance(a, dict)],
            height=int(d.get("height", 0)),
            raw=d,
        )


@dataclass
class MemoView:
    """A transaction's memo in clear (``hutong_readMemo``): ``text`` as
    UTF-8 (invalid bytes replaced) and ``data``, the exact bytes."""

    tx_hash: str
    text: str
    data: bytes
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "MemoView":
        text_hex = d.get("text_hex")
        try:
            data = bytes.fromhex(text_hex) if isinstance(text_hex, str) else None
        except ValueError:
            data = None
        if data is None:
            data = str(d.get("text", "")).encode("utf-8")
        return cls(tx_hash=d.get("tx_hash", ""), text=d.get("text", data.decode("utf-8", "replace")),
                   data=data, raw=d)
