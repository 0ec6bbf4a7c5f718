"""``tutor doctor``'s security lines: who may do what, what may reach the cloud, what is kept.

They report the settings the README's "Security" section explains, and warn where a
setting leaves something open.
"""

from __future__ import annotations

import stat
from pathlib import Path

from bot.config import Settings
from bot.ports import CheckResult


async def security_checks(settings: Settings) -> list[CheckResult]:
    """Access (servers, moderators, operators), privacy, limits and stored data."""
    return [
        *_discord(settings),
        _operators(settings),
        _privacy(settings),
        _slack_listener(settings),
        _stored(settings),
    ]


def _discord(settings: Settings) -> list[CheckResult]:
    config = settings.discord
    guilds = config.guilds or []
    roles = config.moderator_role_ids or []
    detail = (
        f"servers served: {', '.join(map(str, guilds)) if guilds else 'any'}; moderators: "
        f"Manage Server or {len(roles)} role id(s) in moderator_role_ids"
    )
    results = []
    if config.moderator_roles:
        results.append(
            CheckResult(
                "discord moderators",
                "warn",
                f"moderator_roles (names: {', '.join(config.moderator_roles)}) is ignored: "
                "anyone who may create roles could name one so",
                "list the roles' ids in [discord] moderator_role_ids",
            )
        )
    if settings.secrets.discord_token is not None and not guilds:
        results.append(
            CheckResult(
                "discord access",
                "warn",
                detail + " (any server that adds the bot is served, and its admins moderate it)",
                "list your servers' ids in [discord] guilds",
            )
        )
    else:
        results.append(CheckResult("discord access", "pass", detail))
    return results


def _operators(settings: Settings) -> CheckResult:
    discord = settings.discord.operator_ids or []
    slack = settings.slack.operators or []
    detail = f"operators (may /tutor reindex): {len(discord)} on Discord, {len(slack)} on Slack"
    if not discord and not slack:
        return CheckResult(
            "operators",
            "warn",
            detail + "; nobody can reindex from chat (`tutor ingest` still works)",
            "add user ids to [discord] operator_ids or [slack] operators",
        )
    return CheckResult("operators", "pass", detail)


def _privacy(settings: Settings) -> CheckResult:
    config = settings.privacy
    kinds = [
        name
        for name, on in (
            ("e-mail", config.redact_emails),
            (f"phones (region {config.phone_region})", config.redact_phones),
            ("cards", config.redact_cards),
        )
        if on
    ]
    if config.redact_patterns:
        kinds.append(f"{len(config.redact_patterns)} pattern(s)")
    detail = (
        f"redacted before the cloud: {', '.join(kinds) or 'nothing'}; "
        f"local-only channels: {len(config.local_only_channels)}"
    )
    if settings.knowledge.embedder == "openai":
        detail += "; questions kept local skip course search (the embedder is a cloud API)"
    if not kinds:
        return CheckResult(
            "privacy", "warn", detail, "set redact_emails/redact_phones/redact_cards"
        )
    return CheckResult("privacy", "pass", detail)


def _slack_listener(settings: Settings) -> CheckResult:
    config = settings.slack

    def shown(value: object, unit: str = "") -> str:
        return "the default" if value is None else f"{value}{unit}"

    return CheckResult(
        "slack limits",
        "pass",
        f"HTTP mode: header timeout {shown(config.http_header_timeout_s, ' s')}, body "
        f"timeout {shown(config.http_body_timeout_s, ' s')}, connections at most "
        f"{shown(config.http_max_connections)}; answers at once: "
        f"{shown(config.max_concurrency)}",
    )


def _stored(settings: Settings) -> CheckResult:
    ledger = settings.ledger
    tutor = settings.tutor
    days = ledger.text_retention_days
    kept = f"message text kept {days} days" if days else "message text never stored"
    detail = (
        f"{kept}; conversation memory at most {tutor.history_max_mb:g} MB "
        f"in {tutor.max_conversations} conversations"
    )
    loose = [
        str(path)
        for path, private in (
            (settings.data_dir, 0o700),
            (settings.data_dir / ledger.file, 0o600),
        )
        if _more_open(path, private)
    ]
    if loose:
        return CheckResult(
            "stored data",
            "warn",
            detail + f"; readable by others: {', '.join(loose)}",
            f"chmod 700 {settings.data_dir} && chmod 600 {settings.data_dir / ledger.file}*",
        )
    return CheckResult("stored data", "pass", detail)


def _more_open(path: Path, private: int) -> bool:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return False
    return bool(mode & ~private)
