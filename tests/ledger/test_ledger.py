"""The usage ledger on a real SQLite file through aiosqlite."""

import asyncio
import json
import random
import sqlite3
import time
from calendar import timegm
from dataclasses import replace

import aiosqlite
import pytest

from bot.config import LedgerSection
from bot.events import IncomingMessage, Reason, ReasonCode
from bot.ledger.schema import (
    LATEST,
    SchemaError,
    escalations,
    latency_bucket,
    migrate,
    register_functions,
)
from bot.ledger.store import Ledger, LedgerTimeout
from bot.ports import Generation
from tests.ledger_helpers import LOW_CONFIDENCE, PASTED_CODE, cloud, interaction

NOW = time.time()
ROLLUPS = ("usage_q", "reasons_q", "latency_q", "latency_d", "learners")


@pytest.fixture
async def ledger(settings):
    async with Ledger(settings, purge_every_s=None) as ledger:
        yield ledger


async def rows(ledger, sql="SELECT * FROM interactions ORDER BY id", params=()):
    return await ledger.query(sql, params)


async def snapshot(ledger):
    return {
        table: sorted(await ledger.query(f"SELECT * FROM {table}"), key=repr) for table in ROLLUPS
    }


async def test_records_every_field(ledger, settings):
    it = cloud(
        NOW,
        tier="free",
        user="alice",
        channel="c9",
        tokens=(1200, 300),
        latency_ms=850.0,
        reasons=(LOW_CONFIDENCE, PASTED_CODE),
        text="How do I reverse a list?",
    )
    await ledger.record(it)
    [row] = await ledger.query(
        "SELECT at, tier, route, model, outcome, input_tokens, output_tokens, cost_usd,"
        " saved_usd, latency_ms, ttft_ms, confidence, platform, workspace, channel, user,"
        " reasons, correlation_id, text, latency_bucket, escalations, reason_codes"
        " FROM interactions"
    )
    assert row == (
        NOW,
        "free",
        "cloud",
        "cloud",
        "answered",
        1200,
        300,
        pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6),
        0.0,  # a cloud answer saves nothing
        850.0,
        212.5,
        None,
        "discord",
        "g1",
        "c9",
        "alice",
        json.dumps(["tier:free", "confidence:0.31<0.45", "code:52>40"]),  # as people read them
        it.reply.correlation_id,
        "How do I reverse a list?",
        latency_bucket(850.0),
        json.dumps(["low-confidence", "code"]),  # why it escalated, as codes
        json.dumps(["tier", "low-confidence", "code"]),
    )


async def test_unknown_cost_stays_null_and_local_answers_record_what_they_saved(ledger):
    await ledger.record(interaction(NOW, model="cloud", route="cloud", cost=None))
    await ledger.record(interaction(NOW, tokens=(1000, 500)))
    (unknown, saved_by_cloud), (zero, saved) = await rows(
        ledger, "SELECT cost_usd, saved_usd FROM interactions ORDER BY id"
    )
    assert unknown is None and saved_by_cloud == 0.0
    assert zero == 0.0 and saved == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


async def test_concurrent_writers_share_commits_and_lose_nothing(ledger):
    async def learner(n: int) -> None:
        for i in range(20):
            await ledger.record(interaction(NOW + i, user=f"u{n}", correlation_id=f"{n}-{i}"))

    async def reader() -> None:  # digests and stats read while replies are recorded
        for _ in range(20):
            await ledger.query("SELECT count(*) FROM usage_q")
            await asyncio.sleep(0)

    await asyncio.gather(*(learner(n) for n in range(100)), reader(), reader())
    ids = [cid for (cid,) in await rows(ledger, "SELECT correlation_id FROM interactions")]
    assert len(ids) == 2000 and len(set(ids)) == 2000
    assert ledger.recorded == 2000
    assert ledger.commits < 2000  # rows waiting together were committed together
    [(questions,)] = await rows(ledger, "SELECT sum(questions) FROM usage_q")
    assert questions == 2000


