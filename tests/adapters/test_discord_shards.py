"""Discord sharding: ``[discord] shards`` and ``shard_ids``, discord.py's AutoShardedClient
against the loopback gateway, which routes each event to its shard as Discord does."""

from __future__ import annotations

import contextlib

import pytest

from adapters.discord.bot import DiscordOptions
from bot.config import ConfigError, load_config
from tests.adapters.test_discord_adapter import Core, answered, running
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import Script
from tests.loopback.discord_server import DiscordServer

GUILD_ON_SHARD_1 = (1 << 22) | 7  # (guild_id >> 22) % 2 == 1; DMs are on shard 0


async def test_two_instances_each_running_one_shard_each_answer_their_own_events(settings):
    async with DiscordServer(guild_id=GUILD_ON_SHARD_1) as server:
        learner = server.user("ada")
        cores = [Core(settings, local=Script(f"Answered by shard {i}.")) for i in (0, 1)]
        async with contextlib.AsyncExitStack() as stack:
            for shard, core in enumerate(cores):
                await stack.enter_async_context(
                    running(server, core.handle, core.commands, shards=2, shard_ids=(shard,))
                )
            assert sorted(i["shard"] for i in server.identifies) == [[0, 2], [1, 2]]
            await server.post_message(
                "what is a list?", author=learner, channel=server.general, mention_bot=True
            )
            await answered(server, "Answered by shard 1.")
            await server.post_message(
                "what is a tuple?", author=learner, channel=server.dm_channel(learner)
            )
            await answered(server, "Answered by shard 0.")
    assert [m.text for m in cores[1].messages] == ["what is a list?"]  # the guild's shard
    assert [m.text for m in cores[0].messages] == ["what is a tuple?"]  # DMs: shard 0


async def test_one_instance_without_shard_ids_runs_every_shard(settings):
    async with DiscordServer(guild_id=GUILD_ON_SHARD_1) as server:
        learner = server.user("ada")
        core = Core(settings, local=Script("One instance, both shards."))
        async with running(server, core.handle, core.commands, shards=2):
            assert sorted(i["shard"] for i in server.identifies) == [[0, 2], [1, 2]]
            await server.post_message(
                "what is a list?", author=learner, channel=server.general, mention_bot=True
            )
            await server.post_message(
                "what is a set?", author=learner, channel=server.dm_channel(learner)
            )
            await answered(server, "One instance, both shards.", count=2)
    assert sorted(m.text for m in core.messages) == ["what is a list?", "what is a set?"]


def test_shards_come_from_the_config_or_per_instance_from_the_environment(tmp_path):
    path = write_config(tmp_path, TEST_CONFIG + "\n[discord]\nshards = 4\nshard_ids = [2, 3]\n")
    config = load_config(path, {}).discord
    assert (config.shards, config.shard_ids) == (4, [2, 3])
    env = {"TUTOR_DISCORD_SHARDS": "8", "TUTOR_DISCORD_SHARD_IDS": "0, 5"}
    config = load_config(path, env).discord
    assert (config.shards, config.shard_ids) == (8, [0, 5])
    options = DiscordOptions.from_config(config.model_dump(exclude_none=True))
    assert (options.shards, options.shard_ids) == (8, (0, 5))
    assert load_config(write_config(tmp_path, TEST_CONFIG), {}).discord.shards is None


@pytest.mark.parametrize(
    ("section", "env", "says"),
    [
        ("shards = 2\nshard_ids = [2]", {}, "from 0 to 1"),
        ("shards = 2\nshard_ids = [0, 0]", {}, "distinct"),
        ("shard_ids = [0]", {}, "needs shards"),
        ("shards = 0", {}, "shards"),
        ("shards = 2", {"TUTOR_DISCORD_SHARD_IDS": "one"}, "TUTOR_DISCORD_SHARD_IDS='one'"),
        ("", {"TUTOR_DISCORD_SHARDS": "2,3"}, "expected a number"),
    ],
)
def test_wrong_shards_are_refused_saying_why(tmp_path, section, env, says):
    path = write_config(tmp_path, TEST_CONFIG + f"\n[discord]\n{section}\n")
    with pytest.raises(ConfigError, match=says):
        load_config(path, env)


def test_adapter_options_check_shard_ids_too():
    with pytest.raises(ValueError, match="from 0 to 1"):
        DiscordOptions(shards=2, shard_ids=(3,))
    with pytest.raises(ValueError, match="need shards"):
        DiscordOptions(shard_ids=(0,))
