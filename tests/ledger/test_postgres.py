"""The ledger on a real PostgreSQL server: what differs from SQLite, and several processes
sharing one database. (Every test of tests/ledger also runs on PostgreSQL.)"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest

from bot.config import ConfigError, load_config
from bot.ledger import queries
from bot.ledger.postgres import pg_sql, redacted
from bot.ledger.schema import LATEST, SchemaError
from bot.ledger.store import Ledger, LedgerError
from tests.cli.test_ask import CONFIG
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import interaction
from tests.loopback.ollama_server import OllamaServer
from tests.service_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_ledger_url_comes_from_the_config_or_the_environment(config_path):
    assert load_config(config_path, {}).ledger.url == ""
    url = "postgresql://tutor:s3cret@db.internal:5432/tutor"
    settings = load_config(config_path, {"TUTOR_LEDGER_URL": url})
    assert settings.ledger.url == url and "s3cret" not in repr(settings)
    with pytest.raises(ConfigError, match="sqlite:///PATH or postgresql://"):
        load_config(config_path, {"TUTOR_LEDGER_URL": "mysql://x"})
    assert redacted(url) == "postgresql://tutor:***@db.internal:5432/tutor"


def test_sqlite_urls_name_a_file_relative_to_the_data_folder_or_absolute(config_path, tmp_path):
    relative = load_config(config_path, {"TUTOR_LEDGER_URL": "sqlite:///other.sqlite3"})
    assert Ledger(relative).path == relative.data_dir / "other.sqlite3"
    absolute = load_config(config_path, {"TUTOR_LEDGER_URL": f"sqlite:///{tmp_path}/x.db"})
    assert Ledger(absolute).path == tmp_path / "x.db"


def test_queries_are_translated_outside_string_literals_only():
    sql = "SELECT coalesce(route, '?'), user FROM t WHERE user = ? AND text LIKE 'user?' AND a = ?"
    assert pg_sql(sql) == (
        'SELECT coalesce(route, \'?\'), "user" FROM t WHERE "user" = $1'
        " AND text LIKE 'user?' AND a = $2"
    )
    assert pg_sql("PRAGMA user_version") == "SELECT version FROM ledger_schema"


async def test_a_fresh_postgres_ledger_is_at_the_latest_schema_and_writes_no_sqlite_file(
    postgres_settings,
):
    async with Ledger(postgres_settings, purge_every_s=None) as ledger:
        await ledger.record(interaction(1.8e9))
        overview = await queries.overview(ledger)
        tables = {
            name
            for (name,) in await ledger.query(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        }
    assert overview.schema_version == LATEST and overview.interactions == 1
    assert {"interactions", "usage_q", "memory_entries", "feedback", "digest_posts"} <= tables
    data = postgres_settings.data_dir
    assert not data.exists() or not any(p.suffix.startswith(".sqlite") for p in data.iterdir())


async def test_two_instances_starting_at_once_migrate_once(postgres_settings):
    first, second = Ledger(postgres_settings, purge_every_s=None), Ledger(postgres_settings)
    await asyncio.gather(first.open(), second.open())
    try:
        await asyncio.gather(first.record(interaction(1.8e9)), second.record(interaction(1.8e9)))
        assert await first.query("SELECT version FROM ledger_schema") == [(LATEST,)]
        assert await second.query("SELECT sum(questions) FROM usage_q") == [(2,)]
    finally:
        await asyncio.gather(first.aclose(), second.aclose())


async def test_a_database_from_a_newer_bot_is_refused(postgres_settings):
    async with Ledger(postgres_settings, purge_every_s=None):
        pass
    conn = await asyncpg.connect(postgres_settings.ledger.url)
    try:
        await conn.execute("UPDATE ledger_schema SET version = $1", LATEST + 1)
    finally:
        await conn.close()
    with pytest.raises(SchemaError, match="newer than this bot"):
        await Ledger(postgres_settings, purge_every_s=None).open()


async def test_an_unreachable_server_queues_rows_in_a_file_until_it_is_back(postgres_settings):
    url = postgres_settings.ledger.url
    down = postgres_settings.model_copy(
        update={
            "ledger": postgres_settings.ledger.model_copy(
                update={"url": f"postgresql://tutor:pw@127.0.0.1:{free_port()}/tutor"}
            )
        }
    )
    ledger = Ledger(down, purge_every_s=None)
    with pytest.raises(LedgerError, match=r"tutor:\*\*\*@127.0.0.1") as refused:
        await ledger.open()
    assert "pw" not in str(refused.value)
    ledger.degrade(refused.value)
    await ledger.record(interaction(1.8e9, correlation_id="kept"))
    assert ledger.overflow_path.exists() and ledger.overflow_path.parent == down.data_dir
    async with Ledger(postgres_settings, purge_every_s=None) as back:
        assert back.postgres_url == url
        assert await back.query("SELECT correlation_id FROM interactions") == [("kept",)]
    assert not ledger.overflow_path.exists()


async def test_two_cli_processes_on_one_postgres_ledger_count_every_answer(
    postgres_settings, tmp_path
):
    """Two `tutor ask --jsonl` at once, each with its own data folder, one PostgreSQL
    ledger: `tutor stats --json` counts every answer of both."""
    per_process = 15
    async with OllamaServer() as ollama:
        config = write_config(
            tmp_path,
            CONFIG.format(down_port=free_port(), ollama=ollama.url, chain='["local"]'),
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"TUTOR_DATA_DIR", "OLLAMA_HOST", "TUTOR_LEDGER_URL"}
        }
        env["TUTOR_LEDGER_URL"] = postgres_settings.ledger.url

        async def tutor(name: str, *args: str) -> bytes:
            folder = tmp_path / name
            folder.mkdir(exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli.main", "--config", str(config), *args,
                cwd=ROOT, env=env | {"TUTOR_DATA_DIR": str(folder / "data")},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode(errors="replace")
            return out

        for name in ("a", "b"):
            lines = [json.dumps({"text": f"Question {i} from {name}?"}) for i in range(per_process)]
            (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        outputs = await asyncio.gather(
            *(
                tutor(name, "ask", "--jsonl", str(tmp_path / f"{name}.jsonl"), "--user", name)
                for name in ("a", "b")
            )
        )
        stats = json.loads(await tutor("c", "stats", "--period", "day", "--json"))
    answers = [json.loads(line) for out in outputs for line in out.splitlines()]
    assert len(answers) == 2 * per_process and all(a["answer"] for a in answers)
    assert stats["questions"] == 2 * per_process
    for name in ("a", "b", "c"):  # nothing went to SQLite
        assert not list((tmp_path / name).rglob("*.sqlite3"))


async def test_doctor_checks_the_postgres_ledger_without_showing_its_password(postgres_settings):
    from bot.ledger.health import ledger_checks

    async with Ledger(postgres_settings, purge_every_s=None):
        pass
    [healthy] = await ledger_checks(postgres_settings)
    assert healthy.status == "pass" and f"schema version {LATEST}" in healthy.detail
    down = postgres_settings.model_copy(
        update={
            "ledger": postgres_settings.ledger.model_copy(
                update={"url": f"postgresql://tutor:pw@127.0.0.1:{free_port()}/tutor"}
            )
        }
    )
    [failed] = await ledger_checks(down)
    assert failed.status == "fail" and "cannot be reached" in failed.detail
    assert ":pw@" not in failed.detail


async def test_two_instances_at_a_digest_time_post_each_period_once(postgres_settings, tmp_path):
    """Two schedulers on one PostgreSQL ledger, firing at the same moments: every
    period's digest goes to the target once, from one of them."""
    from datetime import timedelta

    from bot.digests.scheduler import DigestScheduler
    from bot.digests.service import Digests
    from tests.digests.test_digest_scheduler import DIGESTS, OutboundRecorder, at

    config = write_config(tmp_path, TEST_CONFIG + DIGESTS.format())
    settings = load_config(config, {"TUTOR_LEDGER_URL": postgres_settings.ledger.url})
    ledgers = [await Ledger(settings, purge_every_s=None).open() for _ in range(2)]
    outbound = [OutboundRecorder(), OutboundRecorder()]
    try:
        schedulers = [
            DigestScheduler(settings, ledger, Digests(settings, ledger), [platform])
            for ledger, platform in zip(ledgers, outbound, strict=True)
        ]
        fires = [at(2026, 11, 10, 9) + timedelta(days=d) for d in range(12)]
        for fire in fires:
            results = await asyncio.gather(*(s.run(0, fire) for s in schedulers))
            statuses = sorted(d.status for run in results for d in run)
            assert statuses == ["already-posted", "sent"]
        posts = await ledgers[0].query("SELECT period_key, status FROM digest_posts")
    finally:
        await asyncio.gather(*(ledger.aclose() for ledger in ledgers))
    sent = [m.text.splitlines()[0] for platform in outbound for m in platform.sent]
    assert len(sent) == len(set(sent)) == len(fires)  # one post per period, none twice
    assert len(posts) == len(fires) and {status for _, status in posts} == {"sent"}


