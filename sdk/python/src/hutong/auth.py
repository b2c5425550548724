"""Requests signed for a node's eyes only (not transactions): audit
requests, which ``hutong_identityEvaluate`` takes too, and memo reads
(``hutong_readMemo``). SPEC.md section 9, "Asking the regulator's node"
and "Sealed memos".
"""

import json
import secrets
import time
from typing import Any, Dict, Optional, Union

from .borsh import Writer
from .errors import EncodingError
from .keys import SigningKey, _hex, tagged

#: How far a request's ``timestamp_ms`` may be from the node's clock.
AUDIT_FRESHNESS_MS = 60_000


def canonical_json(query: Any) -> str:
    """A query's text as the node re-serialises it before checking the
    signature: compact (no spaces), object keys sorted, non-ASCII as
    itself (serde_json's ``to_string`` of a ``Value``)."""
    try:
        return json.dumps(query, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as e:
        raise EncodingError(f"an audit query is plain JSON: {e}") from None


def audit_request_hash(chain_id: Union[bytes, str], method: str, query_text: str,
                       timestamp_ms: int, nonce: str) -> bytes:
    """``tagged("hutong/audit/request/v1", borsh((chain_id: [u8; 32],
    method: String, query: String, timestamp_ms: u64, nonce: String)))``:
    what the key of an audit request signs; ``query_text`` is
    :func:`canonical_json` of the query."""
    w = Writer()
    w.fixed(_hex(chain_id, 32, "chain id"), 32).string(method).string(query_text)
    w.u64(timestamp_ms).string(nonce)
    return tagged("hutong/audit/request/v1", w.bytes())


def sign_audit_request(key: SigningKey, chain_id: Union[bytes, str], method: str,
                       query: Dict[str, Any], timestamp_ms: Optional[int] = None,
                       nonce: Optional[str] = None) -> Dict[str, Any]:
    """The params of a signed request to ``method``: ``{"query": query,
    "auth": {"key", "timestamp_ms", "nonce", "signature"}}``, signed by
    ``key`` now with a fresh 32-hex-digit nonce unless given (a nonce is
    16 to 64 hex digits, never reused; the time within a minute of the
    node's clock)."""
    if timestamp_ms is None:
        timestamp_ms = int(time.time() * 1000)
    if nonce is None:
        nonce = secrets.token_hex(16)
    if not 16 <= len(nonce) <= 64 or any(c not in "0123456789abcdefABCDEF" for c in nonce):
        raise EncodingError(f"a nonce is 16 to 64 hex digits, not {nonce!r}")
    digest = audit_request_hash(chain_id, method, canonical_json(query), timestamp_ms, nonce)
    return {
        "query": query,
        "auth": {
            "key": key.public_key.hex(),
            "timestamp_ms": timestamp_ms,
            "nonce": nonce,
            "signature": key.sign(digest).hex(),
        },
    }


def read_memo_hash(chain_id: Union[bytes, str], tx_hash: Union[bytes, str], timestamp_ms: int) -> bytes:
    """``tagged("hutong/read-memo/v1", chain_id || tx_hash || u64
    timestamp_ms)`` (the borsh of the tuple): what a party signs to read a
    transaction's memo (``hutong_readMemo``)."""
    w = Writer()
    w.fixed(_hex(chain_id, 32, "chain id"), 32).fixed(_hex(tx_hash, 32, "transaction hash"), 32)
    w.u64(timestamp_ms)
    return tagged("hutong/read-memo/v1", w.bytes())


def sign_read_memo(key: SigningKey, chain_id: Union[bytes, str], tx_hash: Union[bytes, str],
                   timestamp_ms: Optional[int] = None) -> Dict[str, Any]:
    """The request of ``hutong_readMemo``: ``{"tx_hash", "key",
    "timestamp_ms", "signature"}``, signed by ``key`` (the sender's or
    recipient's account key, or its institution's) now unless given."""
    if timestamp_ms is None:
        timestamp_ms = int(time.time() * 1000)
    tx = _hex(tx_hash, 32, "transaction hash")
    return {
        "tx_hash": tx.hex(),
        "key": key.public_key.hex(),
        "timestamp_ms": timestamp_ms,
        "signature": key.sign(read_memo_hash(chain_id, tx, timestamp_ms)).hex(),
    }


__all__ = [
    "AUDIT_FRESHNESS_MS", "audit_request_hash", "canonical_json", "read_memo_hash",
    "sign_audit_request", "sign_read_memo",
]
