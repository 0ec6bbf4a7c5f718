"""Build chat models from config by name, and remember which ones are failing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from bot.config import AnthropicModel, EmbeddedModel, OllamaModel, OpenAIModel, Settings
from bot.ports import ChatModel, ModelError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Health:
    healthy: bool = True
    failures: int = 0
    last_error: str | None = None
    down_until: float = 0.0


def build_model(name: str, settings: Settings) -> ChatModel:
    """The provider object for one configured model. Imports only the provider it needs."""
    config = settings.models[name]
    if isinstance(config, OllamaModel):
        from bot.models.ollama import OllamaChatModel

        return OllamaChatModel(name, config, host=settings.environ.get("OLLAMA_HOST"))
    if isinstance(config, EmbeddedModel):
        from bot.models.embedded import EmbeddedChatModel

        return EmbeddedChatModel(name, config)
    if isinstance(config, OpenAIModel):
        from bot.models.openai import OpenAIChatModel

        secret = settings.secrets.openai_api_key
        return OpenAIChatModel(name, config, api_key=secret.get_secret_value() if secret else None)
    if isinstance(config, AnthropicModel):
        from bot.models.anthropic import AnthropicChatModel

        secret = settings.secrets.anthropic_api_key
        return AnthropicChatModel(
            name, config, api_key=secret.get_secret_value() if secret else None
        )
    raise ValueError(f"unknown provider for model {name!r}")


KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def api_key(settings: Settings, name: str) -> SecretStr | None:
    """The key a configured cloud model is called with (None for local models)."""
    provider = settings.models[name].provider
    if provider == "openai":
        return settings.secrets.openai_api_key
    if provider == "anthropic":
        return settings.secrets.anthropic_api_key
    return None


def has_key(settings: Settings, name: str) -> bool:
    """Whether ``name`` has what it needs to be called: a cloud model, its API key."""
    return settings.models[name].provider not in KEY_VARS or api_key(settings, name) is not None


class ModelRegistry:
    """Resolves model names to providers, built lazily, with a circuit breaker per model.

    A model that fails is skipped for ``cooldown_s`` seconds, so the next learner does
    not wait on it again; after that it gets one more chance.
    """

    def __init__(
        self,
        settings: Settings,
        models: Mapping[str, ChatModel] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._models: dict[str, ChatModel] = dict(models or {})
        self._health: dict[str, Health] = {}
        self._clock = clock
        self.cooldown_s = settings.routing.breaker_cooldown_s

    @property
    def names(self) -> list[str]:
        return list(self._settings.models)

    def get(self, name: str) -> ChatModel:
        if name not in self._models:
            self._models[name] = build_model(name, self._settings)
        return self._models[name]

    def is_configured(self, name: str) -> bool:
        """Whether ``name`` can be called at all: a cloud model needs its API key.

        A model object that says ``configured = False`` is not; one without the
        attribute (a test fake, a provider needing no credentials) is.
        """
        model = self._models.get(name)
        if model is not None:
            return bool(getattr(model, "configured", True))
        return has_key(self._settings, name)

    def is_healthy(self, name: str) -> bool:
        health = self._health.get(name)
        return health is None or health.healthy or self._clock() >= health.down_until

    def health(self) -> dict[str, Health]:
        """Every configured model's state; a model never tried is healthy."""
        return {name: self._health.get(name, Health()) for name in self.names}

    def record_success(self, name: str) -> None:
        health = self._health.setdefault(name, Health())
        if not health.healthy:
            log.info("model %s is answering again", name)
        health.healthy, health.failures, health.last_error = True, 0, None

    def record_failure(self, name: str, error: ModelError) -> None:
        health = self._health.setdefault(name, Health())
        health.healthy = False
        health.failures += 1
        health.last_error = str(error)
        health.down_until = self._clock() + self.cooldown_s
        log.warning("model %s failed (%s); skipping it for %.0fs", name, error, self.cooldown_s)

    async def warm(self, names: list[str]) -> None:
        """Preload local models; a failure only marks the model unhealthy."""
        for name in names:
            try:
                await self.get(name).warm()
            except ModelError as exc:
                self.record_failure(name, exc)

    async def aclose(self) -> None:
        for model in reversed(list(self._models.values())):
            await model.aclose()
        self._models.clear()
