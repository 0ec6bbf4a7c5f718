"""Building interactions for ledger, digest and scheduler tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.events import IncomingMessage, Reason, ReasonCode, Reply, Usage
from bot.ports import Interaction

PARIS = ZoneInfo("Europe/Paris")

# Reasons as the tutor gives them, for rows that escalated.
PASTED_CODE = Reason(ReasonCode.CODE, "52>40")
LOW_CONFIDENCE = Reason(ReasonCode.LOW_CONFIDENCE, "0.31<0.45")


def paris(*args: int) -> float:
    """Unix seconds of a wall-clock time in Paris: ``paris(2026, 11, 2, 9)``."""
    return datetime(*args, tzinfo=PARIS).timestamp()


def interaction(
    at: float,
    *,
    tier: str = "free",
    model: str = "local",
    route: str = "local",
    outcome: str = "answered",
    user: str = "u1",
    workspace: str | None = "g1",
    platform: str = "discord",
    channel: str = "c1",
    tokens: tuple[int, int] = (10, 5),
    cost: float | None = 0.0,
    latency_ms: float = 100.0,
    reasons: tuple[Reason, ...] = (),
    text: str = "What is a list?",
    correlation_id: str = "",
    conversation: str | None = None,
) -> Interaction:
    msg = IncomingMessage(
        text=text,
        user=user,
        channel=channel,
        platform=platform,
        workspace=workspace,
        conversation=conversation,
    )
    reply = Reply(
        text="An answer.",
        route=route,  # type: ignore[arg-type]
        model=model,
        reasons=(Reason(ReasonCode.TIER, tier), *reasons),
        usage=Usage(*tokens, cost),
        latency_ms=latency_ms,
        ttft_ms=latency_ms / 4,
        outcome=outcome,  # type: ignore[arg-type]
        correlation_id=correlation_id or msg.correlation_id,
    )
    return Interaction(msg, reply, tier, at)


def cloud(at: float, **kw: object) -> Interaction:
    """A cloud answer on gpt-4o-mini (model ``cloud``), priced at $0.15/$0.60 per 1M."""
    tokens = kw.pop("tokens", (10, 5))
    assert isinstance(tokens, tuple)
    cost = (tokens[0] * 0.15 + tokens[1] * 0.60) / 1e6
    return interaction(at, model="cloud", route="cloud", tokens=tokens, cost=cost, **kw)  # type: ignore[arg-type]
