"""Each provider's health check for ``tutor doctor``: Ollama, embedded, OpenAI, Anthropic.

Each function is a Probe body: it takes the settings, returns CheckResults, and turns
every problem it can name into a ``warn`` or ``fail`` with the command that fixes it.
They talk to the providers with the providers' own clients, which is why they live here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import httpx
import ollama
import openai

from bot.config import AnthropicModel, EmbeddedModel, OllamaModel, OpenAIModel, Settings
from bot.models.anthropic import DEFAULT_BASE_URL as ANTHROPIC_BASE_URL
from bot.models.anthropic import KEY_HINT as ANTHROPIC_KEY_HINT
from bot.models.ollama import DEFAULT_HOST
from bot.models.openai import DEFAULT_BASE_URL
from bot.ports import CheckResult, CheckStatus, ModelError

NET_TIMEOUT_S = 5.0
MIN_LOGPROBS_VERSION = (0, 12, 11)  # Ollama serves token logprobs from this version on


# --- Ollama ------------------------------------------------------------------------------


async def ollama_checks(settings: Settings) -> list[CheckResult]:
    """Each Ollama server: reachable, its version; each configured model: pulled."""
    hosts: dict[str, list[str]] = {}
    for name, config in settings.models.items():
        if isinstance(config, OllamaModel):
            host = normalise_host(config.host or settings.environ.get("OLLAMA_HOST"))
            hosts.setdefault(host, []).append(name)
    results: list[CheckResult] = []
    for host, names in hosts.items():
        results += await _ollama_host(settings, host, names)
    return results


async def _ollama_host(settings: Settings, host: str, names: list[str]) -> list[CheckResult]:
    severity = _severity(settings, names)
    try:
        async with httpx.AsyncClient(base_url=host, timeout=NET_TIMEOUT_S) as http:
            response = await http.get("/api/version")
            response.raise_for_status()
            version = str(response.json().get("version", "?"))
        client = ollama.AsyncClient(host=host, timeout=NET_TIMEOUT_S)
        try:
            pulled = {m.model for m in (await client.list()).models if m.model}
        finally:
            await client.close()
    except (httpx.HTTPError, ollama.ResponseError, ConnectionError, ValueError) as exc:
        return [
            CheckResult(
                f"ollama {host}",
                severity,
                f"not reachable ({_reason(exc)}); {_fallback_note(settings, names)}",
                "start it with `ollama serve` (or point OLLAMA_HOST / [models.*] host at it)",
            )
        ]
    status: CheckStatus = "pass"
    detail = f"Ollama {version} is up"
    fix = ""
    if _version(version) < MIN_LOGPROBS_VERSION:
        status, detail = "warn", f"{detail}, but too old for token logprobs (0.12.11+)"
        fix = "upgrade Ollama so the confidence gate can use logprobs"
    results = [CheckResult(f"ollama {host}", status, detail, fix)]
    for name in names:
        model = settings.models[name].model
        if _tagged(model) in {_tagged(p) for p in pulled}:
            results.append(CheckResult(f"model {name}", "pass", f"{model} is pulled"))
        else:
            results.append(
                CheckResult(
                    f"model {name}",
                    _severity(settings, [name]),
                    f"{model} is not pulled on {host}; {_fallback_note(settings, [name])}",
                    f"ollama pull {model}",
                )
            )
    return results


def normalise_host(host: str | None) -> str:
    """An OLLAMA_HOST value as a URL (``0.0.0.0:11434`` -> ``http://0.0.0.0:11434``)."""
    host = (host or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    parts = urlsplit(host)
    if parts.port is None:
        default = 443 if parts.scheme == "https" else 11434
        host = f"{parts.scheme}://{parts.hostname}:{default}{parts.path}"
    return host


def _tagged(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def _version(text: str) -> tuple[int, ...]:
    numbers = []
    for part in text.split("-")[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers) or (0,)


def _severity(settings: Settings, names: Sequence[str]) -> CheckStatus:
    """``fail`` if some tier would be left without a local model, else ``warn``."""
    return "warn" if _fallbacks(settings, names) is not None else "fail"


def _fallbacks(settings: Settings, names: Sequence[str]) -> list[str] | None:
    """Local models the affected tiers fall back on, or None if one has none."""
    others: list[str] = []
    for tier in settings.tiers:
        chain = settings.chain(tier)
        if not set(names) & set(chain):
            continue
        rest = [n for n in chain if n not in names and settings.is_local(n)]
        if not rest:
            return None
        others += [n for n in rest if n not in others]
    return others


def _fallback_note(settings: Settings, names: Sequence[str]) -> str:
    others = _fallbacks(settings, names)
    if others is None:
        return "some tier has no other local model, so its learners get no local answer"
    if not others:
        return "no tier uses it"
    return f"answers fall back to {', '.join(others)}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError | ConnectionError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


# --- embedded ----------------------------------------------------------------------------


async def embedded_checks(settings: Settings) -> list[CheckResult]:
    """Each embedded model: llama-cpp-python installed and its GGUF file present."""
    from bot.models.embedded import bundled_model_path

    results = []
    for name, config in settings.models.items():
        if not isinstance(config, EmbeddedModel):
            continue
        check = f"model {name}"
        if importlib.util.find_spec("llama_cpp") is None:
            results.append(
                CheckResult(
                    check,
                    "fail",
                    "llama-cpp-python is not installed",
                    "pip install 'tutor-bot[embedded]'",
                )
            )
            continue
        try:
            path = Path(config.path) if config.path else bundled_model_path(config.model)
        except ModelError as exc:
            results.append(CheckResult(check, "fail", exc.message, exc.hint or ""))
            continue
        if not path.is_file():
            results.append(
                CheckResult(check, "fail", f"no GGUF file at {path}", "fix [models.*] path")
            )
            continue
        size = path.stat().st_size / 1024**2
        results.append(CheckResult(check, "pass", f"{path.name} ({size:.0f} MB), llama.cpp ready"))
    return results


# --- OpenAI ------------------------------------------------------------------------------


async def openai_checks(settings: Settings) -> list[CheckResult]:
    """The API key, with one cheap call (models.list) per configured server."""
    servers: dict[str, list[str]] = {}
    for config in settings.models.values():
        if isinstance(config, OpenAIModel):
            servers.setdefault(config.base_url or DEFAULT_BASE_URL, []).append(config.model)
    if not servers:
        return []
    key = settings.secrets.openai_api_key
    if key is None:
        return [
            CheckResult(
                "openai",
                "warn",
                "OPENAI_API_KEY is not set: questions that need the cloud are answered locally",
                "export OPENAI_API_KEY=sk-... to enable the cloud models",
            )
        ]
    results = []
    for base_url, models in servers.items():
        client = openai.AsyncOpenAI(
            api_key=key.get_secret_value(), base_url=base_url, timeout=NET_TIMEOUT_S, max_retries=0
        )
        try:
            listed = {m.id async for m in client.models.list()}
        except openai.AuthenticationError:
            results.append(
                CheckResult(
                    f"openai {base_url}",
                    "fail",
                    "the API key was refused",
                    "create a key at https://platform.openai.com/api-keys and set OPENAI_API_KEY",
                )
            )
            continue
        except (openai.APIConnectionError, openai.APITimeoutError):
            results.append(
                CheckResult(
                    f"openai {base_url}",
                    "fail",
                    "cannot reach the API: cloud answers will fall back to local models",
                    "check the network, HTTPS_PROXY or [models.*] base_url",
                )
            )
            continue
        except openai.APIStatusError as exc:
            results.append(
                CheckResult(
                    f"openai {base_url}",
                    "warn",
                    f"the API answered HTTP {exc.status_code} to models.list",
                    "retry later; see https://status.openai.com",
                )
            )
            continue
        finally:
            await client.close()
        missing = [m for m in models if m not in listed]
        if missing:
            results.append(
                CheckResult(
                    f"openai {base_url}",
                    "warn",
                    f"the key works, but {', '.join(missing)} is not available to it",
                    "pick a model the key may use in [models.*] model",
                )
            )
        else:
            results.append(
                CheckResult(f"openai {base_url}", "pass", f"the key works ({', '.join(models)})")
            )
    return results


# --- Anthropic ---------------------------------------------------------------------------


async def anthropic_checks(settings: Settings) -> list[CheckResult]:
    """The API key and each Claude model, with one free call (models.retrieve) per model."""
    servers: dict[str, list[str]] = {}
    for config in settings.models.values():
        if isinstance(config, AnthropicModel):
            models = servers.setdefault(config.base_url or ANTHROPIC_BASE_URL, [])
            if config.model not in models:
                models.append(config.model)
    if not servers:
        return []
    key = settings.secrets.anthropic_api_key
    if key is None:
        return [
            CheckResult(
                "anthropic",
                "warn",
                "ANTHROPIC_API_KEY is not set: questions for Claude go to the next model",
                "export ANTHROPIC_API_KEY=sk-ant-... to enable the Claude models",
            )
        ]
    results = []
    for base_url, models in servers.items():
        results += await _anthropic_server(key.get_secret_value(), base_url, models)
    return results


async def _anthropic_server(key: str, base_url: str, models: list[str]) -> list[CheckResult]:
    check = f"anthropic {base_url}"
    client = anthropic.AsyncAnthropic(
        api_key=key, base_url=base_url, timeout=NET_TIMEOUT_S, max_retries=0
    )
    missing: list[str] = []
    try:
        for model in models:
            try:
                await client.models.retrieve(model)
            except anthropic.NotFoundError:
                missing.append(model)
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
        return [CheckResult(check, "fail", "the API key was refused", ANTHROPIC_KEY_HINT)]
    except anthropic.APIConnectionError:
        return [
            CheckResult(
                check,
                "fail",
                "cannot reach the API: Claude's questions fall back to the next model",
                "check the network, HTTPS_PROXY or [models.*] base_url",
            )
        ]
    except anthropic.APIStatusError as exc:
        return [
            CheckResult(
                check,
                "warn",
                f"the API answered HTTP {exc.status_code} to models.retrieve",
                "retry later; see https://status.claude.com",
            )
        ]
    finally:
        await client.close()
    if missing:
        return [
            CheckResult(
                check,
                "warn",
                f"the key works, but {', '.join(missing)} is not available to it",
                "pick a current model id in [models.*] model (see docs.claude.com models overview)",
            )
        ]
    return [CheckResult(check, "pass", f"the key works ({', '.join(models)})")]