async def test_rollups_kept_by_the_trigger_equal_a_rebuild_from_the_rows(ledger):
    rnd = random.Random(7)
    reasons = [(), (PASTED_CODE,), (LOW_CONFIDENCE, Reason(ReasonCode.FAILOVER, "local:timeout"))]
    for _ in range(300):
        kind = rnd.choice(["local", "cloud", "failed", "empty", "unpriced"])
        at = NOW - rnd.random() * 5 * 86400
        common = {
            "user": f"u{rnd.randint(1, 9)}",
            "workspace": rnd.choice(["g1", "g2", None]),
            "tier": rnd.choice(["free", "enterprise"]),
            "latency_ms": rnd.uniform(10, 9000),
            "reasons": rnd.choice(reasons),
        }
        if kind == "cloud":
            it = cloud(at, **common)
        elif kind in {"failed", "empty"}:
            outcome = "failed" if kind == "failed" else "answered"
            it = interaction(at, model="none", outcome=outcome, tokens=(0, 0), **common)
        else:
            route = "cloud" if kind == "unpriced" else "local"
            cost = None if kind == "unpriced" else 0.0
            it = interaction(at, model=kind, route=route, cost=cost, **common)
        await ledger.record(it)
    kept = await snapshot(ledger)
    await ledger.rebuild_rollups()
    assert await snapshot(ledger) == kept
    assert sum(n for *_, n in kept["latency_d"]) == sum(n for *_, n in kept["latency_q"]) > 0


@pytest.mark.sqlite_only
async def test_a_fresh_database_is_at_the_latest_schema_in_wal_mode(ledger):
    assert await rows(ledger, "PRAGMA user_version") == [(LATEST,)]
    assert await rows(ledger, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in await rows(ledger, "SELECT name FROM sqlite_master")}
    assert {"interactions", "channel_models", "learner_preferences", "digest_posts"} <= tables
    assert set(ROLLUPS) <= tables


@pytest.mark.sqlite_only
async def test_migrates_from_version_1_keeping_and_rolling_up_old_rows(settings):
    path = settings.data_dir / settings.ledger.file
    path.parent.mkdir(parents=True)
    async with aiosqlite.connect(path) as db:
        assert await migrate(db, target=1) == 1
        for i, (route, model, cost) in enumerate(
            [("local", "local", 0.0), ("cloud", "cloud", 0.002), ("cloud", "cloud", None)]
        ):
            await db.execute(
                "INSERT INTO interactions (at, tier, route, model, outcome, input_tokens,"
                " output_tokens, cost_usd, saved_usd, latency_ms, platform, workspace, channel,"
                " user, reasons, correlation_id, text) VALUES"
                " (?, 'free', ?, ?, 'answered', 10, 5, ?, 0, ?, 'discord', 'g1', 'c1', ?, ?,"
                " ?, 'old question')",
                (
                    NOW + i,
                    route,
                    model,
                    cost,
                    100.0 * (i + 1),
                    f"u{i}",
                    json.dumps(["tier:free", "code:52>40"]),
                    f"old-{i}",
                ),
            )
        await db.execute(
            "INSERT INTO channel_models VALUES ('discord', 'g1', '', 'tiny', ?)", (NOW,)
        )
        await db.commit()

    async with Ledger(settings, purge_every_s=None) as ledger:
        assert await rows(ledger, "PRAGMA user_version") == [(LATEST,)]
        old = await rows(
            ledger,
            "SELECT correlation_id, latency_bucket, escalations, reason_codes FROM interactions",
        )
        assert old == [
            ("old-0", latency_bucket(100.0), None, '["tier", "code"]'),
            ("old-1", latency_bucket(200.0), '["code"]', '["tier", "code"]'),
            ("old-2", latency_bucket(300.0), '["code"]', '["tier", "code"]'),
        ]
        assert await rows(
            ledger, "SELECT sum(questions), total(cost_usd), sum(unknown_cost) FROM usage_q"
        ) == [(3, 0.002, 1)]
        assert await rows(ledger, "SELECT reason, n FROM reasons_q") == [("code", 2)]
        assert (await ledger.preferences.preferences("discord", "g1", "c5", "u0")).model == "tiny"
        # and new rows roll up on top of the old ones
        await ledger.record(interaction(NOW, user="u9"))
        assert await rows(ledger, "SELECT sum(questions) FROM usage_q") == [(4,)]
        assert await rows(ledger, "SELECT count(*) FROM learners") == [(4,)]


@pytest.mark.sqlite_only
async def test_a_database_from_a_newer_bot_is_refused(settings):
    path = settings.data_dir / settings.ledger.file
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(SchemaError, match="newer than this bot"):
        await Ledger(settings).open()


