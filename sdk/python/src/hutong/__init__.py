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
    FREEZE_REASONS,
    REFERENCE_BYTES_MAX,
    AnchorAuditLog,
    BatchTransfer,
    Burn,
    Capture,
    Expiry,
    Freeze,
    FreezeAmount,
    Hold,
    Mint,
    OpenAccount,
    Payout,
    ReleaseFreeze,
    SetAccountState,
    SetTier,
    SignedTransaction,
    Transaction,
    Transfer,
    Unfreeze,
    Void,
    Vote,
    Withdraw,
    new_transfer_id,
)
from .views import (
    FAILURE_CODES,
    REJECTION_CODES,
    Account,
    AmountFreeze,
    HoldView,
    Limits,
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
    "AnchorAuditLog", "BatchTransfer", "Burn", "Capture", "Client", "EncodingError",
    "ExecutionFailedError", "Expiry", "FAILURE_CODES", "FREEZE_REASONS", "Freeze", "FreezeAmount",
    "Hold", "HoldView", "HutongError", "IdentityError", "KeyFileError", "Limits", "Mint",
    "NotFoundError", "OpenAccount", "Parameters", "Payout", "PublicKey", "REFERENCE_BYTES_MAX",
    "REJECTION_CODES", "Receipt", "RejectedError", "ReleaseFreeze", "Restriction", "RpcError",
    "SetAccountState", "SetTier", "SignedTransaction", "SigningKey", "Status", "SubmitVerdict",
    "Transaction", "Transfer", "TransportError", "TxStatus", "Unfreeze", "Void", "Vote",
    "WaitTimeoutError", "Withdraw", "error_from_rpc", "format_amount", "generate_key",
    "identity_commitment", "load_key", "new_identity_salt", "new_transfer_id",
    "normalise_id_number", "normalise_id_type", "parse_amount", "tagged", "ws_url",
]
