"""Shared fixtures. No test may reach the internet: any attempt fails loudly."""

from __future__ import annotations

import ipaddress
import socket
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from bot.config import Settings, load_config

_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    if name not in (None, "localhost", "") and not _is_loopback(name):
        raise OSError(f"tests may not reach the network (tried to resolve {name!r})")
    return _real_getaddrinfo(host, *args, **kwargs)


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    socket.getaddrinfo = _loopback_only  # type: ignore[assignment]
    # Property tests judge outcomes, never speed: no per-example deadline, and no failing
    # because drawing examples was slow on a busy machine.
    hypothesis_settings.register_profile(
        "loaded-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    hypothesis_settings.load_profile("loaded-machine")


# Timeouts catch hangs only: CI is a loaded 2-core machine. A test of a timeout that must
# fire makes one model ``impatient`` and pairs it with a far end slower than that.
TEST_CONFIG = """
[tutor]
data_dir = "data"
history_turns = 2
max_conversations = 50
max_input_chars = 500
system_prompt = "You are a test tutor."

[models.local]
provider = "ollama"
model = "llama3.2:3b"
first_token_timeout_s = 30.0
timeout_s = 60.0

[models.tiny]
provider = "embedded"
model = "smollm2-135m"
first_token_timeout_s = 30.0
timeout_s = 60.0

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"
first_token_timeout_s = 30.0
timeout_s = 60.0

[roles]
default = "local"
fallback = "cloud"

[tiers.free]
chain = ["default", "tiny", "fallback"]

[tiers.enterprise]
chain = ["cloud", "default"]
router = { cloud_first = true }

[routing]
default_tier = "free"
breaker_cooldown_s = 30

[prices.models]
"gpt-4o-mini" = { input = 0.15, output = 0.60 }

[ledger]
max_wait_ms = 60000
"""


def impatient(settings: Settings, model: str, first_token_s: float = 0.5) -> Settings:
    """A copy of ``settings`` whose ``model`` gives up on its first token after
    ``first_token_s`` (the other models keep their patient timeouts)."""
    config = settings.models[model].model_copy(update={"first_token_timeout_s": first_token_s})
    return settings.model_copy(update={"models": {**settings.models, model: config}})


def write_config(tmp_path: Path, text: str = TEST_CONFIG) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load_config(config_path, {})


@pytest.fixture(scope="session")
def postgres_cluster():  # type: ignore[no-untyped-def]
    """A throwaway PostgreSQL server for the session; skips when none can run here."""
    from tests.postgres_server import PostgresCluster, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def postgres_settings(config_path: Path, postgres_cluster) -> Settings:  # type: ignore[no-untyped-def]
    """The test settings with the ledger in a fresh schema of the throwaway PostgreSQL server."""
    settings = load_config(config_path, {})
    url = await postgres_cluster.new_schema_url()
    return settings.model_copy(update={"ledger": settings.ledger.model_copy(update={"url": url})})
