"""Showing one answer on Discord: stream it by editing a message, then send it whole.

A Surface is where the answer appears: a channel message (a reply to the question) or
an interaction's deferred response. StreamedAnswer is the ReplySink the core streams
into; it edits the first message at most once per interval and, once the Reply is in,
replaces it with the final rendering (split into parts, or a file for very long answers).
A Discord error never reaches the core: it is logged and the next step tries again.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
import discord

from adapters.discord.text import MESSAGE_LIMIT, preview, render_reply
from adapters.text import ThrottledStream
from bot.events import Attachment, Reply

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
TYPING_EVERY_S = 8.0  # Discord shows "typing" for about 10 s per trigger
# What a failed REST call to Discord can raise.
DISCORD_ERRORS = (discord.DiscordException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def to_file(attachment: Attachment) -> discord.File:
    return discord.File(io.BytesIO(attachment.data), filename=attachment.filename)


class Surface(Protocol):
    """Where an answer is shown."""

    async def put(self, content: str, file: Attachment | None = None) -> None:
        """Show ``content`` as the answer's first message (create it, or replace it)."""
        ...

    async def append(self, content: str, file: Attachment | None = None) -> None:
        """Send one more message after the first."""
        ...

    def working(self) -> None:
        """Show that an answer is being prepared (while nothing new can be shown)."""
        ...

    def close(self) -> None:
        """Stop any activity indicator."""
        ...

    async def attach(self, view: discord.ui.View) -> None:
        """Put buttons under the answer's first message."""
        ...


