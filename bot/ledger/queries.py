"""Named queries: every read and write the rest of the bot makes on the ledger's tables.

Each is an async function taking the ledger and returning plain rows (named tuples, so
callers may unpack them) or a small dataclass. The SQL lives here and nowhere else, so
a schema change is one file's change. Digests read the rollups (see ``schema``), never
the raw rows, except to count distinct learners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from bot.ledger.schema import DAY_S, QUARTER_S

QUARTERS_PER_DAY = DAY_S // QUARTER_S


class Reader(Protocol):
    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Writer(Protocol):
    async def write(self, *statements: tuple[str, Sequence[Any]]) -> list[int]: ...


class Inserter(Protocol):
    async def insert(self, sql: str, params: Sequence[Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """Limits a digest to one workspace (a Discord guild, a Slack workspace)."""

    platform: str
    workspace: str | None


def _scoped(scope: Scope | None, prefix: str = "") -> tuple[str, list[Any]]:
    """The WHERE clause's extra terms (and their parameters) limiting rows to ``scope``."""
    if scope is None:
        return "", []
    return (
        f" AND {prefix}platform = ? AND {prefix}workspace = ?",
        [scope.platform, scope.workspace or ""],
    )


# --- digests -------------------------------------------------------------------------------


class UsageRow(NamedTuple):
    q: int  # the quarter-hour (floor(at / 900))
    tier: str
    model: str
    route: str
    outcome: str
    questions: int
    cost_usd: float  # known costs only
    unknown_cost: int
    saved_usd: float
    unknown_saved: int


class ReasonRow(NamedTuple):
    tier: str
    reason: str
    count: int


class LatencyRow(NamedTuple):
    tier: str
    bucket: int  # see schema.latency_bucket
    count: int


class LearnerRow(NamedTuple):
    tier: str
    learner: int  # learners.id


class TierSpend(NamedTuple):
    tier: str
    spent_usd: float
    unknown_cost: int


async def usage(ledger: Reader, q0: int, q1: int, scope: Scope | None = None) -> list[UsageRow]:
    """Questions, costs and savings per quarter, tier, model, route and outcome in [q0, q1)."""
    where, params = _scoped(scope)
    rows = await ledger.query(
        "SELECT q, tier, model, route, outcome, sum(questions), total(cost_usd),"
        " sum(unknown_cost), total(saved_usd), sum(unknown_saved)"
        f" FROM usage_q WHERE q >= ? AND q < ?{where} GROUP BY 1, 2, 3, 4, 5",
        [q0, q1, *params],
    )
    return [UsageRow(*row) for row in rows]


async def escalation_reasons(
    ledger: Reader, q0: int, q1: int, scope: Scope | None = None
) -> list[ReasonRow]:
    """How often each escalation key sent a tier's question to the cloud in [q0, q1)."""
    where, params = _scoped(scope)
    rows = await ledger.query(
        f"SELECT tier, reason, sum(n) FROM reasons_q WHERE q >= ? AND q < ?{where} GROUP BY 1, 2",
        [q0, q1, *params],
    )
    return [ReasonRow(*row) for row in rows]


