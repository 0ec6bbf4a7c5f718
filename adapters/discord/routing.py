"""Point one discord.py client at another REST base and gateway (a proxy, a test server).

discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE``
and, without sharding, connects straight to ``DiscordWebSocket.DEFAULT_GATEWAY``. Setting
those would redirect every client in the process, so instead each URL is rebased where a
client sends it: its HTTPClient (REST calls and the gateway WebSocket) and the webhook
adapter that interaction responses and follow-ups go through (installed per task tree
with discord.py's own ``async_context`` context variable).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context


def rebase_url(url: str, api_base: str | None) -> str:
    """``url`` with discord.py's REST base replaced by ``api_base`` (e.g. a proxy)."""
    if api_base and url.startswith(Route.BASE):
        return api_base.rstrip("/") + url[len(Route.BASE) :]
    return url


def gateway_url(url: str, gateway: str | None) -> str:
    """A connection to Discord's default gateway sent to ``gateway`` instead.

    The query (API version, encoding, compression) is kept. Other URLs, such as the
    resume URL a gateway hands out in READY, are left alone.
    """
    if not gateway:
        return url
    target = yarl.URL(url)
    if target.host != DiscordWebSocket.DEFAULT_GATEWAY.host:
        return url
    return str(yarl.URL(gateway).with_query(target.query))


def _rebased(route: Route, api_base: str | None) -> Route:
    route.url = rebase_url(route.url, api_base)
    return route


class RoutedHTTPClient(HTTPClient):
    """discord.py's HTTP client with its REST base and default gateway overridden."""

    def __init__(
        self, *args: Any, api_base: str | None = None, gateway: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.api_base = api_base
        self.gateway = gateway

    async def request(self, route: Route, **kwargs: Any) -> Any:
        return await super().request(_rebased(route, self.api_base), **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        return await super().ws_connect(gateway_url(url, self.gateway), compress=compress)


def route_client(client: discord.Client, api_base: str | None, gateway: str | None) -> None:
    """Give a freshly built (not yet started) client a RoutedHTTPClient.

    discord.py hands its HTTP client to the connection state in ``Client.__init__``,
    so both references are replaced together.
    """
    routed = RoutedHTTPClient(client.loop, api_base=api_base, gateway=gateway)
    client.http = client._connection.http = routed


class RoutedWebhookAdapter(AsyncWebhookAdapter):
    """Sends interaction callbacks and follow-ups (webhook routes) to ``api_base``."""

    def __init__(self, api_base: str | None) -> None:
        super().__init__()
        self.api_base = api_base

    async def request(self, route: Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        return await super().request(_rebased(route, self.api_base), session, **kwargs)


@contextlib.contextmanager
def webhooks_routed_to(api_base: str | None) -> Iterator[None]:
    """Within this block (and the tasks it starts), webhook calls go to ``api_base``."""
    if not api_base:
        yield
        return
    token = async_context.set(RoutedWebhookAdapter(api_base))
    try:
        yield
    finally:
        async_context.reset(token)
