"""Named queries: every read and write the rest of the bot makes on the ledger's tables.

Each is an async function taking the ledger and returning plain rows (named tuples, so
callers may unpack them) or a small dataclass. The SQL lives here and nowhere else, so
a schema change is one file's change. Digests read the rollups (see ``schema``), never
the raw rows, except to count distinct learners.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from bot.core.history import PastTurn
from bot.ledger.schema import DAY_S, QUARTER_S

QUARTERS_PER_DAY = DAY_S // QUARTER_S


class Reader(Protocol):
    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Writer(Protocol):
    async def write(self, *statements: tuple[str, Sequence[Any]]) -> list[int]: ...


class ReadWriter(Reader, Writer, Protocol):
    pass


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
        f" UNION ALL {quarter} UNION ALL {quarter}) AS h GROUP BY 1, 2",
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
            " WHERE digest_posts.status = 'failed'"
            " OR (digest_posts.status = 'pending' AND digest_posts.claimed_at < ?)",
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


# --- platform events taken ------------------------------------------------------------------


async def claim_event(ledger: Writer, key: str, at: float) -> bool:
    """True for the first instance to offer ``key`` (a platform event), False after."""
    (count,) = await ledger.write(
        ("INSERT INTO events_seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, at))
    )
    return count == 1


async def forget_events(ledger: Writer, before: float) -> int:
    """Delete the events taken before ``before``; how many."""
    (count,) = await ledger.write(("DELETE FROM events_seen WHERE at < ?", (before,)))
    return count


# --- conversations ---------------------------------------------------------------------------


async def recent_turns(ledger: Reader, key: Sequence[str], limit: int) -> list[PastTurn]:
    """The latest ``limit`` replies of a conversation ``(platform, workspace, channel,
    conversation, user)``, oldest first: its history and stickiness on another instance."""
    rows = await ledger.query(
        "SELECT tier, route, model, outcome, reason_codes, text, answer FROM interactions"
        " WHERE platform = ? AND workspace = ? AND channel = ? AND conversation = ?"
        " AND user = ? AND conversation IS NOT NULL ORDER BY at DESC, id DESC LIMIT ?",
        [*key, limit],
    )
    return [
        PastTurn(tier, route, model, outcome, tuple(_codes(codes)), text, answer)
        for tier, route, model, outcome, codes, text, answer in reversed(rows)
    ]


def _codes(value: str | None) -> list[str]:
    try:
        parsed = json.loads(value or "[]")
    except ValueError:
        return []
    return [str(code) for code in parsed] if isinstance(parsed, list) else []


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


async def sync_memory_votes(ledger: ReadWriter, correlation_id: str) -> tuple[int, int] | None:
    """Copy the learners' votes (table ``feedback``: one per learner, the latest wins) on an
    interaction to the entry made from it; its (up, down), or None when there is none."""
    (count,) = await ledger.write(
        (
            "UPDATE memory_entries SET"
            " votes_up = (SELECT count(*) FROM feedback AS f"
            "  WHERE f.correlation_id = memory_entries.correlation_id AND f.vote = 'up'),"
            " votes_down = (SELECT count(*) FROM feedback AS f"
            "  WHERE f.correlation_id = memory_entries.correlation_id AND f.vote = 'down')"
            " WHERE correlation_id = ? AND correlation_id != ''",
            (correlation_id,),
        )
    )
    if not count:
        return None
    rows = await ledger.query(
        "SELECT votes_up, votes_down FROM memory_entries WHERE correlation_id = ? LIMIT 1",
        (correlation_id,),
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


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


# --- teaching ------------------------------------------------------------------------------


async def channel_teaching(ledger: Reader) -> list[tuple[str, str, str, str | None, int | None]]:
    """(platform, workspace, channel, mode, off_topic) of every channel a moderator set."""
    rows = await ledger.query(
        "SELECT platform, workspace, channel, mode, off_topic FROM channel_teaching"
    )
    return [(p, w, c, m, o) for p, w, c, m, o in rows]


async def set_channel_mode(
    ledger: Writer, platform: str, workspace: str, channel: str, mode: str, at: float
) -> None:
    await ledger.write(
        (
            "INSERT INTO channel_teaching (platform, workspace, channel, mode, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, channel)"
            " DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
            (platform, workspace, channel, mode, at),
        )
    )


async def set_channel_off_topic(
    ledger: Writer, platform: str, workspace: str, channel: str, on: bool, at: float
) -> None:
    await ledger.write(
        (
            "INSERT INTO channel_teaching (platform, workspace, channel, off_topic, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, channel)"
            " DO UPDATE SET off_topic = excluded.off_topic, updated_at = excluded.updated_at",
            (platform, workspace, channel, int(on), at),
        )
    )


async def hint_state(ledger: Reader, conversation: str) -> tuple[int, str]:
    """(level, topic) of a conversation's hint ladder; (0, "") when it has none."""
    rows = await ledger.query(
        "SELECT level, topic FROM hint_levels WHERE conversation = ?", (conversation,)
    )
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, "")


