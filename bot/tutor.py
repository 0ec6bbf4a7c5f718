"""The tutor's pipeline: history -> retrieve -> choose a model -> generate -> record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.config import Settings
from bot.events import ChatMessage, Citation, IncomingMessage, Reply, Usage
from bot.history import ConversationHistory
from bot.models.registry import ModelRegistry
from bot.ports import (
    Generation,
    GenerationParams,
    Interaction,
    Ledger,
    ModelError,
    ModelServerError,
    ModelTimeout,
    Passage,
    Preferences,
    PreferenceStore,
    ReplySink,
    Retriever,
    TextDelta,
)
from bot.preferences import MemoryPreferences
from bot.pricing import Pricing
from bot.prompt import build_prompt

log = logging.getLogger(__name__)

EMPTY_REPLY = "Your message looks empty. What would you like to know about the course?"
APOLOGY = (
    "Sorry, I can't answer right now: none of my models is reachable. "
    "Please try again in a minute; a moderator has the details in the logs."
)
SWITCH_NOTICE = "That answer was interrupted; here it is again from another model."


class Tutor:
    """Answers one IncomingMessage at a time (concurrently safe) and returns a Reply."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        *,
        retriever: Retriever | None = None,
        ledger: Ledger | None = None,
        preferences: PreferenceStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.retriever = retriever
        self.ledger = ledger
        self.preferences: PreferenceStore = preferences or MemoryPreferences()
        self.pricing = Pricing(settings)
        self.history = ConversationHistory(
            settings.tutor.history_turns, settings.tutor.max_conversations
        )
        self._last: OrderedDict[tuple[str, str, str], Reply] = OrderedDict()
        self._clock = clock

    async def handle(self, msg: IncomingMessage, sink: ReplySink | None = None) -> Reply:
        started = time.perf_counter()
        prefs = await self.preferences.preferences(
            msg.platform, msg.workspace, msg.channel, msg.user
        )
        tier = self._tier(msg, prefs)
        question, trimmed = self._clean(msg.text)
        if not question:
            reply = Reply(
                text=EMPTY_REPLY,
                route="local",
                model="none",
                reasons=("empty-message",),
                correlation_id=msg.correlation_id,
            )
            await self._record(msg, reply, tier)
            return reply

        reasons: list[str] = [f"tier:{tier}"]
        if trimmed:
            reasons.append(f"trimmed:{len(msg.text)}>{len(question)}")
        passages = await self._retrieve(question, reasons)
        prompt = build_prompt(
            self.settings.tutor.system_prompt,
            self.history.get(msg.conversation_key),
            question,
            passages,
        )
        chain = self._chain(tier, msg, prefs, reasons)
        generation, model_name = await self._generate(chain, prompt, sink, reasons, msg)

        if generation is None:
            reply = Reply(
                text=APOLOGY,
                route="local",
                model="none",
                reasons=tuple(reasons),
                latency_ms=(time.perf_counter() - started) * 1000,
                outcome="failed",
                correlation_id=msg.correlation_id,
            )
            await self._record(msg, reply, tier)
            return reply

        self.history.add(msg.conversation_key, question, generation.text)
        cost = self.pricing.cost_usd(model_name, generation.input_tokens, generation.output_tokens)
        reply = Reply(
            text=generation.text,
            route="local" if self.settings.is_local(model_name) else "cloud",
            model=model_name,
            reasons=tuple(reasons),
            citations=tuple(Citation(p.source, p.title, round(p.score, 4)) for p in passages),
            usage=Usage(generation.input_tokens, generation.output_tokens, cost),
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=generation.ttft_ms,
            outcome="answered" if model_name == chain[0] else "fell_back",
            correlation_id=msg.correlation_id,
        )
        await self._record(msg, reply, tier)
        return reply

    def forget_user(self, platform: str, workspace: str | None, user: str) -> int:
        """Clear every conversation of a learner in one workspace; returns how many."""
        return self.history.forget_where(
            lambda key: key[0] == platform and key[1] == (workspace or "") and key[4] == user
        )

    def last_reply(
        self, platform: str, workspace: str | None, channel: str, user: str
    ) -> Reply | None:
        """The learner's latest answer in this channel, for ``/tutor why``."""
        return self._last.get((platform, workspace or "", channel, user))

    # --- steps -----------------------------------------------------------------------

    def _tier(self, msg: IncomingMessage, prefs: Preferences) -> str:
        for tier in (msg.tier, prefs.tier):
            if tier in self.settings.tiers:
                return tier
        return self.settings.routing.default_tier

    def _clean(self, text: str) -> tuple[str, bool]:
        text = text.replace("\x00", "").strip()
        limit = self.settings.tutor.max_input_chars
        return (text[:limit], True) if len(text) > limit else (text, False)

    async def _retrieve(self, question: str, reasons: list[str]) -> list[Passage]:
        if self.retriever is None:
            return []
        try:
            return await self.retriever.search(question)
        except Exception:
            log.exception("retrieval failed; answering without course material")
            reasons.append("retrieval:failed")
            return []

    def _chain(
        self, tier: str, msg: IncomingMessage, prefs: Preferences, reasons: list[str]
    ) -> list[str]:
        chain = self.settings.chain(tier)
        if prefs.model in self.settings.models:
            reasons.append(f"channel-model:{prefs.model}")
            chain = [prefs.model, *(name for name in chain if name != prefs.model)]
        if msg.local_only or prefs.local_only:
            reasons.append("privacy:local-only")
            chain = [name for name in chain if self.settings.is_local(name)]
        return chain

    async def _generate(
        self,
        chain: Sequence[str],
        prompt: list[ChatMessage],
        sink: ReplySink | None,
        reasons: list[str],
        msg: IncomingMessage,
    ) -> tuple[Generation | None, str]:
        """Try the chain in order, healthy models first; skipped ones get a last chance."""
        skipped = []
        for name in chain:
            if self.registry.is_healthy(name):
                if (gen := await self._attempt(name, prompt, sink, reasons, msg)) is not None:
                    return gen, name
            else:
                skipped.append(name)
                reasons.append(f"skipped:{name}:unhealthy")
        for name in skipped:
            if (gen := await self._attempt(name, prompt, sink, reasons, msg)) is not None:
                return gen, name
        return None, "none"

    async def _attempt(
        self,
        name: str,
        prompt: list[ChatMessage],
        sink: ReplySink | None,
        reasons: list[str],
        msg: IncomingMessage,
    ) -> Generation | None:
        progress = _Progress()
        try:
            gen = await self._stream(name, prompt, sink, progress)
        except ModelError as error:
            self.registry.record_failure(name, error)
            reasons.append(f"failover:{name}:{error.reason}")
            log.warning("[%s] %s failed: %s", msg.correlation_id, name, error)
            if progress.sent and sink is not None:
                await sink.reset(SWITCH_NOTICE)
            return None
        self.registry.record_success(name)
        return gen

    async def _stream(
        self,
        name: str,
        prompt: list[ChatMessage],
        sink: ReplySink | None,
        progress: _Progress,
    ) -> Generation:
        """One model call, bounded by its first-token and total timeouts."""
        config = self.settings.models[name]
        events = self.registry.get(name).stream(
            prompt, GenerationParams(max_tokens=config.max_tokens)
        )
        deadline = asyncio.get_running_loop().time() + config.timeout_s
        try:
            async with (
                contextlib.aclosing(events),
                asyncio.timeout(config.first_token_timeout_s) as timer,
            ):
                async for event in events:
                    if isinstance(event, TextDelta):
                        if not progress.started:
                            progress.started = True
                            timer.reschedule(deadline)
                        if sink is not None:
                            progress.sent = True
                            await sink.delta(event.text)
                    elif isinstance(event, Generation):
                        if not event.text.strip():
                            raise ModelServerError(name, "empty answer", reason="empty-answer")
                        return event
        except TimeoutError:
            which = "timeout" if progress.started else "first-token-timeout"
            raise ModelTimeout(name, which.replace("-", " "), reason=which) from None
        raise ModelServerError(name, "the stream ended without a result")

    async def _record(self, msg: IncomingMessage, reply: Reply, tier: str) -> None:
        key = (msg.platform, msg.workspace or "", msg.channel, msg.user)
        self._last[key] = reply
        self._last.move_to_end(key)
        while len(self._last) > self.settings.tutor.max_conversations:
            self._last.popitem(last=False)
        if self.ledger is None:
            return
        try:
            await self.ledger.record(Interaction(msg, reply, tier, self._clock()))
        except Exception:
            log.exception("[%s] could not record the interaction", msg.correlation_id)


@dataclass(slots=True)
class _Progress:
    started: bool = False  # the first token arrived
    sent: bool = False  # text went to the sink, so a failover must reset it
