"""Every moderator command, tried by someone who is not one, on both platforms."""

from __future__ import annotations

from typing import Any

from bot.core.commands import MODERATOR_ONLY, OPERATOR_ONLY
from tests.loopback.discord_server import EPHEMERAL, DiscordServer, RestCall
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.slack_server import SlackServer, slash_command
from tests.reliability.harness import DISCORD_TOKEN, environment, serving
from tests.service_helpers import write_service_config

REFUSED = "Sorry, only"  # moderators (or, for reindex, the operators)


def discord_attempts(discord: DiscordServer, victim: dict[str, Any]) -> dict[str, tuple]:
    return {
        "model.set": (["model", "set"], {"model": "cloud", "scope": "server"}),
        "model.show": (["model", "show"], {}),
        "model.list": (["model", "list"], {}),
        "tier.set": (["tier", "set"], {"learner": victim, "tier": "free"}),
        "cost": (["cost"], {"period": "month"}),
        "reindex": (["reindex"], {}),
        "mode": (["mode"], {"mode": "answer"}),
        "offtopic": (["offtopic"], {"mode": "off"}),
        "insights": (["insights"], {"period": "week"}),
    }


SLACK_ATTEMPTS = {
    "model.set": "model set cloud server",
    "model.show": "model show",
    "model.list": "model list",
    "tier.set": "tier set <@U0VICTIM|victim> free",
    "cost": "cost month",
    "reindex": "reindex",
    "mode": "mode answer",
    "offtopic": "offtopic off",
    "insights": "insights week",
}


def said(call: RestCall) -> tuple[str, int]:
    """(content, flags) of an interaction response or follow-up."""
    body = call.json or {}
    if call.path.endswith("/callback"):
        body = body.get("data") or {}
    return body.get("content") or "", int(body.get("flags") or 0)


async def test_non_moderators_are_refused_every_moderator_command(tmp_path):
    """Expectation: on Discord (no Manage Server permission, no moderator role, even with
    a role of the same name as an unconfigured one) and on Slack (not an admin, owner or
    configured moderator, even with a forged form field), each moderator command gets a
    private refusal, changes nothing, and is counted as refused."""
    async with (
        DiscordServer(token=DISCORD_TOKEN) as discord,
        SlackServer() as slack,
        OllamaServer() as ollama,
    ):
        slack.add_user("U0LEARNER")
        env = environment(tmp_path / "data", discord=discord, slack=slack, ollama_url=ollama.url)
        async with serving(write_service_config(tmp_path), env, discord=discord) as stack:
            learner, victim = discord.user("learner"), discord.user("victim")
            discord_replies = {}
            for name, (path, options) in discord_attempts(discord, victim).items():
                token = await discord.interact(
                    path, options, user=learner, roles=[discord.mentor_role["id"]]
                )
                [call] = await discord.wait_for(
                    lambda c, t=token: t in c.path and REFUSED in said(c)[0]
                )
                discord_replies[name] = said(call)

            slack_replies = {}
            for name, text in SLACK_ATTEMPTS.items():
                body = slash_command(slack, text) | {"is_admin": "true", "user_is_admin": "1"}
                await (await slack.deliver(body, kind="slash_commands"))
                response_id = body["response_url"].rsplit("/", 1)[1]
                [reply] = await slack.wait_for(
                    lambda r=response_id: [x for x in slack.responses if x["_id"] == r]
                )
                slack_replies[name] = reply

            guild = str(discord.guild_id)
            discord_prefs = await stack.app.preferences.preferences(
                "discord", guild, discord.help["id"], victim["id"]
            )
            slack_prefs = await stack.app.preferences.preferences(
                "slack", "T0TEST", "C0COURSE", "U0VICTIM"
            )
            refused = {
                (s.labels["platform"], s.labels["command"])
                for s in stack.app.metrics.commands.collect()[0].samples
                if s.name.endswith("_total") and s.labels["result"] == "refused"
            }

    assert set(discord_replies) == set(SLACK_ATTEMPTS) == MODERATOR_ONLY | OPERATOR_ONLY
    for name, (text, flags) in discord_replies.items():
        assert REFUSED in text and flags & EPHEMERAL, name
    for name, reply in slack_replies.items():
        assert REFUSED in reply["text"] and reply["response_type"] == "ephemeral", name
    assert discord_prefs.model is None and discord_prefs.tier is None
    assert slack_prefs.model is None and slack_prefs.tier is None
    assert refused == {(p, c) for p in ("discord", "slack") for c in MODERATOR_ONLY | OPERATOR_ONLY}
    assert [c.args["user"] for c in slack.calls_to("users.info")] == ["U0LEARNER"]  # cached
