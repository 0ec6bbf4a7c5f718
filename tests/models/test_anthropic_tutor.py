"""Claude in the whole pipeline: the real ``anthropic`` client against a loopback server.

Failover from Claude to the next model, usage and cost in the ledger as the server
reported them (prompt-cache reads and writes included), privacy (nothing reaches Claude
from a local-only learner; personal data is redacted), role overrides, doctor, and the
model list's health.
"""

import pytest

from bot.config import ConfigError, load_config
from bot.core.commands import Commands
from bot.core.preferences import MemoryPreferences
from bot.core.tutor import Tutor
from bot.doctor import checks
from bot.events import CommandRequest, IncomingMessage
from bot.ledger.store import Ledger
from bot.models import health as model_health
from bot.models.registry import ModelRegistry
from bot.ports import Passage
from tests.conftest import write_config
from tests.fakes import FakeRetriever, ListLedger, RecordingSink
from tests.loopback.anthropic_server import AnthropicServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer

KEY = "sk-ant-loopback-key"
CONFIG = """
[tutor]
system_prompt = "You are a patient tutor for a Python course."

[models.local]
provider = "ollama"
model = "llama3.2:3b"
host = "{ollama}"
first_token_timeout_s = 30
timeout_s = 60

[models.claude]
provider = "anthropic"
model = "claude-opus-5-5"
base_url = "{anthropic}"
max_retries = 0
first_token_timeout_s = 30
timeout_s = 60

[models.gpt]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{openai}"
max_retries = 0
first_token_timeout_s = 30
timeout_s = 60

[tiers.free]
chain = ["local", "gpt"]

[tiers.enterprise]
chain = ["claude", "gpt", "local"]
router = {{ cloud_first = true }}

[routing]
breaker_cooldown_s = 0

[prices.models]
"gpt-4o-mini" = {{ input = 0.15, output = 0.60 }}
"claude-opus-5-5" = {{ input = 4.00, output = 20.00, cache_write = 5.00, cache_read = 0.20 }}

[ledger]
max_wait_ms = 60000
"""
LOCAL = "A list keeps items in order and you can change it later."
GPT = "Lists are mutable sequences; tuples are immutable ones."
CLAUDE = "A list is a mutable sequence, so you can append to it."
PASSAGE = Passage(
    text="A list is a mutable sequence: append adds an item at its end.",
    source="lists.md",
    title="Lists",
    score=0.9,
)


@pytest.fixture
async def servers():
    async with (
        OllamaServer() as local,
        AnthropicServer(api_key=KEY) as claude,
        OpenAIServer() as gpt,
    ):
        local.behaviour.text, claude.behaviour.text, gpt.behaviour.text = LOCAL, CLAUDE, GPT
        yield local, claude, gpt


@pytest.fixture
def settings(tmp_path, servers):
    local, claude, gpt = servers
    text = CONFIG.format(ollama=local.url, anthropic=claude.base_url, openai=gpt.base_url)
    environ = {
        "OPENAI_API_KEY": "sk-test",
        "ANTHROPIC_API_KEY": KEY,
        "TUTOR_DATA_DIR": str(tmp_path / "data"),
    }
    return load_config(write_config(tmp_path, text), environ)


@pytest.fixture
async def registry(settings):
    registry = ModelRegistry(settings)
    yield registry
    await registry.aclose()


def ask(text="What is a list?", tier="enterprise", user="u", **kw):
    return IncomingMessage(text=text, user=user, channel="c", tier=tier, **kw)