async def test_hostile_and_broken_values_are_stored_safely(ledger, settings):
    huge = "x" * (settings.tutor.max_input_chars * 10)
    await ledger.record(
        interaction(NOW, text="bad \ud800 surrogate\x00 and NUL", user="\udfff" + "u" * 5000)
    )
    await ledger.record(interaction(NOW, text=huge, latency_ms=float("nan")))
    (text1, user1, _), (text2, _, latency2) = await rows(
        ledger, "SELECT text, user, latency_ms FROM interactions ORDER BY id"
    )
    assert text1 == "bad \ufffd surrogate and NUL" and user1.startswith("\ufffd")
    assert len(user1) == 200
    assert len(text2) == settings.tutor.max_input_chars and latency2 == 0.0


@pytest.mark.sqlite_only
async def test_a_locked_database_delays_the_row_but_never_loses_it(settings):
    quick = settings.model_copy(update={"ledger": LedgerSection(max_wait_ms=100)})
    async with Ledger(quick, busy_timeout_s=0.01, purge_every_s=None) as ledger:
        await ledger.record(interaction(NOW, correlation_id="before"))
        blocker = sqlite3.connect(ledger.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(LedgerTimeout, match="still queued"):
                await ledger.record(interaction(NOW, correlation_id="blocked"))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await ledger.flush()
        ids = await rows(ledger, "SELECT correlation_id FROM interactions ORDER BY id")
        assert ids == [("before",), ("blocked",)]


async def test_closing_writes_every_queued_row(settings):
    ledger = await Ledger(settings, purge_every_s=None).open()
    pending = [
        asyncio.create_task(ledger.record(interaction(NOW, correlation_id=str(i))))
        for i in range(300)
    ]
    await asyncio.sleep(0)  # the tasks enqueue their rows
    await ledger.aclose()
    await asyncio.gather(*pending)
    async with Ledger(settings, purge_every_s=None) as reopened:
        assert await rows(reopened, "SELECT count(*) FROM interactions") == [(300,)]


async def test_message_text_is_purged_after_retention_and_figures_are_kept(ledger, settings):
    days = settings.ledger.text_retention_days
    await ledger.record(interaction(NOW - (days + 1) * 86400, text="old", correlation_id="old"))
    await ledger.record(interaction(NOW - (days - 1) * 86400, text="recent", correlation_id="new"))
    assert await ledger.purge_text(now=NOW) == 1
    assert await rows(ledger, "SELECT correlation_id, text FROM interactions ORDER BY id") == [
        ("old", None),
        ("new", "recent"),
    ]
    assert await rows(ledger, "SELECT sum(questions) FROM usage_q") == [(2,)]
    assert await ledger.purge_text(now=NOW) == 0


async def test_zero_retention_never_stores_text(settings):
    no_text = settings.model_copy(update={"ledger": LedgerSection(text_retention_days=0)})
    async with Ledger(no_text, purge_every_s=None) as ledger:
        await ledger.record(interaction(NOW, text="private"))
        assert await rows(ledger, "SELECT text FROM interactions") == [(None,)]


async def test_forgetting_a_user_deletes_their_rows_and_preferences_only(ledger):
    for user in ("alice", "alice", "bob"):
        await ledger.record(interaction(NOW, user=user))
    await ledger.record(interaction(NOW, user="alice", workspace="other-guild"))
    await ledger.preferences.set_tier("discord", "g1", "alice", "enterprise")
    await ledger.preferences.set_local_only("discord", "g1", "alice", True)
    await ledger.preferences.set_tier("discord", "g1", "bob", "enterprise")

    assert await ledger.forget_user("discord", "g1", "alice") == 2

    left = await rows(ledger, "SELECT user, workspace FROM interactions ORDER BY id")
    assert left == [("bob", "g1"), ("alice", "other-guild")]
    assert await rows(ledger, "SELECT user FROM learners WHERE workspace = 'g1'") == [("bob",)]
    assert await rows(ledger, "SELECT user FROM learner_preferences") == [("bob",)]
    prefs = await ledger.preferences.preferences("discord", "g1", "c1", "alice")
    assert prefs.tier is None and not prefs.local_only
    # the anonymous figures stay: four questions were asked and answered
    assert await rows(ledger, "SELECT sum(questions) FROM usage_q") == [(4,)]


async def test_preferences_persist_across_a_reopen(settings):
    async with Ledger(settings, purge_every_s=None) as ledger:
        prefs = ledger.preferences
        await prefs.set_model("discord", "g1", None, "tiny")  # the whole server
        await prefs.set_model("discord", "g1", "c2", "cloud")  # one channel
        await prefs.set_model("discord", "g1", "c3", "cloud")
        await prefs.set_model("discord", "g1", "c3", None)  # reset again
        await prefs.set_tier("discord", "g1", "u1", "enterprise")
        await prefs.set_local_only("discord", "g1", "u1", True)
        await prefs.set_local_only("discord", "g1", "u2", True)
        await prefs.set_local_only("discord", "g1", "u2", False)
    async with Ledger(settings, purge_every_s=None) as ledger:
        get = ledger.preferences.preferences
        u1 = await get("discord", "g1", "c1", "u1")
        assert (u1.model, u1.tier, u1.local_only) == ("tiny", "enterprise", True)
        assert (await get("discord", "g1", "c2", "u2")).model == "cloud"
        assert (await get("discord", "g1", "c3", "u2")).model == "tiny"
        assert not (await get("discord", "g1", "c3", "u2")).local_only
        assert (await get("slack", "g1", "c1", "u1")).model is None


async def test_month_spend_seeds_budget_checks_per_tier_and_learner(ledger):
    now = timegm((2026, 11, 15, 12, 0, 0))
    await ledger.record(cloud(now - 3600, user="alice", tokens=(1000, 1000)))
    await ledger.record(cloud(now - 7200, user="alice", tier="enterprise", tokens=(2000, 0)))
    await ledger.record(cloud(now - 20 * 86400, user="alice", tokens=(9000, 9000)))  # October
    await ledger.record(interaction(now, user="bob"))  # local: free
    tiers, learners = await ledger.month_spend(now)
    assert tiers == {
        "free": pytest.approx(0.00075),
        "enterprise": pytest.approx(0.0003),
    }
    assert learners == {("discord", "g1", "alice"): pytest.approx(0.00105)}


def test_escalations_are_codes_each_once_without_the_tier():
    tier = Reason(ReasonCode.TIER, "free")
    trimmed = Reason(ReasonCode.TRIMMED, "900>500")
    assert escalations([tier, LOW_CONFIDENCE, trimmed]) == '["low-confidence", "trimmed"]'
    timeouts = [Reason(ReasonCode.FAILOVER, f"{m}:timeout") for m in ("gpt-4o", "gpt-4o-mini")]
    assert escalations([tier, *timeouts]) == '["failover"]'
    assert escalations([tier]) == '["tier-chain"]'


@pytest.mark.sqlite_only
async def test_migrates_from_version_3_counting_escalations_by_code(settings):
    """Texts with scores in them were counted apart; now by code, forgotten learners kept."""
    path = settings.data_dir / settings.ledger.file
    path.parent.mkdir(parents=True)
    old = [  # (user, route, reasons as schema 3 stored them)
        ("u1", "cloud", ["tier:free", "classifier:complex(0.73)"]),
        ("u2", "cloud", ["tier:free", "keyword:compare", "classifier:complex(0.81)"]),
        ("gone", "cloud", ["tier:free", "classifier:complex(0.90)"]),
        ("u1", "cloud", ["tier:free", "rule:code"]),  # no code reads like this
        ("u1", "local", ["tier:free", "rules:none"]),
    ]
    async with aiosqlite.connect(path) as db:
        await register_functions(db)
        assert await migrate(db, target=3) == 3
        for i, (user, route, reasons) in enumerate(old):
            await db.execute(
                "INSERT INTO interactions (at, tier, route, model, outcome, input_tokens,"
                " output_tokens, latency_ms, platform, workspace, channel, user, reasons,"
                " correlation_id, latency_bucket, escalations) VALUES (?, 'free', ?, ?,"
                " 'answered', 10, 5, 100, 'discord', 'g1', 'c1', ?, ?, ?, 1,"
                " CASE WHEN ? = 'cloud' THEN escalation_keys(?) END)",
                (NOW + i, route, route, user, json.dumps(reasons), f"old-{i}", route,
                 json.dumps(reasons)),
            )  # fmt: skip
        await db.execute("DELETE FROM interactions WHERE user = 'gone'")  # forgotten
        await db.commit()
        async with db.execute("SELECT count(*) FROM reasons_q") as cursor:
            assert await cursor.fetchone() == (5,)  # one key per score

    async with Ledger(settings, purge_every_s=None) as ledger:
        assert await rows(ledger, "PRAGMA user_version") == [(LATEST,)]
        assert await rows(
            ledger, "SELECT correlation_id, reason_codes, escalations FROM interactions"
        ) == [
            ("old-0", '["tier", "classifier-complex"]', '["classifier-complex"]'),
            ("old-1", '["tier", "keyword", "classifier-complex"]',
             '["keyword", "classifier-complex"]'),
            ("old-3", '["tier", "other"]', '["other"]'),
            ("old-4", '["tier", "no-rule"]', None),
        ]  # fmt: skip
        by_code = "SELECT reason, sum(n) FROM reasons_q GROUP BY 1 ORDER BY 1"
        assert await rows(ledger, by_code) == [
            ("classifier-complex", 3),  # the forgotten learner's answer still counts
            ("keyword", 1),
            ("other", 1),
        ]
        complex_ = Reason(ReasonCode.CLASSIFIER_COMPLEX, "0.77")
        await ledger.record(cloud(NOW, reasons=(complex_,)))
        assert (await rows(ledger, by_code))[0] == ("classifier-complex", 4)


@pytest.mark.sqlite_only
async def test_migrates_from_version_2_adding_the_cloud_answer_column(settings):
    path = settings.data_dir / settings.ledger.file
    path.parent.mkdir(parents=True)
    async with Ledger(settings, purge_every_s=None) as ledger:
        await ledger.record(cloud(NOW, correlation_id="before"))
    async with aiosqlite.connect(path) as db:  # back to version 2, as an older bot left it
        await db.execute("ALTER TABLE interactions DROP COLUMN reason_codes")
        await db.execute("ALTER TABLE interactions DROP COLUMN answer")
        await db.execute("ALTER TABLE interactions DROP COLUMN usage_estimated")
        await db.execute("DROP INDEX interactions_conversation")
        await db.execute("ALTER TABLE interactions DROP COLUMN conversation")
        await db.execute("PRAGMA user_version = 2")
        await db.commit()
    async with Ledger(settings, purge_every_s=None) as ledger:
        assert await rows(ledger, "PRAGMA user_version") == [(LATEST,)]
        await ledger.record(cloud(NOW + 1, correlation_id="after"))
        await ledger.record(interaction(NOW + 2, correlation_id="local"))
        assert await rows(
            ledger, "SELECT correlation_id, answer FROM interactions ORDER BY id"
        ) == [
            ("before", None),
            ("after", "An answer."),  # cloud answers are kept for fine-tuning
            ("local", "An answer."),  # from v9 every answer, for conversations' history
        ]


async def test_cloud_answers_are_purged_with_the_message_text(ledger, settings):
    days = settings.ledger.text_retention_days
    await ledger.record(cloud(NOW - (days + 1) * 86400, correlation_id="old"))
    assert await ledger.purge_text(now=NOW) == 1
    assert await rows(ledger, "SELECT text, answer FROM interactions") == [(None, None)]


async def test_privacy_is_the_learners_on_every_server_across_a_reopen(settings):
    """Finding 4: "privacy on" said in one server holds in another and in DMs, after a restart."""
    async with Ledger(settings, purge_every_s=None) as ledger:
        await ledger.preferences.set_local_only("discord", "g1", "u1", True)
    async with Ledger(settings, purge_every_s=None) as ledger:
        for workspace in ("g1", "g2", None):
            prefs = await ledger.preferences.preferences("discord", workspace, "c1", "u1")
            assert prefs.local_only, workspace
        await ledger.preferences.set_local_only("discord", None, "u1", False)  # off, in a DM
    async with Ledger(settings, purge_every_s=None) as ledger:
        assert not (await ledger.preferences.preferences("discord", "g1", "c1", "u1")).local_only
        assert not (await ledger.preferences.preferences("slack", "g1", "c1", "u1")).local_only


@pytest.mark.sqlite_only
async def test_a_full_disk_queues_in_memory_then_overflows_never_logging_text(settings, caplog):
    """Finding 9: rows wait in memory up to a bound, then in the overflow file."""
    impatient = settings.ledger.model_copy(update={"max_wait_ms": 200})
    settings = settings.model_copy(update={"ledger": impatient})
    async with Ledger(settings, purge_every_s=None, memory_rows=2) as ledger:
        (pages,) = (await ledger.query("PRAGMA page_count"))[0]
        db = ledger._db
        assert db is not None
        await db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        secret = "my secret question about lists"
        waits = [
            asyncio.create_task(ledger.record(interaction(NOW, text=f"{secret} {i}")))
            for i in range(6)
        ]
        done = await asyncio.gather(*waits, return_exceptions=True)
        assert all(r is None or isinstance(r, LedgerTimeout) for r in done)
        overflow = ledger.overflow_path.read_text().splitlines()
        assert len(overflow) >= 4  # the bound is 2 rows in memory
        await db.execute("PRAGMA max_page_count = 1073741823")  # space again
    assert secret not in caplog.text
    async with Ledger(settings, purge_every_s=None) as ledger:
        texts = await rows(ledger, "SELECT text FROM interactions")
        assert sorted(t for (t,) in texts) == [f"{secret} {i}" for i in range(6)]
        assert not ledger.overflow_path.exists()


@pytest.mark.sqlite_only
async def test_the_data_folder_and_the_ledger_are_private(settings):
    async with Ledger(settings, purge_every_s=None):
        pass
    path = settings.data_dir / settings.ledger.file
    assert path.stat().st_mode & 0o777 == 0o600
    assert settings.data_dir.stat().st_mode & 0o777 == 0o700


async def test_forget_deletes_the_learners_text_and_keeps_it_out_of_fine_tuning(settings):
    """Finding 10: /tutor forget said "forgotten" while the text stayed 30 days and
    export-finetune exported it."""
    from bot.core.commands import Commands
    from bot.core.tutor import Tutor
    from bot.events import CommandRequest
    from bot.models.registry import ModelRegistry
    from tests.fakes import FakeChatModel

    async with Ledger(settings, purge_every_s=None) as ledger:
        for user in ("alice", "bob"):
            await ledger.record(cloud(NOW, user=user, text=f"{user}'s question"))
        models = {n: FakeChatModel(n, is_local=n != "cloud") for n in ("local", "tiny", "cloud")}
        registry = ModelRegistry(settings, models=models)
        tutor = Tutor(settings, registry, ledger=ledger, preferences=ledger.preferences)
        commands = Commands(
            settings, tutor, registry, ledger.preferences, forget_text=ledger.forget_text
        )
        result = await commands(
            CommandRequest(
                name="forget", user="alice", channel="c1", platform="discord", workspace="g1"
            )
        )
        assert result.ok and "deleted the text" in result.text
        texts = await rows(ledger, "SELECT user, text, answer IS NULL FROM interactions")
        assert sorted(texts) == [("alice", None, 1), ("bob", "bob's question", 0)]
        exported = await ledger.escalated_answers()
        assert [e.text for e in exported] == ["bob's question"]


async def test_an_estimated_cloud_answer_is_priced_marked_and_never_free(settings):
    """Finding 12: estimated usage is recorded as estimated, in the ledger and in --json."""
    from bot.cli.main import reply_json
    from bot.core.tutor import Tutor
    from bot.models.registry import ModelRegistry
    from tests.fakes import FakeChatModel, Script

    class NoUsage(FakeChatModel):
        async def stream(self, messages, params=None):
            async for event in super().stream(messages, params):
                if isinstance(event, Generation):
                    event = replace(event, input_tokens=120, output_tokens=40, usage_estimated=True)
                yield event

    async with Ledger(settings, purge_every_s=None) as ledger:
        models = {
            "local": FakeChatModel("local"),
            "tiny": FakeChatModel("tiny"),
            "cloud": NoUsage("cloud", Script("A detailed answer."), is_local=False),
        }
        tutor = Tutor(
            settings,
            ModelRegistry(settings, models=models),
            ledger=ledger,
            preferences=ledger.preferences,
        )
        reply = await tutor.handle(
            IncomingMessage(
                text="Explain in detail how dictionaries work",
                user="u1",
                channel="c1",
                platform="discord",
                workspace="g1",
            )
        )
        assert reply.route == "cloud" and reply.usage.estimated
        assert reply.usage.cost_usd and reply.usage.cost_usd > 0
        assert reply_json(reply)["usage"]["estimated"] is True
        [(estimated, cost)] = await rows(
            ledger, "SELECT usage_estimated, cost_usd FROM interactions"
        )
        assert estimated == 1 and cost > 0


async def test_unpriced_cloud_spend_counts_at_the_dearest_price_after_a_restart(ledger):
    """Finding 2: budgets seeded from the ledger never count an unpriced answer as free."""
    await ledger.record(
        interaction(
            NOW, model="mystery", route="cloud", cost=None, tokens=(1_000_000, 0), user="u7"
        )
    )
    tiers, learners = await ledger.month_spend(NOW)
    dearest = ledger.pricing.dearest_price()
    assert tiers["free"] == pytest.approx(dearest.input)
    assert learners[("discord", "g1", "u7")] == pytest.approx(dearest.input)
