"""asyncio helpers: wait for a transaction's finality over the WebSocket
subscription without blocking the event loop."""

import asyncio
import json


from .client import _subscription_message, ws_url
from .errors import HutongError, TransportError, WaitTimeoutError
from .views import TxStatus


async def wait_subscribed(url: str, hash: str, timeout: float = 60.0) -> TxStatus:
    """Subscribes to ``hutong_subscribeTransaction(hash)`` on the node at
    ``url`` (http or ws) and returns the final status it notifies."""
    try:
        from websockets.asyncio.client import connect  # websockets >= 13
    except ImportError:  # pragma: no cover
        from websockets import connect  # type: ignore[no-redef,attr-defined]

    async def run() -> TxStatus:
        async with connect(ws_url(url)) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1,
                                      "method": "hutong_subscribeTransaction", "params": [hash]}))
            sub_id = None
            while True:
                status, sub_id = _subscription_message(json.loads(await ws.recv()), sub_id, hash)
                if status is not None:
                    return status

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise WaitTimeoutError(f"transaction {hash} not final after {timeout}s") from None
    except HutongError:
        raise
    except Exception as e:
        raise TransportError(f"subscription to {ws_url(url)} failed: {e}") from e


__all__ = ["wait_subscribed"]
