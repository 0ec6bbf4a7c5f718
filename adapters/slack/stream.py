"""Writing a streamed answer into Slack.

Two writers with one interface (``delta``/``reset``/``progress``, the core's ReplySink,
plus ``finish``):

- :class:`NativeWriter` uses Slack's streaming methods (chat.startStream, appendStream,
  stopStream), which take Markdown and render it as it arrives.
- :class:`UpdateWriter` posts Markdown (``markdown_text``) and edits it with chat.update,
  throttled; it is the fallback for workspaces without native streaming and top-level DMs.

Both continue a long answer in further messages, and never send text that can ping.
While the core holds an answer back, ``progress`` shows a status under the thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.format import (
    MESSAGE_LIMIT,
    footer_markdown,
    footer_mrkdwn,
    markdown_parts,
    neutralise_mentions,
    with_footer,
)
from adapters.slack.translate import Target
from adapters.text import ThrottledStream, open_fence, unfinished_link
from bot.events import Citation

log = logging.getLogger(__name__)

# Failures of the Slack side (an API error, a refused or dropped connection, a timeout).
SLACK_ERRORS: tuple[type[BaseException], ...] = (
    SlackClientError,
    aiohttp.ClientError,
    TimeoutError,
)

# chat.startStream errors meaning "this workspace or app cannot stream": stop trying there.
STREAMING_UNSUPPORTED = frozenset(
    {
        "unknown_method",
        "method_not_supported",
        "not_allowed_token_type",
        "feature_not_enabled",
        "team_not_enabled",
        "not_supported",
    }
)


def api_error(exc: BaseException) -> str:
    """Slack's error code for an exception from the SDK (``ratelimited``), or its type."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


THINKING = "is thinking…"  # Slack shows it after the app's name: "Tutor is thinking…"


