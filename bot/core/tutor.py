"""The tutor's pipeline: plan -> retrieve -> generate -> gate -> record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from cachetools import LRUCache

from bot.config import Settings
from bot.core.budgets import BudgetBook
from bot.core.confidence import Confidence, assess
from bot.core.history import ConversationHistory
from bot.core.plan import Planner, RoutingPlan, user_key
from bot.core.preferences import MemoryPreferences
from bot.core.pricing import Pricing
from bot.core.privacy import Redactor
from bot.core.prompt import build_prompt
from bot.core.router import Router
from bot.events import (
    ChatMessage,
    Citation,
    IncomingMessage,
    Outcome,
    Reason,
    ReasonCode,
    Reply,
    Usage,
    correlation_scope,
)
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
    PreferenceStore,
    ReplySink,
    Retriever,
    TextDelta,
)

log = logging.getLogger(__name__)

EMPTY_REPLY = "Your message looks empty. What would you like to know about the course?"
APOLOGY = (
    "Sorry, I can't answer right now: none of my models is reachable. "
    "Please try again in a minute; a moderator has the details in the logs."
)
SWITCH_NOTICE = "That answer was interrupted; here it is again from another model."
CLOUD_DOWN_NOTICE = (
    "(The detailed model is unavailable right now, so this is a quicker answer "
    "that may be less thorough.)"
)
HOLDING_NOTE = "Preparing an answer…"

Notify = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class _Answer:
    generation: Generation
    model: str
    confidence: float | None = None
    notice: str | None = None
    fell_back: bool = False
    held: bool = False  # generated without streaming; the sink has not seen it yet


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
        router: Router | None = None,
        budgets: BudgetBook | None = None,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.retriever = retriever
        self.ledger = ledger
        self.preferences: PreferenceStore = preferences or MemoryPreferences()
        self.router = router or Router()
        self.budgets = budgets or BudgetBook(settings, clock)
        self.planner = Planner(settings, registry, self.router, self.budgets)
        self.notify = notify
        self.pricing = Pricing(settings)
        self.redactor = Redactor(settings.privacy)
        limit = settings.tutor.max_conversations
        self.history = ConversationHistory(settings.tutor.history_turns, limit)
        self._last: LRUCache[Hashable, Reply] = LRUCache(limit)
        self._sticky: LRUCache[Hashable, int] = LRUCache(limit)
        self._clock = clock

    async def handle(self, msg: IncomingMessage, sink: ReplySink | None = None) -> Reply:
        """Answer ``msg``; every line logged meanwhile carries its correlation id."""
        with correlation_scope(msg.correlation_id):
            return await self._handle(msg, sink)

    async def _handle(self, msg: IncomingMessage, sink: ReplySink | None) -> Reply:
        started = time.perf_counter()
        prefs = await self.preferences.preferences(
            msg.platform, msg.workspace, msg.channel, msg.user
        )
        key = msg.conversation_key
        plan = await self.planner.plan(msg, prefs, sticky_turns=self._sticky.get(key, 0))
        if not plan.question:
            reply = Reply(EMPTY_REPLY, "local", "none", plan.reasons)
            return await self._finish(msg, plan.tier, started, reply)
        if plan.has(ReasonCode.TIER_BUDGET) and self.budgets.take_notice(plan.tier):
            await self._tell_moderators(
                f"The {plan.tier} tier has used its monthly cloud budget "
                f"(${self.budgets.spent(plan.tier):.2f} of "
                f"${self.settings.tiers[plan.tier].monthly_budget_usd:.2f}). Its learners are "
                "answered by local models until the month ends or the budget is raised."
            )

        passages, found = await self._retrieve(plan.question)
        prompt = build_prompt(
            self.settings.tutor.system_prompt,
            self.history.get(key),
            plan.question,
            passages,
            msg.context,
            context_chars=self.settings.tutor.max_input_chars,
        )
        answer, notes = await self._answer(plan, prompt, passages, sink)
        reasons = (*plan.reasons, *found, *notes)
        if answer is None:
            reply = Reply(APOLOGY, "local", "none", reasons, outcome="failed")
            return await self._finish(msg, plan.tier, started, reply)

        gen, name = answer.generation, answer.model
        route = "local" if self.settings.is_local(name) else "cloud"
        # History first: a learner who sees the answer may follow up at once.
        self.history.add(key, plan.question, gen.text)
        self._update_sticky(key, route, plan)
        if answer.held and sink is not None:
            await sink.delta(gen.text)
        cost = self.pricing.cost_usd(name, gen.input_tokens, gen.output_tokens)
        if route == "cloud":
            self.budgets.add(plan.tier, user_key(msg), cost)
        outcome: Outcome = "fell_back" if answer.fell_back else "answered"
        text = f"{gen.text}\n\n{answer.notice}" if answer.notice else gen.text
        if answer.notice and sink is not None:
            await sink.delta(f"\n\n{answer.notice}")
        reply = Reply(
            text=text,
            route=route,
            model=name,
            reasons=reasons,
            confidence=answer.confidence,
            citations=tuple(Citation(p.source, p.title, round(p.score, 4)) for p in passages),
            usage=Usage(gen.input_tokens, gen.output_tokens, cost),
            ttft_ms=gen.ttft_ms,
            outcome=outcome,
            notice=answer.notice,
        )
        return await self._finish(msg, plan.tier, started, reply)

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

    async def _retrieve(self, question: str) -> tuple[list[Passage], tuple[Reason, ...]]:
        if self.retriever is None:
            return [], ()
        try:
            passages = await self.retriever.search(question)
        except Exception:
            log.exception("retrieval failed; answering without course material")
            return [], (Reason(ReasonCode.RETRIEVAL_FAILED),)
        return passages, () if passages else (Reason(ReasonCode.RETRIEVAL_NONE),)

    # --- answering ---------------------------------------------------------------------

    async def _answer(
        self,
        plan: RoutingPlan,
        prompt: list[ChatMessage],
        passages: Sequence[Passage],
        sink: ReplySink | None,
    ) -> tuple[_Answer | None, list[Reason]]:
        """Run the plan: gate local answers, fail over between local and cloud.

        Returns the answer (None when every model failed) and what happened on the way.
        """
        if plan.route == "cloud":
            answer, notes = await self._cloud(plan, prompt, sink)
            if answer is not None:
                return answer, notes
            notes.append(Reason(ReasonCode.CLOUD_FAILED))
            answer, tried = await self._generate(plan.local, prompt, sink)
            if answer is not None:
                answer.notice, answer.fell_back = CLOUD_DOWN_NOTICE, True
                answer.confidence = self._assess(answer, plan, passages).score
            return answer, [*notes, *tried]

        # Local first. While a cloud model can really take over, hold the local answer
        # back, so the learner never sees one answer and then a different one.
        hold = plan.can_escalate
        if hold and sink is not None:
            await _progress(sink, HOLDING_NOTE)
        answer, notes = await self._generate(plan.local, prompt, None if hold else sink)
        if answer is None:
            if not plan.cloud:
                return None, notes
            notes.append(Reason(ReasonCode.LOCAL_FAILED))
            escalated, tried = await self._cloud(plan, prompt, sink)
            if escalated is not None:
                escalated.fell_back = True
            return escalated, [*notes, *tried]
        confidence = self._assess(answer, plan, passages)
        answer.confidence = confidence.score
        notes += confidence.reasons
        threshold = plan.policy.confidence_threshold
        if plan.cloud and confidence.score < threshold:
            detail = f"{confidence.score:.2f}<{threshold:.2f}"
            notes.append(Reason(ReasonCode.LOW_CONFIDENCE, detail))
            escalated, tried = await self._cloud(plan, prompt, sink if hold else None)
            notes += tried
            if escalated is not None:
                if not hold and sink is not None:  # the local answer is on screen: replace it
                    await sink.reset(SWITCH_NOTICE)
                    escalated.held = True
                return escalated, notes
            answer.notice, answer.fell_back = CLOUD_DOWN_NOTICE, True
        answer.held = hold
        return answer, notes

    def _assess(
        self, answer: _Answer, plan: RoutingPlan, passages: Sequence[Passage]
    ) -> Confidence:
        return assess(
            answer.generation,
            plan.question,
            plan.policy,
            retrieval_used=self.retriever is not None,
            found_material=bool(passages),
        )

    async def _cloud(
        self, plan: RoutingPlan, prompt: list[ChatMessage], sink: ReplySink | None
    ) -> tuple[_Answer | None, list[Reason]]:
        """The cloud chain on the prompt with personal data redacted."""
        redacted, kinds = self.redactor.redact_prompt(prompt)
        notes = [Reason(ReasonCode.REDACTED, ",".join(sorted(kinds)))] if kinds else []
        answer, tried = await self._generate(plan.cloud, redacted, sink)
        return answer, [*notes, *tried]

    async def _generate(
        self, chain: Sequence[str], prompt: list[ChatMessage], sink: ReplySink | None
    ) -> tuple[_Answer | None, list[Reason]]:
        """Try the chain in order, healthy models first; skipped ones get a last chance."""
        notes: list[Reason] = []
        skipped = []
        for name in chain:
            if not self.registry.is_healthy(name):
                skipped.append(name)
                notes.append(Reason(ReasonCode.SKIPPED_UNHEALTHY, name))
                continue
            gen = await self._attempt(name, prompt, sink)
            if isinstance(gen, Generation):
                return _Answer(gen, name, fell_back=name != chain[0]), notes
            notes.append(gen)
        for name in skipped:
            gen = await self._attempt(name, prompt, sink)
            if isinstance(gen, Generation):
                return _Answer(gen, name, fell_back=name != chain[0]), notes
            notes.append(gen)
        return None, notes

    async def _attempt(
        self, name: str, prompt: list[ChatMessage], sink: ReplySink | None
    ) -> Generation | Reason:
        """One model's answer, or why it gave none."""
        progress = _Progress()
        try:
            gen = await self._stream(name, prompt, sink, progress)
        except ModelError as error:
            self.registry.record_failure(name, error)
            if progress.sent and sink is not None:
                await sink.reset(SWITCH_NOTICE)
            return Reason(ReasonCode.FAILOVER, f"{name}:{error.reason}")
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

    # --- after -------------------------------------------------------------------------

    def _update_sticky(self, key: Hashable, route: str, plan: RoutingPlan) -> None:
        remaining = self._sticky.get(key, 0)
        if plan.has(ReasonCode.STICKY):
            self._sticky[key] = remaining - 1
        elif route == "cloud":
            self._sticky[key] = plan.policy.sticky_turns

    async def _tell_moderators(self, text: str) -> None:
        log.warning("%s", text)
        if self.notify is None:
            return
        try:
            await self.notify(text)
        except Exception:
            log.exception("could not notify the moderators")

    async def _finish(self, msg: IncomingMessage, tier: str, started: float, reply: Reply) -> Reply:
        reply = _stamp(reply, msg, tier, started)
        self._last[(msg.platform, msg.workspace or "", msg.channel, msg.user)] = reply
        recorded = False
        if self.ledger is not None:
            try:
                await self.ledger.record(Interaction(msg, reply, tier, self._clock()))
                recorded = True
            except Exception:
                log.exception("[%s] could not record the interaction", msg.correlation_id)
        log.info(
            "%s on %s by %s (%s) in %.0f ms%s",
            reply.outcome,
            msg.platform,
            reply.model,
            reply.route,
            reply.latency_ms,
            "" if recorded or self.ledger is None else "; NOT recorded",
            extra={
                "event": "reply",
                "platform": msg.platform,
                "tier": tier,
                "route": reply.route,
                "model": reply.model,
                "outcome": reply.outcome,
                "latency_ms": round(reply.latency_ms, 1),
                "recorded": recorded,
            },
        )
        return reply


def _stamp(reply: Reply, msg: IncomingMessage, tier: str, started: float) -> Reply:
    return replace(
        reply,
        latency_ms=(time.perf_counter() - started) * 1000,
        correlation_id=msg.correlation_id,
        tier=tier,
    )


async def _progress(sink: ReplySink, note: str) -> None:
    """Tell a sink that has the optional ``progress`` hook that an answer is on its way."""
    progress = getattr(sink, "progress", None)
    if progress is None:
        return
    try:
        await progress(note)
    except Exception:
        log.warning("the reply sink could not show progress", exc_info=True)


@dataclass(slots=True)
class _Progress:
    started: bool = False  # the first token arrived
    sent: bool = False  # text went to the sink, so a failover must reset it
