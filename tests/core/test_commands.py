"""The shared /tutor commands, with fake models."""

import pytest

from bot.config import load_config
from bot.core.commands import Commands
from bot.core.preferences import MemoryPreferences
from bot.core.tutor import Tutor
from bot.events import CommandRequest, IncomingMessage
from bot.models.registry import ModelRegistry
from bot.ports import ModelUnavailable
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, FakeRetriever, Script


@pytest.fixture
def parts(settings):
    fakes = {
        "local": FakeChatModel("local"),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    registry = ModelRegistry(settings, models=fakes)
    prefs = MemoryPreferences()
    tutor = Tutor(settings, registry, preferences=prefs)
    return Commands(settings, tutor, registry, prefs), tutor, fakes


def req(name, mod=False, user="u1", channel="c1", **args):
    return CommandRequest(
        name=name,
        user=user,
        channel=channel,
        platform="discord",
        workspace="g1",
        args=args,
        is_moderator=mod,
    )


def msg(text="hi", user="u1", channel="c1"):
    return IncomingMessage(
        text=text, user=user, channel=channel, platform="discord", workspace="g1"
    )


@pytest.mark.parametrize("name", ["model.set", "model.show", "model.list", "tier.set", "cost"])
async def test_non_moderators_are_refused(parts, name):
    commands, _, _ = parts
    result = await commands(req(name, model="tiny", user="u2", tier="enterprise"))
    assert not result.ok and "only moderators" in result.text and result.ephemeral


async def test_model_set_moves_the_channel_to_that_model_first(parts):
    commands, tutor, _ = parts
    result = await commands(req("model.set", mod=True, model="tiny"))
    assert result.ok
    reply = await tutor.handle(msg())
    assert reply.model == "tiny" and "channel-model:tiny" in reply.reason_texts
    other = await tutor.handle(msg(channel="c2"))
    assert other.model == "local"
    assert "tiny" in (await commands(req("model.show", mod=True))).text
    await commands(req("model.set", mod=True, model="default"))
    assert (await tutor.handle(msg())).model == "local"


async def test_model_set_for_the_server_and_unknown_models(parts):
    commands, tutor, _ = parts
    assert not (await commands(req("model.set", mod=True, model="gpt-9"))).ok
    assert not (await commands(req("model.set", mod=True, model="tiny", scope="galaxy"))).ok
    await commands(req("model.set", mod=True, model="tiny", scope="server"))
    assert (await tutor.handle(msg(channel="anywhere"))).model == "tiny"


async def test_privacy_keeps_a_learner_off_the_cloud(parts):
    commands, tutor, fakes = parts
    down = ModelUnavailable("x", "down")
    fakes["local"]._answer = Script(fail=down)
    fakes["tiny"]._answer = Script(fail=down)
    assert (await commands(req("privacy", mode="on"))).ok
    reply = await tutor.handle(msg())
    assert fakes["cloud"].calls == [] and reply.outcome == "failed"
    await commands(req("privacy", mode="off"))
    assert (await tutor.handle(msg())).model == "cloud"
    assert not (await commands(req("privacy", mode="maybe"))).ok


def tier_set(tier):
    """A moderator putting learner u1 on ``tier``."""
    return CommandRequest(
        name="tier.set",
        user="mod",
        channel="c1",
        platform="discord",
        workspace="g1",
        args={"user": "u1", "tier": tier},
        is_moderator=True,
    )


async def test_tier_set_changes_the_learners_chain(parts):
    commands, tutor, _ = parts
    assert (await commands(tier_set("enterprise"))).ok
    assert (await tutor.handle(msg())).model == "cloud"
    assert not (await commands(tier_set("gold"))).ok


async def test_why_and_forget(parts):
    commands, tutor, fakes = parts
    assert "haven't answered" in (await commands(req("why"))).text
    await tutor.handle(msg("first"))
    why = await commands(req("why"))
    assert "local" in why.text and "`tier:free`" in why.text
    assert "forgotten" in (await commands(req("forget"))).text
    await tutor.handle(msg("second"))
    assert [m.content for m in fakes["local"].calls[-1][1:]] == ["second"]


async def test_model_list_offers_choices_with_health(parts):
    commands, _, _ = parts
    result = await commands(req("model.list", mod=True))
    assert result.choices == ("local", "tiny", "cloud")
    assert "cloud" in result.text and "ok" in result.text


async def test_unknown_command_and_unwired_hooks(parts):
    commands, _, _ = parts
    assert not (await commands(req("dance"))).ok
    assert not (await commands(req("cost", mod=True))).ok
    assert not (await commands(req("cost", mod=True, period="decade"))).ok


async def test_reindex_is_for_operators_only_not_any_servers_moderator(parts, caplog):
    """A moderator of one server must not re-ingest the index every server shares (finding 2)."""
    commands, _, _ = parts
    result = await commands(req("reindex", mod=True))
    assert not result.ok and "only the bot's operators" in result.text
    assert "refused reindex" in caplog.text
    operator = CommandRequest(
        name="reindex", user="op", channel="c1", platform="discord", is_operator=True
    )
    result = await commands(operator)
    assert "only the bot's operators" not in result.text  # allowed (no index configured here)


async def test_privacy_holds_on_every_server_and_in_dms(parts):
    """Finding 4: privacy is the learner's, not one server's."""
    commands, tutor, fakes = parts
    assert (await commands(req("privacy", mode="on"))).ok  # said in server g1
    elsewhere = [
        IncomingMessage(
            text="Explain in detail how dictionaries work",
            user="u1",
            channel="c9",
            platform="discord",
            workspace=workspace,
        )
        for workspace in ("g2", None)
    ]
    for message in elsewhere:
        reply = await tutor.handle(message)
        assert "privacy:local-only" in reply.reason_texts
    assert fakes["cloud"].calls == []


async def test_with_a_cloud_embedder_private_questions_skip_retrieval(tmp_path):
    """Finding 4: with embedder = "openai" a private question never reaches the embeddings API."""
    text = TEST_CONFIG + '\n[privacy]\nlocal_only_channels = ["quiet"]\n'
    text += '\n[knowledge]\nembedder = "openai"\n'
    settings = load_config(write_config(tmp_path, text), {})
    retriever = FakeRetriever()
    fakes = {name: FakeChatModel(name, Script("An answer.")) for name in ("local", "tiny")}
    fakes["cloud"] = FakeChatModel("cloud", Script("A cloud answer."), is_local=False)
    registry = ModelRegistry(settings, models=fakes)
    prefs = MemoryPreferences()
    tutor = Tutor(settings, registry, preferences=prefs, retriever=retriever)
    await prefs.set_local_only("discord", "g1", "u1", True)
    reply = await tutor.handle(msg("What is a list?"))
    assert retriever.queries == [] and "retrieval:skipped-private" in reply.reason_texts
    reply = await tutor.handle(msg("What is a list?", user="u2", channel="quiet"))
    assert retriever.queries == [] and "retrieval:skipped-private" in reply.reason_texts
    await tutor.handle(msg("What is a list?", user="u2"))
    assert retriever.queries == ["What is a list?"]  # others are still grounded
