"""Hutong client SDK: keys and addresses, transactions (borsh encoding,
id, signing, co-signing), identity commitments, amounts, and a JSON-RPC
client of a node.

See README.md and sdk/SPEC.md.
"""

from .amount import format_amount, parse_amount
from .client import Client, error_from_rpc, ws_url
from .errors import (
    AddressError,
    AmountError,
    EncodingError,
    ExecutionFailedError,
    HutongError,
    IdentityError,
    KeyFileError,
    NotFoundError,
    RejectedError,
    RpcError,
    TransportError,
    WaitTimeoutError,
)
from .identity import (
    identity_commitment,
    new_identity_salt,
    normalise_id_number,
    normalise_id_type,
)
from .keys import Address, PublicKey, SigningKey, generate_key, load_key, tagged
from .tx import (
    ACCOUNT_STATES,
    DEVICE_PAYEES_MAX,
    FREEZE_REASONS,
    LINKED_LEGS_MAX,
    MANDATE_PAYEES_MAX,
    REFERENCE_BYTES_MAX,
    AnchorAuditLog,
    BatchTransfer,
    Burn,
    Capture,
    Expiry,
    Freeze,
    FreezeAmount,
    GrantMandate,
    Hold,
    Linked,
    MandatePay,
    MandateScope,
    Mint,
    OpenAccount,
    Payout,
    Pvp,
    Quote,
    RegisterDevice,
    ReleaseFreeze,
    RevokeDevice,
    RevokeMandate,
    SetAccountState,
    SetTier,
    SignedTransaction,
    Transaction,
    Transfer,
    Unfreeze,
    Void,
    Vote,
    Withdraw,
    mandate_read_hash,
    new_transfer_id,
    quote_signing_hash,
    sign_mandate_read,
    sign_quote,
)
from .views import (
    FAILURE_CODES,
    REJECTION_CODES,
    Account,
    AmountFreeze,
    HoldView,
    Limits,
    MandateView,
    Parameters,
    Receipt,
    Restriction,
    Status,
    SubmitVerdict,
    TxStatus,
)

__version__ = "0.1.0"

__all__ = [
    "ACCOUNT_STATES", "Account", "Address", "AddressError", "AmountError", "AmountFreeze",
    "AnchorAuditLog", "BatchTransfer", "Burn", "Capture", "Client", "DEVICE_PAYEES_MAX",
    "EncodingError", "ExecutionFailedError", "Expiry", "FAILURE_CODES", "FREEZE_REASONS", "Freeze",
    "FreezeAmount", "GrantMandate", "Hold", "HoldView", "HutongError", "IdentityError",
    "KeyFileError", "LINKED_LEGS_MAX", "Limits", "Linked", "MANDATE_PAYEES_MAX", "MandatePay",
    "MandateScope", "MandateView", "Mint", "NotFoundError", "OpenAccount", "Parameters", "Payout",
    "PublicKey", "Pvp", "Quote", "REFERENCE_BYTES_MAX", "REJECTION_CODES", "Receipt",
    "RegisterDevice", "RejectedError", "ReleaseFreeze", "Restriction", "RevokeDevice",
    "RevokeMandate", "RpcError", "SetAccountState", "SetTier", "SignedTransaction", "SigningKey",
    "Status", "SubmitVerdict", "Transaction", "Transfer", "TransportError", "TxStatus", "Unfreeze",
    "Void", "Vote", "WaitTimeoutError", "Withdraw", "error_from_rpc", "format_amount",
    "generate_key", "identity_commitment", "load_key", "mandate_read_hash", "new_identity_salt",
    "new_transfer_id", "normalise_id_number", "normalise_id_type", "parse_amount",
    "quote_signing_hash", "sign_mandate_read", "sign_quote", "tagged", "ws_url",
]
