"""Prometheus metrics of the running service, and the handler wrappers that feed them.

Everything lives in a CollectorRegistry of its own, so two services (or two tests) in
one process never share counters. Model health, adapter state and the ledger's counts
are read when Prometheus scrapes, not copied on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from bot.core.commands import MODERATOR_ONLY, OPERATOR_ONLY
from bot.events import (
    CommandRequest,
    CommandResult,
    IncomingMessage,
    Reply,
    correlation_scope,
    escalation_codes,
)
from bot.ports import CommandHandler, Handler, ReplySink

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ledger.store import Ledger
    from bot.models.registry import ModelRegistry

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30)


class Metrics:
    """Counters, histograms and gauges of one running tutor; ``render()`` for /metrics."""

    def __init__(
        self,
        settings: Settings | None = None,
        models: ModelRegistry | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.settings = settings
        self.models = models
        self.ledger = ledger
        self.in_flight = 0  # answers being generated right now (the drain waits on them)
        self._answering: set[asyncio.Task[Any]] = set()
        self.adapters: dict[str, str] = {}  # platform -> "starting" | "up" | "down" | "failed"
        r = self.registry
        self.requests = Counter(
            "tutor_requests",
            "Messages answered, by platform, route and outcome",
            ["platform", "route", "outcome"],
            registry=r,
        )
        self.routes = Counter(
            "tutor_routes",
            "Answers per tier, route and the model that gave them",
            ["tier", "route", "model"],
            registry=r,
        )
        self.escalations = Counter(
            "tutor_escalations",
            "Why cloud models answered, by reason code",
            ["reason"],
            registry=r,
        )
        self.latency = Histogram(
            "tutor_reply_latency_seconds",
            "Time from a message to its finished answer",
            ["platform", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "tutor_first_token_seconds",
            "Time to the first streamed token of the answering model",
            ["route"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.cost = Counter(
            "tutor_cost_usd", "Cloud spend in US dollars", ["tier", "model"], registry=r
        )
        self.tokens = Counter(
            "tutor_tokens", "Tokens in prompts and answers", ["model", "kind"], registry=r
        )
        self.memory_saved = Counter(
            "tutor_memory_saved_usd",
            "What answers given again from course memory cost to make the first time",
            ["tier"],
            registry=r,
        )
        self.errors = Counter(
            "tutor_handler_errors",
            "Messages whose handling raised (the learner got an error notice)",
            ["platform"],
            registry=r,
        )
        self.commands = Counter(
            "tutor_commands",
            "/tutor commands, by result (refused covers non-moderators and non-operators)",
            ["platform", "command", "result"],
            registry=r,
        )
        self._in_flight_gauge = Gauge("tutor_in_flight", "Answers being generated now", registry=r)
        r.register(_StateCollector(self))

    # --- wrappers ----------------------------------------------------------------------

    def handler(self, inner: Handler) -> Handler:
        """``inner`` (Tutor.handle), counted, timed and run in its message's log scope."""

        async def handle(msg: IncomingMessage, sink: ReplySink | None = None) -> Reply:
            with correlation_scope(msg.correlation_id), self._active():
                try:
                    reply = await inner(msg, sink)
                except Exception:
                    self.errors.labels(msg.platform).inc()
                    raise
            self.observe(msg, reply)
            return reply

        return handle

    def command_handler(self, inner: CommandHandler) -> CommandHandler:
        """``inner`` (Commands), counted by result, in the request's log scope."""

        async def run(req: CommandRequest) -> CommandResult:
            with correlation_scope(req.correlation_id):
                try:
                    result = await inner(req)
                except Exception:
                    self.commands.labels(req.platform, req.name, "error").inc()
                    raise
            self.commands.labels(req.platform, req.name, _outcome(req, result)).inc()
            return result

        return run

    def observe(self, msg: IncomingMessage, reply: Reply) -> None:
        tier = reply.tier
        self.requests.labels(msg.platform, reply.route, reply.outcome).inc()
        self.routes.labels(tier, reply.route, reply.model).inc()
        self.latency.labels(msg.platform, reply.route).observe(reply.latency_ms / 1000)
        if reply.ttft_ms is not None:
            self.first_token.labels(reply.route).observe(reply.ttft_ms / 1000)
        if reply.usage.cost_usd:
            self.cost.labels(tier, reply.model).inc(reply.usage.cost_usd)
        if reply.usage.input_tokens > 0:
            self.tokens.labels(reply.model, "input").inc(reply.usage.input_tokens)
        if reply.usage.output_tokens > 0:
            self.tokens.labels(reply.model, "output").inc(reply.usage.output_tokens)
        if reply.route == "memory" and reply.saved_usd:
            self.memory_saved.labels(tier).inc(reply.saved_usd)
        if reply.route == "cloud" and reply.outcome != "failed":
            for code in escalation_codes(r.code for r in reply.reasons):
                self.escalations.labels(code.value).inc()

    def model_states(self) -> dict[str, dict[str, Any]]:
        """Each configured model: is it answering, and its last error if not."""
        if self.models is None:
            return {}
        return {
            name: {"up": self.models.is_healthy(name)}
            | ({"error": health.last_error} if health.last_error else {})
            for name, health in self.models.health().items()
        }

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    async def cancel_in_flight(self) -> int:
        """Cancel the answers still being generated (past the drain); how many there were."""
        tasks = [t for t in self._answering if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    @contextlib.contextmanager
    def _active(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._answering.add(task)
        self.in_flight += 1
        self._in_flight_gauge.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._in_flight_gauge.dec()
            self._answering.discard(task)  # type: ignore[arg-type]


def _outcome(req: CommandRequest, result: CommandResult) -> str:
    if result.ok:
        return "ok"
    if req.name in MODERATOR_ONLY and not (req.is_moderator or req.is_operator):
        return "refused"
    if req.name in OPERATOR_ONLY and not req.is_operator:
        return "refused"
    return "not-done"


class _StateCollector:
    """Provider health, adapter state and ledger counts, read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.started = time.time()

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield _gauge("tutor_start_time_seconds", "When the service started", {(): self.started})
        if m.models is not None and m.settings is not None:
            up, failures = {}, {}
            for name, health in m.models.health().items():
                key = (name, m.settings.models[name].provider)
                up[key] = 1.0 if m.models.is_healthy(name) else 0.0
                failures[key] = float(health.failures)
            labels = ["model", "provider"]
            yield _gauge("tutor_model_up", "1 when the model is answering", up, labels)
            yield _gauge(
                "tutor_model_consecutive_failures",
                "Failures since its last answer",
                failures,
                labels,
            )
        states = {(name, state): 1.0 for name, state in m.adapters.items()}
        yield _gauge(
            "tutor_adapter_state", "Each platform connection's state", states, ["platform", "state"]
        )
        if m.ledger is not None:
            family = CounterMetricFamily("tutor_ledger_rows", "Interactions recorded in the ledger")
            family.add_metric([], float(m.ledger.recorded))
            yield family


def _gauge(
    name: str, doc: str, values: Mapping[tuple[str, ...], float], labels: list[str] | None = None
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels or [])
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family
