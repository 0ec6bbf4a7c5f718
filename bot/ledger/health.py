"""The ledger's health check for ``tutor doctor``: readable, intact, a known schema."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.config import Settings
from bot.ledger.schema import LATEST
from bot.ledger.store import OVERFLOW_SUFFIX, POSTGRES_OVERFLOW, is_postgres, sqlite_path
from bot.ports import CheckResult


async def ledger_checks(settings: Settings) -> list[CheckResult]:
    """The ledger: readable, ``PRAGMA integrity_check`` ok, schema version known; and the
    rows waiting in its overflow file, if any."""
    if is_postgres(settings.ledger.url):
        overflow = settings.data_dir / POSTGRES_OVERFLOW
        checks = await _postgres_checks(settings.ledger.url)
    else:
        path = sqlite_path(settings)
        overflow = path.with_name(path.name + OVERFLOW_SUFFIX)
        checks = await _database_checks(path)
    queued = []
    if overflow.exists():
        with overflow.open("rb") as rows:
            count = sum(1 for _ in rows)
        queued.append(
            CheckResult(
                "ledger overflow",
                "warn",
                f"{count} rows wait in {overflow} (the ledger could not take them)",
                "they are imported on the next start with a working ledger",
            )
        )
    return [*checks, *queued]


async def _postgres_checks(url: str) -> list[CheckResult]:
    from bot.ledger.postgres import PostgresDatabase, redacted, schema_version

    where = redacted(url)
    db = PostgresDatabase(url, timeout_s=5.0)
    try:
        conn = await db._connect()
        try:
            version = await schema_version(conn)
        finally:
            await conn.close()
    except Exception as exc:  # unreachable, refused, bad credentials
        return [
            CheckResult(
                "ledger",
                "fail",
                f"{where} cannot be reached: {exc}",
                "check TUTOR_LEDGER_URL, that the server runs and accepts this user",
            )
        ]
    if version > LATEST:
        return [
            CheckResult(
                "ledger",
                "fail",
                f"{where}: schema version {version} is newer than this bot ({LATEST})",
                "upgrade the bot, or point TUTOR_LEDGER_URL at another database",
            )
        ]
    if version < LATEST:
        return [
            CheckResult(
                "ledger", "warn", f"{where}: schema version {version} migrated to {LATEST} on start"
            )
        ]
    return [CheckResult("ledger", "pass", f"{where}: schema version {version} (latest)")]


async def _database_checks(path: Path) -> list[CheckResult]:
    if not path.exists():  # noqa: ASYNC240 - one stat, as before
        return [CheckResult("ledger", "pass", f"{path} will be created on first start")]
    aside = f"stop the bot, then `mv {path} {path}.broken` (a new ledger is created on start)"
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"  # noqa: ASYNC240 - no I/O to speak of
        async with aiosqlite.connect(uri, uri=True) as db:
            async with db.execute("PRAGMA integrity_check") as cursor:
                problems = [str(row[0]) for row in await cursor.fetchall()]
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            version = int(row[0]) if row else 0
    except Exception as exc:  # sqlite3.DatabaseError and friends: not a database, unreadable
        return [CheckResult("ledger", "fail", f"{path} cannot be read: {exc}", aside)]
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        return [
            CheckResult(
                "ledger",
                "fail",
                f"integrity_check found problems: {shown}",
                f"recover with `sqlite3 {path} .recover | sqlite3 recovered.sqlite3`, or {aside}",
            )
        ]
    if version > LATEST:
        return [
            CheckResult(
                "ledger",
                "fail",
                f"schema version {version} is newer than this bot ({LATEST})",
                "upgrade the bot, or point TUTOR_DATA_DIR at another folder",
            )
        ]
    if version < LATEST:
        return [
            CheckResult(
                "ledger",
                "warn",
                f"integrity ok; schema version {version} will be migrated to {LATEST} on start",
                f"back it up first: `sqlite3 {path} '.backup {path}.bak'`",
            )
        ]
    return [CheckResult("ledger", "pass", f"integrity ok, schema version {version} (latest)")]
