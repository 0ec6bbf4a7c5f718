"""The ledger wired into BotApp, the /tutor commands and the CLI."""

import asyncio
import json
import time

import pytest

from bot.app import BotApp
from bot.cli.main import main
from bot.events import CommandRequest, IncomingMessage
from bot.ledger.store import Ledger
from bot.ports import ModelUnavailable
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script
from tests.ledger_helpers import PASTED_CODE, cloud, interaction


def fakes(fail: bool = False) -> dict[str, FakeChatModel]:
    answer = Script(fail=ModelUnavailable("m", "down")) if fail else Script("An answer.")
    return {
        "local": FakeChatModel("local", answer),
        "tiny": FakeChatModel("tiny", answer),
        "cloud": FakeChatModel("cloud", answer, is_local=False),
    }


def ask(text: str = "What is a list?", user: str = "u1", workspace: str = "g1"):
    return IncomingMessage(
        text=text, user=user, channel="c1", platform="discord", workspace=workspace
    )


def command(name: str, mod: bool = True, **args: str) -> CommandRequest:
    return CommandRequest(
        name=name,
        user="mod",
        channel="c1",
        platform="discord",
        workspace="g1",
        args=args,
        is_moderator=mod,
    )


async def test_every_reply_is_recorded_including_empty_and_failed_ones(settings):
    async with BotApp(settings, models=fakes()) as app:
        answered = await app.tutor.handle(ask())
        empty = await app.tutor.handle(ask("   \x00  "))
    async with BotApp(settings, models=fakes(fail=True)) as app:
        failed = await app.tutor.handle(ask())
    async with Ledger(settings, purge_every_s=None) as ledger:
        rows = await ledger.query(
            "SELECT correlation_id, model, outcome, cost_usd, latency_bucket IS NULL, reasons"
            " FROM interactions ORDER BY id"
        )
    assert [row[:5] for row in rows] == [
        (answered.correlation_id, "local", "answered", 0.0, False),
        (empty.correlation_id, "none", "answered", 0.0, True),
        (failed.correlation_id, "none", "failed", 0.0, True),
    ]
    assert "empty-message" in rows[1][5] and "failover:local" in rows[2][5]


async def test_moderator_choices_survive_a_restart(settings):
    async with BotApp(settings, models=fakes()) as app:
        assert (await app.commands(command("model.set", model="tiny"))).ok
        assert (await app.commands(command("tier.set", user="u7", tier="enterprise"))).ok
        privacy = CommandRequest(
            name="privacy", user="u8", channel="c1", platform="discord", workspace="g1"
        )
        assert (await app.commands(privacy)).ok
    async with BotApp(settings, models=fakes()) as app:
        reply = await app.tutor.handle(ask(user="u7"))
        assert reply.model == "tiny" and "tier:enterprise" in reply.reason_texts
        private = await app.tutor.handle(ask(user="u8"))
        assert "privacy:local-only" in private.reason_texts


async def test_cost_command_gives_moderators_the_digest_with_its_chart(settings):
    async with BotApp(settings, models=fakes()) as app:
        await app.tutor.handle(ask())
        await app.tutor.handle(ask(user="u2", workspace="another-guild"))
        result = await app.commands(command("cost", period="day"))
        refused = await app.commands(command("cost", mod=False, period="day"))
    assert result.ok and result.text.startswith("Tutor usage digest: last 24 hours")
    lines = [line.split() for line in result.text.splitlines()]
    assert ["questions", "1", "0", "new"] in lines  # this guild's question only
    [chart] = result.attachments
    assert chart.data.startswith(b"\x89PNG")
    assert not refused.ok and not refused.attachments


def seed(settings) -> None:
    async def record() -> None:
        async with Ledger(settings, purge_every_s=None) as ledger:
            now = time.time()
            await ledger.record(interaction(now - 3600, user="alice"))
            await ledger.record(cloud(now - 1800, user="bob", reasons=(PASTED_CODE,)))

    asyncio.run(record())


@pytest.fixture
def cli_config(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    monkeypatch.delenv("TUTOR_LEDGER_URL", raising=False)
    if settings.ledger.url:  # the CLI reads the ledger's URL from the environment
        monkeypatch.setenv("TUTOR_LEDGER_URL", settings.ledger.url)
    return write_config(tmp_path, TEST_CONFIG)


def test_cli_digest_print_and_chart(cli_config, settings, tmp_path, capsys):
    seed(settings)
    png = tmp_path / "chart.png"
    code = main(["--config", str(cli_config), "digest", "--print", "--chart", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Tutor usage digest: last 7 days")
    assert ["questions", "2", "0", "new"] in [line.split() for line in out.splitlines()]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_digest_posts_to_targets_or_previews_them(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    config = write_config(
        tmp_path,
        TEST_CONFIG + '[digests]\ntargets = [{ platform = "discord", channel = "42" }]\n',
    )
    assert main(["--config", str(config), "digest", "--period", "day"]) == 0
    captured = capsys.readouterr()
    assert "[discord channel 42 (no discord adapter here)]" in captured.out
    assert "No questions were recorded" in captured.out
    assert "discord:42: previewed" in captured.err


def test_cli_stats_shows_tables(cli_config, settings, capsys):
    seed(settings)
    assert main(["--config", str(cli_config), "stats", "--period", "day"]) == 0
    out = capsys.readouterr().out
    for title in ("Ledger", "Per tier", "Per model", "Latest digest posts"):
        assert title in out
    assert "…" not in out  # fits an 80-column terminal
    rows = [line.split() for line in out.splitlines()]
    assert ["free", "2", "2", "50.0%"] in [row[:4] for row in rows]  # asked, learners, local
    assert ["free", "code", "1"] in rows


def test_cli_stats_json_has_the_contract_keys(cli_config, settings, capsys):
    seed(settings)
    assert main(["--config", str(cli_config), "stats", "--period", "day", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["questions"] == 2
    assert stats["by_route"] == {"local": 1, "memory": 0, "cloud": 1}
    assert stats["feedback"] == {"up": 0, "down": 0} and stats["handoffs"] == 0
    assert stats["top_reasons"] == {"code": 1} and stats["local_share"] == 0.5


def test_cli_forget_user(cli_config, settings, capsys):
    seed(settings)
    code = main(
        ["--config", str(cli_config), "forget-user", "alice", "--platform", "discord",
         "--workspace", "g1"]
    )  # fmt: skip
    assert code == 0 and "1 recorded messages" in capsys.readouterr().out

    async def users() -> list[tuple[str]]:
        async with Ledger(settings, purge_every_s=None) as ledger:
            return await ledger.query("SELECT user FROM interactions")

    assert asyncio.run(users()) == [("bob",)]
