"""The ledger's SQLite schema, as numbered migrations applied at start-up.

``PRAGMA user_version`` holds the schema version. Each migration runs in one
``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-way
leaves the previous version intact, and two processes starting at once migrate once.
A migration never changes once released: add a new one instead.

Digests read rollups (15-minute and daily aggregates kept up to date by a trigger),
not the raw rows, so they cost the same however long the ledger grows. The rollups
are anonymous (no user ids): they survive text retention and forgetting a learner.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from bot.events import Reason, ReasonCode, escalation_codes

QUARTER_S = 900  # rollup granularity: every real timezone offset is a multiple of 15 minutes
DAY_S = 86_400
_LATENCY_STEP = math.log(1.02)  # histogram buckets are 2% wide: percentiles within 1%
_NUMERIC = re.compile(r"^[\d.<>=+-]+$")


class SchemaError(Exception):
    """The database cannot be used by this version of the bot."""


def check_not_newer(found: int, where: str) -> None:
    """Refuse a ledger migrated by a newer bot; ``where``: the setting that names it."""
    if found > LATEST:
        raise SchemaError(
            f"the ledger has schema version {found}, newer than this bot knows ({LATEST}); "
            f"upgrade the bot or point {where} elsewhere"
        )


def latency_bucket(ms: float) -> int:
    """The latency histogram bucket of a duration in milliseconds."""
    return math.floor(math.log(max(ms, 1.0)) / _LATENCY_STEP)


def bucket_ms(bucket: int) -> float:
    """The middle of a latency bucket, in milliseconds (within 1% of any value in it)."""
    return math.exp((bucket + 0.5) * _LATENCY_STEP)


def _v2_escalation_keys(reasons: Sequence[str]) -> list[str]:
    """Schema 2's keys for why a cloud model answered: reason texts, numeric parts cut.

    Kept as it was for migration 2; migration 4 replaces these keys with codes.
    """
    keys: list[str] = []
    for reason in reasons:
        if reason.startswith("tier:"):
            continue
        key = ":".join(p for p in reason.split(":") if p and not _NUMERIC.match(p))
        if key and key not in keys:
            keys.append(key)
    return keys or ["tier-chain"]


def _json_list(value: str | None) -> list[str]:
    try:
        parsed = json.loads(value or "[]")
    except ValueError:
        return []
    return [str(item) for item in parsed] if isinstance(parsed, list) else []


def reason_codes(reasons: Sequence[Reason]) -> str:
    """The ``reason_codes`` column: each reason's code, in order, as a JSON list."""
    return json.dumps([reason.code.value for reason in reasons])


def escalations(reasons: Sequence[Reason]) -> str:
    """The ``escalations`` column of a cloud answer: why it went to the cloud, as codes."""
    return json.dumps([code.value for code in escalation_codes(r.code for r in reasons)])


def _reason_codes_of_texts(reasons: str | None) -> str:
    return reason_codes([Reason.parse(text) for text in _json_list(reasons)])


_CODES = frozenset(code.value for code in ReasonCode)


def _escalations_of_codes(codes: str | None) -> str:
    known = [ReasonCode(c) for c in _json_list(codes) if c in _CODES]
    return json.dumps([code.value for code in escalation_codes(known)])


# Functions the migrations call (to fill derived columns of existing rows).
SQL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "latency_bucket": (1, lambda ms: None if ms is None else latency_bucket(ms)),
    "escalation_keys": (1, lambda r: json.dumps(_v2_escalation_keys(_json_list(r)))),
    "reason_codes": (1, _reason_codes_of_texts),
    "reason_code": (1, lambda text: Reason.parse(str(text)).code.value),
    "escalation_codes": (1, _escalations_of_codes),
}

