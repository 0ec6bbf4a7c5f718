"""The tutor's pipeline: plan -> retrieve -> generate -> gate -> record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from cachetools import LRUCache

from bot.config import Settings
from bot.core.budgets import BudgetBook
from bot.core.confidence import Confidence, assess
from bot.core.excerpt import course_quote
from bot.core.history import ConversationHistory
from bot.core.plan import Planner, RoutingPlan, user_key
from bot.core.preferences import MemoryPreferences
from bot.core.pricing import Pricing
from bot.core.privacy import Redactor
from bot.core.prompt import fit_prompt, prompt_chars
from bot.core.repetition import LoopGuard
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
    AnswerMemory,
    Generation,
    GenerationParams,
    Interaction,
    Ledger,
    ModelError,
    ModelServerError,
    ModelTimeout,
    Navigator,
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
QUOTE_NOTICE = "That answer was not good enough; here is what the course itself says."
GUARD_BATCH_CHARS = 40  # a loop is caught within a few words; per token costs too much
COURSE_MODEL = "course"  # the model name of answers made from the course without a model
DETAIL = re.compile(
    r"(?i)\b(in detail|detailed|in depth|step by step|thorough(ly)?|full explanation"
    r"|everything|long)\b"
)

PromptFor = Callable[[str], list[ChatMessage]]

Notify = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class _Answer:
    generation: Generation
    model: str
    confidence: float | None = None
    notice: str | None = None
    fell_back: bool = False
    held: bool = False  # generated without streaming; the sink has not seen it yet
    weak: bool = False  # failed the gate and no cloud model took over
    streamed: bool = False  # the sink has seen (some of) it
    looped: str = ""  # why the loop guard stopped it, if it did
    cut: int = 0  # the length a too-long answer was cut to
    turn: str = ""  # the learner's turn this model was sent: its course material, question


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
        memory: AnswerMemory | None = None,
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
        self.history = ConversationHistory(
            settings.tutor.history_turns, limit, int(settings.tutor.history_max_mb * 2**20)
        )
        self._last: LRUCache[Hashable, Reply] = LRUCache(limit)
        self._sticky: LRUCache[Hashable, int] = LRUCache(limit)
        self._clock = clock
        self.memory = memory

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

        if self._private_embedding(plan):
            passages, found = [], (Reason(ReasonCode.RETRIEVAL_PRIVATE),)
        elif (reply := await self._navigate(plan, key, sink)) is not None or (
            reply := await self._recall(plan, msg, key, sink)
        ) is not None:  # the course's structure, then course memory: no model call
            return await self._finish(msg, plan.tier, started, reply)
        else:
            passages, found = await self._retrieve(plan.question)
        history = self.history.get(key)

        def prompt_for(model: str) -> list[ChatMessage]:
            return fit_prompt(
                self.settings.tutor.system_prompt,
                history,
                plan.question,
                passages,
                msg.context,
                budget_chars=self.settings.models[model].context_chars,
                context_chars=self.settings.tutor.max_input_chars,
            )

        answer, notes = await self._answer(plan, prompt_for, passages, sink)
        reasons = (*plan.reasons, *found, *notes)
        if (answer is None or answer.weak) and passages:
            reply = await self._quote(plan, passages, reasons, answer, sink)
            if reply is not None:
                return await self._finish(msg, plan.tier, started, reply)
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
        cost = self.pricing.generation_cost(name, gen)
        if route == "cloud":
            self.budgets.add(
                plan.tier,
                user_key(msg),
                self.pricing.budget_cost_usd(name, gen.input_tokens, gen.output_tokens),
            )
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
            citations=_citations(passages),
            usage=Usage(gen.input_tokens, gen.output_tokens, cost, gen.usage_estimated),
            ttft_ms=gen.ttft_ms,
            outcome=outcome,
            notice=answer.notice,
        )
        await self._remember(plan, msg, reply, follow_up=bool(history))
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

    async def _navigate(
        self, plan: RoutingPlan, key: Hashable, sink: ReplySink | None
    ) -> Reply | None:
        """A question about the course's structure, answered from it: no model call."""
        # hasattr, not isinstance: a runtime Protocol check costs more than the rest.
        if not hasattr(self.retriever, "navigate"):
            return None
        navigator = cast(Navigator, self.retriever)
        recent = [m.content for m in self.history.get(key) if m.role == "user"]
        try:
            found = await navigator.navigate(plan.question, recent)
        except Exception:
            log.exception("course navigation failed; the models answer instead")
            return None
        if found is None:
            return None
        self.history.add(key, plan.question, found.text)
        if sink is not None:
            await sink.delta(found.text)
        return Reply(
            text=found.text,
            route="local",
            model=COURSE_MODEL,
            reasons=(*plan.reasons, Reason(ReasonCode.NAVIGATION, found.kind)),
            confidence=1.0,
            citations=_citations(found.passages),
        )

    async def _recall(
        self, plan: RoutingPlan, msg: IncomingMessage, key: Hashable, sink: ReplySink | None
    ) -> Reply | None:
        """An answer that proved good to a question that means the same: no model call."""
        if self.memory is None:
            return None
        try:
            follow_up = bool(self.history.get(key))
            found = await self.memory.recall(msg, plan.question, follow_up=follow_up)
        except Exception:
            log.exception("course memory failed; the models answer instead")
            return None
        if found is None:
            return None
        self.history.add(key, plan.question, found.answer)
        if sink is not None:
            await sink.delta(found.answer)
        detail = f"{'pinned' if found.pinned else found.entry_id}:{found.similarity:.2f}"
        return Reply(
            text=found.answer,
            route="memory",
            model="memory",
            reasons=(*plan.reasons, Reason(ReasonCode.MEMORY, detail)),
            confidence=found.similarity,
            citations=found.citations,
            saved_usd=found.saved_usd,
        )

    async def _remember(
        self, plan: RoutingPlan, msg: IncomingMessage, reply: Reply, *, follow_up: bool
    ) -> None:
        """Offer a finished answer to course memory (it keeps the ones it may reuse)."""
        if self.memory is None:
            return
        private = msg.local_only or any(
            plan.has(code) for code in (ReasonCode.LOCAL_ONLY, ReasonCode.LOCAL_ONLY_CHANNEL)
        )
        try:
            await self.memory.remember(
                msg, plan.question, reply, private=private, follow_up=follow_up
            )
        except Exception:
            log.exception("course memory could not keep an answer")

    async def _quote(
        self,
        plan: RoutingPlan,
        passages: Sequence[Passage],
        reasons: tuple[Reason, ...],
        answer: _Answer | None,
        sink: ReplySink | None,
    ) -> Reply | None:
        """The course's own words, when no model gave an answer worth showing."""
        text = course_quote(plan.question, passages)
        if text is None:
            return None
        if sink is not None:
            if answer is not None and answer.streamed:
                await sink.reset(QUOTE_NOTICE)
            await sink.delta(text)
        return Reply(
            text=text,
            route="local",
            model=COURSE_MODEL,
            reasons=(*reasons, Reason(ReasonCode.COURSE_QUOTE)),
            confidence=answer.confidence if answer is not None else None,
            citations=_citations(passages),
            outcome="fell_back",
        )

    def _private_embedding(self, plan: RoutingPlan) -> bool:
        """A local-only question must not reach a cloud embeddings API either."""
        private = plan.has(ReasonCode.LOCAL_ONLY) or plan.has(ReasonCode.LOCAL_ONLY_CHANNEL)
        return private and self.settings.knowledge.embedder == "openai"

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
        prompt: PromptFor,
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
            answer, tried = await self._generate(plan.local, prompt, sink, plan)
            if answer is not None:
                answer.notice, answer.fell_back = CLOUD_DOWN_NOTICE, True
                confidence = self._assess(answer, plan, passages)
                answer.confidence = confidence.score
                answer.weak = confidence.score < plan.policy.confidence_threshold
            return answer, [*notes, *tried]

        # Local first. While a cloud model can really take over, hold the local answer
        # back, so the learner never sees one answer and then a different one.
        hold = plan.can_escalate
        if hold and sink is not None:
            await _progress(sink, HOLDING_NOTE)
        answer, notes = await self._generate(plan.local, prompt, None if hold else sink, plan)
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
        answer.weak = confidence.score < threshold
        answer.held = hold
        return answer, notes

    def _assess(
        self, answer: _Answer, plan: RoutingPlan, passages: Sequence[Passage]
    ) -> Confidence:
        confidence = assess(
            answer.generation,
            plan.question,
            plan.policy,
            retrieval_used=self.retriever is not None,
            found_material=bool(passages),
            material=answer.turn if passages else "",
        )
        if answer.looped:
            loop = Reason(ReasonCode.LOOP_STOPPED, answer.looped)
            return Confidence(0.0, (*confidence.reasons, loop))
        return confidence

    async def _cloud(
        self, plan: RoutingPlan, prompt: PromptFor, sink: ReplySink | None
    ) -> tuple[_Answer | None, list[Reason]]:
        """The cloud chain on the prompt with personal data redacted."""
        found: set[str] = set()

        def redact(model: str) -> list[ChatMessage]:
            messages, kinds = self.redactor.redact_prompt(prompt(model))
            found.update(kinds)
            return messages

        # Redaction is CPU work on learner text: done in a thread, off the event loop.
        ready = await asyncio.to_thread(lambda: {m: redact(m) for m in plan.cloud})

        def redacted(model: str) -> list[ChatMessage]:
            return ready[model] if model in ready else redact(model)

        answer, tried = await self._generate(plan.cloud, redacted, sink, plan)
        notes = [Reason(ReasonCode.REDACTED, ",".join(sorted(found)))] if found else []
        return answer, [*notes, *tried]

    async def _generate(
        self, chain: Sequence[str], prompt: PromptFor, sink: ReplySink | None, plan: RoutingPlan
    ) -> tuple[_Answer | None, list[Reason]]:
        """Try the chain in order, healthy models first; skipped ones get a last chance."""
        notes: list[Reason] = []
        skipped = []

        async def attempt(name: str) -> _Answer | None:
            result = await self._attempt(name, prompt(name), sink, plan)
            if isinstance(result, Reason):
                notes.append(result)
                return None
            result.fell_back = name != chain[0]
            if result.cut:
                notes.append(Reason(ReasonCode.LONG_ANSWER, str(result.cut)))
            return result

        for name in chain:
            if not self.registry.is_healthy(name):
                skipped.append(name)
                notes.append(Reason(ReasonCode.SKIPPED_UNHEALTHY, name))
            elif (answer := await attempt(name)) is not None:
                return answer, notes
        for name in skipped:
            if (answer := await attempt(name)) is not None:
                return answer, notes
        return None, notes

    async def _attempt(
        self, name: str, prompt: list[ChatMessage], sink: ReplySink | None, plan: RoutingPlan
    ) -> _Answer | Reason:
        """One model's answer, or why it gave none."""
        limit = self.settings.tutor.max_reply_chars
        progress = _Progress(limit=None if DETAIL.search(plan.question) else limit)
        try:
            gen = await self._stream(name, prompt, sink, progress)
        except ModelError as error:
            self.registry.record_failure(name, error)
            if progress.sent and sink is not None:
                await sink.reset(SWITCH_NOTICE)
            return Reason(ReasonCode.FAILOVER, f"{name}:{error.reason}")
        self.registry.record_success(name)
        return _Answer(
            gen,
            name,
            streamed=progress.sent,
            looped=progress.guard.reason or "",
            cut=progress.cut,
            turn=prompt[-1].content,
        )

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
        first_token_s = config.first_token_timeout_s
        if config.prompt_chars_per_s:  # a long prompt takes a slow model long to read
            first_token_s += prompt_chars(prompt) / config.prompt_chars_per_s
        deadline = asyncio.get_running_loop().time() + config.timeout_s
        try:
            async with (
                contextlib.aclosing(events),
                asyncio.timeout(first_token_s) as timer,
            ):
                async for event in events:
                    if isinstance(event, TextDelta):
                        if not progress.started:
                            progress.started = True
                            timer.reschedule(deadline)
                        text = progress.take(event.text)
                        if text and sink is not None:
                            progress.sent = True
                            await sink.delta(text)
                        if progress.guard.looping:  # stop a loop at once: it only grows
                            return progress.stopped_early(name, prompt_chars(prompt))
                    elif isinstance(event, Generation):
                        if not event.text.strip():
                            raise ModelServerError(name, "empty answer", reason="empty-answer")
                        return replace(event, text=progress.text) if progress.cut else event
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


