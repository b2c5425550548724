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
