"""Discord: feedback buttons, "Ask the detailed model" and "Ask a TA" over the loopback."""

import json

import pytest

from adapters.discord.text import PLATFORM
from bot.ledger import queries
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from tests.adapters.teaching_core import LOCAL_ANSWER, TeachingCore, teaching_settings
from tests.adapters.test_discord_adapter import running
from tests.loopback.discord_server import EPHEMERAL, DiscordServer
from tests.loopback.openai_server import OpenAIServer


@pytest.fixture
async def servers():
    async with DiscordServer() as discord, OpenAIServer() as openai:
        yield discord, openai


def body(call) -> dict:
    return call.json if isinstance(call.json, dict) else {}


def data_of(call) -> dict:
    return body(call).get("data") or body(call)


def custom_ids(payload: dict) -> list[str]:
    return [b["custom_id"] for row in payload.get("components") or [] for b in row["components"]]


async def answered(
    server: DiscordServer, learner, core: TeachingCore, text: str
) -> tuple[int, str]:
    """A learner asks; returns the answer's message id once its buttons are on."""
    await server.post_message(text, author=learner, mention_bot=True)
    (edit,) = await server.wait_for(lambda c: c.method == "PATCH" and "components" in body(c))
    return int(edit.path.split("/")[-1]), core.replies[-1].correlation_id


async def test_each_button_press_reaches_the_ledger_and_works_after_a_restart(
    servers, settings, tmp_path
):
    server, openai = servers
    settings = teaching_settings(tmp_path, openai.base_url, "discord", "1", "2")
    learner = server.user("ada")
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        core = TeachingCore(settings, ledger, teaching)
        async with running(server, core.handle, core.commands):
            message, answer = await answered(server, learner, core, "what is a loop?")
            assert server.buttons(message) == [
                f"tutor:vote:up:local:{answer}",
                f"tutor:vote:down:local:{answer}",
            ]
            token = await server.press(message, f"tutor:vote:down:local:{answer}", user=learner)
            (callback,) = await server.wait_for(lambda c: token in c.path)
            reply = data_of(callback)
            assert reply["flags"] & EPHEMERAL  # only the learner sees the follow-ups
            assert custom_ids(reply) == [f"tutor:detail:{answer}", f"tutor:human:{answer}"]
        down = await queries.votes(ledger, answer)
        async with running(server, core.handle, core.commands):  # a new process, old buttons
            token = await server.press(message, f"tutor:vote:up:local:{answer}", user=learner)
            await server.wait_for(lambda c: token in c.path)
        assert [(v.user, v.vote) for v in down] == [(learner["id"], "down")]
        assert [(v.user, v.vote) for v in await queries.votes(ledger, answer)] == [
            (learner["id"], "up")  # one vote per learner per answer: the latest
        ]


async def test_thumbs_down_then_the_detailed_model_answers_from_the_cloud_and_is_recorded(
    servers, settings, tmp_path
):
    server, openai = servers
    openai.behaviour.text = "Loops in detail: for walks a sequence, while repeats a test."
    settings = teaching_settings(tmp_path, openai.base_url, "discord", "1", "2")
    learner, other = server.user("ada"), server.user("bob")
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        core = TeachingCore(settings, ledger, teaching)
        async with running(server, core.handle, core.commands):
            message, answer = await answered(server, learner, core, "what is a loop?")
            assert core.replies[-1].text == LOCAL_ANSWER and not openai.requests
            token = await server.press(message, f"tutor:vote:down:local:{answer}", user=learner)
            await server.wait_for(lambda c: token in c.path)
            offer = server.response_message(token)  # the ephemeral follow-up's buttons
            refused = await server.press(offer, f"tutor:detail:{answer}", user=other)
            await server.wait_for(lambda c: refused in c.path and c.path.startswith("/webhooks"))
            token = await server.press(offer, f"tutor:detail:{answer}", user=learner)
            (followup,) = await server.wait_for(
                lambda c: token in c.path and c.path.startswith("/webhooks")
            )
        rows = await ledger.query(
            "SELECT route, model, escalations, channel FROM interactions WHERE correlation_id = ?",
            (f"{answer}-d",),
        )
    (defer,) = [c for c in server.callbacks(token)]
    assert not data_of(defer).get("flags", 0) & EPHEMERAL  # the thread sees the answer
    assert body(followup)["content"].startswith("Loops in detail")
    assert len(openai.requests) == 1
    sent = openai.requests[0]["messages"]
    assert sent[-1]["content"].endswith("what is a loop?")
    assert sum("what is a loop?" in m["content"] for m in sent) == 1  # not its own history
    assert len(rows) == 1 and rows[0][:2] == ("cloud", "cloud")
    assert json.loads(rows[0][2]) == ["rules:none", "learner-vote"] or "learner-vote" in json.loads(
        rows[0][2]
    )
    assert rows[0][3] == server.help["id"]