_V1 = [
    """CREATE TABLE interactions (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,              -- unix seconds
        tier TEXT NOT NULL,
        route TEXT NOT NULL,           -- local | cloud
        model TEXT NOT NULL,           -- configured model name; 'none' when nothing answered
        outcome TEXT NOT NULL,         -- answered | fell_back | failed
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL,                 -- NULL: the model has no price in config
        saved_usd REAL,                -- NULL: no priced cloud model to compare with
        latency_ms REAL NOT NULL,
        ttft_ms REAL,
        confidence REAL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,       -- '' where there is none (console, DMs)
        channel TEXT NOT NULL,
        user TEXT NOT NULL,
        reasons TEXT NOT NULL,         -- JSON list of texts, as the tutor gave them
        correlation_id TEXT NOT NULL,
        text TEXT                      -- the learner's message; NULL once purged
    )""",
    "CREATE INDEX interactions_at ON interactions(at)",
    "CREATE INDEX interactions_learner ON interactions(platform, workspace, user, tier, at)",
    "CREATE INDEX interactions_text_at ON interactions(at) WHERE text IS NOT NULL",
    """CREATE TABLE channel_models (
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        channel TEXT NOT NULL,         -- '' for the whole server
        model TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (platform, workspace, channel)
    ) WITHOUT ROWID""",
    """CREATE TABLE learner_preferences (
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        user TEXT NOT NULL,
        tier TEXT,
        local_only INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (platform, workspace, user)
    ) WITHOUT ROWID""",
]