class ThreadStatus:
    """The status line under a thread, set with assistant.threads.setStatus.

    It reads "<app> is thinking…"; a ``note`` from the core ("Preparing an answer…")
    goes in as its loading message. Slack shows it until the bot posts in the thread (or
    for two minutes). A top-level DM has no thread to show it in.

    ``show`` returns at once: the call runs meanwhile, so the answer is not held up by
    a round trip to Slack. A writer awaits ``settled()`` before it first posts, so a
    status never lands after (and lingers under) the answer. The same note is not sent
    again within ``refresh_s``; after a refusal (an old workspace, a missing scope) this
    answer stops trying.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        *,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.target = target
        self.refresh_s = refresh_s
        self._clock = clock
        self._shown: tuple[str, float] | None = None  # the note, and until when it stands
        self._refused = False
        self._call: asyncio.Task[None] | None = None

    def show(self, note: str | None = None) -> None:
        if self.target.thread_ts is None or self._refused:
            return
        now, said = self._clock(), note or ""
        if self._shown is not None and self._shown[0] == said and now < self._shown[1]:
            return
        self._shown = (said, now + self.refresh_s)
        previous = self._call
        self._call = asyncio.create_task(self._set(note, previous), name="slack-thread-status")

    async def settled(self) -> None:
        """Wait until a status being set is set (or refused)."""
        if self._call is not None:
            await self._call

    async def _set(self, note: str | None, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # statuses land in the order they were shown
        if self._refused:
            return
        try:
            await self.client.assistant_threads_setStatus(
                channel_id=self.target.channel,
                thread_ts=self.target.thread_ts,
                status=THINKING,
                loading_messages=[note] if note else None,
            )
        except Exception as exc:  # cosmetic: never worth failing an answer for
            log.debug("slack: no thread status (%s)", api_error(exc))
            self._refused = isinstance(exc, SlackApiError)
            self._shown = None


class UpdateWriter:
    """Posts the answer as Markdown and edits it as it grows (at most once per ``interval``).

    The running text is rendered into as many messages as Slack's length limit needs; each
    render updates only the messages whose text changed and posts the ones that are new.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        *,
        interval: float = 1.0,
        limit: int = MESSAGE_LIMIT,
        existing: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.target = target
        self.limit = limit
        # (ts, text) of each message this answer occupies; text None = unknown, rewrite it.
        self.posted: list[tuple[str, str | None]] = [(ts, None) for ts in existing]
        self._notice = ""
        self._stream = ThrottledStream(self._render, interval=interval)
        self.status = ThreadStatus(client, target)

    @property
    def message_ts(self) -> list[str]:
        return [ts for ts, _ in self.posted]

    async def delta(self, text: str) -> None:
        await self._stream.add(text)

    async def progress(self, note: str) -> None:
        self.status.show(note)

    async def reset(self, notice: str) -> None:
        self._notice = f"_{notice}_\n\n"
        self._stream.reset("")

    async def finish(
        self, text: str, citations: Sequence[Citation] = (), notice: str | None = None
    ) -> list[str]:
        footer = footer_markdown(citations, notice)
        await self._sync(text, footer)
        return self.message_ts

    async def _render(self, text: str) -> None:
        # A failed edit mid-answer must not stop the answer: the next render (and the
        # final one, which does raise) puts the whole text in place again.
        try:
            await self._sync(text, "")
        except SLACK_ERRORS as exc:
            log.warning("slack: could not show the answer so far: %s", api_error(exc))

    async def _sync(self, markdown: str, footer: str) -> None:
        await self.status.settled()
        parts = markdown_parts(self._notice + markdown, self.limit) or ["…"]
        parts = with_footer(parts, footer, self.limit)
        for i, part in enumerate(parts):
            if i < len(self.posted):
                ts, shown = self.posted[i]
                if shown != part:
                    await self.client.chat_update(
                        channel=self.target.channel, ts=ts, markdown_text=part
                    )
                    self.posted[i] = (ts, part)
            else:
                response = await self.client.chat_postMessage(
                    channel=self.target.channel,
                    thread_ts=self.target.thread_ts,
                    markdown_text=part,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                self.posted.append((str(response["ts"]), part))
        while len(self.posted) > len(parts):
            ts, _ = self.posted.pop()
            await self.client.chat_delete(channel=self.target.channel, ts=ts)


class NativeWriter:
    """Streams Markdown with chat.startStream / appendStream / stopStream.

    Appends are coalesced to one per ``interval`` by a ThrottledStream and end at a
    whitespace, so a word (or a mention being defused) is never cut across two. An answer
    longer than ``limit`` stops its stream and goes on in a new one, closing and reopening
    a code block cut in two. When a streaming call fails, the writer hands over to an UpdateWriter
    that rewrites what was streamed, so the learner always gets the whole answer.
    ``on_unsupported`` hears when the workspace cannot stream at all.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        *,
        interval: float = 0.5,
        update_interval: float = 1.0,
        limit: int = MESSAGE_LIMIT,
        on_unsupported: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if target.thread_ts is None:
            raise ValueError("native streaming needs a thread to reply in")
        self.client = client
        self.target = target
        self.update_interval = update_interval
        self.limit = limit
        self.on_unsupported = on_unsupported
        # The answer so far, as the model wrote it, streamed out a whole word at a time.
        self._stream = ThrottledStream(
            self._stream_out, interval=interval, whole_words=True, clock=clock
        )
        self._prefix = ""  # a notice shown above the answer after a model switch
        self._sent = 0  # how much of prefix + text has been streamed
        self._streams: list[str] = []  # ts of every streamed message, the last maybe open
        self._open = False
        self._current = ""  # what the open stream holds
        self._fallback: UpdateWriter | None = None
        self.status = ThreadStatus(client, target, clock=clock)
        # Blocks to end the answer's last message with (the feedback buttons), and whether
        # they went out with it; set before ``finish``.
        self.closing_blocks: list[dict[str, Any]] = []
        self.closed_with_blocks = False

    @property
    def message_ts(self) -> list[str]:
        return self._fallback.message_ts if self._fallback else list(self._streams)

    @property
    def _text(self) -> str:
        return self._stream.text

    async def delta(self, text: str) -> None:
        if self._fallback is not None:
            await self._fallback.delta(text)
            return
        await self._stream.add(text)

    async def progress(self, note: str) -> None:
        self.status.show(note)

    async def _stream_out(self, text: str) -> None:
        if self._fallback is None:
            await self._guarded(self._flush(text))

    async def reset(self, notice: str) -> None:
        if self._fallback is not None:
            await self._fallback.reset(notice)
            return
        self._prefix, self._sent = "", 0
        self._stream.reset("")
        if not self._streams:
            self._prefix = f"_{notice}_\n\n"
            return
        try:  # what was streamed is void: say so in its place, the answer follows anew
            await self._stop()
            first, *rest = self._streams
            await self.client.chat_update(
                channel=self.target.channel,
                ts=first,
                markdown_text=neutralise_mentions(f"_{notice}_"),
            )
            for ts in rest:
                await self.client.chat_delete(channel=self.target.channel, ts=ts)
        except SLACK_ERRORS as exc:
            log.warning("could not withdraw an interrupted answer: %s", api_error(exc))
        self._streams, self._open, self._current = [], False, ""

    async def finish(
        self, text: str, citations: Sequence[Citation] = (), notice: str | None = None
    ) -> list[str]:
        if self._fallback is None:
            if self._streams and not text.startswith(self._text):
                await self._degrade()  # the final answer is not what was streamed
            else:
                self._stream.reset(text)
                await self._guarded(self._finish_native(footer_mrkdwn(citations, notice)))
        if self._fallback is not None:
            return await self._fallback.finish(text, citations, notice)
        return self.message_ts

    async def _finish_native(self, footer: str) -> None:
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]}
        blocks = [*([context] if footer else []), *self.closing_blocks] or None
        rest = neutralise_mentions((self._prefix + self._text)[self._sent :])
        if self._open and len(self._current) + len(rest) <= self.limit:
            # The last words travel with chat.stopStream: one call fewer per answer.
            self._open, self._current = False, ""
            await self.client.chat_stopStream(
                channel=self.target.channel,
                ts=self._streams[-1],
                markdown_text=rest or None,
                blocks=blocks,
            )
            self._sent = len(self._prefix + self._text)
            self.closed_with_blocks = bool(self.closing_blocks)
            return
        await self._flush(self._text, final=True)
        await self._stop(blocks)

    async def _flush(self, text: str, *, final: bool = False) -> None:
        """Stream what of ``text`` (the answer up to some point) is not out yet.

        A link still being written at the end waits for the next flush: sent whole, it
        shows as plain text and URL; cut in two, Slack would join and render it.
        """
        pending = (self._prefix + text)[self._sent :]
        if not final:
            pending = pending[: unfinished_link(pending)]
        if not pending:
            return
        chunk = neutralise_mentions(pending)
        while chunk:
            used = len(self._current)
            if self._open and used >= self.limit - _SOFT_MARGIN:
                # Near the limit: end this message at the next line or sentence break.
                match = _BREAK.search(chunk)
                if match and used + match.end() <= self.limit - 8:
                    head, chunk = chunk[: match.end()], chunk[match.end() :]
                    await self._append(head)
                    chunk = await self._rollover() + chunk.lstrip("\n ")
                    continue
            if len(chunk) <= self.limit - used:
                await self._append(chunk)
                break
            if self._open and self.limit - used < 100:
                chunk = await self._rollover() + chunk
                continue
            head, chunk = _cut(chunk, self.limit - used - 8)
            await self._append(head)
            chunk = await self._rollover() + chunk
        self._sent += len(pending)

    async def _rollover(self) -> str:
        """Stop the open stream to go on in a new message; returns what reopens a code block."""
        fence = open_fence(self._current)
        if fence is not None:
            await self._append(("" if self._current.endswith("\n") else "\n") + fence[0])
        await self._stop()
        return fence[0] + fence[1] + "\n" if fence is not None else ""

    async def _append(self, markdown: str) -> None:
        if not self._open:
            await self.status.settled()
            response = await self.client.chat_startStream(
                channel=self.target.channel,
                thread_ts=self.target.thread_ts,
                recipient_team_id=self.target.team,
                recipient_user_id=self.target.user,
                markdown_text=markdown,
            )
            self._streams.append(str(response["ts"]))
            self._open = True
            self._current = markdown
        else:
            await self.client.chat_appendStream(
                channel=self.target.channel, ts=self._streams[-1], markdown_text=markdown
            )
            self._current += markdown

    async def _stop(self, blocks: list[dict[str, Any]] | None = None) -> None:
        if self._open:
            self._open, self._current = False, ""
            await self.client.chat_stopStream(
                channel=self.target.channel, ts=self._streams[-1], blocks=blocks
            )
            self.closed_with_blocks = bool(self.closing_blocks) and blocks is not None

    async def _guarded(self, call: Coroutine[Any, Any, None]) -> None:
        try:
            await call
        except SLACK_ERRORS as exc:
            error = api_error(exc)
            if not self._streams and error in STREAMING_UNSUPPORTED:
                log.info("native streaming unavailable (%s); editing messages instead", error)
                self.on_unsupported()
            else:
                log.warning("native streaming failed (%s); editing messages instead", error)
            await self._degrade()

    async def _degrade(self) -> None:
        """Hand over to an UpdateWriter that takes over (and rewrites) the streamed messages."""
        if self._open:
            try:
                await self._stop()
            except SLACK_ERRORS as exc:
                log.debug("could not stop the stream: %s", api_error(exc))
            self._open = False
        self._fallback = UpdateWriter(
            self.client,
            self.target,
            interval=self.update_interval,
            limit=self.limit,
            existing=self._streams,
        )
        if self._prefix:
            await self._fallback.reset(self._prefix.strip().strip("_"))
        if self._text:
            await self._fallback.delta(self._text)


_SOFT_MARGIN = 600  # within this much of the limit, a message ends at the next break
_BREAK = re.compile(r"\n|[.!?](?= )")


def _cut(text: str, budget: int) -> tuple[str, str]:
    """Split ``text`` so the head fits ``budget``: at a line break, else a space, else hard."""
    window = text[:budget]
    for boundary in ("\n\n", "\n", " "):
        at = window.rfind(boundary, budget // 3)
        if at > 0:
            return text[: at + len(boundary)], text[at + len(boundary) :]
    return text[:budget], text[budget:]
