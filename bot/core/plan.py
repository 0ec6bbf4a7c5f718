"""The routing plan: everything decided about a message before any model runs.

One function (``Planner.plan``) weighs the message, the learner's and channel's
preferences, the tier's budget, privacy, stickiness, the channel's model and the task
models, and returns a frozen RoutingPlan. The tutor runs it; the confidence gate and
failover act on it and never decide the route again.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import RouterPolicy, Settings
from bot.core.budgets import BudgetBook
from bot.core.router import Route, Router, Task
from bot.events import IncomingMessage, Reason, ReasonCode, valid_unicode
from bot.models.registry import ModelRegistry
from bot.ports import Preferences

_TASK_ROLES = {"code-gen": "code_gen", "simple": "simple_query"}


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    """How one message is to be answered.

    ``question`` is the learner's own words, cleaned and cut to the input limit (empty:
    nothing to answer). ``route`` says which side answers first; ``local`` and ``cloud``
    are the chains to walk, in order; ``cloud`` is empty when the message may not leave
    the machine (privacy, budget). ``can_escalate`` is true when a cloud model can really
    take over: its key is set and its breaker closed, on top of budget and privacy. Only
    then is a local answer held back for the confidence gate instead of streamed.
    """

    tier: str
    question: str
    route: Route
    local: tuple[str, ...]
    cloud: tuple[str, ...]
    reasons: tuple[Reason, ...]
    policy: RouterPolicy
    task: Task = "general"
    can_escalate: bool = False

    def has(self, code: ReasonCode) -> bool:
        return any(reason.code is code for reason in self.reasons)


class Planner:
    """Makes the RoutingPlan of each message."""

    def __init__(
        self, settings: Settings, registry: ModelRegistry, router: Router, budgets: BudgetBook
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.router = router
        self.budgets = budgets
        self._tier_reasons = {name: Reason(ReasonCode.TIER, name) for name in settings.tiers}

    async def plan(
        self, msg: IncomingMessage, prefs: Preferences, *, sticky_turns: int = 0
    ) -> RoutingPlan:
        """The plan for ``msg``; ``sticky_turns`` are this conversation's cloud turns left."""
        tier = self._tier(msg, prefs)
        policy = self.settings.policy(tier)
        question, trimmed = _clean(msg.text, self.settings.tutor.max_input_chars)
        if not question:
            empty = (Reason(ReasonCode.EMPTY_MESSAGE),)
            return RoutingPlan(tier, "", "local", (), (), empty, policy)

        reasons = [self._tier_reasons[tier]]
        if trimmed:
            reasons.append(Reason(ReasonCode.TRIMMED, f"{len(msg.text)}>{len(question)}"))
        blocked = self._cloud_block(msg, prefs, tier)
        local, cloud = self._chains(tier, prefs, blocked)
        decision = await self.router.decide(
            question,
            policy,
            cloud_allowed=bool(cloud),
            blocked_reason=blocked,
            sticky_turns=sticky_turns,
        )
        reasons += decision.reasons
        route = decision.route
        if prefs.model in self.settings.models:
            # A moderator's model for the channel answers first, and its kind sets the
            # route. A local one still passes the confidence gate, so weak answers escalate.
            reasons.append(Reason(ReasonCode.CHANNEL_MODEL, prefs.model))
            if self.settings.is_local(prefs.model):
                route = "local"
            elif prefs.model in cloud:
                route = "cloud"
        local, cloud, task_model = self._task_model(decision.task, route, local, cloud)
        if task_model is not None:
            reasons.append(task_model)
        return RoutingPlan(
            tier=tier,
            question=question,
            route=route,
            local=tuple(local),
            cloud=tuple(cloud),
            reasons=tuple(reasons),
            policy=policy,
            task=decision.task,
            can_escalate=any(self._can_take_over(name) for name in cloud),
        )

    def _tier(self, msg: IncomingMessage, prefs: Preferences) -> str:
        for tier in (msg.tier, prefs.tier):
            if tier in self.settings.tiers:
                return tier
        return self.settings.routing.default_tier

    def _cloud_block(self, msg: IncomingMessage, prefs: Preferences, tier: str) -> Reason | None:
        """Why this message may not go to the cloud at all, if it may not."""
        if msg.local_only or prefs.local_only:
            return Reason(ReasonCode.LOCAL_ONLY)
        if msg.channel in self.settings.privacy.local_only_channels:
            return Reason(ReasonCode.LOCAL_ONLY_CHANNEL)
        return self.budgets.blocked(tier, user_key(msg))

    def _chains(
        self, tier: str, prefs: Preferences, blocked: Reason | None
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

    def _task_model(
        self, task: Task, route: Route, local: list[str], cloud: list[str]
    ) -> tuple[list[str], list[str], Reason | None]:
        """CODE_GEN_MODEL for code generation, SIMPLE_QUERY_MODEL for simple questions."""
        role = _TASK_ROLES.get(task)
        model = getattr(self.settings.roles, role) if role else ""
        if not model:
            return local, cloud, None
        reason = Reason(ReasonCode.TASK_MODEL, model)
        if self.settings.is_local(model):
            return _first(model, local), cloud, reason if route == "local" else None
        if cloud:
            return local, _first(model, cloud), reason if route == "cloud" else None
        return local, cloud, None

    def _can_take_over(self, name: str) -> bool:
        return self.registry.is_configured(name) and self.registry.is_healthy(name)


def user_key(msg: IncomingMessage) -> tuple[str, str, str]:
    """Whose budget a message spends: the learner in one workspace."""
    return (msg.platform, msg.workspace or "", msg.user)


def _clean(text: str, limit: int) -> tuple[str, bool]:
    """The text without NULs and outer blanks, cut to ``limit``; and whether it was cut."""
    text = text.replace("\x00", "").strip()
    text, trimmed = (text[:limit], True) if len(text) > limit else (text, False)
    return valid_unicode(text), trimmed


def _first(name: str, chain: list[str]) -> list[str]:
    return [name, *(n for n in chain if n != name)]
