"""The Discord gateway dropping the bot's connection."""

from __future__ import annotations

import pytest

from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.reliability.harness import DISCORD_TOKEN, LOCAL_TEXT, environment, serving
from tests.service_helpers import write_service_config


@pytest.mark.parametrize("close_code", [4000, None], ids=["close-4000", "dead-tcp"])
async def test_a_dropped_gateway_is_resumed_and_missed_messages_answered(tmp_path, close_code):
    """Expectation: when the gateway closes the connection (a close frame, or a TCP
    connection that just dies), discord.py RESUMEs the same session without identifying
    again; a question asked while it was away is replayed and answered, and so is the
    next one."""
    async with DiscordServer(token=DISCORD_TOKEN) as discord, OllamaServer() as ollama:
        config = write_service_config(tmp_path, chain=["default"])
        env = environment(tmp_path / "data", discord=discord, ollama_url=ollama.url)
        async with serving(config, env, discord=discord) as stack:
            ada = discord.user("ada")
            await discord.post_message("Before the drop?", author=ada, mention_bot=True)
            await stack.answered(1)
            discord.accepting.clear()  # hold the reconnection until the question is in
            await discord.drop(close_code)
            await discord.post_message("While away?", author=ada, mention_bot=True)
            discord.accepting.set()
            await discord.resumed(1)
            await stack.answered(2)
            await discord.post_message("After the drop?", author=ada, mention_bot=True)
            replies = await stack.answered(3)
            await discord.wait_for(lambda _: len(answers_shown(discord)) == 3)

    assert len(discord.identifies) == 1  # resumed, not a new session
    [resume] = discord.resumes
    assert resume["seq"] >= 3 and resume["token"] == DISCORD_TOKEN
    assert [r.outcome for r in replies] == ["answered"] * 3


def answers_shown(discord: DiscordServer) -> list[dict]:
    """The bot's messages that now show the whole answer."""
    bot = discord.bot["id"]
    return [
        m
        for m in discord.messages.values()
        if m["author"]["id"] == bot and m["content"] == LOCAL_TEXT
    ]


async def test_a_session_that_cannot_be_resumed_identifies_again(tmp_path):
    """Expectation: if Discord will not resume the session (INVALID_SESSION), the bot
    identifies afresh (after discord.py's 5-second identify pause) and answers again."""
    async with DiscordServer(token=DISCORD_TOKEN) as discord, OllamaServer() as ollama:
        config = write_service_config(tmp_path, chain=["default"])
        env = environment(tmp_path / "data", discord=discord, ollama_url=ollama.url)
        async with serving(config, env, discord=discord) as stack:
            ada = discord.user("ada")
            discord.forget_sessions()
            await discord.drop(4000)
            await discord.connected()
            await discord.post_message("Still there?", author=ada, mention_bot=True)
            [reply] = await stack.answered(1)

    assert len(discord.identifies) == 2 and not discord.resumes
    assert reply.outcome == "answered" and reply.text == LOCAL_TEXT
