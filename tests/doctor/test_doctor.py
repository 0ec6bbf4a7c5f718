"""``tutor doctor``: every check against real servers on loopback, real files, real tools."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections import namedtuple
from pathlib import Path

import pytest

from adapters.discord.doctor import check_discord
from adapters.slack.doctor import check_slack
from bot.cli.main import main
from bot.config import load_config
from bot.doctor import checks
from bot.doctor.hardware import GIB, Gpu, Hardware, detect, model_size_b, parse_nvidia_smi, suggest
from bot.doctor.report import check_index, exit_code, run_probes
from bot.ledger import health as ledger_health
from bot.ledger.store import Ledger
from bot.models import health as model_health
from bot.ports import CheckResult
from tests.conftest import TEST_CONFIG, write_config
from tests.ledger_helpers import interaction
from tests.loopback.discord_server import DiscordServer
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.slack_server import APP_TOKEN, BOT_TOKEN, SlackServer
from tests.service_helpers import free_port

# Every tier has another local model to fall back on (unlike TEST_CONFIG's enterprise tier).
WITH_FALLBACK = TEST_CONFIG.replace('chain = ["cloud", "default"]', 'chain = ["cloud", "tiny"]')


def settings_for(tmp_path: Path, text: str = TEST_CONFIG, **environ: str):
    return load_config(
        write_config(tmp_path, text), {"TUTOR_DATA_DIR": str(tmp_path / "d")} | environ
    )


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


# --- Ollama --------------------------------------------------------------------------------


async def test_ollama_up_with_the_model_pulled_passes(tmp_path):
    async with OllamaServer() as ollama:
        url = ollama.url
        results = await model_health.ollama_checks(settings_for(tmp_path, OLLAMA_HOST=url))
    assert [(r.name, r.status) for r in results] == [
        (f"ollama {url}", "pass"),
        ("model local", "pass"),
    ]
    assert "Ollama 0.32.0 is up" in results[0].detail


async def test_a_model_not_pulled_gets_the_exact_pull_command(tmp_path):
    async with OllamaServer() as ollama:
        ollama.behaviour.models = {"phi3:mini"}
        strict = await model_health.ollama_checks(settings_for(tmp_path, OLLAMA_HOST=ollama.url))
        lenient = await model_health.ollama_checks(
            settings_for(tmp_path, WITH_FALLBACK, OLLAMA_HOST=ollama.url)
        )
    model = by_name(strict)["model local"]
    assert model.status == "fail" and model.fix == "ollama pull llama3.2:3b"
    assert "some tier has no other local model" in model.detail
    relaxed = by_name(lenient)["model local"]
    assert relaxed.status == "warn" and "answers fall back to tiny" in relaxed.detail


async def test_ollama_down_says_how_to_start_it(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    [result] = await model_health.ollama_checks(
        settings_for(tmp_path, WITH_FALLBACK, OLLAMA_HOST=url)
    )
    assert result.status == "warn" and "connection refused" in result.detail
    assert "ollama serve" in result.fix


def test_ollama_hosts_are_normalised_like_the_client_does():
    assert model_health.normalise_host(None) == "http://127.0.0.1:11434"
    assert model_health.normalise_host("0.0.0.0") == "http://0.0.0.0:11434"
    assert model_health.normalise_host("gpu-box:8080/") == "http://gpu-box:8080"
    assert (
        model_health.normalise_host("https://ollama.example.com")
        == "https://ollama.example.com:443"
    )


# --- the embedded model and OpenAI -----------------------------------------------------------


async def test_the_bundled_embedded_model_is_found(tmp_path):
    pytest.importorskip("llama_cpp")
    [result] = await model_health.embedded_checks(settings_for(tmp_path))
    assert result.status == "pass" and "SmolLM2-135M" in result.detail


async def test_an_embedded_model_file_that_is_missing_fails(tmp_path):
    pytest.importorskip("llama_cpp")
    text = TEST_CONFIG.replace('model = "smollm2-135m"', 'model = "x"\npath = "/nowhere.gguf"')
    [result] = await model_health.embedded_checks(settings_for(tmp_path, text))
    assert result.status == "fail" and "/nowhere.gguf" in result.detail


def with_openai(url: str) -> str:
    return TEST_CONFIG.replace(
        'model = "gpt-4o-mini"\n', f'model = "gpt-4o-mini"\nbase_url = "{url}"\n'
    )


async def test_openai_without_a_key_is_a_warning_with_the_fix(tmp_path):
    [result] = await model_health.openai_checks(settings_for(tmp_path))
    assert result.status == "warn" and "OPENAI_API_KEY" in result.fix


async def test_openai_key_is_checked_with_one_models_list_call(tmp_path):
    async with OpenAIServer(api_key="sk-good") as openai:
        text = with_openai(openai.base_url)
        good = await model_health.openai_checks(
            settings_for(tmp_path, text, OPENAI_API_KEY="sk-good")
        )
        bad = await model_health.openai_checks(
            settings_for(tmp_path, text, OPENAI_API_KEY="sk-bad")
        )
    assert [(r.status, r.detail) for r in good] == [("pass", "the key works (gpt-4o-mini)")]
    assert bad[0].status == "fail" and "refused" in bad[0].detail
    assert "platform.openai.com/api-keys" in bad[0].fix
    assert not openai.requests  # models.list only: no completion was paid for


async def test_openai_unreachable_fails_clearly_without_network(tmp_path):
    # The real API's host: this machine has no network (and tests may not use one).
    [result] = await model_health.openai_checks(settings_for(tmp_path, OPENAI_API_KEY="sk-test"))
    assert result.name == "openai https://api.openai.com/v1"
    assert result.status == "fail" and "cannot reach" in result.detail
    assert "HTTPS_PROXY" in result.fix


# --- platforms -------------------------------------------------------------------------------


async def test_discord_token_and_intents():
    async with DiscordServer(token="good-token") as discord:
        ok = await check_discord("good-token", api_base=discord.api_base)
        refused = await check_discord("bad-token", api_base=discord.api_base)
        discord.app_flags = 0
        no_intent = await check_discord("good-token", api_base=discord.api_base)
        mentions_only = await check_discord(
            "good-token", api_base=discord.api_base, message_content=False
        )
    assert [(r.name, r.status) for r in ok] == [
        ("discord token", "pass"),
        ("discord intents", "pass"),
    ]
    assert "signed in as tutor" in ok[0].detail
    assert [(r.status, r.detail) for r in refused] == [
        ("fail", "Discord refused DISCORD_TOKEN (401)")
    ]
    assert no_intent[1].status == "fail" and "message_content = false" in no_intent[1].fix
    assert [r.status for r in mentions_only] == ["pass", "pass"]


async def test_discord_unreachable_is_a_fail_not_a_traceback():
    api = f"http://127.0.0.1:{free_port()}/api/v10"
    [result] = await check_discord("token", api_base=api)
    assert result.status == "fail" and "cannot reach" in result.detail


async def test_slack_token_scopes_and_app_token():
    async with SlackServer() as slack:
        ok = await check_slack(BOT_TOKEN, app_token=APP_TOKEN, api_url=slack.api_url)
        slack.scopes = "chat:write,commands,app_mentions:read"
        narrow = await check_slack(BOT_TOKEN, app_token=APP_TOKEN, api_url=slack.api_url)
        refused = await check_slack("xoxb-revoked", app_token=APP_TOKEN, api_url=slack.api_url)
        bad_app = await check_slack(BOT_TOKEN, app_token="xapp-nope", api_url=slack.api_url)
        no_mode = await check_slack(BOT_TOKEN, api_url=slack.api_url)
    assert [(r.name, r.status) for r in ok] == [
        ("slack bot token", "pass"),
        ("slack scopes", "pass"),
        ("slack app token", "pass"),
    ]
    scopes = by_name(narrow)["slack scopes"]
    assert scopes.status == "fail" and "users:read" in scopes.detail and "reinstall" in scopes.fix
    assert [(r.status, r.detail) for r in refused] == [("fail", "Slack refused it (invalid_auth)")]
    assert by_name(bad_app)["slack app token"].status == "fail"
    assert by_name(no_mode)["slack mode"].status == "fail"


# --- storage ---------------------------------------------------------------------------------


async def ledger_with_rows(settings) -> Path:
    async with Ledger(settings, purge_every_s=None) as ledger:
        for i in range(300):
            await ledger.record(interaction(1.8e9 + i, text="x" * 200, correlation_id=f"c{i}"))
    return settings.data_dir / settings.ledger.file


async def test_a_healthy_ledger_passes_and_a_missing_one_is_fine(tmp_path):
    settings = settings_for(tmp_path)
    [missing] = await ledger_health.ledger_checks(settings)
    await ledger_with_rows(settings)
    [healthy] = await ledger_health.ledger_checks(settings)
    assert missing.status == "pass" and "will be created" in missing.detail
    assert healthy.status == "pass" and "integrity ok" in healthy.detail


async def test_a_file_that_is_not_a_database_fails_with_the_fix(tmp_path):
    settings = settings_for(tmp_path)
    settings.data_dir.mkdir()
    (settings.data_dir / "ledger.sqlite3").write_bytes(b"garbage" * 1000)
    [result] = await ledger_health.ledger_checks(settings)
    assert result.status == "fail" and "not a database" in result.detail
    assert "ledger.sqlite3.broken" in result.fix


async def test_damaged_pages_fail_the_integrity_check(tmp_path):
    settings = settings_for(tmp_path)
    path = await ledger_with_rows(settings)
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    with path.open("r+b") as f:  # scribble over the middle pages, keep the header intact
        for n in range(2, pages - 1):
            f.seek(n * page + 100)
            f.write(os.urandom(page // 4))
    [result] = await ledger_health.ledger_checks(settings)
    assert result.status == "fail", result
    assert "sqlite3" in result.fix or ".broken" in result.fix


@pytest.mark.parametrize(("version", "status"), [(1, "warn"), (99, "fail")])
async def test_schema_versions_other_than_the_latest(tmp_path, version, status):
    settings = settings_for(tmp_path)
    settings.data_dir.mkdir()
    with sqlite3.connect(settings.data_dir / "ledger.sqlite3") as db:
        db.execute(f"PRAGMA user_version = {version}")
    [result] = await ledger_health.ledger_checks(settings)
    assert result.status == status and str(version) in result.detail


async def test_disk_space(tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    [real] = await checks.disk_checks(settings)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda _: Usage(100 * GIB, 0, GIB // 10))
    [full] = await checks.disk_checks(settings)
    assert real.status in {"pass", "warn"} and "GiB free" in real.detail
    assert full.status == "fail" and "TUTOR_DATA_DIR" in full.fix


# --- hardware --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ram", "cores", "gpu", "model"),
    [
        (2, 2, 0, "smollm2:135m"),
        (8, 4, 0, "llama3.2:3b"),
        (16, 8, 0, "llama3.1:8b"),
        (16, 2, 0, "llama3.2:3b"),  # fits, but too slow on two cores
        (64, 16, 0, "llama3.3:70b"),
        (16, 2, 24, "qwen2.5:14b"),  # the GPU's memory decides
        (128, 32, 12, "llama3.1:8b"),
    ],
)
def test_the_suggested_model_fits_the_machine(ram, cores, gpu, model):
    gpus = (Gpu("RTX", gpu * GIB),) if gpu else ()
    assert suggest(Hardware(ram * GIB, cores, gpus)).model == model


def test_model_sizes_from_ollama_tags():
    assert model_size_b("llama3.1:8b") == 8
    assert model_size_b("llama3.1:70b-instruct-q4_K_M") == 70
    assert model_size_b("qwen2.5:0.5b") == 0.5
    assert model_size_b("phi3:mini") == 3.8
    assert model_size_b("smollm2:135m") == 0.135
    assert model_size_b("llama3.2") is None


def test_gpus_come_from_nvidia_smi(tmp_path):
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA GeForce RTX 4090, 24564'\necho 'Tesla T4, 15360'\n")
    script.chmod(0o755)
    hw = detect(nvidia_smi=str(script))
    assert [g.name for g in hw.gpus] == ["NVIDIA GeForce RTX 4090", "Tesla T4"]
    assert hw.vram_bytes == 24564 * 1024**2 and hw.ram_bytes > GIB
    assert parse_nvidia_smi("garbage\n") == []
    assert detect(nvidia_smi=str(tmp_path / "absent")).gpus == ()


async def test_a_configured_model_too_big_for_the_machine_is_a_warning(tmp_path):
    text = TEST_CONFIG.replace('model = "llama3.2:3b"', 'model = "llama3.1:70b"')
    small = Hardware(8 * GIB, 4)
    [result] = await checks.hardware_checks(settings_for(tmp_path, text), small)
    [fine] = await checks.hardware_checks(settings_for(tmp_path), small)
    assert result.status == "warn" and "llama3.1:70b is larger" in result.detail
    assert "ollama pull llama3.2:3b" in result.fix
    assert fine.status == "pass" and "suggested: llama3.2:3b" in fine.detail


# --- the index hook and the doctor itself ---------------------------------------------------


async def test_the_index_hook_is_not_configured_until_one_is_given():
    async def broken_index():
        return [CheckResult("course index", "fail", "embedder mismatch", "tutor ingest --rebuild")]

    async def crashing():
        raise RuntimeError("chroma exploded")

    async def hanging():
        await asyncio.Event().wait()

    [none] = await check_index(None)
    [fail] = await check_index(broken_index)
    [crash] = await check_index(crashing)
    [hang] = await check_index(hanging, timeout_s=0.05)
    assert none.status == "skip" and "not configured" in none.detail
    assert fail.fix == "tutor ingest --rebuild"
    assert crash.status == "fail" and "chroma exploded" in crash.detail
    assert hang.status == "fail" and "did not finish" in hang.detail
    assert exit_code([none]) == 0 and exit_code([none, fail]) == 1


async def test_a_tier_with_only_cloud_models_and_no_key_fails(tmp_path):
    text = TEST_CONFIG.replace('chain = ["cloud", "default"]', 'chain = ["cloud"]')
    [result] = await checks.config_checks(settings_for(tmp_path, text))
    [ok] = await checks.config_checks(settings_for(tmp_path, text, OPENAI_API_KEY="sk-x"))
    assert result.status == "fail" and "enterprise" in result.detail
    assert ok.status == "pass"


async def test_doctor_command_checks_everything_and_exits_by_the_worst(
    tmp_path, monkeypatch, capsys
):
    async with (
        OllamaServer() as ollama,
        DiscordServer(token="good-token") as discord,
        SlackServer() as slack,
        OpenAIServer(api_key="sk-good") as openai,
    ):
        config = write_config(tmp_path, with_openai(openai.base_url))
        for name, value in {
            "TUTOR_DATA_DIR": str(tmp_path / "data"),
            "OLLAMA_HOST": ollama.url,
            "OPENAI_API_KEY": "sk-good",
            "DISCORD_TOKEN": "good-token",
            "DISCORD_API_BASE": discord.api_base,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": slack.api_url,
        }.items():
            monkeypatch.setenv(name, value)
        healthy = await asyncio.to_thread(main, ["--config", str(config), "doctor", "--json"])
        report = json.loads(capsys.readouterr().out)
        ollama.behaviour.models = set()
        monkeypatch.setenv("COLUMNS", "300")  # rich wraps long cells to the terminal's width
        sick = await asyncio.to_thread(main, ["--config", str(config), "doctor"])
        table = capsys.readouterr().out

    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert healthy == 0 and report["ok"] is True
    assert {
        "config",
        "model local",
        "discord token",
        "discord intents",
        "slack scopes",
        "course index",
        "ledger",
        "disk",
        "hardware",
    } <= set(statuses)
    assert statuses["course index"] == "warn"  # no index yet: `tutor ingest` is the fix
    assert "fail" not in statuses.values()
    assert sick == 1
    assert "ollama pull llama3.2:3b" in table and "fail" in table
    assert "good-token" not in table and "sk-good" not in table


async def test_run_probes_keeps_order_and_contains_failures():
    async def first():
        return [CheckResult("a", "pass", "ok")]

    async def boom():
        raise OSError("no such device")

    results = await run_probes([("a", first), ("b", boom)])
    assert [(r.name, r.status) for r in results] == [("a", "pass"), ("b", "fail")]
    assert "OSError: no such device" in results[1].detail
