"""Prometheus metrics and the health endpoint, served over HTTP from a real BotApp."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.app import BotApp
from bot.config import load_config
from bot.events import CommandRequest, IncomingMessage, ReasonCode
from bot.ports import ModelUnavailable
from bot.service.endpoint import ServiceState
from tests.conftest import TEST_CONFIG, write_config
from tests.fakes import FakeChatModel, Script


def models() -> dict[str, FakeChatModel]:
    return {
        "local": FakeChatModel("local", Script(fail=ModelUnavailable("local", "down"))),
        "tiny": FakeChatModel("tiny", Script("A small answer.")),
        "cloud": FakeChatModel("cloud", Script("A detailed answer."), is_local=False),
    }


def sample(metrics: str, family: str, suffix: str = "_total", **labels: str) -> float:
    for fam in text_string_to_metric_families(metrics):
        for s in fam.samples:
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError(f"{family}{suffix} {labels}")


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_metrics_count_requests_routes_latency_cost_and_health(tmp_path):
    config = write_config(tmp_path, TEST_CONFIG + "\n[service]\nmetrics_port = 0\n")
    settings = load_config(config, {})
    async with BotApp(settings, models=models()) as app:
        state = ServiceState(app.metrics)
        endpoint = await app.start_endpoint(state)
        assert endpoint is not None and endpoint.port > 0
        handle = app.metrics.handler(app.tutor.handle)
        commands = app.metrics.command_handler(app.commands)
        await handle(IncomingMessage("What is a list?", user="u1", channel="c", platform="slack"))
        hard = "Explain in detail, step by step, how a hash map handles collisions."
        await handle(IncomingMessage(hard, user="u2", channel="c", platform="discord"))
        await commands(CommandRequest("model.set", user="u1", channel="c", platform="slack"))
        status, kind, text = await get(f"http://127.0.0.1:{endpoint.port}/metrics")

    assert status == 200 and kind.startswith("text/plain")
    assert sample(text, "tutor_requests", platform="slack", route="local") == 1
    assert sample(text, "tutor_requests", platform="discord", route="cloud") == 1
    assert sample(text, "tutor_routes", tier="free", route="local", model="tiny") == 1
    assert sample(text, "tutor_reply_latency_seconds", "_count", platform="slack") == 1
    assert sample(text, "tutor_cost_usd", tier="free", model="cloud") > 0
    assert sample(text, "tutor_escalations", reason="keyword") == 1  # two keywords, one answer
    labels = {
        s.labels["reason"]
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "tutor_escalations_total"
    }
    assert labels <= {code.value for code in ReasonCode}  # codes only: bounded
    assert sample(text, "tutor_commands", command="model.set", result="refused") == 1
    assert sample(text, "tutor_model_up", "", model="local", provider="ollama") == 0
    assert sample(text, "tutor_model_up", "", model="tiny", provider="embedded") == 1
    assert sample(text, "tutor_model_consecutive_failures", "", model="local") == 1
    assert sample(text, "tutor_ledger_rows") == 2
    assert sample(text, "tutor_in_flight", "") == 0


async def test_healthz_says_ready_only_when_every_platform_is_up(tmp_path):
    config = write_config(tmp_path, TEST_CONFIG + "\n[service]\nmetrics_port = 0\n")
    async with BotApp(load_config(config, {}), models=models()) as app:
        state = ServiceState(app.metrics)
        endpoint = await app.start_endpoint(state)
        assert endpoint is not None
        url = f"http://127.0.0.1:{endpoint.port}/healthz"
        app.metrics.adapters.update(discord="starting", slack="up")
        starting = await get(url)
        state.phase = "ready"
        connecting = await get(url)
        app.metrics.adapters["discord"] = "up"
        ready = await get(url)
        state.phase = "draining"
        draining = await get(url)

    assert starting[0] == 503 and '"status": "starting"' in starting[2]
    assert connecting[0] == 503 and '"status": "degraded"' in connecting[2]
    assert ready[0] == 200 and '"status": "ok"' in ready[2]
    assert '"models"' in ready[2] and '"local": {"up": true}' in ready[2]
    assert draining[0] == 503 and '"status": "draining"' in draining[2]


async def test_the_endpoint_is_off_by_default(settings):
    assert settings.service.metrics_port is None
    async with BotApp(settings, models=models()) as app:
        assert await app.start_endpoint(ServiceState(app.metrics)) is None
