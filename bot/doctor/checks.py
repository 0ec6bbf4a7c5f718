"""``tutor doctor``'s checks: each part's own, composed, plus config, disk and hardware.

Each check function is a Probe body: it takes the settings, returns CheckResults, and
turns every problem it can name into a ``warn`` or ``fail`` with the command that fixes
it. Each provider's check lives with the providers (``bot.models.health``), the ledger's
with the ledger (``bot.ledger.health``), platform checks (tokens, intents, scopes) with
their adapters; ``probes`` puts them in the order the doctor prints them.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from functools import partial

from bot.config import OllamaModel, Settings
from bot.doctor.hardware import GIB, Hardware, detect, model_size_b, suggest
from bot.doctor.report import check_index
from bot.doctor.security import security_checks
from bot.ledger.health import ledger_checks
from bot.models.health import anthropic_checks, embedded_checks, ollama_checks, openai_checks
from bot.models.registry import KEY_VARS, has_key
from bot.ports import CheckResult, Probe

DISK_FAIL_BYTES = 500 * 1024**2
DISK_WARN_BYTES = 2 * GIB


def probes(
    settings: Settings,
    *,
    platforms: Sequence[tuple[str, Probe]] = (),
    index: Probe | None = None,
) -> list[tuple[str, Probe]]:
    """Every check ``tutor doctor`` runs, in order: config, models, the ``platforms``'
    checks (the composition root builds those), the course ``index``, storage, hardware.
    Built from the settings alone: nothing is opened until a probe runs.
    """
    return [
        ("config", partial(config_checks, settings)),
        ("security", partial(security_checks, settings)),
        ("ollama", partial(ollama_checks, settings)),
        ("embedded", partial(embedded_checks, settings)),
        ("openai", partial(openai_checks, settings)),
        ("anthropic", partial(anthropic_checks, settings)),
        *platforms,
        ("course index", partial(check_index, index)),
        ("ledger", partial(ledger_checks, settings)),
        ("disk", partial(disk_checks, settings)),
        ("hardware", partial(hardware_checks, settings)),
    ]


# --- config ------------------------------------------------------------------------------


async def config_checks(settings: Settings) -> list[CheckResult]:
    """The config loaded (or doctor would not run); every tier can answer somehow."""
    tiers = ", ".join(f"{t}: {' -> '.join(settings.chain(t))}" for t in settings.tiers)
    stranded = [
        tier
        for tier in settings.tiers
        if not any(settings.is_local(n) for n in settings.chain(tier))
        and not any(has_key(settings, n) for n in settings.chain(tier))
    ]
    if stranded:
        needed = sorted(
            {
                KEY_VARS[settings.models[n].provider]
                for tier in stranded
                for n in settings.chain(tier)
                if settings.models[n].provider in KEY_VARS
            }
        )
        keys = " or ".join(needed) or "an API key"
        return [
            CheckResult(
                "config",
                "fail",
                f"tier {', '.join(stranded)} has only cloud models and no {keys}",
                f"set {keys}, or add a local model to the tier's chain",
            )
        ]
    return [CheckResult("config", "pass", f"{settings.config_path}: {tiers}")]


# --- storage -----------------------------------------------------------------------------


async def disk_checks(settings: Settings) -> list[CheckResult]:
    """Free space where the data folder is (or will be)."""
    where = settings.data_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = await asyncio.to_thread(shutil.disk_usage, where)
    free = usage.free / GIB
    detail = f"{free:.1f} GiB free of {usage.total / GIB:.0f} GiB at {settings.data_dir}"
    fix = "free some space or move TUTOR_DATA_DIR to a bigger disk"
    if usage.free < DISK_FAIL_BYTES:
        return [CheckResult("disk", "fail", detail, fix)]
    if usage.free < DISK_WARN_BYTES or usage.free < usage.total * 0.05:
        return [CheckResult("disk", "warn", detail, fix)]
    return [CheckResult("disk", "pass", detail)]


# --- hardware ----------------------------------------------------------------------------


async def hardware_checks(settings: Settings, hw: Hardware | None = None) -> list[CheckResult]:
    """RAM, cores and GPUs, the model size they suit, and configured models too big for them."""
    hw = hw or await asyncio.to_thread(detect)
    tip = suggest(hw)
    gpu = ", ".join(f"{g.name} ({g.memory_bytes / GIB:.0f} GiB)" for g in hw.gpus) or "no GPU"
    detail = f"{hw.ram_bytes / GIB:.1f} GiB RAM, {hw.cores} cores, {gpu}; suggested: {tip.model}"
    too_big = [
        f"{config.model}"
        for config in settings.models.values()
        if isinstance(config, OllamaModel)
        and (size := model_size_b(config.model)) is not None
        and size > tip.size_b * 1.5
    ]
    if too_big:
        return [
            CheckResult(
                "hardware",
                "warn",
                f"{detail}. {', '.join(too_big)} is larger than this machine runs well",
                f"{tip.why}: `ollama pull {tip.model}` and set DEFAULT_MODEL=ollama/{tip.model}",
            )
        ]
    return [CheckResult("hardware", "pass", f"{detail} ({tip.why})")]