async def test_enterprise_questions_are_answered_by_claude(settings, registry, servers):
    _, claude, gpt = servers
    sink = RecordingSink()
    reply = await Tutor(settings, registry).handle(ask(), sink)
    assert reply.route == "cloud" and reply.model == "claude" and reply.text == CLAUDE
    assert sink.text == CLAUDE and len(claude.requests) == 1 and gpt.requests == []


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ({"statuses": [529]}, "overloaded"),
        ({"statuses": [429], "retry_after": "30"}, "rate-limited"),
        ({"statuses": [500]}, "server-error"),
        ({"error_mid_stream": "overloaded_error"}, "overloaded"),
    ],
)
async def test_claude_failing_hands_over_to_the_next_model(
    settings, registry, servers, failure, reason
):
    _, claude, gpt = servers
    for key, value in failure.items():
        setattr(claude.behaviour, key, value)
    sink = RecordingSink()
    reply = await Tutor(settings, registry).handle(ask(), sink)
    assert reply.model == "gpt" and reply.text.startswith(GPT) and sink.text.startswith(GPT)
    assert f"failover:claude:{reason}" in reply.reason_texts
    assert len(claude.requests) == 1 and len(gpt.requests) == 1


async def test_a_bad_key_fails_over_and_the_model_list_shows_why(settings, servers, tmp_path):
    _, claude, _ = servers
    claude.api_key = "sk-ant-another-key"
    registry = ModelRegistry(settings)
    registry.cooldown_s = 3600  # stays down for the model list below
    prefs = MemoryPreferences()
    tutor = Tutor(settings, registry, preferences=prefs)
    reply = await tutor.handle(ask())
    assert reply.model == "gpt" and "failover:claude:bad-key" in reply.reason_texts
    listed = await Commands(settings, tutor, registry, prefs)(
        CommandRequest("model.list", "mod", "c", "console", is_moderator=True)
    )
    line = next(row for row in listed.text.splitlines() if "`claude`" in row)
    assert "anthropic claude-opus-5-5 (cloud, unavailable)" in line
    assert "ANTHROPIC_API_KEY" in line and KEY not in listed.text
    await registry.aclose()


async def test_usage_and_cost_in_the_ledger_are_what_the_server_reported(
    settings, registry, servers
):
    _, claude, _ = servers
    retriever = FakeRetriever([PASSAGE])
    async with Ledger(settings, purge_every_s=None) as ledger:
        tutor = Tutor(settings, registry, retriever=retriever, ledger=ledger)
        first = await tutor.handle(ask("What is a list?", user="u1"))
        again = await tutor.handle(ask("What is a list?", user="u2"))
        rows = await ledger.query(
            "SELECT model, route, input_tokens, output_tokens, cost_usd FROM interactions"
            " ORDER BY id"
        )
    assert (first.model, again.model) == ("claude", "claude")
    # The course material went as a cached block: written by the first, read by the second.
    material = claude.requests[0]["messages"][-1]["content"][0]
    assert material["text"].startswith("<course-material>") and "cache_control" in material
    written, read = claude.usages
    assert written["cache_creation_input_tokens"] > 0 and written["cache_read_input_tokens"] == 0
    assert read["cache_read_input_tokens"] > 0
    expected = []
    for usage in claude.usages:
        plain = usage["input_tokens"]
        cache_read = usage["cache_read_input_tokens"]
        cache_write = usage["cache_creation_input_tokens"]
        cost = (
            plain * 4.00 + cache_read * 0.20 + cache_write * 5.00 + usage["output_tokens"] * 20.0
        ) / 1e6
        prompt = plain + cache_read + cache_write
        expected.append(("claude", "cloud", prompt, usage["output_tokens"], pytest.approx(cost)))
    assert rows == expected
    assert first.usage.cost_usd == pytest.approx(expected[0][4])
    assert again.usage.cost_usd < first.usage.cost_usd  # the cache made it cheaper


async def test_nothing_reaches_claude_from_a_local_only_learner(settings, registry, servers):
    local, claude, gpt = servers
    ledger = ListLedger()
    tutor = Tutor(settings, registry, ledger=ledger)
    reply = await tutor.handle(ask("Explain in detail how lists grow", local_only=True))
    assert reply.route == "local" and reply.model == "local"
    assert claude.requests == [] and gpt.requests == [] and len(local.requests) == 1
    assert ledger.rows[0].reply.usage.cost_usd == 0.0


