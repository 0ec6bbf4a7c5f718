"""The HTTP-mode listener: aiohttp's server behind a connection cap and read deadlines.

aiohttp has no deadline for reading a request's headers, so a client trickling them
(or never sending any) holds a connection for ever, and nothing caps how many are open.
Each connection here is wrapped: past ``max_connections`` a new one is closed at once;
a connection with no request in progress is closed ``header_timeout_s`` after it opened
or after its last request ended; a request's body must arrive within ``body_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    header_timeout_s: float = 10.0  # to send a request's headers, after connecting or idling
    body_timeout_s: float = 10.0  # to send a request's body once its headers arrived
    max_connections: int = 100  # open at once; Slack opens a few
    keepalive_s: float = 15.0  # an idle keep-alive connection is closed after this


class _Guarded(asyncio.Protocol):
    """Passes everything to aiohttp's protocol; closes the connection when it dawdles."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.guard.open) >= self.guard.limits.max_connections:
            log.warning("slack: refused a connection: %d already open", len(self.guard.open))
            transport.abort()  # type: ignore[attr-defined]
            return
        self.guard.open[transport] = self
        self.arm()
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        if self.transport is not None and self.guard.open.pop(self.transport, None) is self:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def arm(self) -> None:
        self.disarm()
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.guard.limits.header_timeout_s, self._expire)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        if not self.busy and self.transport is not None:
            log.info("slack: closed a connection that sent no request in time")
            self.transport.close()


class ConnectionGuard:
    """Tracks open connections; ``request`` marks one busy while its handler runs."""

    def __init__(self, limits: ListenerLimits) -> None:
        self.limits = limits
        self.open: dict[asyncio.BaseTransport, _Guarded] = {}

    def protocol(self, factory: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, factory())

    def wrap(
        self, handle: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The request handler, with the connection marked busy and the body read bounded."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            conn = self.open.get(request.transport) if request.transport else None
            if conn is not None:
                conn.disarm()
                conn.busy = True
            try:
                try:
                    async with asyncio.timeout(self.limits.body_timeout_s):
                        await request.read()  # cached: the handler reads it again for free
                except TimeoutError:
                    log.warning("slack: a request body did not arrive in time")
                    return web.Response(status=408, text="request body timeout")
                return await handle(request)
            finally:
                if conn is not None:
                    conn.busy = False
                    conn.arm()

        return guarded


async def listen(
    app: web.Application, host: str, port: int, guard: ConnectionGuard
) -> tuple[web.AppRunner, asyncio.Server]:
    """Serve ``app`` on ``host:port`` behind ``guard`` (whose ``wrap`` wraps its handler).

    Close the server first, then clean the runner up.
    """
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=guard.limits.keepalive_s)
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(guard.protocol(runner.server), host, port)
    return runner, server
