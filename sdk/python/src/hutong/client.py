"""A synchronous JSON-RPC client of a Hutong node (HTTP with the standard
library; WebSocket subscription with ``websockets``)."""

import http.client
import itertools
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from .errors import (
    HutongError,
    NotFoundError,
    RejectedError,
    RpcError,
    TransportError,
    WaitTimeoutError,
)
from .keys import Address, PublicKey, SigningKey
from .tx import (
    Expiry,
    SignedTransaction,
    Transaction,
    TransferIdLike,
    TxKind,
    sign_mandate_read,
    transfer_id,
    transfer_id_hex,
)
from .views import Account, HoldView, MandateView, Parameters, Status, SubmitVerdict, TxStatus

# JSON-RPC error codes of the node (node/wire/src/rpc.rs, module `code`).
RPC_INVALID_PARAMS = -32602
RPC_REJECTED = 1001
RPC_BUSY = 1002
RPC_NOT_FOUND = 1003
RPC_INTERNAL = 1004
RPC_TOO_MANY = 1005
RPC_AUTH = 1010
RPC_NOT_REGULATOR = 1011
RPC_NEEDS_WEBSOCKET = 1012  # a subscription method called over HTTP
# hutong_readAccount refused the read request; ``data["code"]``: unknown_mandate,
# mandate_scope, mandate_inactive, bad_signature or stale.
RPC_MANDATE = 1013

SUBMIT_BATCH_MAX = 1000

Submittable = Union[SignedTransaction, bytes, str]


def _raw_and_hash(tx: Submittable) -> "tuple[str, Optional[str]]":
    if isinstance(tx, SignedTransaction):
        return tx.hex(), tx.hash
    if isinstance(tx, (bytes, bytearray)):
        raw = bytes(tx)
        try:
            return raw.hex(), SignedTransaction.decode(raw).hash
        except HutongError:
            return raw.hex(), None
    if isinstance(tx, str):
        try:
            return tx, SignedTransaction.decode(tx).hash
        except (HutongError, ValueError):
            return tx, None
    raise TypeError(f"cannot submit a {type(tx).__name__}")


def error_from_rpc(err: Dict[str, Any], hash: Optional[str] = None) -> HutongError:
    """Maps a JSON-RPC ``error`` object to the SDK's typed error."""
    code = err.get("code")
    message = err.get("message", "")
    data = err.get("data")
    if isinstance(data, dict) and isinstance(data.get("code"), str) and code in (RPC_REJECTED, RPC_BUSY):
        return RejectedError(data["code"], bool(data.get("retryable", False)),
                             data.get("message", message), rpc_code=code, hash=hash, data=data)
    if code == RPC_NOT_FOUND:
        return NotFoundError(code, message, data)
    return RpcError(code if isinstance(code, int) else 0, message, data)


