"""The terminal adapter behind ``tutor chat``: streams answers as they are generated."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from bot.events import (
    CommandRequest,
    IncomingMessage,
    Outbound,
    Reply,
    correlation_scope,
    new_correlation_id,
)
from bot.ports import CommandHandler, Handler

HELP = (
    "Ask anything about the course. /hint gives a hint, /good and /bad rate the last "
    "answer, /human [note] asks a person, /reset starts a new conversation, /quit exits."
)


class _PrintSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.streamed = False

    async def delta(self, text: str) -> None:
        self.streamed = True
        self.out.write(text)
        self.out.flush()

    async def reset(self, notice: str) -> None:
        self.out.write(f"\n[{notice}]\n")
        self.out.flush()

    async def progress(self, note: str) -> None:
        """Nothing to show: the open ``tutor>`` line already says an answer is coming."""


class ConsoleAdapter:
    """Reads questions from a text stream and writes streamed answers to another."""

    name = "console"

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        *,
        user: str = "console-user",
        tier: str | None = None,
        banner: str = HELP,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.user = user
        self.tier = tier
        self.banner = banner
        self._conversation = new_correlation_id()
        self._last: Reply | None = None
        self._offers: tuple[str, ...] = ()

    async def run(self, handler: Handler, commands: CommandHandler | None = None) -> None:
        """Answer lines from stdin until it ends or ``/quit``; ``/good``, ``/bad``,
        ``/detail`` and ``/human`` go to ``commands``."""
        self._say(self.banner)
        lines = self._read_lines()
        while True:
            self.stdout.write("\nyou> ")
            self.stdout.flush()
            line = await lines.get()
            if line is None or line.strip() in {"/quit", "/exit"}:
                self._say("" if line is None else "Bye!")
                return
            text = line.strip()
            if text == "/reset":
                self._conversation = new_correlation_id()
                self._say("(new conversation)")
                continue
            if text in {"/help", "/?"}:
                self._say(HELP)
                continue
            if not text:
                continue
            if text == "/hint":
                text = "hint"
            word, _, rest = text.partition(" ")
            if word in {"/good", "/bad", "/detail", "/human"}:
                await self._command(commands, word[1:], rest.strip())
                continue
            await self._answer(handler, text)

    async def send(self, message: Outbound) -> None:
        self._say(f"\n[{message.channel}]\n{message.text}")
        for attachment in message.attachments:
            self._say(f"(attachment: {attachment.filename}, {len(attachment.data)} bytes)")

    async def _answer(self, handler: Handler, text: str) -> None:
        sink = _PrintSink(self.stdout)
        self.stdout.write("tutor> ")
        self.stdout.flush()
        msg = IncomingMessage(
            text=text,
            user=self.user,
            channel="terminal",
            conversation=self._conversation,
            tier=self.tier,
            is_dm=True,
        )
        with correlation_scope(msg.correlation_id):
            reply = await handler(msg, sink)
        if not sink.streamed:
            self.stdout.write(reply.text)
        self._say("\n" + render_footer(reply))
        self._last, self._offers = reply, ()

    async def _command(self, commands: CommandHandler | None, word: str, rest: str) -> None:
        """``/good``, ``/bad`` (a vote on the last answer), ``/detail``, ``/human [note]``."""
        if commands is None:
            self._say("(commands are not available here)")
            return
        last = self._last
        if last is None and word != "human":
            self._say("(there is no answer to rate yet)")
            return
        if word == "detail" and "detail" not in self._offers:
            self._say("(/detail follows a /bad on a local answer)")
            return
        args: dict[str, str] = {}
        if last is not None:
            args = {"answer": last.correlation_id, "route": last.route}
        if word in {"good", "bad"}:
            name, args["vote"] = "feedback", "up" if word == "good" else "down"
        elif word == "human":
            name, args["note"], args["conversation"] = "human", rest, self._conversation
        else:
            name = "detail"
        result = await commands(CommandRequest(name, self.user, "terminal", "console", args=args))
        self._say(result.text)
        self._offers = result.actions
        if "detail" in result.actions:
            self._say("(type /detail to ask the detailed model, /human to ask a person)")
        for post in result.outbound:
            self._say(f"[to {post.channel}] {post.text}")

    def _read_lines(self) -> asyncio.Queue[str | None]:
        """Read stdin on a daemon thread, so Ctrl-C never waits for a pending read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def reader() -> None:
            for line in self.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        return queue

    def _say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()


def render_footer(reply: Reply) -> str:
    """Sources and a short route line, e.g. ``(local · embedded · 1.2 s)``."""
    lines = [f"  [{i}] {c.title} ({c.source})" for i, c in enumerate(reply.citations, 1)]
    if lines:
        lines.insert(0, "Sources:")
    seconds = reply.latency_ms / 1000
    return "\n".join([*lines, f"({reply.route} · {reply.model} · {seconds:.1f} s)"])