async def test_two_slack_instances_answer_an_event_retried_on_each_once(postgres_settings):
    """Slack HTTP mode behind a load balancer: each event and its retry land on different
    instances at the same moment; one ledger, one answer per event."""
    import aiohttp

    from adapters.slack.bot import SlackAdapter
    from tests.loopback.slack_server import (
        APP_TOKEN,
        BOT_TOKEN,
        SlackServer,
        event_callback,
        mention,
    )
    from tests.slack_helpers import (
        SIGNING_SECRET,
        RecordingCommands,
        ScriptedCore,
        loopback_options,
        signed_headers,
    )

    async def deliver(port: int, body: str, retry: int) -> int:
        headers = signed_headers(body) | {"Content-Type": "application/json"}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "timeout"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
        ):
            return r.status

    async with SlackServer() as slack:
        ledgers = [await Ledger(postgres_settings, purge_every_s=None).open() for _ in range(2)]
        cores = [ScriptedCore("An answer."), ScriptedCore("An answer.")]
        adapters = [
            SlackAdapter(
                BOT_TOKEN,
                app_token=APP_TOKEN,
                signing_secret=SIGNING_SECRET,
                options=loopback_options(slack, mode="http"),
                claims=ledger,
            )
            for ledger in ledgers
        ]
        try:
            for adapter, core in zip(adapters, cores, strict=True):
                await adapter.start(core, RecordingCommands())
            ports = [adapter.http_port for adapter in adapters]
            for i in range(10):
                body = json.dumps(event_callback(mention(f"question {i}", ts=slack.next_ts())))
                statuses = await asyncio.gather(
                    deliver(ports[i % 2], body, 0), deliver(ports[1 - i % 2], body, 1)
                )
                assert statuses == [200, 200]  # both acknowledged
            for adapter in adapters:
                await adapter.drain()
        finally:
            for adapter in adapters:
                await adapter.stop()
            await asyncio.gather(*(ledger.aclose() for ledger in ledgers))
    asked = sorted(m.text for core in cores for m in core.messages)
    assert asked == sorted(f"question {i}" for i in range(10))  # each once, none twice


