"""The Discord adapter: a discord.py client that feeds learners' messages to the core.

It answers mentions, DMs, replies to its answers and talk in threads it takes part in;
streams answers by editing its message; serves the ``/tutor`` commands; and keeps every
send free of pings. Translation lives in ``adapters.discord.text``, the answer's life on
Discord in ``adapters.discord.stream``, the command group in ``adapters.discord.commands``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import discord
from cachetools import LRUCache
from discord import app_commands

from adapters.discord.buttons import (
    FollowButton,
    VoteButton,
    feedback_view,
    follow_view,
    staff_mentions,
)
from adapters.discord.commands import (
    TutorCommands,
    commands_differ,
    is_moderator,
    local_payloads,
    model_choices,
    registered_payloads,
)
from adapters.discord.routing import route_client, webhooks_routed_to
from adapters.discord.stream import (
    DISCORD_ERRORS,
    NO_MENTIONS,
    ChannelSurface,
    InteractionSurface,
    StreamedAnswer,
    Surface,
    to_file,
)
from adapters.discord.text import (
    MESSAGE_LIMIT,
    PLATFORM,
    MessageFacts,
    conversation_of,
    safe,
    should_answer,
    strip_mentions,
    thread_name,
    to_incoming,
)
from adapters.limits import RateLimiter, rate_limit_notice
from adapters.text import split_message
from bot.events import (
    CommandRequest,
    CommandResult,
    IncomingMessage,
    Outbound,
    correlation_scope,
    new_correlation_id,
)
from bot.ports import CommandHandler, Handler

log = logging.getLogger(__name__)

WAIT_REACTION = "\N{HOURGLASS WITH FLOWING SAND}"
RESTARTING = "I'm restarting right now; please ask again in a minute."
NOT_SERVED = "This tutor is not served here (this server is not on its list)."


def failure_text(correlation_id: str) -> str:
    return (
        "Sorry, something went wrong while I was answering. Please try again in a moment "
        f"(error id {correlation_id})."
    )


@dataclass(frozen=True, slots=True)
class DiscordOptions:
    """How the bot behaves on Discord (the ``[discord]`` config section)."""

    moderator_role_ids: frozenset[int] = frozenset()  # role ids that count as moderators
    # The servers served; a message or command from any other is ignored and logged.
    # Empty: every server the bot is added to (``tutor doctor`` warns).
    guilds: frozenset[int] = frozenset()
    operator_ids: frozenset[int] = frozenset()  # users who may run operator-only commands
    thread_channels: frozenset[int] = frozenset()  # channels where a question opens a thread
    messages_per_minute: float = 6.0  # per learner
    burst: int = 3
    max_concurrent: int = 4  # answers generated at once; the rest wait their turn
    message_content: bool = True  # privileged intent: read un-mentioned thread replies
    # Where /tutor is registered at start-up, when it changed: "global" (every server),
    # a guild id (one test server, where changes show at once), or "off".
    sync_commands: str = "global"
    stream_interval_s: float = 1.0  # at most one edit per message per interval
    max_parts: int = 4  # longer answers are sent as a Markdown file
    defer_after_s: float = 2.0  # a command still running after this is deferred
    ready_timeout_s: float = 2.0  # how long to wait for servers to stream in at start-up
    shutdown_grace_s: float = 10.0  # answers in progress may finish this long on close()
    remember_messages: int = 10_000  # message ids kept to follow reply chains
    # Sharding: the bot's total number of shards, and the ones this instance runs (None:
    # all of them). Set, the client is discord.py's AutoShardedClient.
    shards: int | None = None
    shard_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.shard_ids is not None:
            if self.shards is None:
                raise ValueError("Discord shard_ids need shards (the bot's number of shards)")
            if not self.shard_ids or any(not 0 <= i < self.shards for i in self.shard_ids):
                raise ValueError(
                    f"Discord shard_ids {list(self.shard_ids)} must be from 0 to "
                    f"{self.shards - 1} (shards = {self.shards})"
                )

    @classmethod
    def from_config(cls, values: Mapping[str, Any], **extra: Any) -> DiscordOptions:
        """Options from the ``[discord]`` section's keys (lists where these take sets or
        tuples); the keys left out keep the defaults above, the one place they are set."""
        given = dict(values) | extra
        if given.pop("moderator_roles", None):
            log.warning(
                "[discord] moderator_roles (role names) is ignored: anyone who can create a "
                "role could name one so; list role ids in moderator_role_ids instead"
            )
        for key in ("moderator_role_ids", "guilds", "operator_ids"):
            if key in given:
                given[key] = frozenset(given[key])
        if "thread_channels" in given:
            given["thread_channels"] = frozenset(given["thread_channels"])
        if given.get("shard_ids") is not None:
            given["shard_ids"] = tuple(given["shard_ids"])
        return cls(**given)


def intents_for(options: DiscordOptions) -> discord.Intents:
    """The fewest intents that work: no members, presences, reactions or voice."""
    intents = discord.Intents.none()
    intents.guilds = True  # channels, threads and roles (moderator roles by name)
    intents.guild_messages = True  # mentions and thread talk in servers
    intents.dm_messages = True  # direct messages
    # Privileged: the text of messages that do not mention the bot (thread follow-ups,
    # replies without a ping). Mentions and DMs carry their text without it.
    intents.message_content = options.message_content
    return intents


class TutorClient(discord.Client):
    """A discord.py Client wired to the adapter, with a routed REST base and gateway."""

    def __init__(
        self,
        adapter: DiscordAdapter,
        *,
        api_base: str | None,
        gateway_url: str | None,
    ) -> None:
        options = adapter.options
        shards: dict[str, Any] = {}
        if options.shards is not None:  # an AutoShardedClient: these shards, of that many
            shards = {"shard_count": options.shards, "shard_ids": options.shard_ids}
        super().__init__(
            intents=intents_for(options),
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            chunk_guilds_at_startup=False,
            guild_ready_timeout=options.ready_timeout_s,
            **shards,
        )
        route_client(self, api_base, gateway_url)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(TutorCommands(adapter))
        self.tree.error(adapter.on_command_error)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(VoteButton, FollowButton)  # buttons from before a restart work
        await self.adapter.sync_commands(self.tree)

    async def on_ready(self) -> None:
        shards = self.adapter.options.shards
        log.info(
            "Discord: connected as %s (%s)%s",
            self.user,
            self.user.id if self.user else "?",
            f", shards {list(self.adapter.options.shard_ids or range(shards))} of {shards}"
            if shards
            else "",
        )
        self.adapter.ready.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        if self.user is not None and thread.owner_id == self.user.id:
            self.adapter.joined_thread(thread.id)


class ShardedTutorClient(TutorClient, discord.AutoShardedClient):
    """The same client on several gateway connections (``[discord] shards``): discord.py's
    AutoShardedClient runs this instance's shards (``shard_ids``) of the bot's ``shards``."""


class DiscordAdapter:
    """``await DiscordAdapter(token, options).run(handler, commands)`` until closed.

    ``api_base`` (e.g. ``http://proxy:8080/api/v10``) and ``gateway_url`` point REST and
    the gateway at a proxy or a test server.
    """

    name = PLATFORM
    ready_timeout = 60.0  # how long ``send`` waits for the gateway connection

    def __init__(
        self,
        token: str,
        options: DiscordOptions | None = None,
        *,
        api_base: str | None = None,
        gateway_url: str | None = None,
    ) -> None:
        if not token.strip():
            raise ValueError("a Discord bot token is required")
        self.options = options or DiscordOptions()
        self.api_base = api_base or None
        self.gateway_url = gateway_url or None
        self.ready = asyncio.Event()
        self._token = token
        self._limiter = RateLimiter(self.options.messages_per_minute, self.options.burst)
        self._slots = asyncio.Semaphore(self.options.max_concurrent)
        remember = self.options.remember_messages
        self._known: LRUCache[int, str] = LRUCache(remember)  # message id -> conversation
        self._threads: LRUCache[int, None] = LRUCache(remember)  # threads the bot is part of
        self._warned: LRUCache[int, float] = LRUCache(remember)  # user -> quiet until
        self._warned_guilds: LRUCache[int, float] = LRUCache(1000)  # logged once each
        # Conversations handed to staff (-> the staff role), and those where staff replied:
        # there the bot stays quiet until a learner mentions it again.
        self._handed: LRUCache[int, str] = LRUCache(remember)
        self._quiet: LRUCache[int, None] = LRUCache(remember)
        self._client: TutorClient | None = None
        self._handler: Handler | None = None
        self._commands: CommandHandler | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._closing = False

    # --- Adapter ------------------------------------------------------------------------

    async def run(self, handler: Handler, commands: CommandHandler) -> None:
        """Connect and serve until ``close()`` (or cancellation)."""
        self._handler, self._commands = handler, commands
        self._closing = False
        kind = TutorClient if self.options.shards is None else ShardedTutorClient
        client = self._client = kind(self, api_base=self.api_base, gateway_url=self.gateway_url)
        with webhooks_routed_to(self.api_base):
            async with client:
                try:
                    await client.start(self._token)
                except discord.LoginFailure:
                    log.error("Discord refused the bot token (check DISCORD_TOKEN)")
                    raise
                except discord.PrivilegedIntentsRequired:
                    log.error(
                        "Discord refused the Message Content intent: enable it in the "
                        "Developer Portal or set [discord] message_content = false"
                    )
                    raise

    async def close(self) -> None:
        """Stop taking questions, let answers in progress finish (within the grace
        period), then disconnect."""
        self._closing = True
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.options.shutdown_grace_s)
        if self._client is not None:
            await self._client.close()
        self.ready.clear()

    async def send(self, message: Outbound) -> None:
        """Post a message of the bot's own (a digest) to a channel, attachments first.

        Waits up to ``ready_timeout`` seconds for the connection when called early.
        """
        client = self._require_client()
        if not message.channel.isdigit():
            raise ValueError(f"a Discord channel is an id (digits), not {message.channel!r}")
        async with asyncio.timeout(self.ready_timeout):
            await self.ready.wait()
        channel = client.get_partial_messageable(int(message.channel))
        parts = split_message(safe(message.text), MESSAGE_LIMIT) or ["\u200b"]
        files = [to_file(a) for a in message.attachments]
        for i, part in enumerate(parts):
            extra = {"files": files} if i == 0 and files else {}
            await channel.send(part, allowed_mentions=NO_MENTIONS, **extra)

    # --- messages -----------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        client = self._require_client()
        if client.user is None or self._handler is None:
            return
        me = client.user.id
        facts = self._facts(message, me, _bot_roles(message))
        if await self._staff_talk(message, facts):
            return
        if self._closing or not should_answer(facts, me):
            return
        if not self._guild_served(facts.guild_id):
            return
        with self._working():
            await self._take(message, facts, me)

    async def _take(self, message: discord.Message, facts: MessageFacts, me: int) -> None:
        """Answer one message that is for the bot (or tell the learner to slow down)."""
        wait = self._limiter.acquire(facts.author_id)
        if wait:
            await self._slow_down(message, wait)
            return
        correlation_id = new_correlation_id()
        with correlation_scope(correlation_id):  # every line from here on carries it
            role_ids = _bot_roles(message)
            question = strip_mentions(facts.content, me, role_ids)
            channel, conversation = await self._destination(message, facts, me, question)
            msg = to_incoming(
                facts,
                me=me,
                conversation=conversation,
                role_ids=role_ids,
                correlation_id=correlation_id,
            )
            if facts.in_thread or channel.id != message.channel.id:
                self.joined_thread(channel.id)
            self._remember(message.id, conversation)
            surface = ChannelSurface(
                channel,
                question=message,
                on_sent=lambda sent: self._remember(sent, conversation),
            )
            surface.start_typing()
            await self._answer(msg, surface)

    def _facts(self, message: discord.Message, me: int, role_ids: list[int]) -> MessageFacts:
        """The parts of a discord.py Message the translation functions look at."""
        channel = message.channel
        thread = channel if isinstance(channel, discord.Thread) else None
        ref = message.reference
        if ref is not None and ref.type is discord.MessageReferenceType.forward:
            ref = None
        replied = ref.resolved if ref is not None else None
        replied = replied if isinstance(replied, discord.Message) else None
        return MessageFacts(
            id=message.id,
            content=message.content,
            author_id=message.author.id,
            channel_id=channel.id,
            guild_id=message.guild.id if message.guild else None,
            parent_id=thread.parent_id if thread else None,
            author_is_bot=message.author.bot,
            is_dm=message.guild is None,
            is_system=message.is_system(),
            from_webhook=message.webhook_id is not None,
            mentions_me=any(user.id == me for user in message.mentions)
            or any(role in message.raw_role_mentions for role in role_ids),
            in_my_thread=thread is not None
            and (thread.id in self._threads or thread.owner_id == me or thread.me is not None),
            reply_to=ref.message_id if ref is not None else None,
            reply_to_author=replied.author.id if replied else None,
            reply_to_reply_to=replied.reference.message_id
            if replied and replied.reference
            else None,
            reply_to_text=replied.content if replied else "",
        )

    async def _destination(
        self, message: discord.Message, facts: MessageFacts, me: int, question: str
    ) -> tuple[discord.abc.Messageable, str]:
        """Where to answer and which conversation this is.

        A fresh question in a thread channel opens a thread from the message (it shares
        the message's id); if Discord refuses, the answer goes inline instead.
        """
        if (
            facts.channel_id in self.options.thread_channels
            and isinstance(message.channel, discord.TextChannel)
            and facts.reply_to is None  # a reply continues its chain where it is
        ):
            try:
                thread = await message.create_thread(
                    name=thread_name(question),
                    auto_archive_duration=1440,
                )
            except DISCORD_ERRORS as exc:
                log.warning(
                    "could not open a thread in %s, answering inline: %s", message.channel.id, exc
                )
            else:
                return thread, str(thread.id)
        return message.channel, conversation_of(facts, me, self._known)

    async def _slow_down(self, message: discord.Message, wait: float) -> None:
        """Tell a learner who asks too fast; once per wait, then just react."""
        user = message.author.id
        now = asyncio.get_running_loop().time()
        try:
            if now < self._warned.get(user, 0.0):
                await message.add_reaction(WAIT_REACTION)
                return
            self._warned[user] = now + wait
            await message.reply(
                rate_limit_notice(wait), mention_author=False, allowed_mentions=NO_MENTIONS
            )
        except DISCORD_ERRORS as exc:
            log.warning("could not tell %s to slow down: %s", user, exc)

    async def _answer(self, msg: IncomingMessage, surface: Surface) -> None:
        """Run the core with a streaming sink, then show the final answer."""
        assert self._handler is not None
        answer = StreamedAnswer(
            surface,
            correlation_id=msg.correlation_id,
            interval=self.options.stream_interval_s,
            max_parts=self.options.max_parts,
        )
        with correlation_scope(msg.correlation_id):
            try:
                async with self._slots:
                    reply = await self._handler(msg, answer)
            except Exception:
                log.exception("[%s] answering failed", msg.correlation_id)
                await answer.fail(failure_text(msg.correlation_id))
                return
            finally:
                surface.close()
            await answer.deliver(reply)
            if reply.outcome != "failed" and reply.model != "none":
                view = feedback_view(reply.correlation_id, reply.route)
                if view is not None:
                    await answer.offer(view)

    # --- slash commands (CommandBridge) -------------------------------------------------

    async def ask(self, interaction: discord.Interaction, question: str, private: bool) -> None:
        if self._closing:
            await interaction.response.send_message(
                RESTARTING, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        with self._working():
            await self._ask(interaction, question, private)

    async def _ask(self, interaction: discord.Interaction, question: str, private: bool) -> None:
        if not self._guild_served(interaction.guild_id):
            await interaction.response.send_message(
                NOT_SERVED, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        wait = self._limiter.acquire(interaction.user.id)
        if wait:
            await interaction.response.send_message(
                rate_limit_notice(wait), ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.response.defer(thinking=True, ephemeral=private)
        channel_id, thread_id = self._where(interaction)
        conversation = str(thread_id or interaction.id)
        msg = IncomingMessage(
            text=question,
            user=str(interaction.user.id),
            channel=str(channel_id),
            platform=PLATFORM,
            workspace=str(interaction.guild_id) if interaction.guild_id else None,
            conversation=conversation,
            is_dm=interaction.guild_id is None,
        )
        surface = InteractionSurface(
            interaction,
            ephemeral=private,
            on_sent=lambda sent: self._remember(sent, conversation),
        )
        await self._answer(msg, surface)

    async def run_command(
        self,
        interaction: discord.Interaction,
        name: str,
        args: Mapping[str, str] | None = None,
        *,
        slow: bool = False,
    ) -> None:
        """Run a shared command; defer first when it is slow or not done within a moment."""
        req = self._request(interaction, name, args)
        with correlation_scope(req.correlation_id):
            if not self._guild_served(interaction.guild_id):
                result = CommandResult(NOT_SERVED, ok=False)
                await self._respond(interaction, result, req.correlation_id)
                return
            task = asyncio.ensure_future(self._run(req))
            if slow or not await _finishes_within(task, self.options.defer_after_s):
                await interaction.response.defer(thinking=True, ephemeral=True)
            result = await task
            await self._post_outbound(result, req.args.get("conversation") or req.channel)
            if not result.ok:
                log.info(
                    "[%s] /tutor %s not done for %s: %s",
                    req.correlation_id,
                    name,
                    req.user,
                    result.text,
                )
            view = follow_view(result.actions, req.args.get("answer", ""))
            await self._respond(interaction, result, req.correlation_id, view=view)

    async def pressed(
        self, interaction: discord.Interaction, name: str, args: Mapping[str, str]
    ) -> None:
        """A button under an answer: a vote, "Ask the detailed model" or "Ask a TA"."""
        where = {"conversation": str(interaction.channel_id or "")}
        if interaction.message is not None:
            where["link"] = interaction.message.jump_url
        with self._working():
            if name != "detail":
                await self.run_command(interaction, name, {**args, **where})
                return
            # The detailed answer is for the thread, like the first one: a public response.
            req = self._request(interaction, name, {**args, **where})
            with correlation_scope(req.correlation_id):
                await interaction.response.defer(thinking=True)
                result = await self._run(req)
                view = follow_view(result.actions, args.get("answer", ""))
                await self._respond(interaction, result, req.correlation_id, view=view)

    async def _post_outbound(self, result: CommandResult, channel: str) -> None:
        """Post what a command hands on (the staff hand-off), pinging only the staff role."""
        client = self._require_client()
        for post in result.outbound:
            if post.platform != PLATFORM or not post.channel.isdigit():
                continue
            role = post.mention_role if post.mention_role and post.mention_role.isdigit() else None
            text = safe(post.text)
            if role is not None:
                text = f"<@&{role}> {text}"
            try:
                target = client.get_partial_messageable(int(post.channel))
                for part in split_message(text, MESSAGE_LIMIT):
                    await target.send(part, allowed_mentions=staff_mentions(role))
            except DISCORD_ERRORS as exc:
                log.error("could not post the hand-off to channel %s: %s", post.channel, exc)
                continue
            conversation = channel
            if post.mention_role:
                self._handed[_int(conversation)] = post.mention_role

    async def _staff_talk(self, message: discord.Message, facts: MessageFacts) -> bool:
        """Staff replying in a handed-off conversation: the bot goes quiet there. True when
        the message is one the bot must leave alone."""
        channel = facts.channel_id
        role = self._handed.get(channel)
        roles = {str(r.id) for r in getattr(message.author, "roles", [])}
        if role is not None and role in roles and not facts.author_is_bot:
            if channel not in self._quiet:
                self._quiet[channel] = None
                req = CommandRequest(
                    name="staff.replied",
                    user=str(facts.author_id),
                    channel=str(facts.parent_id or channel),
                    platform=PLATFORM,
                    workspace=str(facts.guild_id) if facts.guild_id else None,
                    args={"conversation": str(channel)},
                )
                await self._run(req)
            return True
        if channel in self._quiet:
            if facts.mentions_me:  # asked again: the bot takes part again
                del self._quiet[channel]
                self._handed.pop(channel, None)
                return False
            return True
        return False

    async def model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not self._guild_served(interaction.guild_id):
            return []
        result = await self._run(self._request(interaction, "model.list", None))
        return [
            app_commands.Choice(name=label, value=value)
            for label, value in model_choices(result, current)
        ]

    async def on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        correlation_id = new_correlation_id()
        log.error("[%s] slash command failed", correlation_id, exc_info=error)
        result = CommandResult(failure_text(correlation_id), ok=False)
        await self._respond(interaction, result, correlation_id)

    async def sync_commands(self, tree: app_commands.CommandTree[TutorClient]) -> None:
        """Register ``/tutor`` with Discord if what Discord has differs from the tree.

        A new install gets its commands on the first start; a restart with the same
        commands only reads them (Discord limits how often commands may be registered).
        """
        mode = self.options.sync_commands.strip().lower()
        if mode in {"", "off"}:
            return
        guild = None if mode == "global" else discord.Object(int(mode))
        if guild is not None:
            tree.copy_global_to(guild=guild)
        try:
            registered = await registered_payloads(tree.client, guild)
            if not commands_differ(local_payloads(tree, guild), registered):
                log.info("slash commands are up to date (%s)", mode)
                return
            synced = await tree.sync(guild=guild)
        except DISCORD_ERRORS as exc:
            log.error("could not register the slash commands (%s): %s", mode, exc)
            return
        log.info("registered %d slash command(s) (%s)", len(synced), mode)

    def _request(
        self, interaction: discord.Interaction, name: str, args: Mapping[str, str] | None
    ) -> CommandRequest:
        channel_id, _ = self._where(interaction)
        roles = getattr(interaction.user, "roles", [])
        options = self.options
        return CommandRequest(
            name=name,
            user=str(interaction.user.id),
            channel=str(channel_id),
            platform=PLATFORM,
            workspace=str(interaction.guild_id) if interaction.guild_id else None,
            args=dict(args or {}),
            is_moderator=interaction.guild_id is not None
            and is_moderator(
                interaction.permissions, [r.id for r in roles], options.moderator_role_ids
            ),
            is_operator=interaction.user.id in options.operator_ids,
        )

    def _guild_served(self, guild_id: int | None) -> bool:
        """Whether a server is on the ``[discord] guilds`` allowlist (DMs always are)."""
        allowed = self.options.guilds
        if guild_id is None or not allowed or guild_id in allowed:
            return True
        if self._warned_guilds.get(guild_id) is None:
            self._warned_guilds[guild_id] = 0.0
            log.warning("Discord: server %s is not in [discord] guilds; ignoring it", guild_id)
        else:
            log.debug("Discord: ignored server %s (not in [discord] guilds)", guild_id)
        return False

    async def _run(self, req: CommandRequest) -> CommandResult:
        assert self._commands is not None
        try:
            return await self._commands(req)
        except Exception:
            log.exception("[%s] command %s failed", req.correlation_id, req.name)
            return CommandResult(failure_text(req.correlation_id), ok=False)

    async def _respond(
        self,
        interaction: discord.Interaction,
        result: CommandResult,
        correlation_id: str,
        *,
        view: discord.ui.View | None = None,
    ) -> None:
        ephemeral = result.ephemeral or not result.ok
        parts = split_message(safe(result.text), MESSAGE_LIMIT) or ["Done."]
        files = [to_file(a) for a in result.attachments]
        try:
            for i, part in enumerate(parts):
                extra: dict[str, Any] = {"files": files} if i == 0 and files else {}
                if view is not None and i == len(parts) - 1:
                    extra["view"] = view
                if i == 0 and not interaction.response.is_done():
                    await interaction.response.send_message(
                        part, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS, **extra
                    )
                else:
                    await interaction.followup.send(
                        part, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS, **extra
                    )
        except DISCORD_ERRORS as exc:
            log.warning("[%s] could not answer the command: %s", correlation_id, exc)

    # --- bookkeeping --------------------------------------------------------------------

    @staticmethod
    def _where(interaction: discord.Interaction) -> tuple[int, int | None]:
        """(channel for settings, thread) of an interaction: a thread counts as its parent."""
        channel = interaction.channel
        if isinstance(channel, discord.Thread) and channel.parent_id:
            return channel.parent_id, channel.id
        return interaction.channel_id or 0, None

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Mark the current task as an answer in progress, for a graceful close()."""
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            yield
        finally:
            self._in_flight.discard(task)

    def joined_thread(self, thread_id: int) -> None:
        self._threads[thread_id] = None

    def _remember(self, message_id: int, conversation: str) -> None:
        self._known[message_id] = conversation

    def _require_client(self) -> TutorClient:
        if self._client is None:
            raise RuntimeError("the Discord adapter is not running")
        return self._client


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _bot_roles(message: discord.Message) -> list[int]:
    """The bot's own managed role in this server: mentioning it counts as a mention."""
    role = message.guild.self_role if message.guild else None
    return [role.id] if role is not None else []


async def _finishes_within(task: asyncio.Future[CommandResult], seconds: float) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return bool(done)