async def set_hint_state(
    ledger: Writer, conversation: str, level: int, topic: str, at: float
) -> None:
    await ledger.write(
        (
            "INSERT INTO hint_levels VALUES (?, ?, ?, ?) ON CONFLICT (conversation)"
            " DO UPDATE SET level = excluded.level, topic = excluded.topic,"
            " updated_at = excluded.updated_at",
            (conversation, level, topic, at),
        )
    )


async def record_vote(
    ledger: Writer,
    correlation_id: str,
    platform: str,
    workspace: str,
    user: str,
    vote: str,
    at: float,
) -> None:
    """One vote per learner per answer: a later vote replaces the earlier one."""
    await ledger.write(
        (
            "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (correlation_id, platform, workspace, user)"
            " DO UPDATE SET vote = excluded.vote, at = excluded.at",
            (correlation_id, platform, workspace, user, vote, at),
        )
    )


class Vote(NamedTuple):
    correlation_id: str
    user: str
    vote: str
    at: float


async def votes(ledger: Reader, correlation_id: str) -> list[Vote]:
    """The votes on one answer."""
    rows = await ledger.query(
        "SELECT correlation_id, user, vote, at FROM feedback WHERE correlation_id = ? ORDER BY at",
        (correlation_id,),
    )
    return [Vote(*row) for row in rows]


async def record_handoff(
    ledger: Writer,
    at: float,
    platform: str,
    workspace: str,
    channel: str,
    conversation: str,
    user: str,
    correlation_id: str | None,
    note: str | None,
) -> None:
    await ledger.write(
        (
            "INSERT INTO handoffs (at, platform, workspace, channel, conversation, user,"
            " correlation_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, platform, workspace, channel, conversation, user, correlation_id, note),
        )
    )


async def handoffs_since(
    ledger: Reader, platform: str, workspace: str, user: str, since: float
) -> int:
    """How many hand-offs a learner asked for since ``since`` (for the rate limit)."""
    ((count,),) = await ledger.query(
        "SELECT count(*) FROM handoffs WHERE platform = ? AND workspace = ? AND user = ?"
        " AND at >= ?",
        (platform, workspace, user, since),
    )
    return int(count)


async def staff_replied(
    ledger: Writer, platform: str, workspace: str, conversation: str, at: float
) -> int:
    """Mark a conversation's open hand-offs answered by staff at ``at``; how many."""
    (count,) = await ledger.write(
        (
            "UPDATE handoffs SET answered_at = ? WHERE platform = ? AND workspace = ?"
            " AND conversation = ? AND answered_at IS NULL AND at <= ?",
            (at, platform, workspace, conversation, at),
        )
    )
    return count


async def record_citations(
    ledger: Writer,
    correlation_id: str,
    at: float,
    platform: str,
    workspace: str,
    cited: Sequence[tuple[str, str]],
) -> None:
    """The lessons (source, title) one answer cited."""
    await ledger.write(
        *(
            (
                "INSERT INTO answer_citations VALUES (?, ?, ?, ?, ?, ?)",
                (correlation_id, at, platform, workspace, source, title),
            )
            for source, title in cited
        )
    )


async def question_of(
    ledger: Reader, correlation_id: str
) -> tuple[str, str, str, str, str, str] | None:
    """(platform, workspace, channel, user, tier, text) of an answered message, if kept."""
    rows = await ledger.query(
        "SELECT platform, workspace, channel, user, tier, text FROM interactions"
        " WHERE correlation_id = ? AND text IS NOT NULL ORDER BY id LIMIT 1",
        (correlation_id,),
    )
    return tuple(rows[0]) if rows else None  # type: ignore[return-value]


# --- instructor insight ----------------------------------------------------------------------


class LessonCount(NamedTuple):
    source: str
    title: str
    answers: int


class Gap(NamedTuple):
    text: str
    at: float


class DownVoted(NamedTuple):
    correlation_id: str
    route: str
    model: str
    text: str | None  # the learner's question, while kept
    down: int
    up: int


class RouteVotes(NamedTuple):
    route: str
    up: int
    down: int


class HandoffFigures(NamedTuple):
    asked: int
    answered: int
    waits_s: tuple[float, ...]  # each answered hand-off's wait, ascending