def _citations(passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """One citation per source, the best-scoring passage's, in the passages' order."""
    best: dict[str, Passage] = {}
    for p in passages:
        if p.source not in best or p.score > best[p.source].score:
            best[p.source] = p
    return tuple(Citation(p.source, p.title, round(p.score, 4)) for p in best.values())


@dataclass(slots=True)
class _Progress:
    """What one model's stream has done so far, and when to stop it early."""

    limit: int | None = None  # characters a learner reads, unless they asked for detail
    started: bool = False  # the first token arrived
    sent: bool = False  # text went to the sink, so a failover must reset it
    text: str = ""
    unfed: str = ""  # shown, not yet checked for a loop: the guard reads a few words at once
    cut: int = 0  # the length the answer was cut to, when it ran past ``limit``
    guard: LoopGuard = field(default_factory=LoopGuard)

    def take(self, delta: str) -> str:
        """The part of ``delta`` to show: nothing once the stream loops or runs too long."""
        if self.guard.looping or self.cut:
            return ""
        self.unfed += delta
        if len(self.unfed) >= GUARD_BATCH_CHARS or "\n" in delta:
            looping, self.unfed = self.guard.feed(self.unfed), ""
            if looping:  # show no more; what was shown stays the answer
                shown = self.guard.kept[len(self.text) :]
                self.text += shown
                return shown
        if self.limit is not None and len(self.text) + len(delta) > self.limit:
            whole = _sentence_cut(self.text + delta, self.limit)
            if len(whole) < len(self.text):  # the sentence end was already shown
                whole = self.text + "…"
            shown, self.text = whole[len(self.text) :], whole
            self.cut = len(whole)
            return shown
        self.text += delta
        return delta

    def stopped_early(self, name: str, prompt_chars: int) -> Generation:
        """The answer as far as it was kept, for a stream stopped before its end.

        The backend's token counts never arrive: they are estimated (4 characters a token).
        """
        said = self.guard.text
        return Generation(
            text=self.text.strip() or said,
            model=name,
            input_tokens=prompt_chars // 4,
            output_tokens=len(said) // 4,
            finish_reason="stop",
        )


def _sentence_cut(text: str, limit: int) -> str:
    """``text`` cut at the last sentence end within ``limit`` characters."""
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind(".\n"), head.rfind("? "), head.rfind("! "))
    return head[: end + 1] if end > limit // 2 else head.rstrip() + "…"
