"""The tutor's pipeline: history -> retrieve -> route -> generate -> gate -> record."""

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
from bot.core.preferences import MemoryPreferences
from bot.core.pricing import Pricing
from bot.core.privacy import Redactor
from bot.core.prompt import build_prompt
from bot.core.router import Decision, Router
from bot.events import (
    ChatMessage,
    Citation,
    IncomingMessage,
    Outcome,
    Reply,
    Usage,
    correlation_scope,
    valid_unicode,
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
    Preferences,
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
        tier = self._tier(msg, prefs)
        question, trimmed = self._clean(msg.text)
        if not question:
            return await self._finish(
                msg, tier, started, Reply(EMPTY_REPLY, "local", "none", ("empty-message",))
            )

        reasons: list[str] = [f"tier:{tier}"]
        if trimmed:
            reasons.append(f"trimmed:{len(msg.text)}>{len(question)}")
        policy = self.settings.policy(tier)
        blocked = await self._cloud_block(msg, prefs, tier)
        local, cloud = self._chains(tier, prefs, blocked)
        sticky = self._sticky.get(msg.conversation_key) or 0
        decision = await self.router.decide(
            question,
            policy,
            cloud_allowed=bool(cloud),
            blocked_reason=blocked,
            sticky_turns=sticky,
        )
        reasons.extend(decision.reasons)
        decision = self._apply_channel_model(decision, prefs, cloud, reasons)
        local, cloud = self._task_models(decision, local, cloud, reasons)

        passages = await self._retrieve(question, reasons)
        history = self.history.get(msg.conversation_key)
        prompt = build_prompt(self.settings.tutor.system_prompt, history, question, passages)
        answer = await self._answer(
            decision, local, cloud, prompt, sink, reasons, msg, question, passages, tier
        )
        if answer is None:
            reply = Reply(APOLOGY, "local", "none", tuple(reasons), outcome="failed")
            return await self._finish(msg, tier, started, reply)

        gen, name = answer.generation, answer.model
        route = "local" if self.settings.is_local(name) else "cloud"
        # History first: a learner who sees the answer may follow up at once.
        self.history.add(msg.conversation_key, question, gen.text)
        self._update_sticky(msg.conversation_key, route, decision, policy.sticky_turns)
        if answer.held and sink is not None:
            await sink.delta(gen.text)
        cost = self.pricing.cost_usd(name, gen.input_tokens, gen.output_tokens)
        if route == "cloud":
            self.budgets.add(tier, _user_key(msg), cost)
        outcome: Outcome = "fell_back" if answer.fell_back else "answered"
        text = f"{gen.text}\n\n{answer.notice}" if answer.notice else gen.text
        if answer.notice and sink is not None:
            await sink.delta(f"\n\n{answer.notice}")
        reply = Reply(
            text=text,
            route=route,
            model=name,
            reasons=tuple(reasons),
            confidence=answer.confidence,
            citations=tuple(Citation(p.source, p.title, round(p.score, 4)) for p in passages),
            usage=Usage(gen.input_tokens, gen.output_tokens, cost),
            ttft_ms=gen.ttft_ms,
            outcome=outcome,
            notice=answer.notice,
        )
        return await self._finish(msg, tier, started, reply)

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

    # --- deciding ----------------------------------------------------------------------

    def _tier(self, msg: IncomingMessage, prefs: Preferences) -> str:
        for tier in (msg.tier, prefs.tier):
            if tier in self.settings.tiers:
                return tier
        return self.settings.routing.default_tier

    def _clean(self, text: str) -> tuple[str, bool]:
        text = text.replace("\x00", "").strip()
        limit = self.settings.tutor.max_input_chars
        text, trimmed = (text[:limit], True) if len(text) > limit else (text, False)
        return valid_unicode(text), trimmed

    async def _cloud_block(self, msg: IncomingMessage, prefs: Preferences, tier: str) -> str | None:
        """Why this message may not go to the cloud at all, if it may not."""
        if msg.local_only or prefs.local_only:
            return "privacy:local-only"
        if msg.channel in self.settings.privacy.local_only_channels:
            return "privacy:local-only-channel"
        blocked = self.budgets.blocked(tier, _user_key(msg))
        if blocked == f"budget:{tier}-exhausted" and self.budgets.take_notice(tier):
            await self._tell_moderators(
                f"The {tier} tier has used its monthly cloud budget "
                f"(${self.budgets.spent(tier):.2f} of "
                f"${self.settings.tiers[tier].monthly_budget_usd:.2f}). Its learners are "
                "answered by local models until the month ends or the budget is raised."
            )
        return blocked

    def _chains(
        self, tier: str, prefs: Preferences, blocked: str | None
    ) -> tuple[list[str], list[str]]:
        """The tier's chain split into local and cloud models, in order."""
        chain = self.settings.chain(tier)
        local = [name for name in chain if self.settings.is_local(name)]
        cloud = [] if blocked else [name for name in chain if not self.settings.is_local(name)]
        if prefs.model in self.settings.models:
            if self.settings.is_local(prefs.model):
                local = _first(prefs.model, local)
            elif not blocked:
                cloud = _first(prefs.model, cloud)
        return local, cloud

    def _apply_channel_model(
        self, decision: Decision, prefs: Preferences, cloud: list[str], reasons: list[str]
    ) -> Decision:
        """A moderator's model for the channel answers first, and its kind sets the route.

        A local one still passes the confidence gate, so weak answers can escalate.
        """
        if prefs.model not in self.settings.models:
            return decision
        reasons.append(f"channel-model:{prefs.model}")
        if self.settings.is_local(prefs.model):
            route = "local"
        elif prefs.model in cloud:
            route = "cloud"
        else:  # a cloud model, but this message may not go to the cloud
            return decision
        return Decision(route, decision.reasons, decision.task, decision.classifier_score)

    def _task_models(
        self, decision: Decision, local: list[str], cloud: list[str], reasons: list[str]
    ) -> tuple[list[str], list[str]]:
        """CODE_GEN_MODEL for code generation, SIMPLE_QUERY_MODEL for simple questions."""
        role = {"code-gen": "code_gen", "simple": "simple_query"}.get(decision.task)
        model = getattr(self.settings.roles, role) if role else ""
        if not model:
            return local, cloud
        if self.settings.is_local(model):
            if decision.route == "local":
                reasons.append(f"task-model:{model}")
            return _first(model, local), cloud
        if cloud:
            if decision.route == "cloud":
                reasons.append(f"task-model:{model}")
            return local, _first(model, cloud)
        return local, cloud

    async def _retrieve(self, question: str, reasons: list[str]) -> list[Passage]:
        if self.retriever is None:
            return []
        try:
            passages = await self.retriever.search(question)
        except Exception:
            log.exception("retrieval failed; answering without course material")
            reasons.append("retrieval:failed")
            return []
        if not passages:
            reasons.append("retrieval:none")
        return passages

    # --- answering ---------------------------------------------------------------------

    async def _answer(
        self,
        decision: Decision,
        local: list[str],
        cloud: list[str],
        prompt: list[ChatMessage],
        sink: ReplySink | None,
        reasons: list[str],
        msg: IncomingMessage,
        question: str,
        passages: Sequence[Passage],
        tier: str,
    ) -> _Answer | None:
        """Run the decided route; gate local answers; fail over between local and cloud."""
        if decision.route == "cloud":
            answer = await self._generate(cloud, self._for_cloud(prompt, reasons), sink, reasons)
            if answer is not None:
                return answer
            reasons.append("cloud:failed")
            answer = await self._generate(local, prompt, sink, reasons)
            if answer is not None:
                answer.notice, answer.fell_back = CLOUD_DOWN_NOTICE, True
                answer.confidence = self._assess(answer, question, passages, tier).score
            return answer

        # Local first. While the cloud may still take over, hold the local answer back,
        # so the learner never sees one answer and then a different one.
        answer = await self._generate(local, prompt, None if cloud else sink, reasons)
        if answer is None:
            if not cloud:
                return None
            reasons.append("escalate:local-failed")
            answer = await self._generate(cloud, self._for_cloud(prompt, reasons), sink, reasons)
            if answer is not None:
                answer.fell_back = True
            return answer
        confidence = self._assess(answer, question, passages, tier)
        answer.confidence = confidence.score
        reasons.extend(confidence.reasons)
        threshold = self.settings.policy(tier).confidence_threshold
        if cloud and confidence.score < threshold:
            reasons.append(f"confidence:{confidence.score:.2f}<{threshold:.2f}")
            escalated = await self._generate(cloud, self._for_cloud(prompt, reasons), sink, reasons)
            if escalated is not None:
                return escalated
            answer.notice, answer.fell_back = CLOUD_DOWN_NOTICE, True
        answer.held = bool(cloud)
        return answer

    def _assess(
        self, answer: _Answer, question: str, passages: Sequence[Passage], tier: str
    ) -> Confidence:
        return assess(
            answer.generation,
            question,
            self.settings.policy(tier),
            retrieval_used=self.retriever is not None,
            found_material=bool(passages),
        )

    def _for_cloud(self, prompt: list[ChatMessage], reasons: list[str]) -> list[ChatMessage]:
        redacted, kinds = self.redactor.redact_prompt(prompt)
        if kinds:
            tag = f"redacted:{','.join(sorted(kinds))}"
            if tag not in reasons:
                reasons.append(tag)
        return redacted

    async def _generate(
        self,
        chain: Sequence[str],
        prompt: list[ChatMessage],
        sink: ReplySink | None,
        reasons: list[str],
    ) -> _Answer | None:
        """Try the chain in order, healthy models first; skipped ones get a last chance."""
        skipped = []
        for name in chain:
            if self.registry.is_healthy(name):
                if (gen := await self._attempt(name, prompt, sink, reasons)) is not None:
                    return _Answer(gen, name, fell_back=name != chain[0])
            else:
                skipped.append(name)
                reasons.append(f"skipped:{name}:unhealthy")
        for name in skipped:
            if (gen := await self._attempt(name, prompt, sink, reasons)) is not None:
                return _Answer(gen, name, fell_back=name != chain[0])
        return None

    async def _attempt(
        self, name: str, prompt: list[ChatMessage], sink: ReplySink | None, reasons: list[str]
    ) -> Generation | None:
        progress = _Progress()
        try:
            gen = await self._stream(name, prompt, sink, progress)
        except ModelError as error:
            self.registry.record_failure(name, error)
            reasons.append(f"failover:{name}:{error.reason}")
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

    # --- after -------------------------------------------------------------------------

    def _update_sticky(self, key: Hashable, route: str, decision: Decision, turns: int) -> None:
        remaining = self._sticky.get(key) or 0
        if any(r.startswith("sticky:") for r in decision.reasons):
            self._sticky[key] = remaining - 1
        elif route == "cloud":
            self._sticky[key] = turns

    async def _tell_moderators(self, text: str) -> None:
        log.warning("%s", text)
        if self.notify is None:
            return
        try:
            await self.notify(text)
        except Exception:
            log.exception("could not notify the moderators")

    async def _finish(self, msg: IncomingMessage, tier: str, started: float, reply: Reply) -> Reply:
        reply = _stamp(reply, msg, started)
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


def _stamp(reply: Reply, msg: IncomingMessage, started: float) -> Reply:
    return replace(
        reply,
        latency_ms=(time.perf_counter() - started) * 1000,
        correlation_id=msg.correlation_id,
    )


def _first(name: str, chain: list[str]) -> list[str]:
    return [name, *(n for n in chain if n != name)]


def _user_key(msg: IncomingMessage) -> tuple[str, str, str]:
    return (msg.platform, msg.workspace or "", msg.user)


@dataclass(slots=True)
class _Progress:
    started: bool = False  # the first token arrived
    sent: bool = False  # text went to the sink, so a failover must reset it
