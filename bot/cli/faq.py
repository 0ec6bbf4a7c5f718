"""``tutor faq add|list|forget``: the answers course memory gives again (design.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.app import BotApp
from bot.config import Settings
from bot.memory.memory import CourseMemory, Entry


def add_parsers(sub: Any) -> None:
    faq = sub.add_parser("faq", help="the answers course memory gives again")
    actions = faq.add_subparsers(dest="faq_action", required=True)
    add = actions.add_parser("add", help="pin a moderator's answer to a question")
    add.add_argument("--question", required=True, help="the question, as learners ask it")
    add.add_argument("--answer", required=True, help="the answer to give")
    add.add_argument("--source", default=None, help="the course file it cites (relative path)")
    listing = actions.add_parser("list", help="the entries in use")
    listing.add_argument("--json", action="store_true", help="one JSON object per entry")
    forget = actions.add_parser("forget", help="never give an entry again")
    forget.add_argument("id", type=int)


async def cmd_faq(settings: Settings, args: argparse.Namespace) -> int:
    async with BotApp(settings) as app:
        memory = app.memory
        if args.faq_action == "add":
            return await _add(memory, args)
        if args.faq_action == "forget":
            if await memory.forget(args.id, "forgotten on the command line"):
                print(f"forgotten #{args.id}")
                return 0
            print(f"tutor faq: no entry #{args.id} in use", file=sys.stderr)
            return 1
        entries = memory.entries()
        if args.json:
            for entry in entries:
                print(json.dumps(entry_json(entry), ensure_ascii=False))
        elif not entries:
            print("course memory is empty")
        else:
            for entry in entries:
                where = "everywhere" if entry.scope == ("*", "*") else "/".join(entry.scope)
                print(f"#{entry.id} [{entry.origin}, {where}, used {entry.uses}x] {entry.question}")
        return 0


async def _add(memory: CourseMemory, args: argparse.Namespace) -> int:
    try:
        entry_id = await memory.add(args.question, args.answer, source=args.source)
    except (ValueError, RuntimeError) as exc:
        print(f"tutor faq: {exc}", file=sys.stderr)
        return 2
    print(f"added #{entry_id}: given to questions that mean the same")
    return 0


def entry_json(entry: Entry) -> dict[str, Any]:
    """One ``tutor faq list --json`` line."""
    return {
        "id": entry.id,
        "question": entry.question,
        "answer": entry.answer,
        "origin": entry.origin,
        "reusable": entry.reusable,
        "platform": entry.scope[0],
        "workspace": entry.scope[1],
        "sources": [c.source for c in entry.citations],
        "uses": entry.uses,
        "votes": {"up": entry.votes_up, "down": entry.votes_down},
        "created_at": entry.created_at,
    }


COMMANDS = {"faq": cmd_faq}