async def test_a_handoff_pings_only_the_staff_role_and_staff_replies_quiet_the_bot(
    servers, settings, tmp_path
):
    server, openai = servers
    staff = server.text_channel("staff")
    role = server.mentor_role["id"]
    settings = teaching_settings(tmp_path, openai.base_url, "discord", staff["id"], role)
    learner, ta = server.user("ada"), server.user("tess")
    sneaky = f"@everyone @here <@&{role}> <@{ta['id']}> please"
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        core = TeachingCore(settings, ledger, teaching)
        async with running(server, core.handle, core.commands):
            message, answer = await answered(server, learner, core, f"what is a loop? {sneaky}")
            await server.wait_for(lambda c: True)
            token = await server.press(message, f"tutor:vote:down:local:{answer}", user=learner)
            await server.wait_for(lambda c: token in c.path)
            offer = server.response_message(token)
            token = await server.press(offer, f"tutor:human:{answer}", user=learner)
            (told,) = await server.wait_for(lambda c: token in c.path)
            (post,) = await server.wait_for(lambda c: c in server.sends(staff))
            token = await server.interact(["human"], {"note": sneaky}, user=learner)
            await server.wait_for(lambda c: token in c.path)
            await server.wait_for(lambda c: c in server.sends(staff), count=2)
            # Staff answer in the learner's channel: the bot stays quiet there ...
            answers = len(core.replies)
            await server.post_message(
                "Let's look at it together.",
                author=ta,
                extra={
                    "member": {
                        "roles": [role],
                        "joined_at": "2026-01-01T00:00:00+00:00",
                        "deaf": False,
                        "mute": False,
                        "flags": 0,
                    }
                },
            )
            await server.post_message("thanks, more on loops?", author=learner, reply_to=message)
            # ... until the learner asks it again.
            await server.post_message(
                "one more question on loops", author=learner, mention_bot=True
            )
            await server.wait_for(
                lambda c: c.method == "PATCH" and "components" in body(c), count=2
            )
        handoffs = await ledger.query("SELECT user, answered_at IS NOT NULL FROM handoffs")
    assert "passed your question on" in data_of(told)["content"]
    posted = body(post)
    assert posted["content"].startswith(f"<@&{role}> ")
    assert posted["allowed_mentions"] == {"parse": [], "roles": [int(role)]}
    assert "what is a loop?" in posted["content"]
    assert "discord.com/channels" in posted["content"]  # a link to the conversation
    # Every other message the bot sent pings no one.
    others = [
        c for c in server.calls if c.method in {"POST", "PATCH"} and c not in server.sends(staff)
    ]
    for call in others:
        mentions = body(call).get("allowed_mentions") or data_of(call).get("allowed_mentions")
        assert mentions is None or (
            mentions["parse"] == [] and not mentions.get("roles") and not mentions.get("users")
        ), call
    assert len(core.replies) == answers + 1  # the quiet reply was skipped, the mention answered
    assert handoffs == [(learner["id"], 1), (learner["id"], 1)]
    assert PLATFORM == "discord"
