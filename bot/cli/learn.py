"""``tutor learn``: refit the routing classifier from the ledger's outcomes now."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.app import BotApp
from bot.config import ConfigError, Settings


def add_parsers(sub: Any) -> None:
    sub.add_parser("learn", help="refit the router from outcomes (kept if no worse)")


async def cmd_learn(settings: Settings, args: argparse.Namespace) -> int:
    async with BotApp(settings, warm_router=True) as app:
        try:
            learned = await app.learn()
        except (ConfigError, ValueError, OSError) as exc:
            print(f"tutor learn: {exc}", file=sys.stderr)
            return 2
    print(learned.summary())
    return 0


COMMANDS = {"learn": cmd_learn}