async def lessons_asked(
    ledger: Reader, start: float, end: float, scope: Scope | None = None, limit: int = 5
) -> list[LessonCount]:
    """The lessons answers cited most in [start, end): what learners asked about."""
    where, params = _scoped(scope)
    rows = await ledger.query(
        "SELECT source, min(title), count(DISTINCT correlation_id) FROM answer_citations"
        f" WHERE at >= ? AND at < ?{where} GROUP BY source ORDER BY 3 DESC, 1 LIMIT ?",
        [start, end, *params, limit],
    )
    return [LessonCount(*row) for row in rows]


async def content_gaps(
    ledger: Reader, start: float, end: float, scope: Scope | None = None, limit: int = 5
) -> tuple[int, list[Gap]]:
    """Questions in [start, end) for which no course material was found: how many, and
    the latest few whose text is still kept."""
    where, params = _scoped(scope)
    gap = (
        "(reason_codes LIKE '%\"retrieval-none\"%' OR reason_codes LIKE '%\"no-material\"%')"
        " AND reason_codes NOT LIKE '%\"off-topic\"%'"
    )
    ((count,),) = await ledger.query(
        f"SELECT count(*) FROM interactions WHERE at >= ? AND at < ? AND {gap}{where}",
        [start, end, *params],
    )
    rows = await ledger.query(
        f"SELECT text, at FROM interactions WHERE at >= ? AND at < ? AND {gap}{where}"
        " AND text IS NOT NULL ORDER BY at DESC LIMIT ?",
        [start, end, *params, limit],
    )
    return int(count), [Gap(*row) for row in rows]


# Votes counted in SQL both databases accept (PostgreSQL does not sum booleans).
_UP = "sum(CASE WHEN f.vote = 'up' THEN 1 ELSE 0 END)"
_DOWN = "sum(CASE WHEN f.vote = 'down' THEN 1 ELSE 0 END)"


async def most_down_voted(
    ledger: Reader, start: float, end: float, scope: Scope | None = None, limit: int = 5
) -> list[DownVoted]:
    """The answers voted down most by learners in [start, end)."""
    where, params = _scoped(scope, "f.")
    rows = await ledger.query(
        "SELECT f.correlation_id, coalesce(min(i.route), '?'), coalesce(min(i.model), '?'),"
        f" min(i.text), {_DOWN}, {_UP}"
        " FROM feedback AS f LEFT JOIN interactions AS i ON i.correlation_id = f.correlation_id"
        f" WHERE f.at >= ? AND f.at < ?{where} GROUP BY f.correlation_id"
        f" HAVING {_DOWN} > 0 ORDER BY 5 DESC, 6, 1 LIMIT ?",
        [start, end, *params, limit],
    )
    return [DownVoted(*row) for row in rows]


async def votes_by_route(
    ledger: Reader, start: float, end: float, scope: Scope | None = None
) -> list[RouteVotes]:
    """Up and down votes cast in [start, end), per route of the answer voted on."""
    where, params = _scoped(scope, "f.")
    rows = await ledger.query(
        f"SELECT coalesce(i.route, 'unknown'), {_UP}, {_DOWN}"
        " FROM feedback AS f LEFT JOIN interactions AS i ON i.correlation_id = f.correlation_id"
        f" WHERE f.at >= ? AND f.at < ?{where} GROUP BY 1 ORDER BY 1",
        [start, end, *params],
    )
    return [RouteVotes(*row) for row in rows]


async def handoff_figures(
    ledger: Reader, start: float, end: float, scope: Scope | None = None
) -> HandoffFigures:
    """Hand-offs asked for in [start, end), how many staff answered, and their waits."""
    where, params = _scoped(scope)
    rows = await ledger.query(
        f"SELECT answered_at - at FROM handoffs WHERE at >= ? AND at < ?{where}",
        [start, end, *params],
    )
    waits = sorted(float(w) for (w,) in rows if w is not None)
    return HandoffFigures(len(rows), len(waits), tuple(waits))


async def forget_teaching(ledger: Writer, platform: str, workspace: str, user: str) -> None:
    """Delete a learner's votes and hand-offs (their hint levels go with their conversations)."""
    key = (platform, workspace, user)
    where = "WHERE platform = ? AND workspace = ? AND user = ?"
    await ledger.write(
        (f"DELETE FROM feedback {where}", key),
        (f"DELETE FROM handoffs {where}", key),
        (
            "DELETE FROM hint_levels WHERE conversation LIKE ? ESCAPE '\\'",
            (_hint_pattern(*key),),
        ),
    )


def _hint_pattern(platform: str, workspace: str, user: str) -> str:
    """The hint_levels keys of one learner: JSON lists that start and end with them."""
    escaped = [
        json.dumps(part)[1:-1].replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        for part in (platform, workspace, user)
    ]
    return f'["{escaped[0]}", "{escaped[1]}", %, "{escaped[2]}"]'
