"""``/tutor faq list|pin|forget``: moderators curate their workspace's course memory."""

from __future__ import annotations

from bot.events import CommandRequest, CommandResult
from bot.memory.memory import EVERYWHERE, CourseMemory, Entry

LISTED = 15  # entries shown by /tutor faq list, most used first
CLIP = 80


class FaqCommands:
    """The command hook for ``faq.list``, ``faq.pin`` and ``faq.forget`` (moderators only)."""

    def __init__(self, memory: CourseMemory) -> None:
        self.memory = memory

    async def __call__(self, req: CommandRequest) -> CommandResult:
        scope = (req.platform, req.workspace or "")
        if req.name == "faq.list":
            return self.list(scope)
        raw = req.args.get("id", "").strip().lstrip("#")
        if not raw.isdigit():
            return CommandResult(
                "Give the entry's number, as `/tutor faq list` shows it.", ok=False
            )
        entry = next((e for e in self.memory.entries(scope) if e.id == int(raw)), None)
        if entry is None:
            return CommandResult(f"There is no entry #{raw} in this workspace's memory.", ok=False)
        if req.name == "faq.pin":
            await self.memory.pin(entry.id)
            return CommandResult(
                f"Pinned #{entry.id}: it is given to every question that means the same."
            )
        if entry.scope == EVERYWHERE and scope != EVERYWHERE:
            return CommandResult(
                f"#{entry.id} was added on the command line for every workspace: "
                f"remove it there with `tutor faq forget {entry.id}`.",
                ok=False,
            )
        await self.memory.forget(entry.id, f"forgotten by {req.user}")
        return CommandResult(f"Forgotten #{entry.id}: it will not be given again.")

    def list(self, scope: tuple[str, str]) -> CommandResult:
        entries = self.memory.entries(scope)
        if not entries:
            return CommandResult("Course memory is empty here: no answer is given again yet.")
        shown = sorted(entries, key=lambda e: (e.origin != "pinned", -e.uses, e.id))[:LISTED]
        lines = [f"Course memory: {len(entries)} entries (pinned first, then most used)."]
        lines += [_line(entry) for entry in shown]
        if len(entries) > LISTED:
            lines.append(f"... and {len(entries) - LISTED} more (`tutor faq list` shows all).")
        return CommandResult("\n".join(lines))


def _line(entry: Entry) -> str:
    question = entry.question if len(entry.question) <= CLIP else entry.question[:CLIP] + "…"
    state = entry.origin if entry.reusable else f"{entry.origin}, waiting for a vote"
    return f"- #{entry.id} ({state}, used {entry.uses}×): {question}"
