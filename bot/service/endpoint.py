"""The local HTTP endpoint of a running service: ``/healthz`` and ``/metrics``.

Off unless ``[service] metrics_port`` is set; it listens on 127.0.0.1 by default, since
it has no authentication. ``/healthz`` answers 200 while the service is ready and every
platform connection is up (models may be degraded: the chain falls back), else 503, with
a JSON body saying why, for load balancers and orchestrators.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.service.metrics import Metrics

log = logging.getLogger(__name__)

Phase = Literal["starting", "ready", "draining", "stopped"]


class ServiceState:
    """What /healthz reports: the service's phase, read together with the metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.phase: Phase = "starting"

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body)."""
        adapters = dict(self.metrics.adapters)
        healthy = self.phase == "ready" and all(s == "up" for s in adapters.values())
        body: dict[str, Any] = {
            "status": "ok" if healthy else self.phase if self.phase != "ready" else "degraded",
            "phase": self.phase,
            "adapters": adapters,
            "in_flight": self.metrics.in_flight,
        }
        models = self.metrics.model_states()
        if models:
            body["models"] = models
        return healthy, body


class Endpoint:
    """``await Endpoint(state, host, port).start()``; ``aclose()`` stops listening."""

    def __init__(self, state: ServiceState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the port (useful when asked for port 0)."""
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("health and metrics at http://%s:%s/healthz and /metrics", self.host, self.port)
        return self.port

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        healthy, body = self.state.health()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.state.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