async def test_connections_cut_by_the_server_are_made_again_and_no_row_is_lost(
    postgres_settings,
):
    ledger = await Ledger(postgres_settings, purge_every_s=None).open()
    try:
        await ledger.record(interaction(1.8e9, correlation_id="before"))
        conn = await asyncpg.connect(postgres_settings.ledger.url)
        try:  # every other connection to the server is cut, as by a restart
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid != pg_backend_pid() AND datname = current_database()"
            )
        finally:
            await conn.close()
        await ledger.record(interaction(1.8e9, correlation_id="after"))  # retried, reconnected
        rows = await ledger.query("SELECT correlation_id FROM interactions ORDER BY id")
        assert rows == [("before",), ("after",)]
    finally:
        await ledger.aclose()


async def test_sigkill_mid_write_loses_no_acknowledged_row_on_postgres(
    postgres_settings, config_path, tmp_path
):
    from tests.ledger.test_ledger_crash import record_then_sigkill

    url = postgres_settings.ledger.url
    acked = await record_then_sigkill(config_path, tmp_path / "crash", TUTOR_LEDGER_URL=url)
    conn = await asyncpg.connect(url)
    try:
        stored = {cid for (cid,) in await conn.fetch("SELECT correlation_id FROM interactions")}
        rows = await conn.fetchval("SELECT count(*) FROM interactions")
        rolled_up = await conn.fetchval("SELECT sum(questions) FROM usage_q")
    finally:
        await conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
    assert rows == len(stored) >= len(acked)
    assert rolled_up == rows  # the rollups committed in the same transactions as the rows
    assert not list((tmp_path / "crash").rglob("*.sqlite3"))


async def test_course_memory_rows_round_trip_with_votes(settings):
    """Memory entries (bytes, ids from the database, votes copied by a correlated
    update) read back the same on both databases (``settings`` is each in turn)."""
    vector = bytes(range(256)) * 2
    row = queries.MemoryRow(
        0, "slack", "T1", "course", "What is a list?", "An ordered collection.", "cloud",
        "cloud", "[]", "{}", "minilm", vector, 0.002, "cid-1", 0, 0, 0, 1.8e9, None,
    )  # fmt: skip
    async with Ledger(settings, purge_every_s=None) as ledger:
        first = await queries.add_memory(ledger, row)
        second = await queries.add_memory(ledger, row._replace(correlation_id="cid-2"))
        for user, vote in (("a", "up"), ("b", "up"), ("c", "down")):
            await queries.record_vote(ledger, "cid-1", "slack", "T1", user, vote, 1.8e9)
        assert await queries.sync_memory_votes(ledger, "cid-1") == (2, 1)
        assert await queries.pin_memory(ledger, first)
        assert await queries.retire_memory(ledger, second, 1.8e9, "outdated")
        [kept] = await queries.memory_entries(ledger, "course")
    assert second > first > 0
    assert (kept.id, kept.origin, kept.embedding, kept.votes_up, kept.votes_down) == (
        first, "pinned", vector, 2, 1,
    )  # fmt: skip
