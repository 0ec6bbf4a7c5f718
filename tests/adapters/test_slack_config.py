"""The [slack] config section and BotApp.slack_adapter(): settings and secrets to an adapter."""

import pytest

from adapters.slack.bot import SlackAdapter, SlackOptions
from bot.app import BotApp
from bot.config import ConfigError, load_config
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script
from tests.loopback.slack_server import APP_TOKEN, BOT_TOKEN, SlackServer, event_callback, mention

SLACK_SECTION = """
[slack]
http_port = 8080
moderators = ["U0MOD1", "U0MOD2"]
rate_per_minute = 3
suggested_prompts = ["What is a list?"]
"""


def adapter_for(tmp_path, environ, section=SLACK_SECTION):
    settings = load_config(write_config(tmp_path, TEST_CONFIG + section), environ)
    return settings, BotApp(settings).slack_adapter()


def test_signing_secret_alone_means_http_mode_with_the_configured_options(tmp_path):
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "SLACK_SIGNING_SECRET": "shh",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    settings, adapter = adapter_for(tmp_path, environ)
    assert isinstance(adapter, SlackAdapter)
    options = adapter.options
    assert options.mode == "http" and options.http_port == 8080
    assert options.api_url == "http://127.0.0.1:9/api/"
    assert options.moderators == frozenset({"U0MOD1", "U0MOD2"})
    assert options.rate_per_minute == 3 and options.suggested_prompts == ("What is a list?",)
    assert options.update_interval_s == SlackOptions().update_interval_s  # unset: default
    assert "xoxb-secret" not in repr(settings) and "shh" not in repr(settings)


def test_an_app_token_means_socket_mode(tmp_path):
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_SIGNING_SECRET": "s",
    }
    _, adapter = adapter_for(tmp_path, environ, "")
    assert adapter is not None and adapter.options.mode == "socket"


@pytest.mark.parametrize(
    "environ", [{}, {"SLACK_APP_TOKEN": "xapp-1"}, {"SLACK_BOT_TOKEN": "xoxb-1"}]
)
def test_without_enough_credentials_there_is_no_slack_adapter(tmp_path, environ):
    assert adapter_for(tmp_path, environ, "")[1] is None


def test_a_mode_without_its_secret_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        adapter_for(tmp_path, {"SLACK_BOT_TOKEN": "xoxb-1"}, '[slack]\nmode = "socket"\n')


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("[slack]\nhttp_port = 70000\n", "slack.http_port"),
        ('[slack]\nmode = "websocket"\n', "slack.mode"),
        ('[slack]\nmoderator = ["U1"]\n', "slack.moderator"),
    ],
)
def test_bad_slack_config_names_the_key(tmp_path, section, key):
    with pytest.raises(ConfigError, match=key):
        load_config(write_config(tmp_path, TEST_CONFIG + section), {})


async def test_the_adapter_botapp_builds_answers_through_the_real_core(tmp_path):
    async with SlackServer() as slack:
        environ = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "TUTOR_DATA_DIR": str(tmp_path / "data"),
        }
        settings = load_config(
            write_config(tmp_path, TEST_CONFIG + "[slack]\nstream_interval_s = 0\n"), environ
        )
        models = {"local": FakeChatModel("local", Script("Lists keep order."))}
        async with BotApp(settings, models=models) as app:
            adapter = app.slack_adapter()
            assert adapter is not None
            await adapter.start(app.tutor.handle, app.commands)
            try:
                ts = slack.next_ts()
                await (await slack.deliver(event_callback(mention("What is a list?", ts=ts))))
                await slack.wait_for(lambda: slack.thread("C0COURSE", ts))
                await adapter.drain()
            finally:
                await adapter.stop()
        [answer] = slack.thread("C0COURSE", ts)
        assert answer.text == "Lists keep order."
        assert answer.blocks[-1]["type"] == "context_actions"  # [teaching] feedback
        assert app.tutor.last_reply("slack", "T0TEST", "C0COURSE", "U0LEARNER").model == "local"