def ws_url(url: str) -> str:
    """The WebSocket URL of a node's HTTP RPC URL (same port)."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


class Client:
    """A node's JSON-RPC client.

    >>> c = Client("http://127.0.0.1:8545")
    >>> c.status().height
    """

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._chain_id: Optional[bytes] = None

    # -- raw JSON-RPC ------------------------------------------------------
    def call(self, method: str, params: Optional[Sequence[Any]] = None) -> Any:
        """One JSON-RPC call with positional params; returns ``result`` or raises."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                           "params": list(params or [])}).encode("utf-8")
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                doc = json.loads(payload)
            except ValueError:
                raise TransportError(f"{method}: HTTP {e.code}: {payload[:200]!r}") from e
            if not isinstance(doc, dict) or "error" not in doc:
                raise TransportError(f"{method}: HTTP {e.code}") from e
            raise error_from_rpc(doc["error"]) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                socket.timeout, OSError) as e:
            raise TransportError(f"{method}: cannot reach {self.url}: {e}") from e
        try:
            doc = json.loads(payload)
        except ValueError as e:
            raise TransportError(f"{method}: the answer is not JSON: {payload[:200]!r}") from e
        if not isinstance(doc, dict):
            raise TransportError(f"{method}: the answer is not a JSON-RPC object")
        if doc.get("error") is not None:
            raise error_from_rpc(doc["error"])
        if "result" not in doc:
            raise TransportError(f"{method}: the answer has neither result nor error")
        return doc["result"]

    # -- reads ---------------------------------------------------------------
    def status(self) -> Status:
        return Status.from_json(self.call("hutong_status"))

    def parameters(self) -> Parameters:
        return Parameters.from_json(self.call("hutong_getParameters"))

    def get_account(self, address: Union[Address, PublicKey, SigningKey, str]) -> Account:
        """An account (raises :class:`NotFoundError` if there is none)."""
        if isinstance(address, SigningKey):
            address = address.address
        elif isinstance(address, PublicKey):
            address = address.address
        return Account.from_json(self.call("hutong_getAccount", [str(address)]))

    def get_hold(self, payer: Union[Address, PublicKey, SigningKey, str],
                 hold_id: TransferIdLike) -> HoldView:
        """The hold ``hold_id`` of ``payer`` (``hutong_getHold``): open, or
        ended (how) while its id is remembered (seven days); raises
        :class:`NotFoundError` if there is none (never placed, or its id is
        forgotten)."""
        if isinstance(payer, (SigningKey, PublicKey)):
            payer = payer.address
        query = {"payer": str(payer), "hold_id": transfer_id_hex(transfer_id(hold_id))}
        return HoldView.from_json(self.call("hutong_getHold", [query]))

    def get_mandates(self, account: Union[Address, PublicKey, SigningKey, str]) -> List[MandateView]:
        """The mandates ``account`` granted (``hutong_getMandates``), in
        force or not yet ended; raises :class:`NotFoundError` if there is no
        such account."""
        if isinstance(account, (SigningKey, PublicKey)):
            account = account.address
        answer = self.call("hutong_getMandates", [{"account": str(Address.parse(account))}])
        return [MandateView.from_json(m) for m in answer.get("mandates") or []
                if isinstance(m, dict)]

    def read_account(self, account: Union[Address, str], mandate_id: int,
                     grantee_key: SigningKey) -> Account:
        """``account`` read by the grantee of its read mandate ``mandate_id``
        (``hutong_readAccount``): a request signed by ``grantee_key`` now
        (SPEC.md, "Mandates"); the same view as :meth:`get_account`."""
        address = Address.parse(account)
        timestamp_ms = int(time.time() * 1000)
        signature = sign_mandate_read(self.chain_id(), address, mandate_id, timestamp_ms, grantee_key)
        request = {"account": str(address), "mandate_id": mandate_id,
                   "grantee_key": grantee_key.public_key.hex(), "timestamp_ms": timestamp_ms,
                   "signature": signature}
        return Account.from_json(self.call("hutong_readAccount", [request]))

    def get_transaction(self, hash: Union[str, bytes]) -> TxStatus:
        h = hash.hex() if isinstance(hash, (bytes, bytearray)) else hash
        return TxStatus.from_json(self.call("hutong_getTransaction", [h]), hash=h)

    def get_block(self, height: Optional[int] = None, id: Optional[str] = None) -> Dict[str, Any]:
        q: Dict[str, Any] = {}
        if height is not None:
            q["height"] = height
        if id is not None:
            q["id"] = id
        return self.call("hutong_getBlock", [q])  # type: ignore[no-any-return]

    def chain_id(self) -> bytes:
        """The chain's id (from ``hutong_status``, cached)."""
        if self._chain_id is None:
            self._chain_id = bytes.fromhex(self.status().chain_id)
        return self._chain_id

    def next_sequence(self, address: Union[Address, PublicKey, SigningKey, str]) -> int:
        """The sequence a new transaction should carry: ``max(sequence, next_sequence)``."""
        return self.get_account(address).usable_sequence

    # -- building ------------------------------------------------------------
    def build(
        self,
        sender: Union[SigningKey, PublicKey],
        kind: TxKind,
        *,
        cosigner: Optional[Union[SigningKey, PublicKey]] = None,
        memo: Union[bytes, str] = b"",
        sequence: Optional[int] = None,
        expiry: Optional[Expiry] = None,
        expires_in_s: float = 300.0,
    ) -> Transaction:
        """A transaction for this node's chain with the sender's next sequence
        and an expiry ``expires_in_s`` seconds of block time past the node's
        last block, unless given."""
        pk = sender.public_key if isinstance(sender, SigningKey) else sender
        cos = cosigner.public_key if isinstance(cosigner, SigningKey) else cosigner
        if expiry is None:
            st = self.status()
            if self._chain_id is None:
                self._chain_id = bytes.fromhex(st.chain_id)
            base = st.timestamp_ms or int(time.time() * 1000)
            expiry = Expiry.at_time_ms(base + int(expires_in_s * 1000))
        if sequence is None:
            sequence = self.next_sequence(pk.address)
        return Transaction(self.chain_id(), pk, sequence, expiry, kind, cos, memo)

    def send(
        self,
        key: SigningKey,
        kind: TxKind,
        *,
        cosigner_key: Optional[SigningKey] = None,
        memo: Union[bytes, str] = b"",
        sequence: Optional[int] = None,
        expiry: Optional[Expiry] = None,
    ) -> SubmitVerdict:
        """Builds, signs (and co-signs), and submits; raises :class:`RejectedError`."""
        tx = self.build(key, kind, cosigner=cosigner_key, memo=memo, sequence=sequence, expiry=expiry)
        return self.submit(tx.sign(key, cosigner_key))

    # -- submitting ----------------------------------------------------------
    def submit(self, tx: Submittable) -> SubmitVerdict:
        """Submits one signed transaction. Answers a ``pending`` verdict, or
        ``committed`` if the same bytes were committed already (idempotent
        retry); raises :class:`RejectedError` if the node refuses it."""
        raw, h = _raw_and_hash(tx)
        try:
            result = self.call("hutong_submitTransaction", [raw])
        except RejectedError as e:
            e.hash = e.hash or h
            raise
        return SubmitVerdict.from_json(result, hash=h)

    def submit_many(self, txs: Iterable[Submittable]) -> List[SubmitVerdict]:
        """Submits up to 1,000 transactions; one verdict each, in order (a
        rejected one does not stop the others; see ``verdict.error``)."""
        pairs = [_raw_and_hash(t) for t in txs]
        if len(pairs) > SUBMIT_BATCH_MAX:
            raise ValueError(f"at most {SUBMIT_BATCH_MAX} transactions per call")
        result = self.call("hutong_submitTransactions", [[raw for raw, _ in pairs]])
        return [SubmitVerdict.from_json(v, hash=h) for v, (_, h) in zip(result, pairs)]

    # -- waiting -------------------------------------------------------------
    def wait(self, hash: Union[str, bytes, SignedTransaction, SubmitVerdict], timeout: float = 60.0,
             poll_interval: float = 0.2) -> TxStatus:
        """Polls ``hutong_getTransaction`` until the status is final
        (committed, rejected or dropped); raises :class:`WaitTimeoutError`."""
        h = _hash_of(hash)
        deadline = time.monotonic() + timeout
        last: Optional[TxStatus] = None
        while True:
            try:
                last = self.get_transaction(h)
                if last.is_final:
                    return last
            except TransportError:
                if time.monotonic() >= deadline:
                    raise
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"transaction {h} not final after {timeout}s (last: {last.status if last else 'none'})",
                    last)
            time.sleep(poll_interval)

    def wait_subscribed(self, hash: Union[str, bytes, SignedTransaction, SubmitVerdict],
                        timeout: float = 60.0) -> TxStatus:
        """Waits for finality through the WebSocket subscription
        ``hutong_subscribeTransaction`` (one ``hutong_transaction`` notification)."""
        from websockets.sync.client import connect

        h = _hash_of(hash)
        deadline = time.monotonic() + timeout
        try:
            with connect(ws_url(self.url), open_timeout=min(timeout, self.timeout),
                         close_timeout=1) as ws:
                ws.send(json.dumps({"jsonrpc": "2.0", "id": 1,
                                    "method": "hutong_subscribeTransaction", "params": [h]}))
                sub_id = None
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise WaitTimeoutError(f"transaction {h} not final after {timeout}s")
                    try:
                        msg = json.loads(ws.recv(timeout=left))
                    except TimeoutError:
                        raise WaitTimeoutError(f"transaction {h} not final after {timeout}s") from None
                    status, sub_id = _subscription_message(msg, sub_id, h)
                    if status is not None:
                        if sub_id is not None:
                            try:
                                ws.send(json.dumps({"jsonrpc": "2.0", "id": 2,
                                                    "method": "hutong_unsubscribeTransaction",
                                                    "params": [sub_id]}))
                            except Exception:  # the server may close first
                                pass
                        return status
        except HutongError:
            raise
        except (OSError, Exception) as e:  # websockets' ConnectionClosed, InvalidURI, ...
            raise TransportError(f"subscription to {ws_url(self.url)} failed: {e}") from e


def _hash_of(x: Union[str, bytes, SignedTransaction, SubmitVerdict, Transaction]) -> str:
    if isinstance(x, (SignedTransaction, Transaction)):
        return x.hash
    if isinstance(x, SubmitVerdict):
        return x.hash
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).hex()
    return x


def _subscription_message(msg: Any, sub_id: Any, h: str) -> "tuple[Optional[TxStatus], Any]":
    """Reads one WebSocket message of a transaction subscription: the answer
    to the subscribe call (its id), or the notification (the status)."""
    if not isinstance(msg, dict):
        return None, sub_id
    if msg.get("id") == 1:
        if msg.get("error") is not None:
            raise error_from_rpc(msg["error"], hash=h)
        return None, msg.get("result")
    if msg.get("method") == "hutong_transaction":
        params = msg.get("params") or {}
        result = params.get("result")
        if isinstance(result, dict):
            status = TxStatus.from_json(result, hash=h)
            if status.is_final:
                return status, sub_id
    return None, sub_id
