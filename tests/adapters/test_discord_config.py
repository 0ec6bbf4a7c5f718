"""The [discord] config section and BotApp's Discord factory, down to the wire."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from adapters.discord.bot import DiscordAdapter, DiscordOptions
from bot.app import BotApp
from bot.config import ConfigError, load_config
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script
from tests.loopback.discord_server import DiscordServer

DISCORD_SECTION = """
[discord]
moderator_role_ids = [123456789012345600]
guilds = [223456789012345678]
operator_ids = [323456789012345678]
thread_channels = ["123456789012345678"]
messages_per_minute = 2
burst = 1
max_concurrent = 2
message_content = false
sync_commands = "global"
max_parts = 3
"""


def test_the_discord_section_is_read_and_checked(tmp_path):
    settings = load_config(write_config(tmp_path, TEST_CONFIG + DISCORD_SECTION), {})
    section = settings.discord
    assert section.thread_channels == [123456789012345678]
    assert (section.messages_per_minute, section.burst, section.max_parts) == (2, 1, 3)
    assert section.sync_commands == "global" and not section.message_content

    bad = TEST_CONFIG + DISCORD_SECTION.replace('"global"', '"everywhere"')
    with pytest.raises(ConfigError, match=r"discord\.sync_commands"):
        load_config(write_config(tmp_path, bad), {})


async def test_the_defaults_need_no_section_and_are_the_adapters_own(tmp_path):
    environ = {"DISCORD_TOKEN": "secret-token", "TUTOR_DATA_DIR": str(tmp_path / "data")}
    settings = load_config(write_config(tmp_path), environ)
    assert set(settings.discord.model_dump().values()) == {None}  # nothing said: no opinion
    async with BotApp(settings) as app:
        options = app.discord_adapter().options
    drain = settings.service.drain_timeout_s
    assert options == dataclasses.replace(DiscordOptions(), shutdown_grace_s=drain)
    assert options.sync_commands == "global" and options.message_content


async def test_the_factory_needs_a_token(settings):
    async with BotApp(settings) as app:
        with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
            app.discord_adapter()


async def test_the_factory_maps_settings_and_environment(tmp_path):
    environ = {
        "DISCORD_TOKEN": "secret-token",
        "DISCORD_API_BASE": "http://proxy:8080/api/v10",
        "DISCORD_GATEWAY_URL": "ws://proxy:8081/",
        "TUTOR_DATA_DIR": str(tmp_path / "data"),
    }
    settings = load_config(write_config(tmp_path, TEST_CONFIG + DISCORD_SECTION), environ)
    assert "secret-token" not in repr(settings)
    async with BotApp(settings) as app:
        adapter = app.discord_adapter()
    assert isinstance(adapter, DiscordAdapter)
    assert (adapter.api_base, adapter.gateway_url) == (
        "http://proxy:8080/api/v10",
        "ws://proxy:8081/",
    )
    options = adapter.options
    assert options.moderator_role_ids == frozenset({123456789012345600})
    assert options.guilds == frozenset({223456789012345678})
    assert options.operator_ids == frozenset({323456789012345678})
    assert options.thread_channels == frozenset({123456789012345678})
    assert (options.max_concurrent, options.max_parts, options.sync_commands) == (2, 3, "global")


async def test_a_bot_app_answers_on_discord_through_the_environment(tmp_path):
    async with DiscordServer(token="env-token") as server:
        environ = {
            "DISCORD_TOKEN": "env-token",
            "DISCORD_API_BASE": server.api_base,
            "DISCORD_GATEWAY_URL": server.gateway_url,
            "TUTOR_DATA_DIR": str(tmp_path / "data"),
        }
        settings = load_config(write_config(tmp_path), environ)
        models = {"local": FakeChatModel("local", Script("Straight from the app."))}
        async with BotApp(settings, models=models) as app:
            adapter = app.discord_adapter()
            task = asyncio.create_task(adapter.run(app.tutor.handle, app.commands))
            try:
                await server.connected()  # answering needs no "ready" (that waits 2 s)
                learner = server.user("ada")
                await server.post_message("hello?", author=learner, mention_bot=True)
                await server.wait_for(
                    lambda c: (
                        isinstance(c.json, dict)
                        and c.json.get("content") == "Straight from the app."
                    )
                )
            finally:
                await adapter.close()
                await task
        assert server.identifies[0]["token"] == "env-token"
