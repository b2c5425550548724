"""The SDK's errors: everything it raises derives from :class:`HutongError`."""

from typing import Any, Optional


class HutongError(Exception):
    """Base class of every error the SDK raises."""


class EncodingError(HutongError, ValueError):
    """A value cannot be encoded or decoded (borsh, hex, asset code...)."""


class AddressError(EncodingError):
    """A text address is not a valid ``ht1`` bech32m address."""


class IdentityError(EncodingError):
    """An identity document type or number that cannot be normalised, or an
    identity salt that is not 32 bytes (SPEC.md, "Opening an account").

    ``field`` is ``"id_type"``, ``"id_number"`` or ``"salt"``; ``value`` is
    the input as given.
    """

    def __init__(self, field: str, value: Any, message: str):
        super().__init__(message)
        self.field = field
        self.value = value


class KeyFileError(HutongError, ValueError):
    """A key file is not a valid Hutong key file."""


class AmountError(HutongError, ValueError):
    """A decimal amount cannot be expressed in the asset's minor units."""


class TransportError(HutongError):
    """The node could not be reached or answered something that is not JSON-RPC."""


class WaitTimeoutError(HutongError, TimeoutError):
    """Waiting for a transaction did not reach a final status in time.

    ``last_status`` is the last status seen (a :class:`~hutong.TxStatus`), if any.
    """

    def __init__(self, message: str, last_status: Any = None):
        super().__init__(message)
        self.last_status = last_status


class RpcError(HutongError):
    """A JSON-RPC error answer other than a transaction rejection."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class NotFoundError(RpcError):
    """JSON-RPC error 1003: no such account or block."""


class RejectedError(HutongError):
    """The node did not admit a transaction (JSON-RPC error 1001, or 1002
    for ``busy``/``sender_busy``), or a verdict/status says it was rejected.

    ``code`` is the stable rejection code (``stale_sequence``,
    ``bad_signature``, ...); codes this SDK does not know still arrive here
    unchanged. ``retryable`` says whether the same bytes may succeed later.
    """

    def __init__(
        self,
        code: str,
        retryable: bool = False,
        message: str = "",
        rpc_code: Optional[int] = None,
        hash: Optional[str] = None,
        data: Any = None,
    ):
        super().__init__(f"rejected ({code}): {message}")
        self.code = code
        self.retryable = retryable
        self.message = message
        self.rpc_code = rpc_code
        self.hash = hash
        self.data = data
        #: ``sequence_used``: the committed transaction that took the sequence.
        self.used_by = data.get("used_by") if isinstance(data, dict) else None


class ExecutionFailedError(HutongError):
    """A transaction was committed but its receipt is a failure
    (``step_up_required``, ``insufficient_balance``, ``exists``...): it used
    its sequence number and moved nothing. ``code`` is the receipt's code,
    ``failure`` the structured failure when the node gives one."""

    def __init__(self, code: str, reason: str = "", hash: Optional[str] = None, failure: Any = None):
        super().__init__(f"failed at execution ({code}): {reason}")
        self.code = code
        self.reason = reason
        self.hash = hash
        self.failure = failure


class PrivacyError(HutongError):
    """An identity-layer step failed on this side (SPEC.md section 9):
    a malformed identity, an evaluation whose proof does not verify, an
    envelope or memo that does not open. ``code`` is stable and the same
    as the node's and the CLI's (``hutong_privacy::PrivacyError::code``).

    All of these are permanent for the same input: retrying changes
    nothing, except ``unverified_evaluation`` (ask the regulator's node
    again; if it keeps failing, the node or the path to it is not to be
    trusted).
    """

    code = "privacy"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadIdentityError(PrivacyError, IdentityError):
    """An identity that cannot be an OPRF input: not ``TYPE:NUMBER``, or a
    type or number the normalisation of SPEC.md section 7 refuses.
    ``field`` is ``"identity"``, ``"id_type"`` or ``"id_number"``; ``value``
    the input as given."""

    code = "bad_identity"

    def __init__(self, field: str, value: Any, message: str):
        IdentityError.__init__(self, field, value, message)
        self.message = message


class MalformedError(PrivacyError, EncodingError):
    """A value that is not a valid encoding of what it should be: ``what``
    names it (``"evaluated element"``, ``"proof"``, ``"identity envelope"``,
    ``"sealed memo"``...), ``detail`` says what is wrong."""

    code = "malformed"

    def __init__(self, what: str, detail: str):
        super().__init__(f"{what} is not a valid encoding: {detail}")
        self.what = what
        self.detail = detail


class UnverifiedEvaluationError(PrivacyError):
    """The regulator's answer does not prove it used the OPRF key whose
    public half the ledger publishes: a wrong key, or a tampered or
    replayed answer. The answer is refused; no tag comes of it."""

    code = "unverified_evaluation"

    def __init__(self, message: str = (
            "the evaluation's proof does not verify against the regulator's OPRF public key: "
            "a wrong key, or a tampered or replayed answer")):
        super().__init__(message)


class UndecryptableError(PrivacyError):
    """An envelope or sealed memo does not open with this key: sealed to
    another key, for another account, chain or transaction, or altered."""

    code = "undecryptable"

    def __init__(self, what: str = "the envelope"):
        super().__init__(
            f"{what} does not open with this key: sealed to another key, for another account, "
            "chain or transaction, or tampered")


class CommitmentMismatchError(PrivacyError):
    """An identity envelope opened, but its tag and salt do not give the
    account's identity commitment (``commitment``, hex)."""

    code = "commitment_mismatch"

    def __init__(self, commitment: str):
        super().__init__(
            f"the envelope's tag and salt do not match the account's identity commitment {commitment}")
        self.commitment = commitment


class BadReadersError(PrivacyError):
    """A memo sealed to ``got`` readers; it has 1 to ``max``."""

    code = "bad_readers"

    def __init__(self, got: int, max: int, message: str = ""):
        super().__init__(message or f"a memo has 1 to {max} readers, not {got}")
        self.got = got
        self.max = max


class MemoTooLongError(PrivacyError):
    """A memo text of ``len`` bytes; sealed to its readers, at most ``max``
    fit in a transaction's memo."""

    code = "memo_too_long"

    def __init__(self, len: int, max: int):
        super().__init__(f"a memo of {len} bytes is longer than {max}")
        self.len = len
        self.max = max


class NoIdentityServiceError(PrivacyError):
    """The chain runs no identity service (``hutong_getParameters`` has no
    ``identity``): there are no tags to obtain, and memos and accounts are
    not sealed (open accounts with a salted commitment, SPEC.md section 7).
    Not a code of the node's: this SDK's own."""

    code = "no_identity_service"

    def __init__(self, message: str = (
            "this chain runs no identity service (hutong_getParameters has no identity keys); "
            "open accounts with OpenAccount.from_identity and send memos in clear")):
        super().__init__(message)
