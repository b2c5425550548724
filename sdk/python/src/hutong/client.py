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

from . import privacy
from .auth import sign_audit_request, sign_read_memo
from .errors import (
    BadReadersError,
    EncodingError,
    HutongError,
    MalformedError,
    NoIdentityServiceError,
    NotFoundError,
    RejectedError,
    RpcError,
    TransportError,
    WaitTimeoutError,
)
from .keys import Address, PublicKey, SigningKey, _hex
from .tx import (
    BatchTransfer,
    Expiry,
    Linked,
    OpenAccount,
    SignedTransaction,
    Transaction,
    TransferIdLike,
    TxKind,
    sign_mandate_read,
    transfer_id,
    transfer_id_hex,
)
from .views import (
    Account,
    AccountMemoKey,
    HoldView,
    IdentityService,
    Listing,
    MandateView,
    MemoKeys,
    MemoView,
    Parameters,
    Status,
    SubmitVerdict,
    TxStatus,
)

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
#: Most accounts one ``hutong_getMemoKeys`` call names.
MEMO_KEYS_ACCOUNTS_MAX = 16

AccountLike = Union[Address, PublicKey, SigningKey, str]

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
        # The identity service's keys come from genesis and change only with
        # the consortium, so one read serves the client's life; the list
        # holds the answer once read (None: the chain runs no service).
        self._identity: List[Optional[IdentityService]] = []

    # -- raw JSON-RPC ------------------------------------------------------
    def call(self, method: str, params: Optional[Union[Sequence[Any], Dict[str, Any]]] = None) -> Any:
        """One JSON-RPC call with params by position (a list) or by name
        (a dict); returns ``result`` or raises."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                           "params": params if isinstance(params, dict) else list(params or [])}
                          ).encode("utf-8")
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
        seal_memo: Optional[bool] = None,
    ) -> Transaction:
        """A transaction for this node's chain with the sender's next sequence
        and an expiry ``expires_in_s`` seconds of block time past the node's
        last block, unless given.

        On a chain with an identity service a non-empty ``memo`` is sealed
        to its readers (:meth:`memo_readers`) under the transaction's
        :func:`~hutong.memo_context`, so the body's memo is the sealed
        bytes: change the sequence afterwards and it no longer opens.
        ``seal_memo=False`` sends ``memo`` as given (already sealed, or a
        test of the ledger's ``memo_not_sealed``); ``True`` insists
        (:class:`~hutong.NoIdentityServiceError` on a chain without the
        service)."""
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
        text = memo.encode("utf-8") if isinstance(memo, str) else bytes(memo)
        if text and seal_memo is not False:
            service = self.identity_service()
            if service is None and seal_memo:
                raise NoIdentityServiceError()
            if service is not None:
                readers = self.memo_readers(pk, kind)
                context = privacy.memo_context(self.chain_id(), pk, sequence)
                text = privacy.seal_memo(readers, context, text)
        return Transaction(self.chain_id(), pk, sequence, expiry, kind, cos, text)

    def send(
        self,
        key: SigningKey,
        kind: TxKind,
        *,
        cosigner_key: Optional[SigningKey] = None,
        memo: Union[bytes, str] = b"",
        sequence: Optional[int] = None,
        expiry: Optional[Expiry] = None,
        seal_memo: Optional[bool] = None,
    ) -> SubmitVerdict:
        """Builds (sealing a memo as :meth:`build` does), signs (and
        co-signs), and submits; raises :class:`RejectedError`."""
        tx = self.build(key, kind, cosigner=cosigner_key, memo=memo, sequence=sequence, expiry=expiry,
                        seal_memo=seal_memo)
        return self.submit(tx.sign(key, cosigner_key))

    # -- identity: tags, accounts, the blacklist, memos ------------------------
    def identity_service(self) -> Optional[IdentityService]:
        """The regulator's identity keys as this node's ledger publishes
        them (``hutong_getParameters`` → ``identity``), or ``None`` on a
        chain without an identity service. Read once, then kept."""
        if not self._identity:
            self._identity.append(self.parameters().identity)
        return self._identity[0]

    def _require_identity_service(self) -> IdentityService:
        service = self.identity_service()
        if service is None:
            raise NoIdentityServiceError()
        return service

    def identity_evaluate(self, key: SigningKey, blinded: Sequence[Union[bytes, str]]) -> privacy.Evaluation:
        """``hutong_identityEvaluate`` on this node (the regulator's): 1 to
        64 blinded elements, in a request signed by ``key`` (a member
        institution's key, or a regulator's) like an audit request. The
        answer is *not* checked here: :func:`hutong.finalize` checks it
        against the ledger's key (:meth:`identity_tags` does all of it).
        Refusals: :class:`RpcError` 1010 (``data["code"]``:
        ``rate_limited``, ``unknown_key``, ``bad_signature``, ``stale``,
        ``replayed``, ``unauthenticated``), 1011 (not the regulator's node),
        :class:`NotFoundError` (it runs no identity service)."""
        elements = [_hex(b, privacy.ELEMENT_BYTES, "blinded element").hex() for b in blinded]
        if not 1 <= len(elements) <= privacy.EVALUATION_BATCH_MAX:
            raise MalformedError("request", f"1 to {privacy.EVALUATION_BATCH_MAX} blinded identities, "
                                            f"not {len(elements)}")
        method = "hutong_identityEvaluate"
        request = sign_audit_request(key, self.chain_id(), method, {"blinded": elements})
        return privacy.Evaluation.from_json(self.call(method, [request]))

    def identity_tags(self, key: SigningKey, identities: Sequence[str],
                      regulator_url: Union[str, "Client"]) -> List[bytes]:
        """The identity tags (64 bytes each, in order) of ``identities``
        (``TYPE:NUMBER``, as :func:`hutong.identity_input` reads them):
        each is blinded here, evaluated by the regulator's node at
        ``regulator_url`` in requests signed by ``key`` (64 identities at a
        time), checked against the OPRF key of *this* node's ledger (never
        the evaluating node's say) and unblinded. The regulator's node
        learns nothing about the identities.

        Raises :class:`~hutong.BadIdentityError` before any request for an
        identity the rule refuses, :class:`~hutong.UnverifiedEvaluationError`
        for an answer whose proof does not hold, and
        :class:`~hutong.NoIdentityServiceError` on a chain without the
        service. A tag is a secret of the institution's KYC record."""
        oprf_key = self._require_identity_service().oprf_key
        regulator = regulator_url if isinstance(regulator_url, Client) else \
            Client(regulator_url, timeout=self.timeout)
        inputs = [privacy.identity_input(i) for i in identities]
        tags: List[bytes] = []
        for at in range(0, len(inputs), privacy.EVALUATION_BATCH_MAX):
            chunk = inputs[at:at + privacy.EVALUATION_BATCH_MAX]
            blinds = [privacy.blind(i) for i in chunk]
            answer = regulator.identity_evaluate(key, [b for _, b in blinds])
            tags.extend(privacy.finalize([s for s, _ in blinds], chunk, answer.elements, answer.proof,
                                         oprf_key))
        return tags

    def open_account_with_identity(self, owner: Union[PublicKey, SigningKey, bytes, str], tier: int,
                                   tag: Union[bytes, str], salt: Union[bytes, str]) -> OpenAccount:
        """The ``OpenAccount`` of a new customer account on this chain (it
        runs an identity service): ``tag`` (:meth:`identity_tags`) and
        ``salt`` sealed to the regulator's HPKE key of the ledger's
        parameters, for ``owner`` (the new account's key) on this chain
        (its id from ``hutong_status``), with their binding commitment.
        Send it with the institution's key (:meth:`send`). ``salt``: 32
        fresh bytes (:func:`hutong.new_identity_salt`) to keep with the
        KYC record; it never goes on chain in clear."""
        service = self._require_identity_service()
        owner_key = owner.public_key if isinstance(owner, SigningKey) else owner
        return OpenAccount.with_identity(owner_key, tier, tag, salt, chain_id=self.chain_id(),
                                         hpke_key=service.hpke_key)

    def check_listing(self, listing_key: Union[bytes, str]) -> Listing:
        """Whether an identity is on the shared blacklist
        (``hutong_checkListing``), by its listing key (32 bytes or hex:
        :func:`hutong.listing_key` of its tag)."""
        key = _hex(listing_key, 32, "listing key").hex()
        return Listing.from_json(self.call("hutong_checkListing", {"listing_key": key}))

    def get_memo_keys(self, accounts: Sequence[AccountLike]) -> MemoKeys:
        """``hutong_getMemoKeys``: for 1 to 16 accounts, each one's
        institution and that institution's memo key, and the regulator's.
        Raises :class:`NotFoundError` if an account does not exist."""
        names = [str(_address(a)) for a in accounts]
        if not 1 <= len(names) <= MEMO_KEYS_ACCOUNTS_MAX:
            raise EncodingError(f"hutong_getMemoKeys takes 1 to {MEMO_KEYS_ACCOUNTS_MAX} accounts, "
                                f"not {len(names)}")
        return MemoKeys.from_json(self.call("hutong_getMemoKeys", {"accounts": names}))

    def memo_readers(self, sender: AccountLike, kind: Optional[TxKind] = None,
                     counterparties: Sequence[AccountLike] = ()) -> List[bytes]:
        """The keys a memo of ``sender``'s transaction is sealed to: the
        memo keys of the institutions of the sender and of the accounts
        ``kind`` pays or acts on (and of ``counterparties``), those without
        a key left out, and the regulator's identity key (the ledger's)
        always; each once, at most 4 (else :class:`~hutong.BadReadersError`:
        choose the readers and seal with :func:`hutong.seal_memo`).
        Accounts that do not exist (yet) are left out."""
        service = self._require_identity_service()
        wanted: List[Address] = []
        for a in [sender, *(_counterparties(kind) if kind is not None else []), *counterparties]:
            address = _address(a)
            if address not in wanted:
                wanted.append(address)
        readers: List[bytes] = []
        for entry in self._memo_key_entries(wanted):
            if entry.memo_key is not None and entry.memo_key not in readers:
                readers.append(entry.memo_key)
        if service.hpke_key not in readers:
            readers.append(service.hpke_key)
        if len(readers) > privacy.MEMO_READERS_MAX:
            raise BadReadersError(
                len(readers), privacy.MEMO_READERS_MAX,
                f"the memo would have {len(readers)} readers (the institutions of {len(wanted)} "
                f"accounts and the regulator); at most {privacy.MEMO_READERS_MAX}: seal it to chosen "
                "readers with hutong.seal_memo and send it with seal_memo=False")
        return readers

    def _memo_key_entries(self, accounts: List[Address]) -> List[AccountMemoKey]:
        entries: List[AccountMemoKey] = []
        for at in range(0, len(accounts), MEMO_KEYS_ACCOUNTS_MAX):
            chunk = accounts[at:at + MEMO_KEYS_ACCOUNTS_MAX]
            try:
                entries.extend(self.get_memo_keys(chunk).accounts)
            except NotFoundError:
                # One of them has no account: ask for each alone, and leave that one out.
                for a in chunk:
                    try:
                        entries.extend(self.get_memo_keys([a]).accounts)
                    except NotFoundError:
                        continue
        return entries

    def read_memo(self, tx_hash: Union[str, bytes], key: SigningKey) -> MemoView:
        """A committed transaction's memo in clear (``hutong_readMemo``),
        from a node that holds its institution's memo key: ``key`` is the
        sender's or a recipient's account key (or its institution's), and
        signs the request now. Refused with :class:`RpcError` 1010 if the
        key is not a party's; :class:`NotFoundError` if this node cannot
        open the memo."""
        request = sign_read_memo(key, self.chain_id(), tx_hash)
        return MemoView.from_json(self.call("hutong_readMemo", [request]))

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


def _address(a: AccountLike) -> Address:
    if isinstance(a, (SigningKey, PublicKey)):
        return a.address
    return Address.parse(a)


def _counterparties(kind: TxKind) -> List[Address]:
    """The accounts other than the sender a kind pays, debits or acts on
    (whose institutions read its memo): recipients, payers of captures
    and mandates, targets of freezes and states."""
    out: List[Address] = []
    legs = kind.legs if isinstance(kind, Linked) else [kind]
    for leg in legs:
        if isinstance(leg, BatchTransfer):
            out.extend(p.to for p in leg.payouts)
        for name in ("payer", "to", "account"):
            value = getattr(leg, name, None)
            if isinstance(value, Address):
                out.append(value)
    return out


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
