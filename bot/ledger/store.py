"""The usage ledger: every interaction in SQLite (WAL mode) or PostgreSQL, plus persisted
preferences.

``[ledger] url`` (or ``TUTOR_LEDGER_URL``) chooses the database: an SQLite file (the
default, in the data folder) or a PostgreSQL server that several instances share
(``bot.ledger.postgres``). Everything below holds for both; nothing is written to
SQLite when the URL names PostgreSQL.

Durability: ``record()`` returns only once the transaction holding the row has
committed; that is what "recorded" means. A committed row survives the bot process
dying at any moment afterwards (a crash, an OOM kill, SIGKILL): it is in the
write-ahead log. With ``[ledger] synchronous = "normal"`` (the default) a power cut or
kernel crash may still roll back the last few commits; ``"full"`` fsyncs every commit
and survives those too, at the price of one fsync per write batch.

Writes stay off the reply's critical path: one writer task commits every row waiting
in its queue as one transaction (group commit), so concurrent replies share a commit.
A reply waits at most ``[ledger] max_wait_ms`` for its row; past that, ``record()``
raises LedgerTimeout (not acknowledged) while the row stays queued and is written as
soon as the database allows. A database that is busy, full or failing is retried, and
a row the database refuses outright is logged in full, never dropped silently. Reads
(digests, stats) run on their own read-only connection and never wait for writes.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from bot.config import Settings
from bot.core.history import PastTurn
from bot.core.pricing import Pricing
from bot.events import Reply, valid_unicode
from bot.ledger import queries
from bot.ledger.preferences import SqlitePreferences
from bot.ledger.schema import (
    DAY_S,
    QUARTER_S,
    REBUILD_ROLLUPS,
    SchemaError,
    escalations,
    latency_bucket,
    migrate,
    reason_codes,
    register_functions,
)
from bot.ports import Interaction

if TYPE_CHECKING:
    from bot.ledger.postgres import PostgresDatabase

log = logging.getLogger(__name__)

NO_MODEL = "none"  # the tutor's model name when nothing answered (empty message, all failed)
MAX_BATCH = 1000
MEMORY_ROWS = 10_000  # rows waiting in memory for a failing database; then the overflow file
OVERFLOW_SUFFIX = ".overflow.jsonl"  # beside the ledger; imported on the next healthy open
POSTGRES_OVERFLOW = "ledger-postgresql.overflow.jsonl"  # in the data folder
ID_CHARS = 200  # user, channel, workspace ids are short; anything longer is cut
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 5.0
CLOSE_RETRIES = 5  # while closing, a failing database is retried this often, then rows are logged
PURGE_CHUNK = 5000
PURGE_EVERY_S = 3600.0
EVENTS_KEPT_S = DAY_S  # platform events taken: Slack retries within an hour at most

COLUMNS = (
    "at",
    "tier",
    "route",
    "model",
    "outcome",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "saved_usd",
    "latency_ms",
    "ttft_ms",
    "confidence",
    "platform",
    "workspace",
    "channel",
    "user",
    "reasons",
    "correlation_id",
    "text",
    "latency_bucket",
    "escalations",
    "answer",
    "reason_codes",
    "usage_estimated",
    "conversation",
)
INSERT = f"INSERT INTO interactions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class LedgerError(Exception):
    """A row could not be recorded."""


class LedgerTimeout(LedgerError):
    """The row was not committed in time. It is still queued and will be written."""


# What opening a ledger raises when its database cannot be used (unreadable, not a
# database, a newer schema): for callers that report it rather than crash.
STORAGE_ERRORS: tuple[type[Exception], ...] = (LedgerError, SchemaError, sqlite3.DatabaseError)


@dataclass(slots=True)
class _Pending:
    row: tuple[Any, ...]
    done: asyncio.Future[None]
    correlation_id: str


@dataclass(slots=True)
class _Barrier:
    done: asyncio.Future[None]


_STOP = object()


class Ledger:
    """Implements the Ledger port (``record``) and owns the SQLite database.

    ``async with Ledger(settings) as ledger: ...`` or ``await ledger.open()`` then
    ``await ledger.aclose()``, which writes every queued row before closing.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        path: Path | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 5.0,
        purge_every_s: float | None = PURGE_EVERY_S,
        max_batch: int = MAX_BATCH,
        memory_rows: int = MEMORY_ROWS,
    ) -> None:
        self.settings = settings
        url = settings.ledger.url
        # The PostgreSQL server's URL, when the ledger is there (then self.path is unused).
        self.postgres_url = url if path is None and is_postgres(url) else None
        self.path = path or sqlite_path(settings)
        if self.postgres_url:
            self.overflow_path = settings.data_dir / POSTGRES_OVERFLOW
        else:
            self.overflow_path = self.path.with_name(self.path.name + OVERFLOW_SUFFIX)
        # Why the database cannot be used, when it cannot: rows then go to the overflow file.
        self.degraded: str | None = None
        self.lost = 0  # rows neither the database nor the overflow file could take
        self._memory_rows = memory_rows
        self.pricing = Pricing(settings)
        self.preferences = SqlitePreferences(self, clock=clock)
        self.commits = 0  # write transactions holding recorded rows (fewer than rows: batching)
        self.recorded = 0
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._purge_every_s = purge_every_s
        self._max_batch = max_batch  # 1 turns group commit off (for comparison)
        self._max_wait_s = settings.ledger.max_wait_ms / 1000
        self._text_chars = settings.tutor.max_input_chars
        self._keep_text = settings.ledger.text_retention_days > 0
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._pg: PostgresDatabase | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._closing = False

    async def __aenter__(self) -> Ledger:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> Ledger:
        """Create or migrate the database and start the writer.

        The data folder is created private (0700) and the database files are 0600: they
        hold learners' words. Rows left in the overflow file are imported.
        """
        if self.postgres_url:
            return await self._open_postgres(self.postgres_url)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            _private(self.path)
            self._db = await aiosqlite.connect(self.path, timeout=self._busy_timeout_s)
            async with self._db.execute("PRAGMA journal_mode = WAL") as cursor:
                mode = await cursor.fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                raise LedgerError(f"{self.path}: cannot use WAL mode (got {mode})")
            await self._db.execute(f"PRAGMA synchronous = {self.settings.ledger.synchronous}")
            for side in ("-wal", "-shm"):  # SQLite gives them the database's mode; to be sure
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(self.path.with_name(self.path.name + side), 0o600)
            await register_functions(self._db)
            await migrate(self._db)
            await self._import_overflow()
            self._reader = await aiosqlite.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self._busy_timeout_s
            )
            await self._reader.execute("PRAGMA query_only = 1")
            await self.preferences.load()
        except BaseException:
            await self._close_connections()
            raise
        self._start()
        log.info("ledger open at %s", self.path)
        return self

    async def _open_postgres(self, url: str) -> Ledger:
        from bot.ledger.postgres import TRANSIENT, PostgresDatabase, redacted

        self.overflow_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._pg = await PostgresDatabase(url, timeout_s=self._busy_timeout_s * 2).open()
            await self._import_overflow()
            await self.preferences.load()
        except BaseException as exc:
            await self._close_connections()
            if isinstance(exc, TRANSIENT):
                raise LedgerError(f"{redacted(url)}: cannot connect ({exc})") from exc
            raise
        self._start()
        log.info("ledger open at %s", redacted(url))
        return self

    def _start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        if self._purge_every_s:
            self._maintenance = asyncio.create_task(self._maintain(), name="ledger-maintenance")

    @property
    def location(self) -> str:
        """Where the rows go, for messages (a PostgreSQL URL without its password)."""
        if self.postgres_url:
            from bot.ledger.postgres import redacted

            return redacted(self.postgres_url)
        return str(self.path)

    def degrade(self, exc: BaseException) -> Ledger:
        """Go on without the database (it cannot be opened): rows queue in the overflow file,
        reads raise LedgerError saying what is wrong and how to recover."""
        self.degraded = f"{self.location} cannot be used ({exc})"
        if self.postgres_url:
            log.error(
                "the ledger %s; answering goes on and rows are queued in %s, imported once "
                "the server takes connections again (on the next start). Run `tutor doctor`.",
                self.degraded,
                self.overflow_path,
            )
            return self
        log.error(
            "the ledger %s; answering goes on and rows are queued in %s. Run `tutor doctor`; "
            "to recover, stop the bot and `mv %s %s.broken` (a new ledger is created and "
            "the queued rows imported on the next start), or repair it with "
            "`sqlite3 %s .recover | sqlite3 recovered.sqlite3`",
            self.degraded,
            self.overflow_path,
            self.path,
            self.path,
            self.path,
        )
        return self

    async def aclose(self) -> None:
        """Write every queued row, then close. Safe to call twice."""
        if self._db is None and self._pg is None:
            return
        self._closing = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._writer is not None:
            self._queue.put_nowait(_STOP)
            await self._writer
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._db.execute("PRAGMA optimize")
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._reader, self._db):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._reader = self._db = None
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await self._pg.close()
            self._pg = None

    # --- the Ledger port -----------------------------------------------------------------

    async def record(self, interaction: Interaction) -> None:
        """Record one interaction; returns once it is committed (see the module docstring)."""
        row = self.row(interaction)
        cid = interaction.reply.correlation_id or interaction.message.correlation_id
        if self.degraded is not None:
            self._overflow([(row, cid)])
            return
        if self._closing or self._writer is None:
            raise LedgerError("the ledger is closed")
        if self._queue.qsize() >= self._memory_rows:
            # The database is failing (a full disk): memory holds a bound, the file the rest.
            self._overflow([(row, cid)])
            return
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(row, done, cid))
        try:
            async with asyncio.timeout(self._max_wait_s):
                await asyncio.shield(done)
        except TimeoutError:
            raise LedgerTimeout(
                f"not committed after {self._max_wait_s * 1000:.0f} ms; still queued"
            ) from None

    def row(self, interaction: Interaction) -> tuple[Any, ...]:
        """The interactions row for one Interaction, in COLUMNS order."""
        msg, reply = interaction.message, interaction.reply
        usage = reply.usage
        answered = reply.model != NO_MODEL
        saved = (
            reply.saved_usd
            if reply.route == "memory"
            else self.pricing.saved_usd(
                interaction.tier, reply.model, usage.input_tokens, usage.output_tokens
            )
        )
        escalated = escalations(reply.reasons) if answered and reply.route == "cloud" else None
        return (
            float(interaction.at),
            _clean(interaction.tier, ID_CHARS),
            reply.route,
            _clean(reply.model, ID_CHARS),
            reply.outcome,
            max(int(usage.input_tokens), 0),
            max(int(usage.output_tokens), 0),
            _finite(usage.cost_usd),
            _finite(saved),
            _finite(reply.latency_ms) or 0.0,
            _finite(reply.ttft_ms),
            _finite(reply.confidence),
            _clean(msg.platform, ID_CHARS),
            _clean(msg.workspace or "", ID_CHARS),
            _clean(msg.channel, ID_CHARS),
            _clean(msg.user, ID_CHARS),
            json.dumps([_clean(str(r), ID_CHARS) for r in reply.reasons]),
            _clean(reply.correlation_id or msg.correlation_id, ID_CHARS),
            _clean(msg.text, self._text_chars) if self._keep_text else None,
            latency_bucket(_finite(reply.latency_ms) or 0.0) if answered else None,
            escalated,
            _answer(reply) if answered and self._keep_text else None,
            reason_codes(reply.reasons),
            int(usage.estimated),
            _clean(msg.conversation or msg.channel, ID_CHARS),
        )

    # --- other writes -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until every row queued so far is committed."""
        if self._writer is None or self._closing:
            return
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Barrier(done))
        await done

    async def write(self, *statements: tuple[str, Sequence[Any]]) -> list[int]:
        """Run statements in one transaction on the writer connection; their row counts."""
        self._usable()
        if self._pg is not None:
            async with self._lock, self._server_errors():
                return await self._pg.write(statements)
        db = self._require(self._db)
        async with self._lock:
            counts: list[int] = []
            try:
                for sql, params in statements:
                    async with db.execute(sql, params) as cursor:
                        counts.append(cursor.rowcount)
                await db.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    await db.rollback()
                raise
        return counts

    async def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Run one INSERT in its own transaction on the writer connection; the new rowid."""
        if self._pg is not None:
            async with self._lock, self._server_errors():
                return await self._pg.insert(sql, params)
        db = self._require(self._db)
        async with self._lock:
            try:
                async with db.execute(sql, params) as cursor:
                    rowid = cursor.lastrowid
                await db.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    await db.rollback()
                raise
        return int(rowid or 0)

    async def forget_user(self, platform: str, workspace: str | None, user: str) -> int:
        """Delete a learner's rows and preferences; returns how many interactions went.

        The anonymous rollups (counts and costs per quarter-hour) are kept.
        """
        await self.flush()
        key = (platform, workspace or "", user)
        where = "WHERE platform = ? AND workspace = ? AND user = ?"
        counts = await self.write(
            (f"DELETE FROM interactions {where}", key),
            (f"DELETE FROM learners {where}", key),
            (f"DELETE FROM learner_preferences {where}", key),
            (  # the privacy choice holds everywhere, and goes with the learner
                "DELETE FROM learner_preferences"
                " WHERE platform = ? AND workspace = '*' AND user = ?",
                (platform, user),
            ),
        )
        await queries.forget_teaching(self, *key)  # votes, hand-offs, hint levels
        await self.preferences.forget_cached(platform, workspace, user)
        log.info("forgot %s/%s/%s: %d interactions", platform, workspace or "-", user, counts[0])
        return counts[0]

    async def forget_text(self, platform: str, workspace: str | None, user: str) -> int:
        """Delete the text of a learner's messages and answers (``/tutor forget``); the
        rows stay for the figures. Returns how many rows had text."""
        await self.flush()
        (count,) = await self.write(
            (
                "UPDATE interactions SET text = NULL, answer = NULL"
                " WHERE platform = ? AND workspace = ? AND user = ?"
                " AND (text IS NOT NULL OR answer IS NOT NULL)",
                (platform, workspace or "", user),
            )
        )
        log.info("forgot the text of %d interactions of one learner", count)
        return count

    async def claim_event(self, key: str) -> bool:
        """True the first time any instance sharing this ledger offers ``key`` (a platform
        event id): implements the EventClaims port."""
        return await queries.claim_event(self, key[: ID_CHARS * 2], self._clock())

    async def purge_text(self, now: float | None = None) -> int:
        """Delete message text older than the retention period; returns how many rows."""
        days = self.settings.ledger.text_retention_days
        cutoff = (self._clock() if now is None else now) - days * DAY_S
        total = 0
        while True:
            (count,) = await self.write(
                (
                    "UPDATE interactions SET text = NULL, answer = NULL WHERE id IN"
                    " (SELECT id FROM interactions"
                    " WHERE text IS NOT NULL AND at < ? LIMIT ?)",
                    (cutoff, PURGE_CHUNK),
                )
            )
            total += count
            if count < PURGE_CHUNK:
                if total:
                    log.info("purged the text of %d interactions older than %d days", total, days)
                return total

    async def rebuild_rollups(self) -> None:
        """Recompute every rollup from the raw rows (after a bulk load that bypassed the
        trigger)."""
        statements = REBUILD_ROLLUPS
        if self._pg is not None:
            from bot.ledger.postgres import REBUILD_ROLLUPS as statements
        await self.write(*((sql, ()) for sql in statements))

    # --- reads --------------------------------------------------------------------------------

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on the reader connection."""
        self._usable()
        if self._pg is not None:
            async with self._server_errors():
                return await self._pg.query(sql, params)
        reader = self._require(self._reader)
        return [tuple(row) for row in await reader.execute_fetchall(sql, params)]

    async def month_spend(
        self, now: float | None = None
    ) -> tuple[dict[str, float], dict[tuple[str, str, str], float]]:
        """Known cloud spend so far this UTC month: per tier, and per learner
        ``(platform, workspace, user)``. For budget checks to start from at start-up.
        """
        today = time.gmtime(self._clock() if now is None else now)
        start = calendar.timegm((today.tm_year, today.tm_mon, 1, 0, 0, 0))
        tiers = await self.query(
            "SELECT tier, total(cost_usd) FROM usage_q WHERE q >= ? GROUP BY 1",
            [start // QUARTER_S],
        )
        # A cloud answer of unknown cost (no price) counts at the dearest known price.
        dearest = self.pricing.dearest_price()
        # Prices inline (floats from the config, not input): both databases then type them alike.
        price_in, price_out = _finite(dearest.input) or 0.0, _finite(dearest.output) or 0.0
        guess = f"(input_tokens * {price_in!r} + output_tokens * {price_out!r}) / 1000000.0"
        unpriced = await self.query(
            f"SELECT tier, total({guess}) FROM interactions"
            " WHERE at >= ? AND route = 'cloud' AND cost_usd IS NULL GROUP BY 1",
            [start],
        )
        learners = await self.query(
            f"SELECT platform, workspace, user, total(coalesce(cost_usd, {guess}))"
            " FROM interactions WHERE at >= ? AND route = 'cloud' GROUP BY 1, 2, 3",
            [start],
        )
        spent_by_tier = {tier: spent for tier, spent in tiers if spent}
        for tier, spent in unpriced:
            spent_by_tier[tier] = spent_by_tier.get(tier, 0.0) + spent
        return (
            {tier: spent for tier, spent in spent_by_tier.items() if spent},
            {(p, w, u): spent for p, w, u, spent in learners if spent},
        )

    @property
    def shared(self) -> bool:
        """Whether other instances may write here too (a PostgreSQL server)."""
        return self.postgres_url is not None

    async def recent_turns(self, key: tuple[str, str, str, str, str], limit: int) -> list[PastTurn]:
        """A conversation's latest ``limit`` replies, oldest first (implements TurnSource).
        Nothing while the ledger is degraded: the conversation then starts afresh."""
        if self.degraded is not None or limit <= 0:
            return []
        return await queries.recent_turns(self, [_clean(part, ID_CHARS) for part in key], limit)

    async def escalated_answers(self, since: float = 0.0) -> list[queries.Escalation]:
        """Answered cloud escalations since ``since`` with their text kept (fine-tuning)."""
        return await queries.escalated_answers(self, since)

    # --- the writer ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < self._max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            rows: list[_Pending] = []
            for item in items:
                if isinstance(item, _Pending):
                    rows.append(item)
                    continue
                if rows:
                    await self._commit(rows)
                    rows = []
                if item is _STOP:
                    return
                if not item.done.done():
                    item.done.set_result(None)
            if rows:
                await self._commit(rows)

    async def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows in one transaction (one commit) on the writer connection."""
        async with self._lock:
            if self._pg is not None:
                await self._pg.insert_interactions(COLUMNS, rows)
                return
            db = self._require(self._db)
            try:
                await db.executemany(INSERT, rows)
                await db.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    await db.rollback()
                raise

    @contextlib.asynccontextmanager
    async def _server_errors(self) -> AsyncIterator[None]:
        """A PostgreSQL server that is down or busy is a LedgerError (callers report it)."""
        try:
            yield
        except Exception as exc:
            if self._transient(exc):
                raise LedgerError(f"the ledger at {self.location} failed: {exc}") from exc
            raise

    def _transient(self, exc: BaseException) -> bool:
        """An error of the database (busy, locked, full, unreachable), not of the rows."""
        if isinstance(exc, sqlite3.OperationalError):
            return True
        if self._pg is not None:
            from bot.ledger.postgres import TRANSIENT

            return isinstance(exc, TRANSIENT)
        return False

    async def _commit(self, batch: list[_Pending]) -> None:
        delay, attempts = RETRY_FIRST_S, 0
        while True:
            try:
                await self._insert_rows([p.row for p in batch])
            except Exception as exc:
                if not self._transient(exc):
                    if len(batch) == 1:
                        self._give_up(batch, exc)
                        return
                    for pending in batch:  # find the row the database refuses; keep the others
                        await self._commit([pending])
                    return
                # Busy, locked, full, an I/O error: the database, not the rows. Keep them.
                attempts += 1
                if self._closing and attempts > CLOSE_RETRIES:
                    self._give_up(batch, exc)
                    return
                log.warning(
                    "ledger write failed (%s); retrying %d rows in %.2fs", exc, len(batch), delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self.commits += 1
            self.recorded += len(batch)
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(None)
            return

    def _give_up(self, batch: list[_Pending], exc: BaseException) -> None:
        """Rows the database will not take go to the overflow file (never into the log:
        learners' words there would escape retention and forget-user)."""
        self._overflow([(p.row, p.correlation_id) for p in batch], reason=exc)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(LedgerError(f"not recorded in the database: {exc}"))

    def _overflow(self, rows: Sequence[tuple[tuple[Any, ...], str]], reason: object = None) -> None:
        """Append rows to the overflow file (0600), imported on the next healthy open."""
        ids = ", ".join(cid for _, cid in rows)
        try:
            fd = os.open(self.overflow_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.writelines(_dump(row) + "\n" for row, _ in rows)
        except OSError as exc:
            self.lost += len(rows)
            log.error(
                "[%s] ledger rows LOST: neither the database nor %s took them (%s)",
                ids,
                self.overflow_path,
                exc,
            )
            return
        log.warning(
            "[%s] ledger rows queued in %s%s",
            ids,
            self.overflow_path,
            f" ({reason})" if reason else "",
        )

    async def _import_overflow(self) -> None:
        """Rows queued in the overflow file while the database could not take them."""
        if not self.overflow_path.exists():
            return
        rows = []
        for line in self.overflow_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, TypeError):
                values = json.loads(line)
                rows.append(tuple(values.get(column) for column in COLUMNS))
        if self._pg is not None:
            await self._pg.insert_interactions(COLUMNS, rows)
        else:
            db = self._require(self._db)
            await db.executemany(INSERT, rows)
            await db.commit()
        self.overflow_path.unlink()
        self.recorded += len(rows)
        log.info("ledger: imported %d queued rows from %s", len(rows), self.overflow_path)

    def _usable(self) -> None:
        if self.degraded is not None:
            raise LedgerError(f"the ledger {self.degraded}; run `tutor doctor` for how to recover")

    async def _maintain(self) -> None:
        assert self._purge_every_s
        while True:
            try:
                await self.purge_text()
                await queries.forget_events(self, self._clock() - EVENTS_KEPT_S)
            except Exception:  # sqlite3 or asyncpg: the database's trouble, not ours
                log.exception("purging old message text failed; will try again")
            await asyncio.sleep(self._purge_every_s)

    def _require(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise LedgerError("the ledger is not open")
        return conn


def is_postgres(url: str) -> bool:
    """Whether a ledger URL names a PostgreSQL server."""
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file of the ledger: ``[ledger] url`` as ``sqlite:///relative/to/data``
    or ``sqlite:////absolute``, else ``[ledger] file`` in the data folder."""
    url = settings.ledger.url
    if url.startswith("sqlite:///"):
        return settings.data_dir / url.removeprefix("sqlite:///")  # an absolute path wins
    return settings.data_dir / settings.ledger.file


def _private(path: Path) -> None:
    """Create ``path`` readable by its owner only, or make it so."""
    if path.exists():
        os.chmod(path, 0o600)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _clean(value: str, limit: int) -> str:
    """Text SQLite can store: no NULs, no lone surrogates, at most ``limit`` characters."""
    return valid_unicode(value[:limit].replace("\x00", ""))


def _answer(reply: Reply) -> str:
    """The reply's text as the conversation's history keeps it: without its notice."""
    text = reply.text
    if reply.notice and text.endswith(f"\n\n{reply.notice}"):
        text = text[: -len(reply.notice) - 2]
    return text


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _dump(row: tuple[Any, ...]) -> str:
    return json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False)
