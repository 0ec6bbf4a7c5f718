"""Slack: feedback_buttons, "Ask the detailed model" and "Ask a TA" over the loopback."""

import json

import pytest

from adapters.slack.feedback import ASKED
from bot.ledger import queries
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from tests.adapters.teaching_core import LOCAL_ANSWER, TeachingCore, teaching_settings
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.slack_server import (
    BOT_ID,
    BOT_USER,
    TEAM,
    SlackServer,
    event_callback,
    mention,
    slash_command,
)
from tests.slack_helpers import running

CHANNEL, LEARNER, STAFF, TAS = "C0COURSE", "U0LEARNER", "C0STAFF", "S0TAS"
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U0OTHER>", "<!subteam^S0OTHER>")


@pytest.fixture
async def servers():
    async with SlackServer() as slack, OpenAIServer() as openai:
        yield slack, openai


async def ask(slack: SlackServer, text: str, streaming: bool = True) -> tuple[str, object]:
    """A learner mentions the bot; returns the thread and the message with the buttons:
    the answer itself when it was streamed, else a small message of their own."""
    ts = slack.next_ts()
    await (await slack.deliver(event_callback(mention(text, ts=ts))))

    def carrying():
        return [
            m
            for m in slack.thread(CHANNEL, ts)
            if m.blocks and m.blocks[-1]["type"] == "context_actions" and not m.streaming
        ]

    (message,) = await slack.wait_for(carrying)
    assert (message.text == ASKED) == (not streaming)
    return ts, message