class ChannelSurface:
    """An answer as a reply to the question (or the first message in a new thread).

    Shows "typing" until the first message is out. ``on_sent`` learns every message id
    the answer used, so replies to them continue the conversation.
    """

    def __init__(
        self,
        channel: discord.abc.Messageable,
        *,
        question: discord.Message | None,
        on_sent: Callable[[int], None],
    ) -> None:
        self.channel = channel
        self.question = question
        self.on_sent = on_sent
        self.message: discord.Message | None = None
        self._typing: asyncio.Task[None] | None = None

    def start_typing(self) -> None:
        self._typing = asyncio.create_task(self._keep_typing(), name="discord-typing")

    def working(self) -> None:
        """Typing again (Discord stops showing it when the bot sends a message)."""
        if self._typing is None or self._typing.done():
            self.start_typing()

    async def _keep_typing(self) -> None:
        try:
            while True:
                await self.channel.typing()
                await asyncio.sleep(TYPING_EVERY_S)
        except DISCORD_ERRORS as exc:  # cosmetic: never worth more than a debug line
            log.debug("typing indicator failed: %s", exc)

    def close(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            self._typing = None

    async def put(self, content: str, file: Attachment | None = None) -> None:
        self.close()
        if self.message is None:
            reference = (
                self.question.to_reference(fail_if_not_exists=False)
                if self.question is not None and self.question.channel.id == self.channel.id
                else None
            )
            self.message = await self._send(content, file, reference)
        elif file is not None:
            self.message = await self.message.edit(
                content=content,
                attachments=[to_file(file)],
                allowed_mentions=NO_MENTIONS,
                suppress=True,
            )
        else:
            self.message = await self.message.edit(
                content=content, allowed_mentions=NO_MENTIONS, suppress=True
            )

    async def append(self, content: str, file: Attachment | None = None) -> None:
        self.close()
        await self._send(content, file, None)

    async def attach(self, view: discord.ui.View) -> None:
        if self.message is not None:
            self.message = await self.message.edit(view=view, allowed_mentions=NO_MENTIONS)

    async def _send(
        self, content: str, file: Attachment | None, reference: discord.MessageReference | None
    ) -> discord.Message:
        extra: dict[str, object] = {}
        if file is not None:
            extra["file"] = to_file(file)
        if reference is not None:
            extra |= {"reference": reference, "mention_author": False}
        sent = await self.channel.send(
            content, allowed_mentions=NO_MENTIONS, suppress_embeds=True, **extra
        )
        self.on_sent(sent.id)
        return sent


class InteractionSurface:
    """An answer in a deferred slash command's response, with follow-ups for more parts."""

    def __init__(
        self, interaction: discord.Interaction, *, ephemeral: bool, on_sent: Callable[[int], None]
    ) -> None:
        self.interaction = interaction
        self.ephemeral = ephemeral
        self.on_sent = on_sent

    async def put(self, content: str, file: Attachment | None = None) -> None:
        extra = {"attachments": [to_file(file)]} if file is not None else {}
        message = await self.interaction.edit_original_response(
            content=content, allowed_mentions=NO_MENTIONS, **extra
        )
        self.on_sent(message.id)

    async def append(self, content: str, file: Attachment | None = None) -> None:
        extra = {"file": to_file(file)} if file is not None else {}
        message = await self.interaction.followup.send(
            content,
            ephemeral=self.ephemeral,
            allowed_mentions=NO_MENTIONS,
            suppress_embeds=True,
            wait=True,
            **extra,
        )
        self.on_sent(message.id)

    def working(self) -> None:
        """Nothing to add: a deferred response shows "thinking" until it is edited."""

    async def attach(self, view: discord.ui.View) -> None:
        await self.interaction.edit_original_response(view=view, allowed_mentions=NO_MENTIONS)

    def close(self) -> None:
        pass


class StreamedAnswer:
    """The ReplySink for one answer: throttled edits while streaming, then the final form."""

    def __init__(
        self,
        surface: Surface,
        *,
        correlation_id: str,
        interval: float = 1.0,
        max_parts: int = 4,
        limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.surface = surface
        self.correlation_id = correlation_id
        self.max_parts = max_parts
        self.limit = limit
        self.notice: str | None = None
        self.shown: str | None = None  # what the first message shows now
        self.streaming = True  # False after a failed edit: wait for the final answer
        self._stream = ThrottledStream(self._push, interval=interval)

    # --- ReplySink --------------------------------------------------------------------

    async def delta(self, text: str) -> None:
        await self._stream.add(text)

    async def reset(self, notice: str) -> None:
        self.notice = notice
        self._stream.reset("")
        await self._stream.finish()

    async def progress(self, note: str) -> None:
        """The core holds an answer back (to check it first): keep showing "typing"."""
        log.debug("[%s] %s", self.correlation_id, note)
        self.surface.working()

    # --- the final message(s) -----------------------------------------------------------

    async def deliver(self, reply: Reply) -> None:
        """Show the finished answer: edit the first message, send any further parts."""
        rendered = render_reply(
            reply, notice=self.notice, limit=self.limit, max_parts=self.max_parts
        )
        first, *rest = rendered.parts
        changed = first != self.shown or rendered.file is not None
        if changed and not await self._show(first, rendered.file):
            return
        for part in rest:
            if not await self._call(self.surface.append(part)):
                return
        self.surface.close()

    async def offer(self, view: discord.ui.View) -> None:
        """Buttons under the delivered answer (feedback); a refusal costs only the buttons."""
        await self._call(self.surface.attach(view))

    async def fail(self, text: str) -> None:
        """Tell the learner something went wrong, in place of the answer."""
        await self._show(text, None)
        self.surface.close()

    async def _push(self, text: str) -> None:
        if not self.streaming:
            return
        content = preview(text, notice=self.notice, limit=self.limit)
        if not content.strip() or content == self.shown:
            return
        if await self._call(self.surface.put(content)):
            self.shown = content
        else:
            self.streaming = False

    async def _show(self, content: str, file: Attachment | None) -> bool:
        """Replace the first message; if that fails (deleted?), send a new one."""
        if await self._call(self.surface.put(content, file)):
            self.shown = content
            return True
        if self.shown is not None and await self._call(self.surface.append(content, file)):
            return True
        self.surface.close()
        return False

    async def _call(self, step: Awaitable[None]) -> bool:
        try:
            await step
        except DISCORD_ERRORS as exc:
            log.warning("[%s] Discord refused part of an answer: %s", self.correlation_id, exc)
            return False
        return True
