"""``tutor doctor``'s Discord checks: the token (GET /users/@me) and the intents it needs.

discord.py's own HTTP client makes the calls, through the configured API base.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord
from discord.http import Route

from adapters.discord.bot import DiscordOptions
from adapters.discord.routing import RoutedHTTPClient
from bot.ports import CheckResult

# Application flags saying the Message Content intent is enabled (verified, unverified bots).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
PORTAL = "https://discord.com/developers/applications"


async def check_discord(
    token: str, *, api_base: str | None = None, message_content: bool | None = None
) -> list[CheckResult]:
    """The bot token is accepted, and the Message Content intent is on when configured
    (None: as the adapter does by default)."""
    if message_content is None:
        message_content = DiscordOptions().message_content
    http = RoutedHTTPClient(asyncio.get_running_loop(), api_base=api_base)
    where = api_base or Route.BASE
    try:
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            return [
                CheckResult(
                    "discord token",
                    "fail",
                    "Discord refused DISCORD_TOKEN (401)",
                    f"reset the bot token under Bot in {PORTAL} and set DISCORD_TOKEN",
                )
            ]
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            return [
                CheckResult(
                    "discord token",
                    "fail",
                    f"cannot reach {where}: {exc}",
                    "check the network, or DISCORD_API_BASE if a proxy is used",
                )
            ]
        name = f"{me.get('username', '?')} ({me.get('id', '?')})"
        results = [CheckResult("discord token", "pass", f"signed in as {name}")]
        if not message_content:
            results.append(
                CheckResult(
                    "discord intents",
                    "pass",
                    "guilds, guild messages, DMs (message_content = false: mentions only)",
                )
            )
            return results
        try:
            app = await http.application_info()
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            results.append(
                CheckResult("discord intents", "warn", f"could not read the application: {exc}")
            )
            return results
        if int(app.get("flags") or 0) & MESSAGE_CONTENT_FLAGS:
            results.append(
                CheckResult("discord intents", "pass", "Message Content intent is enabled")
            )
        else:
            results.append(
                CheckResult(
                    "discord intents",
                    "fail",
                    "the privileged Message Content intent is off: the gateway will refuse",
                    f"enable it under Bot > Privileged Gateway Intents in {PORTAL}, "
                    "or set [discord] message_content = false",
                )
            )
        return results
    finally:
        await http.close()