async def press(slack: SlackServer, thread_ts: str, message, action: dict, user: str = LEARNER):
    """A learner presses a button: a block_actions payload over Socket Mode."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "loopback"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0TEST",
        "token": "verification-token",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": CHANNEL,
            "is_ephemeral": False,
            "thread_ts": thread_ts,
        },
        "trigger_id": "trigger.1",
        "channel": {"id": CHANNEL, "name": "course"},
        "message": {
            "type": "message",
            "ts": message.ts,
            "thread_ts": thread_ts,
            "text": message.text,
            "user": BOT_USER,
            "bot_id": BOT_ID,
        },
        "response_url": f"{slack.base_url}/respond/action",
        "actions": [action | {"block_id": "b1", "action_ts": "1.0"}],
    }
    ack = await (await slack.deliver(payload, kind="interactive"))
    return ack


def vote(message, which: str) -> dict:
    (element,) = message.blocks[-1]["elements"]
    assert message.blocks[-1]["type"] == "context_actions"
    assert element["type"] == "feedback_buttons"
    button = element["positive_button" if which == "up" else "negative_button"]
    return {"action_id": element["action_id"], "type": "feedback_buttons", "value": button["value"]}


async def test_feedback_buttons_reach_the_ledger_and_the_detailed_model_answers(
    servers, settings, tmp_path
):
    slack, openai = servers
    openai.behaviour.text = "Loops in detail: for walks a sequence, while repeats a test."
    settings = teaching_settings(tmp_path, openai.base_url, "slack", STAFF, TAS)
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        core = TeachingCore(settings, ledger, teaching)
        async with running(slack, core.handle, core.commands, feedback_buttons=True) as bot:
            ts, feedback = await ask(slack, "what is a loop?")
            answer = core.replies[-1].correlation_id
            assert core.replies[-1].text == LOCAL_ANSWER
            await press(slack, ts, feedback, vote(feedback, "down"))
            (offer,) = await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
            await bot.drain()
        down = await queries.votes(ledger, answer)
        async with running(slack, core.handle, core.commands, feedback_buttons=True) as bot:
            await press(slack, ts, feedback, vote(feedback, "up"))  # after a restart
            buttons = offer.args["blocks"][-1]["elements"]
            detail = next(b for b in buttons if b["action_id"] == "tutor_detail")
            await press(
                slack,
                ts,
                feedback,
                {"action_id": "tutor_detail", "type": "button", "value": detail["value"]},
            )
            detailed = await slack.wait_for(
                lambda: [m for m in slack.thread(CHANNEL, ts) if m.text.startswith("Loops in")]
            )
            await bot.drain()
        up = await queries.votes(ledger, answer)
        rows = await ledger.query(
            "SELECT route, escalations FROM interactions WHERE correlation_id = ?",
            (f"{answer}-d",),
        )
    assert [(v.user, v.vote) for v in down] == [(LEARNER, "down")]
    assert [(v.user, v.vote) for v in up] == [(LEARNER, "up")]  # the latest vote wins
    assert offer.args["user"] == LEARNER and offer.args["thread_ts"] == ts
    assert [b["action_id"] for b in buttons] == ["tutor_detail", "tutor_human"]
    assert len(detailed) == 1 and len(openai.requests) == 1
    assert rows[0][0] == "cloud" and "learner-vote" in json.loads(rows[0][1])


async def test_a_handoff_pings_only_the_staff_user_group_in_the_staff_channel(
    servers, settings, tmp_path
):
    slack, openai = servers
    settings = teaching_settings(tmp_path, openai.base_url, "slack", STAFF, TAS)
    sneaky = " ".join(PINGS) + " @channel please"
    async with Ledger(settings, purge_every_s=None) as ledger:
        teaching = await LedgerTeaching(ledger).load()
        core = TeachingCore(settings, ledger, teaching)
        async with running(slack, core.handle, core.commands, feedback_buttons=True) as bot:
            ts, feedback = await ask(slack, f"what is a loop? {sneaky}")
            answer = core.replies[-1].correlation_id
            await press(
                slack, ts, feedback, {"action_id": "tutor_human", "type": "button", "value": answer}
            )
            await slack.wait_for(lambda: slack.thread(STAFF, None))
            # Replies in the thread: a classmate's does not answer the hand-off, staff's does;
            # the bot answers neither (in channels it speaks when mentioned).
            slack.usergroups[TAS] = ["U0TA"]
            answers = len(core.replies)
            for who in ("U0OTHER", "U0TA"):
                reply = {
                    "type": "message",
                    "channel": CHANNEL,
                    "channel_type": "channel",
                    "user": who,
                    "text": "Let's look at it together.",
                    "ts": slack.next_ts(),
                    "thread_ts": ts,
                    "team": TEAM,
                }
                await (await slack.deliver(event_callback(reply)))
                await bot.drain()
            assert len(core.replies) == answers
            body = slash_command(slack, f"human {sneaky}")
            await (await slack.deliver(body, kind="slash_commands"))
            await slack.wait_for(lambda: len(slack.thread(STAFF, None)) == 2)
            await slack.wait_for(lambda: slack.responses)
            await bot.drain()
        handoffs = await ledger.query(
            "SELECT user, conversation, answered_at IS NOT NULL FROM handoffs ORDER BY id"
        )
    posts = slack.thread(STAFF, None)
    for post in posts:
        assert post.text.startswith(f"<!subteam^{TAS}> ")
        rest = post.text.removeprefix(f"<!subteam^{TAS}> ")
        assert not any(ping in rest for ping in PINGS) and "@channel" not in rest
        assert "what is a loop?" in post.text and f"<#{CHANNEL}>" in post.text
    # Nowhere else did the bot write a mention.
    elsewhere = [
        json.dumps(c.args) for c in slack.calls if c.args.get("channel") not in (STAFF, None)
    ]
    assert not any(ping in text for text in elsewhere for ping in (*PINGS, f"<!subteam^{TAS}>"))
    assert "passed your question on" in json.dumps(slack.responses)
    # The button's hand-off (in the thread) was answered by staff; the slash command's not yet.
    assert handoffs == [(LEARNER, ts, 1), (LEARNER, CHANNEL, 0)]
    assert [c.args["usergroup"] for c in slack.calls_to("usergroups.users.list")] == [TAS] * 2


async def test_without_native_streaming_the_buttons_come_in_a_message_of_their_own(tmp_path):
    async with SlackServer(streaming=False) as slack, OpenAIServer() as openai:
        settings = teaching_settings(tmp_path, openai.base_url, "slack", STAFF, TAS)
        async with Ledger(settings, purge_every_s=None) as ledger:
            teaching = await LedgerTeaching(ledger).load()
            core = TeachingCore(settings, ledger, teaching)
            async with running(slack, core.handle, core.commands, feedback_buttons=True) as bot:
                ts, feedback = await ask(slack, "what is a loop?", streaming=False)
                await press(slack, ts, feedback, vote(feedback, "up"))
                await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
                await bot.drain()
            votes = await queries.votes(ledger, core.replies[-1].correlation_id)
    assert [(v.user, v.vote) for v in votes] == [(LEARNER, "up")]
