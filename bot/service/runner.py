"""``tutor run``: every platform adapter in one asyncio process, until SIGTERM or SIGINT.

Start-up warms the local models and checks the course index (a missing piece is a
warning that says how to fix it, never a traceback), wires the moderators' notices and
the digest scheduler to the running adapters, then runs the adapters side by side.

Stopping: the first SIGTERM or SIGINT stops intake and lets answers in progress finish,
for at most ``[service] drain_timeout_s``; then the adapters disconnect and BotApp closes
the rest in reverse order (the scheduler, the endpoint, the ledger after writing every
queued row, the models). The exit code is 0. A second signal stops at once. An adapter
that cannot start (a refused token) stops the whole service with exit code 1, so a
supervisor notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from bot.doctor.report import check_index
from bot.ports import Adapter, CommandHandler, Handler
from bot.service.endpoint import ServiceState
from bot.service.metrics import Metrics
from bot.service.notify import Notifier

if TYPE_CHECKING:
    from bot.app import BotApp

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CLOSE_MARGIN_S = 5.0  # beyond the drain: time for the adapters to disconnect


async def run_service(
    app: BotApp,
    adapters: Sequence[Adapter],
    *,
    started: float | None = None,
    stop: asyncio.Event | None = None,
    signals: Sequence[signal.Signals] = STOP_SIGNALS,
) -> int:
    """Run ``adapters`` on ``app`` until a signal (or ``stop`` is set); the exit code."""
    settings = app.settings
    state = ServiceState(app.metrics)
    service = Service(
        adapters,
        app.metrics.handler(app.tutor.handle),
        app.metrics.command_handler(app.commands),
        state,
        drain_timeout_s=settings.service.drain_timeout_s,
        ready_timeout_s=settings.service.ready_timeout_s,
        started=started,
        stop=stop,
    )
    with service.handling(signals):  # a signal during start-up stops it cleanly too
        await app.start_endpoint(state)
        tier = settings.routing.default_tier
        log.info("warming the local models of tier %s: %s", tier, ", ".join(app.local_models(tier)))
        await app.warm(tier)
        for result in await check_index(app.index_check):
            level = logging.WARNING if result.status in {"warn", "fail"} else logging.INFO
            fix = f" ({result.fix})" if result.fix and result.status != "pass" else ""
            log.log(level, "%s: %s%s", result.name, result.detail, fix)
        if service.stopping:
            log.info("stopped during start-up")
            return 0
        notifier = Notifier(settings.digests.targets, adapters)
        app.tutor.notify = notifier
        await app.start_digests(adapters)
        app.start_learning()
        try:
            code = await service.run()
        finally:
            app.tutor.notify = None
            await notifier.aclose()
            await app.ledger.flush()
            log.info("stopped; %d interactions recorded in the ledger", app.ledger.recorded)
    return code


class Service:
    """Runs adapters side by side; ``stop()`` (or a signal) drains them and returns."""

    def __init__(
        self,
        adapters: Sequence[Adapter],
        handler: Handler,
        commands: CommandHandler,
        state: ServiceState,
        *,
        drain_timeout_s: float = 20.0,
        ready_timeout_s: float = 60.0,
        started: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        if not adapters:
            raise ValueError("nothing to run: no adapters")
        self.adapters = list(adapters)
        self.handler = handler
        self.commands = commands
        self.state = state
        self.metrics: Metrics = state.metrics
        self.drain_timeout_s = drain_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.started = time.perf_counter() if started is None else started
        self._stop = stop or asyncio.Event()
        self._tasks: dict[asyncio.Task[None], Adapter] = {}

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask for a graceful stop (what SIGTERM does)."""
        self._stop.set()

    @contextlib.contextmanager
    def handling(self, signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[None]:
        """Within this block, ``signals`` stop the service gracefully (twice: at once)."""
        loop = asyncio.get_running_loop()
        installed = [s for s in signals if _install(loop, s, self._on_signal)]
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def run(self) -> int:
        """Serve until stopped or until every adapter has finished; the exit code."""
        self._tasks = {
            asyncio.create_task(self._run_adapter(a), name=f"adapter-{a.name}"): a
            for a in self.adapters
        }
        readiness = asyncio.create_task(self._when_ready(), name="readiness")
        try:
            failed = await self._wait()
            self.state.phase = "draining"
            await self._drain()
        finally:
            readiness.cancel()
            self.state.phase = "stopped"
        return 1 if failed else 0

    # --- running ---------------------------------------------------------------------

    async def _run_adapter(self, adapter: Adapter) -> None:
        self.metrics.adapters[adapter.name] = "starting"
        try:
            await adapter.run(self.handler, self.commands)
        except asyncio.CancelledError:
            self.metrics.adapters[adapter.name] = "down"
            raise
        except BaseException:
            self.metrics.adapters[adapter.name] = "failed"
            raise
        self.metrics.adapters[adapter.name] = "down"

    async def _wait(self) -> bool:
        """Until a stop is asked for or an adapter ends; True if one failed."""
        stop = asyncio.create_task(self._stop.wait(), name="stop-requested")
        running = set(self._tasks)
        try:
            while running:
                done, running = await asyncio.wait(
                    running | {stop}, return_when=asyncio.FIRST_COMPLETED
                )
                running.discard(stop)
                if stop in done:
                    return False
                for task in done:
                    name = self._tasks[task].name
                    error = task.exception() if not task.cancelled() else None
                    if error is not None:
                        log.error("%s stopped: %s", name, _describe(error))
                        log.debug("%s stopped", name, exc_info=error)
                        return True
                    log.info("%s finished", name)
            return False
        finally:
            stop.cancel()

    async def _when_ready(self) -> None:
        """Mark each adapter up once connected; log once all are (the start-up time)."""

        async def one(adapter: Adapter) -> None:
            ready = getattr(adapter, "ready", None)
            if isinstance(ready, asyncio.Event):
                try:
                    async with asyncio.timeout(self.ready_timeout_s):
                        await ready.wait()
                except TimeoutError:
                    log.warning(
                        "%s is not connected after %.0f s; still trying (`tutor doctor` checks "
                        "its credentials)",
                        adapter.name,
                        self.ready_timeout_s,
                    )
                    await ready.wait()
            if self.metrics.adapters.get(adapter.name) == "starting":
                self.metrics.adapters[adapter.name] = "up"
            seconds = time.perf_counter() - self.started
            log.info(
                "%s connected (%.2f s after start)",
                adapter.name,
                seconds,
                extra={"event": "connected", "platform": adapter.name, "startup_s": seconds},
            )

        await asyncio.gather(*(one(a) for a in self.adapters))
        self.state.phase = "ready"
        seconds = time.perf_counter() - self.started
        log.info(
            "ready: %s (%.2f s after start)",
            ", ".join(a.name for a in self.adapters),
            seconds,
            extra={"event": "ready", "startup_s": round(seconds, 3)},
        )

    # --- stopping --------------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self._stop.is_set():
            log.info(
                "%s: stopping; answers in progress may finish within %.0f s (again: stop now)",
                sig.name,
                self.drain_timeout_s,
            )
            self._stop.set()
            return
        log.warning("%s again: stopping now", sig.name)
        for task in self._tasks:
            task.cancel()

    async def _drain(self) -> None:
        """Each adapter stops taking messages, finishes what it has, and disconnects."""
        if self.metrics.in_flight:
            log.info("waiting for %d answer(s) in progress", self.metrics.in_flight)
        try:
            async with asyncio.timeout(self.drain_timeout_s + CLOSE_MARGIN_S):
                await asyncio.gather(*(self._close(t, a) for t, a in self._tasks.items()))
        except TimeoutError:
            log.warning("the adapters did not stop in time; cancelling them")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if cut := await self.metrics.cancel_in_flight():
            log.warning("%d answer(s) were cut short by the shutdown", cut)

    async def _close(self, task: asyncio.Task[None], adapter: Adapter) -> None:
        # Discord: close() drains and disconnects. Slack: stop() does; then run() returns.
        closer = getattr(adapter, "close", None) or getattr(adapter, "stop", None)
        if closer is not None and not task.done():
            try:
                await closer()
            except Exception as exc:
                log.warning("%s did not close cleanly: %s", adapter.name, _describe(exc))
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _install(loop: asyncio.AbstractEventLoop, sig: signal.Signals, callback: object) -> bool:
    try:
        loop.add_signal_handler(sig, callback, sig)  # type: ignore[arg-type]
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        return False
    return True


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
