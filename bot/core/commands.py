"""The ``/tutor`` slash commands, shared by every platform.

Adapters translate a platform's command payload into a CommandRequest (and decide
whether the caller is a moderator); this module does the work and answers with a
CommandResult. ``ask`` is not here: adapters send it through the message handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.config import PERIODS, Settings
from bot.core.teaching import MODES
from bot.core.tutor import Tutor
from bot.events import CommandRequest, CommandResult, IncomingMessage, Outbound
from bot.models.registry import ModelRegistry
from bot.ports import PreferenceStore

log = logging.getLogger(__name__)

MODERATOR_ONLY = frozenset(
    {"model.set", "model.show", "model.list", "tier.set", "cost", "mode", "offtopic", "insights"}
)
# What changes every server at once (the one shared course index): configured operators only.
OPERATOR_ONLY = frozenset({"reindex"})
FAQ = frozenset({"faq.list", "faq.pin", "faq.forget"})  # course memory; moderators only
VOTES = ("up", "down")
HANDOFF_WINDOW_S = 3600.0

# Hooks supplied by other parts (the digest, the course index); None until wired.
CostHook = Callable[[CommandRequest, str], Awaitable[CommandResult]]
ReindexHook = Callable[[CommandRequest], Awaitable[CommandResult]]
FaqHook = Callable[[CommandRequest], Awaitable[CommandResult]]
# Deletes a learner's message text (and answers) from the usage ledger; returns how many.
ForgetTextHook = Callable[[str, str | None, str], Awaitable[int]]
InsightsHook = Callable[[CommandRequest, str], Awaitable[CommandResult]]


class TeachingRecords(Protocol):
    """Where votes and hand-offs are kept (the ledger: bot.ledger.teaching)."""

    async def vote(
        self, correlation_id: str, platform: str, workspace: str | None, user: str, vote: str
    ) -> None: ...

    async def handoff(
        self,
        platform: str,
        workspace: str | None,
        channel: str,
        conversation: str,
        user: str,
        correlation_id: str | None,
        note: str | None,
    ) -> None: ...

    async def handoffs_since(
        self, platform: str, workspace: str | None, user: str, since: float
    ) -> int: ...

    async def staff_replied(
        self, platform: str, workspace: str | None, conversation: str
    ) -> int: ...

    async def question_of(
        self, correlation_id: str
    ) -> tuple[str, str, str, str, str, str] | None: ...


class Commands:
    """Callable as a ``CommandHandler``: ``await commands(request)``."""

    def __init__(
        self,
        settings: Settings,
        tutor: Tutor,
        registry: ModelRegistry,
        preferences: PreferenceStore,
        *,
        cost: CostHook | None = None,
        reindex: ReindexHook | None = None,
        faq: FaqHook | None = None,
        forget_text: ForgetTextHook | None = None,
        records: TeachingRecords | None = None,
        insights: InsightsHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.tutor = tutor
        self.registry = registry
        self.preferences = preferences
        self.cost_hook = cost
        self.reindex_hook = reindex
        self.forget_text_hook = forget_text
        self.records = records
        self.insights_hook = insights
        self._clock = clock
        self._table: dict[str, Callable[[CommandRequest], Awaitable[CommandResult]]] = {
            "forget": self.forget,
            "privacy": self.privacy,
            "why": self.why,
            "model.list": self.model_list,
            "model.show": self.model_show,
            "model.set": self.model_set,
            "tier.set": self.tier_set,
            "cost": self.cost,
            "reindex": self.reindex,
            "mode": self.mode,
            "offtopic": self.offtopic,
            "feedback": self.feedback,
            "detail": self.detail,
            "human": self.human,
            "staff.replied": self.staff_replied,
            "insights": self.insights,
        }
        if faq is not None:
            self._table |= dict.fromkeys(FAQ, faq)

    async def __call__(self, req: CommandRequest) -> CommandResult:
        action = self._table.get(req.name)
        if action is None:
            return CommandResult(f"Unknown command {req.name!r}.", ok=False)
        if req.name in OPERATOR_ONLY and not req.is_operator:
            log.warning(
                "[%s] refused %s to %s on %s/%s: not an operator",
                req.correlation_id,
                req.name,
                req.user,
                req.platform,
                req.workspace,
            )
            return CommandResult(f"Sorry, only the bot's operators can use `{req.name}`.", ok=False)
        if req.name in MODERATOR_ONLY | FAQ and not (req.is_moderator or req.is_operator):
            log.warning(
                "[%s] refused %s to non-moderator %s on %s/%s",
                req.correlation_id,
                req.name,
                req.user,
                req.platform,
                req.workspace,
            )
            return CommandResult(
                f"Sorry, only moderators can use `{req.name.replace('.', ' ')}`.", ok=False
            )
        try:
            return await action(req)
        except Exception:
            log.exception("[%s] command %s failed", req.correlation_id, req.name)
            return CommandResult(
                f"Something went wrong running that command (error id {req.correlation_id}).",
                ok=False,
            )

    # --- everyone ----------------------------------------------------------------------

    async def forget(self, req: CommandRequest) -> CommandResult:
        """Forget the learner's conversations here, and delete the text of their questions
        and answers from the usage ledger (so no export carries it); figures stay."""
        count = self.tutor.forget_user(req.platform, req.workspace, req.user)
        where = "here" if req.workspace else "in our direct messages"
        if self.forget_text_hook is None:
            return CommandResult(
                f"Done: I've forgotten our conversation history {where}. "
                "Your messages are not stored anywhere else."
                if count
                else "There was no conversation history to forget."
            )
        deleted = await self.forget_text_hook(req.platform, req.workspace, req.user)
        if not count and not deleted:
            return CommandResult("There was no conversation history to forget.")
        return CommandResult(
            f"Done: I've forgotten our conversation history {where} and deleted the text "
            f"of your questions and my answers from the usage log ({deleted} kept until "
            "now). What is kept is without text: when you asked, which model answered, "
            "and what it cost."
        )

    async def privacy(self, req: CommandRequest) -> CommandResult:
        mode = req.args.get("mode", "on").strip().lower()
        if mode not in {"on", "off"}:
            return CommandResult("Use `privacy on` or `privacy off`.", ok=False)
        on = mode == "on"
        await self.preferences.set_local_only(req.platform, req.workspace, req.user, on)
        return CommandResult(
            "Privacy on, in every server and in DMs: your questions will only be answered by "
            "local models, never sent to a cloud service (not even to search the course)."
            if on
            else "Privacy off: hard questions may be answered by a cloud model again."
        )

    async def why(self, req: CommandRequest) -> CommandResult:
        reply = self.tutor.last_reply(req.platform, req.workspace, req.channel, req.user)
        if reply is None:
            return CommandResult("I haven't answered you in this channel yet.")
        where = {"local": "a local model", "memory": "course memory"}.get(
            reply.route, "a cloud model"
        )
        lines = [f"Your last answer came from **{reply.model}** ({where})."]
        if reply.reasons:
            lines.append("Reasons: " + ", ".join(f"`{r}`" for r in reply.reasons))
        if reply.confidence is not None:
            lines.append(f"Confidence: {reply.confidence:.2f}")
        return CommandResult("\n".join(lines))

    async def model_list(self, req: CommandRequest) -> CommandResult:
        health = self.registry.health()
        lines = []
        for name, config in self.settings.models.items():
            kind = "local" if self.settings.is_local(name) else "cloud"
            state = "ok" if self.registry.is_healthy(name) else "unavailable"
            lines.append(f"- `{name}`: {config.provider} {config.model} ({kind}, {state})")
            if health[name].last_error and state != "ok":
                lines[-1] += f": {health[name].last_error}"
        return CommandResult("\n".join(lines), choices=tuple(self.settings.models))

    async def model_show(self, req: CommandRequest) -> CommandResult:
        prefs = await self.preferences.preferences(
            req.platform, req.workspace, req.channel, req.user
        )
        tier = prefs.tier if prefs.tier in self.settings.tiers else None
        tier = tier or self.settings.routing.default_tier
        chain = " -> ".join(self.settings.chain(tier))
        if prefs.model:
            return CommandResult(
                f"This channel uses `{prefs.model}` first (set by a moderator), then {chain}."
            )
        return CommandResult(f"This channel uses the {tier} tier's models: {chain}.")

    # --- moderators --------------------------------------------------------------------

    async def model_set(self, req: CommandRequest) -> CommandResult:
        model = req.args.get("model", "").strip()
        scope = req.args.get("scope", "channel").strip().lower()
        if scope not in {"channel", "server"}:
            return CommandResult("Scope must be `channel` or `server`.", ok=False)
        channel = req.channel if scope == "channel" else None
        if model in {"", "default", "reset"}:
            await self.preferences.set_model(req.platform, req.workspace, channel, None)
            return CommandResult(f"This {scope} is back to the tier's default models.")
        if model not in self.settings.models:
            return CommandResult(
                f"There is no model `{model}`. Configured: "
                + ", ".join(f"`{m}`" for m in self.settings.models),
                ok=False,
            )
        await self.preferences.set_model(req.platform, req.workspace, channel, model)
        log.info("[%s] %s set model %s for %s", req.correlation_id, req.user, model, scope)
        note = "" if self.registry.is_healthy(model) else " (it is unavailable right now)"
        return CommandResult(f"This {scope} now uses `{model}` first{note}.", ephemeral=False)

    async def tier_set(self, req: CommandRequest) -> CommandResult:
        user = req.args.get("user", "").strip()
        tier = req.args.get("tier", "").strip()
        if not user:
            return CommandResult("Name the learner whose tier to set.", ok=False)
        if tier not in self.settings.tiers:
            return CommandResult(
                f"There is no tier `{tier}`. Tiers: " + ", ".join(self.settings.tiers), ok=False
            )
        await self.preferences.set_tier(req.platform, req.workspace, user, tier)
        return CommandResult(f"Learner {user} is now on the {tier} tier.")

    async def cost(self, req: CommandRequest) -> CommandResult:
        period = req.args.get("period", "week").strip().lower()
        if period not in PERIODS:
            return CommandResult(f"Period must be one of {', '.join(PERIODS)}.", ok=False)
        if self.cost_hook is None:
            return CommandResult(
                "The usage ledger is not enabled, so there is no digest.", ok=False
            )
        return await self.cost_hook(req, period)

    async def reindex(self, req: CommandRequest) -> CommandResult:
        if self.reindex_hook is None:
            return CommandResult("No course index is configured.", ok=False)
        return await self.reindex_hook(req)

    # --- teaching ----------------------------------------------------------------------

    async def mode(self, req: CommandRequest) -> CommandResult:
        """``/tutor mode guide|answer`` for this channel; no argument shows it."""
        wanted = req.args.get("mode", "").strip().lower()
        if wanted in {"", "show"}:
            current, _ = await self.tutor.teaching.channel_settings(
                req.platform, req.workspace, req.channel
            )
            mode = current or self.settings.teaching.mode
            return CommandResult(f"This channel's teaching mode is `{mode}`.")
        if wanted not in MODES:
            return CommandResult("Use `mode guide` or `mode answer`.", ok=False)
        await self.tutor.teaching.set_channel_mode(req.platform, req.workspace, req.channel, wanted)
        log.info("[%s] %s set teaching mode %s", req.correlation_id, req.user, wanted)
        if wanted == "guide":
            return CommandResult(
                "Guide mode: I help learners find exercise solutions with questions and hints, "
                "and never write them out.",
                ephemeral=False,
            )
        return CommandResult(
            "Answer mode: I answer questions in full, exercise solutions included.",
            ephemeral=False,
        )

    async def offtopic(self, req: CommandRequest) -> CommandResult:
        """``/tutor offtopic on|off``: redirect messages that are not about the course."""
        wanted = req.args.get("mode", "on").strip().lower()
        if wanted not in {"on", "off"}:
            return CommandResult("Use `offtopic on` or `offtopic off`.", ok=False)
        on = wanted == "on"
        await self.tutor.teaching.set_channel_off_topic(
            req.platform, req.workspace, req.channel, on
        )
        return CommandResult(
            "Off-topic messages get a short redirect to the course here."
            if on
            else "I answer every message here, on topic or not."
        )

    async def feedback(self, req: CommandRequest) -> CommandResult:
        """A learner's vote on an answer (a button, ``/good``, ``/bad``); the latest wins."""
        vote = req.args.get("vote", "").strip().lower()
        answer = req.args.get("answer", "").strip()
        if vote not in VOTES or not answer:
            return CommandResult("A vote is up or down, on one answer.", ok=False)
        if self.records is None:
            return CommandResult("Votes are not recorded here (no ledger).", ok=False)
        await self.records.vote(answer, req.platform, req.workspace, req.user, vote)
        await self.tutor.voted(answer)
        if vote == "up":
            return CommandResult("Thanks! Glad that helped.")
        route = req.args.get("route", "").strip()
        if route not in {"local", "cloud"}:
            reply = self.tutor.last_reply(req.platform, req.workspace, req.channel, req.user)
            route = reply.route if reply and reply.correlation_id == answer else "local"
        actions = ("detail", "human") if route == "local" else ("human",)
        offer = (
            ' You can ask the detailed model ("Ask the detailed model") or a teaching '
            'assistant ("Ask a TA").'
            if route == "local"
            else ' You can ask a teaching assistant ("Ask a TA").'
        )
        return CommandResult("Thanks for telling me." + offer, actions=actions)

    async def detail(self, req: CommandRequest) -> CommandResult:
        """ "Ask the detailed model": the voted-down question again on the cloud chain."""
        answer = req.args.get("answer", "").strip()
        original = await self._original(answer)
        if original is None:
            return CommandResult(
                "I can't find that question any more (its text may have been deleted), so "
                "please ask it again.",
                ok=False,
            )
        if original.user != req.user:
            return CommandResult("Only the learner who asked can ask the detailed model.", ok=False)
        reply = await self.tutor.escalate(original, req.args.get("vote", "down"))
        ok = reply.route == "cloud" and reply.outcome != "failed"
        return CommandResult(reply.text, ok=ok, ephemeral=not ok, actions=("human",))

    async def human(self, req: CommandRequest) -> CommandResult:
        """``/tutor human [note]`` and "Ask a TA": hand the question on to course staff."""
        config = self.settings.teaching
        channel = config.staff_channel.get(req.platform)
        if not channel:
            return CommandResult(
                "No staff channel is set up here, so I can't pass your question on. "
                "Please ask your course staff directly.",
                ok=False,
            )
        if self.records is not None:
            since = self._clock() - HANDOFF_WINDOW_S
            asked = await self.records.handoffs_since(req.platform, req.workspace, req.user, since)
            if asked >= config.handoffs_per_hour:
                return CommandResult(
                    "You've already asked for a person several times this hour; the staff "
                    "have your questions and will reply in your thread.",
                    ok=False,
                )
        answer = req.args.get("answer", "").strip() or None
        note = req.args.get("note", "").strip() or None
        conversation = req.args.get("conversation", "").strip() or req.channel
        question, said = await self._asked_and_answered(req, answer)
        lines = [
            f"A learner (`{req.user}`) asked for a person in <#{req.channel}>.",
            f"> Question: {_quote(question) if question else '(none asked yet)'}",
        ]
        if said:
            lines.append(f"> My answer: {_quote(said, 600)}")
        if note:
            lines.append(f"> Their note: {_quote(note)}")
        if link := req.args.get("link", "").strip():
            lines.append(f"Conversation: {link}")
        post = Outbound(
            platform=req.platform,
            channel=channel,
            text="\n".join(lines),
            mention_role=config.staff_role.get(req.platform) or None,
        )
        if self.records is not None:
            await self.records.handoff(
                req.platform, req.workspace, req.channel, conversation, req.user, answer, note
            )
        log.info("[%s] %s handed on to staff", req.correlation_id, req.user)
        return CommandResult(
            "I've passed your question on to the course staff; someone will reply here. "
            "I'll stay quiet in this thread once they do.",
            outbound=(post,),
        )

    async def staff_replied(self, req: CommandRequest) -> CommandResult:
        """A staff member replied in a conversation: its open hand-offs are answered."""
        conversation = req.args.get("conversation", "").strip()
        if self.records is None or not conversation:
            return CommandResult("", ok=False)
        count = await self.records.staff_replied(req.platform, req.workspace, conversation)
        return CommandResult(f"{count} hand-off(s) answered.")

    async def insights(self, req: CommandRequest) -> CommandResult:
        period = req.args.get("period", "week").strip().lower()
        if period not in PERIODS:
            return CommandResult(f"Period must be one of {', '.join(PERIODS)}.", ok=False)
        if self.insights_hook is None:
            return CommandResult("The usage ledger is not enabled, so there are no insights.")
        return await self.insights_hook(req, period)

    async def _original(self, answer: str) -> IncomingMessage | None:
        """The message an answer answered: from memory, or the ledger after a restart."""
        if not answer:
            return None
        base = answer.removesuffix("-d")
        found = self.tutor.asked(base)
        if found is not None or self.records is None:
            return found
        row = await self.records.question_of(base)
        if row is None:
            return None
        platform, workspace, channel, user, tier, text = row
        return IncomingMessage(
            text=text,
            user=user,
            channel=channel,
            platform=platform,
            workspace=workspace or None,
            tier=tier,
            correlation_id=base,
        )

    async def _asked_and_answered(self, req: CommandRequest, answer: str | None) -> tuple[str, str]:
        original = await self._original(answer or "")
        reply = self.tutor.last_reply(req.platform, req.workspace, req.channel, req.user)
        question = original.text if original is not None else ""
        said = ""
        if reply is not None and (answer is None or reply.correlation_id.startswith(answer)):
            said = reply.text
            if not question:
                asked = self.tutor.asked(reply.correlation_id)
                question = asked.text if asked else ""
        return question, said


def _quote(text: str, limit: int = 400) -> str:
    """Learner or model text for the staff post: one line, cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