async def test_personal_data_is_redacted_before_it_reaches_claude(settings, registry, servers):
    _, claude, _ = servers
    reply = await Tutor(settings, registry).handle(
        ask("I am jo.learner@example.com, call me on +44 20 7946 0958: what is a list?")
    )
    assert reply.model == "claude"
    sent = str(claude.requests[0])
    assert "jo.learner@example.com" not in sent and "7946" not in sent
    assert "what is a list?" in sent


def test_roles_accept_anthropic_models_from_the_environment(tmp_path, settings):
    path = settings.config_path
    overridden = load_config(
        path,
        {
            "CODE_GEN_MODEL": "anthropic/claude-sonnet-5-5",
            "DEFAULT_MODEL": "anthropic/claude-haiku-5-5",
        },
    )
    code = overridden.models["anthropic/claude-sonnet-5-5"]
    assert overridden.roles.code_gen == "anthropic/claude-sonnet-5-5"
    assert (code.provider, code.model) == ("anthropic", "claude-sonnet-5-5")
    assert code.base_url == settings.models["claude"].base_url  # copied from [models.claude]
    assert not overridden.is_local("anthropic/claude-haiku-5-5")
    # With no anthropic entry in the file, the model gets the provider's defaults.
    (tmp_path / "bare").mkdir()
    bare = write_config(
        tmp_path / "bare",
        '[models.local]\nprovider = "ollama"\nmodel = "m"\n[tiers.free]\nchain = ["local"]\n',
    )
    alone = load_config(bare, {"FALLBACK_MODEL": "anthropic/claude-opus-5-5"})
    assert alone.models["anthropic/claude-opus-5-5"].base_url is None
    with pytest.raises(ConfigError, match="provider/model"):
        load_config(bare, {"FALLBACK_MODEL": "claude/claude-opus-5-5"})


async def test_doctor_checks_the_key_with_one_free_call(settings, servers):
    _, claude, _ = servers
    [good] = await model_health.anthropic_checks(settings)
    assert good.status == "pass" and "claude-opus-5-5" in good.detail
    assert claude.requests == []  # models.retrieve only: no message was paid for

    wrong = settings.model_copy(
        update={"secrets": settings.secrets.model_copy(update={"anthropic_api_key": None})}
    )
    [missing] = await model_health.anthropic_checks(wrong)
    assert missing.status == "warn" and "ANTHROPIC_API_KEY" in missing.fix

    claude.api_key = "sk-ant-another-key"
    [refused] = await model_health.anthropic_checks(settings)
    assert refused.status == "fail" and "refused" in refused.detail
    assert "console.anthropic.com" in refused.fix and KEY not in str(refused)


async def test_doctor_names_an_unknown_model_and_an_unreachable_api(settings, servers):
    config = settings.models["claude"].model_copy(update={"model": "claude-unheard-of"})
    unknown = settings.model_copy(update={"models": {**settings.models, "claude": config}})
    [result] = await model_health.anthropic_checks(unknown)
    assert result.status == "warn" and "claude-unheard-of" in result.detail
    async with AnthropicServer() as gone:
        url = gone.base_url
    config = settings.models["claude"].model_copy(update={"base_url": url})
    away = settings.model_copy(update={"models": {**settings.models, "claude": config}})
    [result] = await model_health.anthropic_checks(away)
    assert result.status == "fail" and "cannot reach" in result.detail


async def test_a_tier_of_claude_alone_needs_its_key(tmp_path, servers):
    _, claude, _ = servers
    text = (
        f'[models.claude]\nprovider = "anthropic"\nmodel = "claude-opus-5-5"\n'
        f'base_url = "{claude.base_url}"\n[tiers.free]\nchain = ["claude"]\n'
    )
    path = write_config(tmp_path, text)
    [stranded] = await checks.config_checks(load_config(path, {"OPENAI_API_KEY": "sk-x"}))
    [ok] = await checks.config_checks(load_config(path, {"ANTHROPIC_API_KEY": KEY}))
    assert stranded.status == "fail" and "ANTHROPIC_API_KEY" in stranded.fix
    assert ok.status == "pass"