async def latency_histogram(
    ledger: Reader, q0: int, q1: int, scope: Scope | None = None
) -> list[LatencyRow]:
    """Answers per tier and latency bucket in [q0, q1).

    Whole UTC days come from the daily histogram, the ragged ends from the 15-minute one.
    """
    where, params = _scoped(scope)
    d0 = -(-q0 // QUARTERS_PER_DAY)
    d1 = q1 // QUARTERS_PER_DAY
    if d0 >= d1:
        d0 = d1 = 0
        spans = [(q0, q1), (0, 0)]
    else:
        spans = [(q0, d0 * QUARTERS_PER_DAY), (d1 * QUARTERS_PER_DAY, q1)]
    quarter = f"SELECT tier, bucket, n FROM latency_q WHERE q >= ? AND q < ?{where}"
    rows = await ledger.query(
        "SELECT tier, bucket, sum(n) FROM ("
        f"SELECT tier, bucket, n FROM latency_d WHERE day >= ? AND day < ?{where}"
        f" UNION ALL {quarter} UNION ALL {quarter}) GROUP BY 1, 2",
        [d0, d1, *params, *spans[0], *params, *spans[1], *params],
    )
    return [LatencyRow(*row) for row in rows]


async def active_learners(
    ledger: Reader,
    start_ts: float,
    end_ts: float,
    q0: int,
    q1: int,
    scope: Scope | None = None,
) -> list[LearnerRow]:
    """(tier, learner id) for each learner with a message in [start_ts, end_ts), per tier.

    ``q0``/``q1`` are the quarters around the span. One index probe per learner active
    around the window and tier, so it costs the same however many messages each sent.
    """
    where, params = _scoped(scope)
    where_l, params_l = _scoped(scope, "l.")
    span = [start_ts, end_ts]
    rows = await ledger.query(
        "SELECT t.tier, l.id FROM learners AS l,"
        f" (SELECT DISTINCT tier FROM usage_q WHERE q >= ? AND q < ?{where}) AS t"
        f" WHERE l.last_at >= ? AND l.first_at < ?{where_l} AND EXISTS (SELECT 1"
        " FROM interactions AS i WHERE i.platform = l.platform AND i.workspace = l.workspace"
        " AND i.user = l.user AND i.tier = t.tier AND i.at >= ? AND i.at < ?)",
        [q0, q1, *params, *span, *params_l, *span],
    )
    return [LearnerRow(*row) for row in rows]


async def spend_by_tier(ledger: Reader, q0: int, q1: int) -> list[TierSpend]:
    """Known cloud spend (and answers of unknown cost) per tier in [q0, q1)."""
    rows = await ledger.query(
        "SELECT tier, total(cost_usd), sum(unknown_cost) FROM usage_q"
        " WHERE q >= ? AND q < ? GROUP BY 1",
        [q0, q1],
    )
    return [TierSpend(*row) for row in rows]


# --- digest posts ----------------------------------------------------------------------------


class DigestPost(NamedTuple):
    period_key: str
    target: str
    status: str
    at: float  # posted_at, or claimed_at while not posted
    error: str | None


async def claim_digest_post(
    ledger: Writer, period_key: str, target: str, run_id: str, now: float, stale_before: float
) -> bool:
    """Claim a period's post to a target for ``run_id``; False if it is taken.

    A claim is taken unless its post failed or it is still pending from before
    ``stale_before`` (its process died mid-send).
    """
    (count,) = await ledger.write(
        (
            "INSERT INTO digest_posts (period_key, target, status, run_id, claimed_at)"
            " VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (period_key, target) DO UPDATE"
            " SET status = 'pending', run_id = excluded.run_id,"
            " claimed_at = excluded.claimed_at, error = NULL"
            " WHERE status = 'failed' OR (status = 'pending' AND claimed_at < ?)",
            (period_key, target, run_id, now, stale_before),
        )
    )
    return count == 1


async def mark_digest_post(
    ledger: Writer,
    period_key: str,
    target: str,
    run_id: str,
    status: str,
    at: float,
    *,
    text: str | None = None,
    error: str | None = None,
) -> None:
    """Record how ``run_id``'s claimed post ended (sent or failed)."""
    await ledger.write(
        (
            "UPDATE digest_posts SET status = ?, posted_at = ?, text = ?, error = ?"
            " WHERE period_key = ? AND target = ? AND run_id = ?",
            (status, at, text, error, period_key, target, run_id),
        )
    )


async def latest_digest_posts(ledger: Reader, limit: int = 10) -> list[DigestPost]:
    """The most recently claimed digest posts, newest first."""
    rows = await ledger.query(
        "SELECT period_key, target, status, coalesce(posted_at, claimed_at), error"
        " FROM digest_posts ORDER BY claimed_at DESC LIMIT ?",
        [limit],
    )
    return [DigestPost(*row) for row in rows]


# --- tutor stats -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    interactions: int
    first_at: float | None
    last_at: float | None
    with_text: int  # rows whose message text is still kept
    learners: int
    schema_version: int


class ModelUsage(NamedTuple):
    model: str
    route: str
    questions: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unknown_cost: int


async def overview(ledger: Reader) -> Overview:
    """The ledger's size and span."""
    ((rows, first, last, with_text),) = await ledger.query(
        "SELECT count(*), min(at), max(at), count(text) FROM interactions"
    )
    ((learners,),) = await ledger.query("SELECT count(*) FROM learners")
    ((version,),) = await ledger.query("PRAGMA user_version")
    return Overview(rows, first, last, with_text, learners, int(version))


async def usage_by_model(ledger: Reader, q0: int, q1: int) -> list[ModelUsage]:
    """Messages, tokens and cost per model and route in [q0, q1), busiest first."""
    rows = await ledger.query(
        "SELECT model, route, sum(questions), sum(input_tokens), sum(output_tokens),"
        " total(cost_usd), sum(unknown_cost) FROM usage_q WHERE q >= ? AND q < ?"
        " GROUP BY 1, 2 ORDER BY 3 DESC",
        [q0, q1],
    )
    return [ModelUsage(*row) for row in rows]


# --- fine-tuning -----------------------------------------------------------------------------


class Escalation(NamedTuple):
    text: str  # the learner's message
    answer: str  # the cloud's answer


async def escalated_answers(ledger: Reader, since: float = 0.0) -> list[Escalation]:
    """Answered cloud escalations since ``since`` whose text is still kept, oldest first."""
    rows = await ledger.query(
        "SELECT text, answer FROM interactions WHERE route = 'cloud' AND outcome != 'failed'"
        " AND text IS NOT NULL AND answer IS NOT NULL AND at >= ? ORDER BY at",
        (since,),
    )
    return [Escalation(*row) for row in rows]


# --- course memory ---------------------------------------------------------------------------


class MemoryRow(NamedTuple):
    id: int
    platform: str
    workspace: str
    course: str
    question: str
    answer: str
    origin: str  # cloud | local | pinned
    model: str
    citations: str  # JSON
    sources: str  # JSON
    embedder: str
    embedding: bytes
    cost_usd: float | None
    correlation_id: str
    votes_up: int
    votes_down: int
    uses: int
    created_at: float
    last_used_at: float | None


_MEMORY_COLUMNS = (
    "id, platform, workspace, course, question, answer, origin, model, citations, sources,"
    " embedder, embedding, cost_usd, correlation_id, votes_up, votes_down, uses, created_at,"
    " last_used_at"
)


async def add_memory(ledger: Inserter, row: MemoryRow) -> int:
    """Store a new entry (``row.id`` is ignored); returns its id."""
    values = tuple(row)[1:]
    return await ledger.insert(
        f"INSERT INTO memory_entries ({_MEMORY_COLUMNS.removeprefix('id, ')})"
        f" VALUES ({', '.join('?' * len(values))})",
        values,
    )


async def memory_entries(ledger: Reader, course: str | None = None) -> list[MemoryRow]:
    """Entries in use (not retired), oldest first; of one course, or of every course."""
    where, params = ("", []) if course is None else (" AND course = ?", [course])
    rows = await ledger.query(
        f"SELECT {_MEMORY_COLUMNS} FROM memory_entries WHERE retired_at IS NULL{where} ORDER BY id",
        params,
    )
    return [MemoryRow(*row) for row in rows]


async def retire_memory(ledger: Writer, entry_id: int, at: float, why: str) -> bool:
    """Stop reusing an entry; False when there is no such entry in use."""
    (count,) = await ledger.write(
        (
            "UPDATE memory_entries SET retired_at = ?, retired_why = ?"
            " WHERE id = ? AND retired_at IS NULL",
            (at, why, entry_id),
        )
    )
    return count == 1


async def memory_used(ledger: Writer, entry_id: int, at: float) -> None:
    """Count one reuse of an entry."""
    await ledger.write(
        (
            "UPDATE memory_entries SET uses = uses + 1, last_used_at = ? WHERE id = ?",
            (at, entry_id),
        )
    )


async def pin_memory(ledger: Writer, entry_id: int) -> bool:
    """Make an entry a moderator's answer (reused whatever its votes)."""
    (count,) = await ledger.write(
        (
            "UPDATE memory_entries SET origin = 'pinned' WHERE id = ? AND retired_at IS NULL",
            (entry_id,),
        )
    )
    return count == 1


async def vote_memory(ledger: Writer, correlation_id: str, up: int, down: int) -> int:
    """Add learners' votes to the entry made from an interaction; how many entries."""
    (count,) = await ledger.write(
        (
            "UPDATE memory_entries SET votes_up = votes_up + ?, votes_down = votes_down + ?"
            " WHERE correlation_id = ? AND correlation_id != ''",
            (up, down, correlation_id),
        )
    )
    return count


# --- router learning -------------------------------------------------------------------------


class Outcome(NamedTuple):
    text: str
    route: str
    model: str
    outcome: str
    reason_codes: str  # JSON list


async def routing_outcomes(ledger: Reader, since: float, limit: int) -> list[Outcome]:
    """Answered messages since ``since`` whose text is still kept, newest first."""
    rows = await ledger.query(
        "SELECT text, route, model, outcome, coalesce(reason_codes, '[]') FROM interactions"
        " WHERE at >= ? AND text IS NOT NULL AND outcome != 'failed' ORDER BY at DESC LIMIT ?",
        (since, limit),
    )
    return [Outcome(*row) for row in rows]


class Learning(NamedTuple):
    at: float
    learned_local: int
    learned_cloud: int
    accuracy_before: float
    accuracy_after: float
    local_share_before: float
    local_share_after: float
    kept: bool


async def record_learning(ledger: Writer, run: Learning) -> None:
    await ledger.write(
        (
            "INSERT INTO router_learning (at, learned_local, learned_cloud, accuracy_before,"
            " accuracy_after, local_share_before, local_share_after, kept)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(run),
        )
    )


async def latest_learning(ledger: Reader, start_ts: float, end_ts: float) -> Learning | None:
    """The last refit of the routing classifier in [start_ts, end_ts), if any."""
    rows = await ledger.query(
        "SELECT at, learned_local, learned_cloud, accuracy_before, accuracy_after,"
        " local_share_before, local_share_after, kept FROM router_learning"
        " WHERE at >= ? AND at < ? ORDER BY at DESC LIMIT 1",
        (start_ts, end_ts),
    )
    return Learning(*rows[0][:7], bool(rows[0][7])) if rows else None
