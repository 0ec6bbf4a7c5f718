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
from bot.core.budgets import BudgetBook, month_of
from bot.core.confidence import Confidence, assess
from bot.core.excerpt import course_quote
from bot.core.history import ConversationHistory, TurnSource, history_pairs, sticky_left
from bot.core.plan import Planner, RoutingPlan, user_key
from bot.core.preferences import MemoryPreferences
from bot.core.pricing import Pricing
from bot.core.privacy import Redactor
from bot.core.prompt import fit_prompt, prompt_chars
from bot.core.repetition import LoopGuard
from bot.core.router import Router
from bot.core.teaching import (
    MODES,
    RECENT_TURNS,
    MemoryTeaching,
    Teacher,
    TeachingState,
    Verdict,
    is_hint_request,
    is_off_topic,
)
from bot.events import (
    ChatMessage,
    Citation,
    ContextLine,
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
WITHHELD_NOTICE = "That answer gave away an exercise's solution; here is a hint instead."
NO_HINT_TOPIC = (
    "Ask me your question first (or tell me which exercise you are on); then say "
    '"hint" and I will give you hints one step at a time.'
)
LAST_HINT = " That was the last hint: try it now, and show me your code if you get stuck."
NO_DETAIL = "I can't find that answer any more, so I can't ask the detailed model about it."
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
        teacher: Teacher | None = None,
        teaching: TeachingState | None = None,
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
        self.teacher = teacher or Teacher(settings.teaching)
        self.teaching: TeachingState = teaching or MemoryTeaching()
        # Code lines of each exercise given so far per conversation: asking in pieces adds up.
        self._given: LRUCache[Hashable, dict[str, int]] = LRUCache(limit)
        # The exercise a conversation was lately about, and for how many more answers it
        # counts when a follow-up ("now the next lines") no longer names it.
        self._active: LRUCache[Hashable, tuple[str, int]] = LRUCache(limit)
        # The messages answered lately, for "Ask the detailed model" on one of them.
        self._asked: LRUCache[str, IncomingMessage] = LRUCache(limit)
        self._last_question: LRUCache[Hashable, IncomingMessage] = LRUCache(limit)
        # Conversations answered elsewhere or before a restart are restored from the ledger.
        self._turns: TurnSource | None = ledger if isinstance(ledger, TurnSource) else None
        self._restored: LRUCache[Hashable, bool] = LRUCache(limit)
        self._restore_failing = False
        self._sticky_turns = {t: settings.policy(t).sticky_turns for t in settings.tiers}
        # Rows read back: the history's turns, and a sticky run's, with replies in between.
        self._restore_rows = (
            2 * settings.tutor.history_turns + max(self._sticky_turns.values(), default=0) + 2
        )

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
        await self._restore(key)
        await self.budgets.refresh()  # what every instance on the ledger spent
        plan = await self.planner.plan(msg, prefs, sticky_turns=self._sticky.get(key, 0))
        mode, off_topic = await self._teaching_for(msg)
        if not plan.question:
            reply = Reply(EMPTY_REPLY, "local", "none", plan.reasons)
            return await self._finish(msg, plan.tier, started, reply, mode)
        if is_hint_request(plan.question):
            reply = await self._hint(plan, self._hint_key(msg), sink)
            return await self._finish(msg, plan.tier, started, reply, mode)
        self._asked[msg.correlation_id] = msg
        self._last_question[(msg.platform, msg.workspace or "", msg.channel, msg.user)] = msg
        if (
            plan.has(ReasonCode.TIER_BUDGET)
            and self.budgets.take_notice(plan.tier)
            and await self._first_to_notice(plan.tier)
        ):
            await self._tell_moderators(
                f"The {plan.tier} tier has used its monthly cloud budget "
                f"(${self.budgets.spent(plan.tier):.2f} of "
                f"${self.settings.tiers[plan.tier].monthly_budget_usd:.2f}). Its learners are "
                "answered by local models until the month ends or the budget is raised."
            )

        if self._private_embedding(plan):
            passages, found = [], (Reason(ReasonCode.RETRIEVAL_PRIVATE),)
        elif (reply := await self._navigate(plan, key, sink)) is not None or (
            reply := await self._recall(plan, msg, key, sink, mode)
        ) is not None:  # the course's structure, then course memory: no model call
            return await self._finish(msg, plan.tier, started, reply, mode)
        else:
            passages, found = await self._retrieve(plan.question)
        unsearched = (ReasonCode.RETRIEVAL_FAILED, ReasonCode.RETRIEVAL_PRIVATE)
        if (
            off_topic
            and self.retriever is not None
            and not any(r.code in unsearched for r in found)
            and is_off_topic(plan.question, passages, self.teacher.vocabulary)
        ):
            reply = await self._redirect(plan, sink)
            return await self._finish(msg, plan.tier, started, reply, mode)
        history = self.history.get(key)
        questions = [*(m.content for m in history if m.role == "user"), plan.question]
        guarded = mode == "guide" and self.teacher.course.exercises
        # Hold back an answer that may be about an exercise: a solution is never shown.
        hold = bool(
            guarded
            and (
                self.teacher.may_concern_exercise(questions)
                or self._active.get(key, ("", 0))[1] > 0
            )
        )

        prompt_for = self._prompter(history, plan.question, passages, msg.context)
        quote = course_quote(plan.question, passages) if passages else None
        answer, notes = await self._answer(
            plan, prompt_for, passages, None if hold else sink, quoted=quote is not None
        )
        if answer is not None and hold:
            answer.held = True
        reasons = (*plan.reasons, *found, *notes)
        if (answer is None or answer.weak) and quote is not None:
            reply = await self._quote(quote, passages, reasons, answer, sink)
            return await self._finish(msg, plan.tier, started, reply, mode)
        if answer is None:
            reply = Reply(APOLOGY, "local", "none", reasons, outcome="failed")
            return await self._finish(msg, plan.tier, started, reply, mode)

        if guarded:
            withheld = self._guard(key, questions, answer, passages)
            if withheld is not None:
                reasons = (*reasons, withheld)
                if answer.streamed and sink is not None:
                    await sink.reset(WITHHELD_NOTICE)
                    answer.held = True
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
        return await self._finish(msg, plan.tier, started, reply, mode)

    # --- teaching --------------------------------------------------------------------

    async def _teaching_for(self, msg: IncomingMessage) -> tuple[str, bool]:
        """The teaching mode and whether off-topic messages are redirected, here."""
        config = self.settings.teaching
        try:
            mode, off_topic = await self.teaching.channel_settings(
                msg.platform, msg.workspace, msg.channel
            )
        except Exception:
            log.exception("could not read the channel's teaching settings; using the defaults")
            mode, off_topic = None, None
        if msg.mode in MODES:
            mode = msg.mode
        return (
            mode if mode in MODES else config.mode,
            config.off_topic if off_topic is None else off_topic,
        )

    def _guard(
        self,
        key: Hashable,
        questions: Sequence[str],
        answer: _Answer,
        passages: Sequence[Passage],
    ) -> Reason | None:
        """Replace a complete solution to an exercise by a hint (guide mode)."""
        given = self._given.setdefault(key, {})
        text = answer.generation.text
        probe = self.teacher.check(questions, text)
        before = given.get(probe.detail, 0)
        verdict = self.teacher.check(questions, text, before)
        active, left = self._active.get(key, ("", 0))
        if verdict.guarded:
            self._active[key] = (verdict.detail, RECENT_TURNS)
        elif active and left > 0:
            # A follow-up that no longer names the exercise still counts towards it.
            self._active[key] = (active, left - 1)
            before = given.get(active, 0)
            exercise = self.teacher.course.exercise(active)
            limit = self.settings.teaching.max_solution_lines
            verdict = Verdict(verdict.lines + before <= limit, exercise, verdict.lines, True)
        if verdict.allowed:
            if verdict.guarded:  # asking in pieces adds up
                given[verdict.detail] = before + verdict.lines
            return None
        text = self.teacher.withheld(verdict.exercise, passages)
        answer.generation = replace(answer.generation, text=text)
        answer.notice = None
        log.info("withheld a solution to %s (%d lines of code)", verdict.detail, verdict.lines)
        return Reason(ReasonCode.SOLUTION_WITHHELD, verdict.detail)

    def _hint_key(self, msg: IncomingMessage) -> Hashable:
        """The conversation a hint is about: this one, or (for ``/tutor hint`` outside a
        thread, a conversation of its own) the one of the learner's last question here."""
        key = msg.conversation_key
        if self.history.get(key):
            return key
        asked = self._last_question.get((msg.platform, msg.workspace or "", msg.channel, msg.user))
        return asked.conversation_key if asked is not None else key

    async def _hint(self, plan: RoutingPlan, key: Hashable, sink: ReplySink | None) -> Reply:
        """The next hint of the ladder, about this conversation's exercise or question."""
        conversation = [str(part) for part in cast(tuple[str, ...], key)]
        level, topic = await self.teaching.hint_state(conversation)
        recent = [m.content for m in self.history.get(key) if m.role == "user"]
        course = self.teacher.course
        if recent:
            found = next((e for q in reversed(recent[-3:]) if (e := course.about([q]))), None)
            current = found.key if found else recent[-1]
            if current != topic:
                level, topic = 0, current
        if not topic:
            text = NO_HINT_TOPIC
            if sink is not None:
                await sink.delta(text)
            return Reply(text, "local", COURSE_MODEL, (*plan.reasons, Reason(ReasonCode.HINT, "0")))
        exercise = course.exercise(topic)
        question = exercise.text if exercise else topic
        passages = [] if exercise else (await self._retrieve(question))[0]
        top = self.settings.teaching.hint_levels
        level = min(level + 1, top)
        text = self.teacher.hint(level, exercise, question, passages)
        if level == top:
            text += LAST_HINT
        try:
            await self.teaching.set_hint_state(conversation, level, topic)
        except Exception:
            log.exception("could not save the hint level")
        if sink is not None:
            await sink.delta(text)
        return Reply(
            text,
            "local",
            COURSE_MODEL,
            (*plan.reasons, Reason(ReasonCode.HINT, f"{level}/{top}")),
            confidence=1.0,
            citations=_citations(passages),
        )

    async def _redirect(self, plan: RoutingPlan, sink: ReplySink | None) -> Reply:
        """A short, friendly redirect for a message that is not about the course."""
        text = self.settings.teaching.off_topic_text
        if sink is not None:
            await sink.delta(text)
        return Reply(text, "local", COURSE_MODEL, (*plan.reasons, Reason(ReasonCode.OFF_TOPIC)))

    def asked(self, correlation_id: str) -> IncomingMessage | None:
        """A message answered lately, by its correlation id (for "Ask the detailed model")."""
        return self._asked.get(correlation_id)

    async def escalate(
        self, original: IncomingMessage, vote: str = "down", sink: ReplySink | None = None
    ) -> Reply:
        """The same question again on the tier's cloud chain, because the learner asked.

        When the tier, its budget or privacy keep the question local, the reply says why
        and no model is called. Recorded as an escalation whose reason is the vote.
        """
        with correlation_scope(original.correlation_id):
            started = time.perf_counter()
            msg = replace(original, correlation_id=f"{original.correlation_id}-d")
            await self._restore(msg.conversation_key)
            await self.budgets.refresh()
            prefs = await self.preferences.preferences(
                msg.platform, msg.workspace, msg.channel, msg.user
            )
            plan = await self.planner.plan(msg, prefs)
            mode, _ = await self._teaching_for(msg)
            vote_reason = Reason(ReasonCode.LEARNER_VOTE, vote)
            if not plan.cloud:
                text = _why_local(plan)
                if sink is not None:
                    await sink.delta(text)
                return _stamp(
                    Reply(text, "local", "none", (*plan.reasons, vote_reason)),
                    msg,
                    plan.tier,
                    started,
                )
            plan = replace(plan, route="cloud", reasons=(*plan.reasons, vote_reason))
            passages, found = await self._retrieve(plan.question)
            key = msg.conversation_key
            past = list(self.history.get(key))
            if len(past) >= 2 and past[-2].content == plan.question:
                past = past[:-2]  # the local answer being replaced is not context for it

            prompt_for = self._prompter(past, plan.question, passages, msg.context)
            guarded = mode == "guide" and bool(self.teacher.course.exercises)
            answer, notes = await self._cloud(plan, prompt_for, None if guarded else sink)
            reasons = (*plan.reasons, *found, *notes)
            if answer is None:
                reply = Reply(
                    APOLOGY,
                    "cloud",
                    "none",
                    (*reasons, Reason(ReasonCode.CLOUD_FAILED)),
                    outcome="failed",
                )
                if sink is not None:
                    await sink.delta(APOLOGY)
                return await self._finish(msg, plan.tier, started, reply, mode)
            if guarded:
                questions = [m.content for m in self.history.get(key) if m.role == "user"]
                withheld = self._guard(key, [*questions, plan.question], answer, passages)
                if withheld is not None:
                    reasons = (*reasons, withheld)
                if sink is not None:
                    await sink.delta(answer.generation.text)
            gen = answer.generation
            cost = self.pricing.cost_usd(answer.model, gen.input_tokens, gen.output_tokens)
            self.budgets.add(plan.tier, user_key(msg), cost)
            self.history.add(key, plan.question, gen.text)
            reply = Reply(
                text=gen.text,
                route="cloud",
                model=answer.model,
                reasons=reasons,
                citations=_citations(passages),
                usage=Usage(gen.input_tokens, gen.output_tokens, cost),
                ttft_ms=gen.ttft_ms,
            )
            return await self._finish(msg, plan.tier, started, reply, mode)

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
        self,
        plan: RoutingPlan,
        msg: IncomingMessage,
        key: Hashable,
        sink: ReplySink | None,
        mode: str,
    ) -> Reply | None:
        """An answer that proved good to a question that means the same: no model call.

        In guide mode a remembered answer that would give away an exercise is not reused
        (it may have been given where the channel's mode was answer).
        """
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
        if mode == "guide" and not self.teacher.check([plan.question], found.answer).allowed:
            log.info("memory entry %s not reused: it would give away an exercise", found.entry_id)
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

    async def voted(self, correlation_id: str) -> None:
        """Learners' votes on an answer changed: course memory reuses only answers that
        proved good, so it takes them into account."""
        if self.memory is None:
            return
        try:
            await self.memory.voted(correlation_id)
        except Exception:
            log.exception("course memory could not take the vote on %s", correlation_id)

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
        text: str,
        passages: Sequence[Passage],
        reasons: tuple[Reason, ...],
        answer: _Answer | None,
        sink: ReplySink | None,
    ) -> Reply:
        """The course's own words, when no model gave an answer worth showing."""
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

    def _prompter(
        self,
        history: Sequence[ChatMessage],
        question: str,
        passages: Sequence[Passage],
        context: Sequence[ContextLine],
    ) -> PromptFor:
        """The prompt for each model, sized to its ``context_chars``."""

        def prompt_for(model: str) -> list[ChatMessage]:
            return fit_prompt(
                self.settings.tutor.system_prompt,
                history,
                question,
                passages,
                context,
                budget_chars=self.settings.models[model].context_chars,
                context_chars=self.settings.tutor.max_input_chars,
            )

        return prompt_for

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
        *,
        quoted: bool = False,
    ) -> tuple[_Answer | None, list[Reason]]:
        """Run the plan: gate local answers, fail over between local and cloud.

        Returns the answer (None when every model failed) and what happened on the way.
        ``quoted``: the course quote stands ready, so models marked ``quote_first`` are
        not asked.
        """
        if plan.route == "cloud":
            answer, notes = await self._cloud(plan, prompt, sink)
            if answer is not None:
                return answer, notes
            notes.append(Reason(ReasonCode.CLOUD_FAILED))
            answer, tried = await self._generate(plan.local, prompt, sink, plan, quoted)
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
        answer, notes = await self._generate(
            plan.local, prompt, None if hold else sink, plan, quoted
        )
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
        self,
        chain: Sequence[str],
        prompt: PromptFor,
        sink: ReplySink | None,
        plan: RoutingPlan,
        quoted: bool = False,
    ) -> tuple[_Answer | None, list[Reason]]:
        """Try the chain in order, healthy models first; skipped ones get a last chance.
        With ``quoted``, a model marked ``quote_first`` gives way to the course quote."""
        notes: list[Reason] = []
        skipped = []

        async def attempt(name: str) -> _Answer | None:
            if quoted and self.settings.models[name].quote_first:
                notes.append(Reason(ReasonCode.QUOTE_FIRST, name))
                return None
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

    async def _restore(self, key: tuple[str, str, str, str, str]) -> None:
        """A conversation's history and stickiness from the ledger, when this process has
        not seen it (or, on a ledger shared by instances, may have missed its last turns).
        A ledger that cannot be read leaves the conversation as it is: answering goes on."""
        source = self._turns
        if source is None or (not source.shared and key in self._restored):
            return
        self._restored[key] = True
        if not source.shared and (key in self.history or key in self._sticky):
            return
        try:
            turns = await source.recent_turns(key, self._restore_rows)
        except Exception as exc:  # said once until the ledger answers again
            level = logging.DEBUG if self._restore_failing else logging.WARNING
            log.log(level, "could not restore a conversation from the ledger (%s)", exc)
            self._restore_failing = True
            return
        self._restore_failing = False
        if self.settings.ledger.text_retention_days > 0:  # else the ledger keeps no text
            self.history.replace(key, history_pairs(turns))
        self._sticky[key] = sticky_left(turns, lambda tier: self._sticky_turns.get(tier, 0))

    def _update_sticky(self, key: Hashable, route: str, plan: RoutingPlan) -> None:
        remaining = self._sticky.get(key, 0)
        if plan.has(ReasonCode.STICKY):
            self._sticky[key] = remaining - 1
        elif route == "cloud":
            self._sticky[key] = plan.policy.sticky_turns

    async def _first_to_notice(self, tier: str) -> bool:
        """Whether no other instance sharing the ledger has told moderators yet that the
        tier's budget ran out this month (always, without a ledger to ask)."""
        claim = getattr(self.ledger, "claim_event", None)
        if claim is None:
            return True
        try:
            return bool(await claim(f"budget:{tier}:{month_of(self._clock())}"))
        except Exception:
            log.warning("could not ask the ledger who tells moderators; telling them here")
            return True

    async def _tell_moderators(self, text: str) -> None:
        log.warning("%s", text)
        if self.notify is None:
            return
        try:
            await self.notify(text)
        except Exception:
            log.exception("could not notify the moderators")

    async def _finish(
        self, msg: IncomingMessage, tier: str, started: float, reply: Reply, mode: str = ""
    ) -> Reply:
        reply = replace(_stamp(reply, msg, tier, started), mode=mode or self.settings.teaching.mode)
        self._last[(msg.platform, msg.workspace or "", msg.channel, msg.user)] = reply
        recorded = False
        if self.ledger is not None:
            try:
                await self.ledger.record(Interaction(msg, reply, tier, self._clock()))
                recorded = True
            except Exception:
                log.exception("[%s] could not record the interaction", msg.correlation_id)
        cited = getattr(self.teaching, "cited", None)
        if recorded and cited is not None and reply.citations:
            try:  # the lessons asked about, for instructors
                await cited(reply.correlation_id, msg.platform, msg.workspace, reply.citations)
            except Exception:
                log.exception("[%s] could not record the citations", msg.correlation_id)
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


def _why_local(plan: RoutingPlan) -> str:
    """Why a question cannot go to the detailed (cloud) model, in the learner's words."""
    if plan.has(ReasonCode.LOCAL_ONLY) or plan.has(ReasonCode.LOCAL_ONLY_CHANNEL):
        return (
            "I can't ask the detailed model: privacy is on here, so your questions stay "
            "on local models (`/tutor privacy off` changes that for you)."
        )
    if plan.has(ReasonCode.TIER_BUDGET) or plan.has(ReasonCode.LEARNER_BUDGET):
        return (
            "I can't ask the detailed model: this month's budget for it is used up. "
            'You can ask a teaching assistant instead ("Ask a TA").'
        )
    return (
        "I can't ask the detailed model: your tier has no detailed model. "
        'You can ask a teaching assistant instead ("Ask a TA").'
    )


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