# Fills empty rollups from the raw rows; the trigger below keeps them current after that.
_FILL_ROLLUPS = [
    """INSERT INTO learners (platform, workspace, user, first_at, last_at)
        SELECT platform, workspace, user, min(at), max(at) FROM interactions
        GROUP BY 1, 2, 3 ON CONFLICT (platform, workspace, user) DO UPDATE SET
            first_at = min(first_at, excluded.first_at),
            last_at = max(last_at, excluded.last_at)""",
    """INSERT INTO usage_q
        SELECT CAST(at / 900 AS INTEGER), tier, model, route, outcome, platform, workspace,
               count(*), sum(input_tokens), sum(output_tokens),
               total(cost_usd), sum(cost_usd IS NULL), total(saved_usd), sum(saved_usd IS NULL)
        FROM interactions GROUP BY 1, 2, 3, 4, 5, 6, 7""",
    """INSERT INTO reasons_q
        SELECT CAST(i.at / 900 AS INTEGER), i.tier, r.value, i.platform, i.workspace, count(*)
        FROM interactions AS i, json_each(i.escalations) AS r GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO latency_q
        SELECT CAST(at / 900 AS INTEGER), tier, latency_bucket, platform, workspace, count(*)
        FROM interactions WHERE latency_bucket IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO latency_d
        SELECT CAST(at / 86400 AS INTEGER), tier, latency_bucket, platform, workspace, count(*)
        FROM interactions WHERE latency_bucket IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
]

_V2 = [
    # Derived per row at record time, so the trigger and the digests need no functions.
    "ALTER TABLE interactions ADD COLUMN latency_bucket INTEGER",  # NULL: nothing answered
    "ALTER TABLE interactions ADD COLUMN escalations TEXT",  # JSON keys, cloud answers only
    "UPDATE interactions SET latency_bucket = latency_bucket(latency_ms) WHERE model != 'none'",
    """UPDATE interactions SET escalations = escalation_keys(reasons)
        WHERE route = 'cloud' AND model != 'none'""",
    """CREATE TABLE learners (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        user TEXT NOT NULL,
        first_at REAL NOT NULL,        -- so a digest only looks at learners active around it
        last_at REAL NOT NULL,
        UNIQUE (platform, workspace, user)
    )""",
    # Keys in the order digests group by (workspace last), so SQLite aggregates in one pass.
    """CREATE TABLE usage_q (
        q INTEGER NOT NULL,            -- floor(at / 900): a quarter-hour
        tier TEXT NOT NULL,
        model TEXT NOT NULL,
        route TEXT NOT NULL,
        outcome TEXT NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        questions INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,        -- known costs only
        unknown_cost INTEGER NOT NULL, -- rows whose cost is unknown
        saved_usd REAL NOT NULL,
        unknown_saved INTEGER NOT NULL,
        PRIMARY KEY (q, tier, model, route, outcome, platform, workspace)
    ) WITHOUT ROWID""",
    """CREATE TABLE reasons_q (
        q INTEGER NOT NULL,
        tier TEXT NOT NULL,
        reason TEXT NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (q, tier, reason, platform, workspace)
    ) WITHOUT ROWID""",
    """CREATE TABLE latency_q (
        q INTEGER NOT NULL,
        tier TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (q, tier, bucket, platform, workspace)
    ) WITHOUT ROWID""",
    """CREATE TABLE latency_d (
        day INTEGER NOT NULL,          -- floor(at / 86400): a UTC day
        tier TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (day, tier, bucket, platform, workspace)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER interactions_rollup AFTER INSERT ON interactions BEGIN
        INSERT INTO learners (platform, workspace, user, first_at, last_at)
            VALUES (NEW.platform, NEW.workspace, NEW.user, NEW.at, NEW.at)
            ON CONFLICT (platform, workspace, user) DO UPDATE SET
                first_at = min(first_at, excluded.first_at),
                last_at = max(last_at, excluded.last_at);
        INSERT INTO usage_q VALUES (
            CAST(NEW.at / 900 AS INTEGER), NEW.tier, NEW.model, NEW.route, NEW.outcome,
            NEW.platform, NEW.workspace, 1, NEW.input_tokens, NEW.output_tokens,
            coalesce(NEW.cost_usd, 0), NEW.cost_usd IS NULL,
            coalesce(NEW.saved_usd, 0), NEW.saved_usd IS NULL)
            ON CONFLICT (q, tier, model, route, outcome, platform, workspace) DO UPDATE SET
                questions = questions + 1,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cost_usd = cost_usd + excluded.cost_usd,
                unknown_cost = unknown_cost + excluded.unknown_cost,
                saved_usd = saved_usd + excluded.saved_usd,
                unknown_saved = unknown_saved + excluded.unknown_saved;
        INSERT INTO reasons_q
            SELECT CAST(NEW.at / 900 AS INTEGER), NEW.tier, value, NEW.platform, NEW.workspace, 1
            FROM json_each(NEW.escalations) WHERE true
            ON CONFLICT (q, tier, reason, platform, workspace) DO UPDATE SET n = n + 1;
        INSERT INTO latency_q
            SELECT CAST(NEW.at / 900 AS INTEGER), NEW.tier, NEW.latency_bucket,
                   NEW.platform, NEW.workspace, 1
            WHERE NEW.latency_bucket IS NOT NULL
            ON CONFLICT (q, tier, bucket, platform, workspace) DO UPDATE SET n = n + 1;
        INSERT INTO latency_d
            SELECT CAST(NEW.at / 86400 AS INTEGER), NEW.tier, NEW.latency_bucket,
                   NEW.platform, NEW.workspace, 1
            WHERE NEW.latency_bucket IS NOT NULL
            ON CONFLICT (day, tier, bucket, platform, workspace) DO UPDATE SET n = n + 1;
    END""",
    *_FILL_ROLLUPS,  # from the rows recorded so far
    """CREATE TABLE digest_posts (
        period_key TEXT NOT NULL,      -- e.g. week:2026-11-02
        target TEXT NOT NULL,          -- platform:workspace:channel
        status TEXT NOT NULL,          -- pending | sent | failed
        run_id TEXT NOT NULL,          -- the process that claimed it
        claimed_at REAL NOT NULL,
        posted_at REAL,
        text TEXT,
        error TEXT,
        PRIMARY KEY (period_key, target)
    ) WITHOUT ROWID""",
]

_V3 = [
    # The cloud's answer to an escalated question, for `tutor export-finetune`; purged
    # together with the message text.
    "ALTER TABLE interactions ADD COLUMN answer TEXT",
]

_V4 = [
    # Reasons as codes from one vocabulary (bot.events.ReasonCode): the code of each
    # reason beside its text, and escalations counted by code, not by text with its scores.
    "ALTER TABLE interactions ADD COLUMN reason_codes TEXT",  # JSON list, one per reason
    "UPDATE interactions SET reason_codes = reason_codes(reasons)",
    "CREATE TEMP TABLE reasons_v4 (q, tier, reason, platform, workspace, n)",
    # What the old rollup counted beyond the rows still here (forgotten learners), by code.
    """INSERT INTO temp.reasons_v4
        SELECT q, tier, reason_code(reason), platform, workspace, sum(n) FROM (
            SELECT q, tier, reason, platform, workspace, n FROM reasons_q
            UNION ALL
            SELECT CAST(i.at / 900 AS INTEGER), i.tier, r.value, i.platform, i.workspace, -1
            FROM interactions AS i, json_each(i.escalations) AS r)
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) > 0""",
    """UPDATE interactions SET escalations = escalation_codes(reason_codes)
        WHERE escalations IS NOT NULL""",
    """INSERT INTO temp.reasons_v4
        SELECT CAST(i.at / 900 AS INTEGER), i.tier, r.value, i.platform, i.workspace, count(*)
        FROM interactions AS i, json_each(i.escalations) AS r GROUP BY 1, 2, 3, 4, 5""",
    "DELETE FROM reasons_q",
    """INSERT INTO reasons_q
        SELECT q, tier, reason, platform, workspace, sum(n) FROM temp.reasons_v4
        GROUP BY 1, 2, 3, 4, 5""",
    "DROP TABLE temp.reasons_v4",
]

# v5: whether a row's tokens were counted locally (the model's stream reported no usage).
_V5 = ["ALTER TABLE interactions ADD COLUMN usage_estimated INTEGER"]

# v6: course memory (bot.memory): answers that proved good, reused for questions that mean the
# same. Self-contained: nothing else reads these tables.
_MEMORY = [
    """CREATE TABLE IF NOT EXISTS memory_entries (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,        -- '*' with workspace '*': every workspace (the CLI's)
        workspace TEXT NOT NULL,
        course TEXT NOT NULL,          -- the course index's collection
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        origin TEXT NOT NULL,          -- cloud | local | pinned
        model TEXT NOT NULL,
        citations TEXT NOT NULL,       -- JSON list of {source, title, score}
        sources TEXT NOT NULL,         -- JSON {source: sha256 of the file when remembered}
        embedder TEXT NOT NULL,        -- the embedder's name; another one never matches
        embedding BLOB NOT NULL,       -- float32 vector of the question
        cost_usd REAL,                 -- what making the answer cost: saved by each reuse
        correlation_id TEXT NOT NULL,  -- the interaction it came from ('' for the CLI's)
        votes_up INTEGER NOT NULL DEFAULT 0,
        votes_down INTEGER NOT NULL DEFAULT 0,
        uses INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        last_used_at REAL,
        retired_at REAL,               -- NULL while in use
        retired_why TEXT
    )""",
    """CREATE INDEX IF NOT EXISTS memory_entries_scope
        ON memory_entries(course, platform, workspace) WHERE retired_at IS NULL""",
    # Each refit of the routing classifier from outcomes (`tutor learn`), for the digest.
    """CREATE TABLE IF NOT EXISTS router_learning (
        at REAL NOT NULL,
        learned_local INTEGER NOT NULL,  -- examples added from the ledger, per label
        learned_cloud INTEGER NOT NULL,
        accuracy_before REAL NOT NULL,   -- on the held-back part of the labelled suite
        accuracy_after REAL NOT NULL,
        local_share_before REAL NOT NULL,
        local_share_after REAL NOT NULL,
        kept INTEGER NOT NULL            -- 1: the new model is in use; 0: the previous one
    )""",
]

# v7: teaching.
_TEACHING = [
    # Teaching: a moderator's mode and off-topic switch per channel, hint levels per
    # conversation, learners' votes on answers, hand-offs to staff, and the lessons each
    # answer cited (what instructors see learners ask about). IF NOT EXISTS: a database
    # set back to an older version by hand keeps its newer tables.
    """CREATE TABLE IF NOT EXISTS channel_teaching (
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        channel TEXT NOT NULL,
        mode TEXT,                     -- guide | answer; NULL: the configured default
        off_topic INTEGER,             -- 1 redirect, 0 answer; NULL: the configured default
        updated_at REAL NOT NULL,
        PRIMARY KEY (platform, workspace, channel)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS hint_levels (
        conversation TEXT PRIMARY KEY, -- JSON list: platform, workspace, channel, thread, user
        level INTEGER NOT NULL,
        topic TEXT NOT NULL,           -- an exercise key (lesson.md#3) or the question
        updated_at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS feedback (
        correlation_id TEXT NOT NULL,  -- the interaction voted on
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        user TEXT NOT NULL,
        vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
        at REAL NOT NULL,              -- the latest vote's time: the latest wins
        PRIMARY KEY (correlation_id, platform, workspace, user)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS feedback_at ON feedback(at)",
    """CREATE TABLE IF NOT EXISTS handoffs (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        channel TEXT NOT NULL,
        conversation TEXT NOT NULL,
        user TEXT NOT NULL,
        correlation_id TEXT,           -- the answer handed on, when there was one
        note TEXT,
        answered_at REAL               -- when staff first replied in the conversation
    )""",
    "CREATE INDEX IF NOT EXISTS handoffs_at ON handoffs(at)",
    "CREATE INDEX IF NOT EXISTS handoffs_open"
    " ON handoffs(platform, workspace, conversation, answered_at)",
    """CREATE TABLE IF NOT EXISTS answer_citations (
        correlation_id TEXT NOT NULL,
        at REAL NOT NULL,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        source TEXT NOT NULL,
        title TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS answer_citations_at ON answer_citations(at)",
    "CREATE INDEX IF NOT EXISTS interactions_correlation ON interactions(correlation_id)",
]

# v8: platform events already taken by an instance (Slack retries, one message arriving as two
# events), so several instances sharing the ledger answer each once. Kept for a day.
_EVENTS = [
    """CREATE TABLE IF NOT EXISTS events_seen (
        key TEXT PRIMARY KEY,          -- e.g. slack:event:Ev123 or slack:message:C1:1700.1
        at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS events_seen_at ON events_seen(at)",
]

# v9: the conversation (thread, or the channel outside threads) of each row, so an instance
# that has not seen a conversation, or has restarted, restores its history and stickiness.
# From v9 ``answer`` holds every answered reply's text (kept and purged with ``text``).
_CONVERSATIONS = [
    "ALTER TABLE interactions ADD COLUMN conversation TEXT",  # NULL: recorded before v9
    """CREATE INDEX IF NOT EXISTS interactions_conversation
        ON interactions(platform, workspace, channel, conversation, user, at)
        WHERE conversation IS NOT NULL""",
]

MIGRATIONS: list[list[str]] = [
    _V1, _V2, _V3, _V4, _V5, _MEMORY, _TEACHING, _EVENTS, _CONVERSATIONS
]  # fmt: skip
LATEST = len(MIGRATIONS)

# Recomputes every rollup from the raw rows (after a bulk load that bypassed the trigger).
REBUILD_ROLLUPS = [
    *(f"DELETE FROM {table}" for table in ("usage_q", "reasons_q", "latency_q", "latency_d")),
    *_FILL_ROLLUPS,
]


async def register_functions(db: aiosqlite.Connection) -> None:
    for name, (arity, func) in SQL_FUNCTIONS.items():
        await db.create_function(name, arity, func, deterministic=True)


async def schema_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection, target: int = LATEST) -> int:
    """Bring the database up to schema ``target``; returns the version it is now at."""
    found = await schema_version(db)
    check_not_newer(found, "TUTOR_DATA_DIR")
    if found >= target:
        return found
    await db.execute("BEGIN IMMEDIATE")
    try:
        current = await schema_version(db)  # another process may have migrated meanwhile
        for version in range(current + 1, target + 1):
            for statement in MIGRATIONS[version - 1]:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version}")
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return await schema_version(db)
