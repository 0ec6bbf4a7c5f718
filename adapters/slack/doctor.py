"""``tutor doctor``'s Slack checks: the bot token (auth.test), its scopes, the app token.

slack_sdk makes the calls, through the configured Web API base.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ports import CheckResult

# What the adapter uses (the README's app manifest): mentions, DMs, streaming, /tutor,
# thread context, digest charts, admin lookups.
REQUIRED_SCOPES = frozenset(
    {
        "app_mentions:read",
        "assistant:write",
        "chat:write",
        "commands",
        "files:write",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "im:write",
        "users:read",
    }
)
SLACK_ERRORS = (SlackApiError, aiohttp.ClientError, OSError, TimeoutError)
APPS = "https://api.slack.com/apps"


async def check_slack(
    bot_token: str,
    *,
    app_token: str | None = None,
    signing_secret: str | None = None,
    api_url: str | None = None,
    mode: str = "auto",
) -> list[CheckResult]:
    """The bot token signs in and has every scope; Socket Mode's app token opens a link."""
    extra = {"base_url": api_url} if api_url else {}
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=bot_token, session=session, timeout=10, **extra)
        try:
            auth = await client.auth_test()
        except SLACK_ERRORS as exc:
            return [_token_failure("slack bot token", exc, "SLACK_BOT_TOKEN (xoxb-...)")]
        results = [
            CheckResult(
                "slack bot token",
                "pass",
                f"signed in as {auth.get('user')} ({auth.get('user_id')}) in {auth.get('team')}",
            )
        ]
        results.append(_scopes(auth.headers))
        mode = mode if mode != "auto" else "socket" if app_token else "http"
        if mode == "socket":
            results.append(await _app_token(session, app_token, extra))
        elif signing_secret:
            results.append(
                CheckResult("slack mode", "pass", "HTTP mode: requests are checked with the secret")
            )
        else:
            results.append(
                CheckResult(
                    "slack mode",
                    "fail",
                    "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP) is set",
                    "set SLACK_APP_TOKEN (xapp-..., connections:write) for Socket Mode",
                )
            )
    return results


def _scopes(headers: Mapping[str, str]) -> CheckResult:
    header = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if header is None:
        return CheckResult("slack scopes", "warn", "Slack did not say which scopes the token has")
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return CheckResult(
            "slack scopes",
            "fail",
            f"missing {', '.join(missing)}",
            f"add them under OAuth & Permissions in {APPS}, then reinstall the app",
        )
    return CheckResult("slack scopes", "pass", f"all {len(REQUIRED_SCOPES)} scopes granted")


async def _app_token(
    session: aiohttp.ClientSession, app_token: str | None, extra: dict[str, str]
) -> CheckResult:
    if not app_token:
        return CheckResult(
            "slack app token",
            "fail",
            "Socket Mode needs SLACK_APP_TOKEN",
            f"create an app-level token with connections:write in {APPS} (Basic Information)",
        )
    client = AsyncWebClient(session=session, timeout=10, **extra)
    try:
        await client.apps_connections_open(app_token=app_token)
    except SLACK_ERRORS as exc:
        return _token_failure(
            "slack app token", exc, "SLACK_APP_TOKEN (xapp-..., connections:write)"
        )
    return CheckResult("slack app token", "pass", "Socket Mode connections can be opened")


def _token_failure(name: str, exc: BaseException, variable: str) -> CheckResult:
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        return CheckResult(
            name, "fail", f"Slack refused it ({error or 'error'})", f"check {variable} in {APPS}"
        )
    return CheckResult(
        name, "fail", f"cannot reach Slack: {exc}", "check the network, or SLACK_API_URL"
    )
