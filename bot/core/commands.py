"""The ``/tutor`` slash commands, shared by every platform.

Adapters translate a platform's command payload into a CommandRequest (and decide
whether the caller is a moderator); this module does the work and answers with a
CommandResult. ``ask`` is not here: adapters send it through the message handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.config import PERIODS, Settings
from bot.core.tutor import Tutor
from bot.events import CommandRequest, CommandResult
from bot.models.registry import ModelRegistry
from bot.ports import PreferenceStore

log = logging.getLogger(__name__)

MODERATOR_ONLY = frozenset({"model.set", "model.show", "model.list", "tier.set", "cost"})
# What changes every server at once (the one shared course index): configured operators only.
OPERATOR_ONLY = frozenset({"reindex"})
FAQ = frozenset({"faq.list", "faq.pin", "faq.forget"})  # course memory; moderators only

# Hooks supplied by other parts (the digest, the course index); None until wired.
CostHook = Callable[[CommandRequest, str], Awaitable[CommandResult]]
ReindexHook = Callable[[CommandRequest], Awaitable[CommandResult]]
FaqHook = Callable[[CommandRequest], Awaitable[CommandResult]]
# Deletes a learner's message text (and answers) from the usage ledger; returns how many.
ForgetTextHook = Callable[[str, str | None, str], Awaitable[int]]


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
    ) -> None:
        self.settings = settings
        self.tutor = tutor
        self.registry = registry
        self.preferences = preferences
        self.cost_hook = cost
        self.reindex_hook = reindex
        self.forget_text_hook = forget_text
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
