"""Guards on the service's costly paths: a per-client rate limit on model work (the `limits` library), and
a request-body limit (HTTP 413) in front of everything.

The bounded queue and the deadline of model work live in the batcher and the completion service; this
module holds what is decided per client or per request before any work starts.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skd.core.errors import ConfigError
from skd.service.errors import ApiError, Code

#: what switches the limit off (an empty variable counts as unset, so it cannot)
UNLIMITED = ("", "none", "unlimited")


class ModelRateLimit:
    """At most the configured model work per client, in a moving window (in this process's memory: with
    several workers, each counts its own share)."""

    def __init__(self, spec: str) -> None:
        try:
            unlimited = spec.strip().lower() in UNLIMITED
            self.items: list[RateLimitItem] = [] if unlimited else parse_many(spec)
        except ValueError as e:
            raise ConfigError(f"SKD_SERVICE_MODEL_RATE_LIMIT {spec!r} is not a rate such as '60/minute': {e}") from e
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str) -> None:
        """Count one unit of model work for `client`, or refuse it with RATE_LIMITED (and when to retry)."""
        for item in self.items:
            if not self._limiter.hit(item, "model", client):
                stats = self._limiter.get_window_stats(item, "model", client)
                retry = max(0, math.ceil(stats.reset_time - time.time()))
                raise ApiError(
                    f"rate limit of model work reached ({item}); retry in {retry} s",
                    Code.RATE_LIMITED,
                    extensions={"retryAfter": retry},
                )


def client_id(api_key: str | None, host: str | None) -> str:
    """Who a request is for rate limits: its API key (a digest of it), else its address."""
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return "ip:" + (host or "unknown")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 to a request whose body is larger than `max_bytes`: at once when its Content-Length says
    so, else as soon as the streamed body passes the limit (before the app has acted on it)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"the request body is larger than {self.max_bytes} bytes",
                        "extensions": {"code": Code.PAYLOAD_TOO_LARGE.value},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
