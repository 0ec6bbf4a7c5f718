"""The Slack adapter: slack-bolt's AsyncApp over Socket Mode or HTTP, feeding the core.

Mentions in channels are answered in a thread, DMs where they were asked; answers stream
with Slack's native streaming where the workspace has it (else edited messages), and
``/tutor`` runs the shared commands with ephemeral replies. Every event is acknowledged
at once and worked on afterwards, and handled once however often Slack delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncAssistant, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.limits import RateLimiter, rate_limit_notice
from adapters.slack.feedback import (
    ACTION_IDS,
    ASKED,
    feedback_blocks,
    follow_blocks,
    parse_action,
    staff_text,
)
from adapters.slack.format import (
    fallback_text,
    footer_markdown,
    markdown_blocks,
    markdown_parts,
    neutralise_mentions,
    with_footer,
)
from adapters.slack.guards import Moderators, SeenEvents
from adapters.slack.listener import ConnectionGuard, ListenerLimits, listen
from adapters.slack.stream import SLACK_ERRORS, NativeWriter, UpdateWriter, api_error
from adapters.slack.translate import (
    PLATFORM,
    Target,
    UsageError,
    event_team,
    parse_command,
    should_answer,
    thread_context,
    to_incoming,
)
from bot.events import (
    CommandRequest,
    CommandResult,
    IncomingMessage,
    Outbound,
    correlation_scope,
    new_correlation_id,
)
from bot.ports import CommandHandler, EventClaims, Handler

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = (
    "Explain this week's topic in simple terms",
    "Help me debug my code",
    "Quiz me on what I've learned",
)
# Commands whose answer depends on who asks; the others never need a users.info call.
_PRIVILEGED = frozenset(
    {
        *("model.set", "model.show", "model.list", "tier.set", "cost", "reindex"),
        *("mode", "offtopic", "insights"),
        *("faq.list", "faq.pin", "faq.forget"),
    }
)
# A response_url may be used five times; longer answers end with a pointer.
_RESPONSE_URL_USES = 5
SLOW_DOWN = "You're sending questions too fast. Please wait a little and ask again."
SHORTENED = "_(Answer shortened: ask me in a direct message to see all of it.)_"


def error_text(correlation_id: str) -> str:
    """What a learner sees when answering failed; the log has the details under this id."""
    return (
        "Sorry, something went wrong while I was answering. Please try again in a moment "
        f"(error id {correlation_id})."
    )


class SlackStartError(RuntimeError):
    """The adapter cannot start: a bad token, or Slack cannot be reached."""


@dataclass(frozen=True, slots=True)
class SlackOptions:
    """Everything the adapter can be told, besides its secrets."""

    mode: Literal["socket", "http"] = "socket"
    api_url: str | None = None  # Web API base, e.g. a proxy; default https://slack.com/api/
    http_host: str = "0.0.0.0"
    http_port: int = 3000  # 0 picks a free port (see SlackAdapter.http_port)
    http_path: str = "/slack/events"
    command: str = "/tutor"
    moderators: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()  # user ids allowed operator-only commands
    admin_cache_s: float = 300.0
    native_streaming: bool = True
    stream_interval_s: float = 0.5
    update_interval_s: float = 1.0
    rate_per_minute: float = 6.0
    rate_burst: int | None = None
    rate_limit_retries: int = 3  # Web API 429s retried after Retry-After
    max_concurrency: int = 32  # answers generated at once, mentions and /tutor ask alike
    http_header_timeout_s: float = 10.0  # HTTP mode: to send headers (or the next request)
    http_body_timeout_s: float = 10.0  # HTTP mode: to send a request's body
    http_max_connections: int = 100  # HTTP mode: open at once; more are closed at once
    thread_context_chars: int = 2000
    greeting: str = "Hi! I'm your course tutor. Ask me anything about the course."
    suggested_prompts: tuple[str, ...] = DEFAULT_PROMPTS
    shutdown_grace_s: float = 10.0
    # Slack's feedback_buttons under each answer (in a small message of their own);
    # the app turns them on from [teaching] feedback.
    feedback_buttons: bool = False

    @classmethod
    def from_config(cls, values: Mapping[str, Any], **extra: Any) -> SlackOptions:
        """Options from the ``[slack]`` section's keys (lists where these take sets or
        tuples); the keys left out keep the defaults above, the one place they are set."""
        given = dict(values) | extra
        for key in ("moderators", "operators"):
            if key in given:
                given[key] = frozenset(given[key])
        if "suggested_prompts" in given:
            given["suggested_prompts"] = tuple(given["suggested_prompts"])
        return cls(**given)


class SlackAdapter:
    """A Slack workspace connection; ``await adapter.run(handler, commands)`` serves it."""

    name = "slack"

    def __init__(
        self,
        bot_token: str,
        *,
        app_token: str | None = None,
        signing_secret: str | None = None,
        options: SlackOptions | None = None,
        claims: EventClaims | None = None,
    ) -> None:
        self.options = options or SlackOptions()
        # Events taken by any instance sharing the ledger (None: this process only).
        self._claims = claims
        if self.options.mode == "socket" and not app_token:
            raise ValueError("Socket Mode needs an app-level token (SLACK_APP_TOKEN, xapp-...)")
        if self.options.mode == "http" and not signing_secret:
            raise ValueError("HTTP mode needs the signing secret (SLACK_SIGNING_SECRET)")
        self._bot_token = bot_token
        self._app_token = app_token
        self._signing_secret = signing_secret or ""
        self.bot_user_id: str | None = None
        self.team_id: str | None = None
        self.http_port: int | None = None
        self.ready = asyncio.Event()  # set once connected (Socket Mode) or listening (HTTP)
        self._seen = SeenEvents()
        self._noticed = SeenEvents(ttl_s=60.0)
        self._limiter = RateLimiter(self.options.rate_per_minute, self.options.rate_burst)
        self._no_native: set[str | None] = set()  # workspaces that cannot stream natively
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._moderators: Moderators | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._handler: Handler | None = None
        self._commands: CommandHandler | None = None
        self._semaphore: asyncio.Semaphore | None = None
        # Threads handed to staff: (channel, thread_ts) -> the staff user group. The first
        # reply there from a member of the group marks the hand-off answered.
        self._handed: dict[tuple[str, str], str] = {}

    # --- lifecycle ------------------------------------------------------------------

    async def run(self, handler: Handler, commands: CommandHandler) -> None:
        """Serve until cancelled, then shut down cleanly."""
        try:
            await self.start(handler, commands)
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    async def start(self, handler: Handler, commands: CommandHandler) -> None:
        """Check the token, then connect (Socket Mode) or listen (HTTP)."""
        self._handler, self._commands = handler, commands
        self._semaphore = asyncio.Semaphore(self.options.max_concurrency)
        client = self.client
        try:
            auth = await client.auth_test()
        except SLACK_ERRORS as exc:
            raise SlackStartError(f"Slack refused the bot token ({api_error(exc)})") from None
        self.bot_user_id, self.team_id = auth.get("user_id"), auth.get("team_id")
        log.info("slack: signed in as %s in %s", self.bot_user_id, self.team_id)
        app = self._build_app(client)
        if self.options.mode == "socket":
            self._socket = AsyncSocketModeHandler(app, self._app_token, web_client=client)
            await self._socket.connect_async()
        else:
            guard = ConnectionGuard(
                ListenerLimits(
                    header_timeout_s=self.options.http_header_timeout_s,
                    body_timeout_s=self.options.http_body_timeout_s,
                    max_connections=self.options.http_max_connections,
                )
            )
            self._runner, self._listener = await listen(
                self._web_app(app, guard), self.options.http_host, self.options.http_port, guard
            )
            self.http_port = self._listener.sockets[0].getsockname()[1]
            log.info("slack: listening on port %s%s", self.http_port, self.options.http_path)
        self.ready.set()

    async def stop(self) -> None:
        """Stop taking events, let answers in progress finish (within the grace), close."""
        self.ready.clear()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.options.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = self._client = None

    async def drain(self) -> None:
        """Wait until every answer and command in progress has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client: one connection pool, 429s retried after Retry-After."""
        if self._client is None:
            self._session = aiohttp.ClientSession()
            extra = {"base_url": self.options.api_url} if self.options.api_url else {}
            self._client = AsyncWebClient(
                token=self._bot_token,
                session=self._session,
                logger=log,
                retry_handlers=[
                    AsyncConnectionErrorRetryHandler(),
                    AsyncRateLimitErrorRetryHandler(
                        max_retry_count=self.options.rate_limit_retries
                    ),
                ],
                **extra,
            )
            self._moderators = Moderators(
                self._client, self.options.moderators, ttl_s=self.options.admin_cache_s
            )
        return self._client

    async def send(self, message: Outbound) -> None:
        """Post a digest or notice to a channel, with its attachments as files."""
        client = self.client
        for part in markdown_parts(message.text):
            await client.chat_postMessage(
                channel=message.channel, markdown_text=part, unfurl_links=False
            )
        for attachment in message.attachments:
            await client.files_upload_v2(
                channel=message.channel,
                filename=attachment.filename,
                title=attachment.filename,
                content=attachment.data,
            )

    # --- bolt wiring ----------------------------------------------------------------

    def _build_app(self, client: AsyncWebClient) -> AsyncApp:
        app = AsyncApp(
            client=client,
            signing_secret=self._signing_secret,
            request_verification_enabled=self.options.mode == "http",
            logger=logging.getLogger("slack_bolt"),
            name="tutor",
        )
        app.middleware(self._deduplicate)
        assistant = AsyncAssistant()
        assistant.thread_started(self._on_thread_started)
        assistant.user_message(self._on_event)
        app.assistant(assistant)
        app.event("app_mention")(self._on_event)
        app.event("message")(self._on_event)
        app.command(self.options.command)(self._on_command)
        app.action(ACTION_IDS)(self._on_action)
        return app

    def _web_app(self, app: AsyncApp, guard: ConnectionGuard) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            try:
                bolt_request = await to_bolt_request(request)
            except UnicodeDecodeError:  # Slack sends UTF-8; anything else is not from Slack
                log.warning("slack: refused a request whose body is not UTF-8")
                return web.Response(status=400, text="the body must be UTF-8")
            response = await app.async_dispatch(bolt_request)
            return await to_aiohttp_response(response)

        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post(self.options.http_path, guard.wrap(handle))
        return web_app

    async def _deduplicate(
        self, body: dict[str, Any], request: Any, next: Any
    ) -> BoltResponse | None:
        """Acknowledge a retried or repeated event without handling it again."""
        event = body.get("event") or {}
        message_key = (event.get("channel"), event.get("ts")) if event.get("ts") else None
        event_id = body.get("event_id")
        if event_id and (
            not self._seen.first(event_id) or not await self._first_anywhere(f"event:{event_id}")
        ):
            retry = (request.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("slack: event %s delivered again (retry %s): ignored", event_id, retry)
            return BoltResponse(status=200, body="")
        # One message can arrive as two events (app_mention and message): answer one.
        if (
            message_key
            and should_answer(event, self.bot_user_id)
            and (
                not self._seen.first(("message", *message_key))
                or not await self._first_anywhere("message:{}:{}".format(*message_key))
            )
        ):
            return BoltResponse(status=200, body="")
        return await next()

    async def _first_anywhere(self, key: str) -> bool:
        """Whether no other instance took this event; True when the ledger cannot say
        (a possible second answer beats a silent drop)."""
        if self._claims is None:
            return True
        try:
            return await self._claims.claim_event(f"slack:{key}")
        except Exception as exc:
            log.warning("slack: cannot check %s with the other instances (%s)", key, exc)
            return True

    async def _on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        where = (event.get("channel", ""), event.get("thread_ts") or "")
        if where in self._handed and event.get("user") and not event.get("bot_id"):
            self._spawn(self._staff_talk(body, event, where))
        if should_answer(event, self.bot_user_id):
            self._spawn(self._answer(body, event))

    async def _on_thread_started(self, say: Any, set_suggested_prompts: Any) -> None:
        try:
            await say(self.options.greeting)
            if self.options.suggested_prompts:
                await set_suggested_prompts(prompts=list(self.options.suggested_prompts))
        except SLACK_ERRORS as exc:
            log.warning("slack: could not greet a new assistant thread: %s", api_error(exc))

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        self._spawn(self._command(body, respond))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- answering ------------------------------------------------------------------

    async def _answer(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        assert self._handler is not None and self._semaphore is not None
        msg, target = to_incoming(event, team=event_team(body, event), bot_user_id=self.bot_user_id)
        writer: NativeWriter | UpdateWriter | None = None
        with correlation_scope(msg.correlation_id):
            # The rate check comes first: a flood is told off at once, never queued.
            notice = self._too_fast(target.team, target.user)
            if notice is not None:
                try:
                    if notice:
                        await self._tell(target, notice)
                except Exception:
                    log.exception(
                        "[%s] slack: could not tell %s to slow down", msg.correlation_id, target
                    )
                return
            async with self._semaphore:
                try:
                    writer = self._writer(target)
                    if target.in_assistant_thread:  # the pane shows "is thinking…" at once
                        writer.status.show()
                    msg = await self._with_thread_context(msg, event)
                    reply = await self._handler(msg, writer)
                    blocks = self._feedback_for(reply)
                    if blocks and isinstance(writer, NativeWriter):
                        writer.closing_blocks = blocks  # under the answer, in its message
                    await writer.finish(reply.text, reply.citations, reply.notice)
                    if blocks and not getattr(writer, "closed_with_blocks", False):
                        await self._offer_feedback(target, blocks)
                except Exception:
                    log.exception("[%s] slack: answering %s failed", msg.correlation_id, target)
                    await self._fail(target, writer, msg.correlation_id)

    def _feedback_for(self, reply: Any) -> list[dict[str, Any]] | None:
        """Slack's feedback buttons for an answer, when they are on and it is one."""
        if not self.options.feedback_buttons or reply.outcome == "failed" or reply.model == "none":
            return None
        return feedback_blocks(reply.correlation_id, reply.route)

    async def _offer_feedback(self, target: Target, blocks: list[dict[str, Any]]) -> None:
        """The feedback buttons in a small message of their own, for an answer that went
        out by editing messages (markdown_text cannot carry blocks)."""
        try:
            await self.client.chat_postMessage(
                channel=target.channel, thread_ts=target.thread_ts, text=ASKED, blocks=blocks
            )
        except SLACK_ERRORS as exc:  # the answer is out; only the buttons are missing
            log.warning("slack: could not add the feedback buttons: %s", api_error(exc))

    # --- buttons --------------------------------------------------------------------

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._action(body))

    async def _action(self, body: dict[str, Any]) -> None:
        """A vote, "Ask the detailed model" or "Ask a TA" pressed under an answer."""
        assert self._commands is not None
        correlation_id = new_correlation_id()
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id", ""
        )
        message = body.get("message") or {}
        container = body.get("container") or {}
        thread_ts = (
            message.get("thread_ts") or container.get("thread_ts") or message.get("ts") or None
        )
        for action in body.get("actions") or []:
            parsed = parse_action(action)
            if parsed is None:
                continue
            name, args = parsed
            args = {**args, "conversation": thread_ts or channel}
            if name == "human":
                args["link"] = f"https://slack.com/app_redirect?channel={channel}"
            target = Target(channel, thread_ts, user, team, is_dm=channel.startswith("D"))
            with correlation_scope(correlation_id):
                try:
                    result = await self._commands(
                        CommandRequest(
                            name=name,
                            user=user,
                            channel=channel,
                            platform=PLATFORM,
                            workspace=team,
                            args=args,
                            correlation_id=correlation_id,
                        )
                    )
                    await self._post_outbound(result, (channel, thread_ts or ""))
                    await self._show_result(target, result, args["answer"])
                except Exception:
                    log.exception("[%s] slack: the %s button failed", correlation_id, name)
                    with contextlib.suppress(Exception):
                        await self._tell(target, error_text(correlation_id))

    async def _show_result(self, target: Target, result: CommandResult, answer: str) -> None:
        """A button's outcome: the detailed answer in the thread; the rest to the learner."""
        if result.ok and not result.ephemeral:
            for part in markdown_parts(result.text):
                await self.client.chat_postMessage(
                    channel=target.channel, thread_ts=target.thread_ts, markdown_text=part
                )
            return
        if result.actions and not target.is_dm:
            await self.client.chat_postEphemeral(
                channel=target.channel,
                user=target.user,
                thread_ts=target.thread_ts,
                text=fallback_text(result.text),
                blocks=follow_blocks(neutralise_mentions(result.text), result.actions, answer),
            )
            return
        if result.actions:
            await self.client.chat_postMessage(
                channel=target.channel,
                thread_ts=target.thread_ts,
                text=fallback_text(result.text),
                blocks=follow_blocks(neutralise_mentions(result.text), result.actions, answer),
            )
            return
        await self._tell(target, result.text)

    async def _staff_talk(
        self, body: dict[str, Any], event: dict[str, Any], where: tuple[str, str]
    ) -> None:
        """A reply in a handed-off thread: from the staff user group, it answers the
        hand-off (how long the learner waited goes in the ledger)."""
        group = self._handed.get(where)
        if group is None or self._commands is None:
            return
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SLACK_ERRORS as exc:
            log.warning("slack: cannot read the staff user group: %s", api_error(exc))
            return
        if event.get("user") not in (response.get("users") or []):
            return
        self._handed.pop(where, None)
        await self._commands(
            CommandRequest(
                name="staff.replied",
                user=event.get("user", ""),
                channel=where[0],
                platform=PLATFORM,
                workspace=event_team(body, event),
                args={"conversation": where[1]},
            )
        )

    async def _post_outbound(
        self, result: CommandResult, where: tuple[str, str] | None = None
    ) -> None:
        """Post what a command hands on (a hand-off to staff): the staff user group's
        mention is the one ping, and only in the staff channel."""
        for post in result.outbound:
            if post.platform != PLATFORM:
                continue
            try:
                await self.client.chat_postMessage(
                    channel=post.channel,
                    text=staff_text(post.text, post.mention_role),
                    unfurl_links=False,
                )
                if where is not None and where[1] and post.mention_role:
                    self._handed[where] = post.mention_role
            except SLACK_ERRORS as exc:
                log.error(
                    "slack: could not post the hand-off to %s: %s", post.channel, api_error(exc)
                )

    def _too_fast(self, team: str | None, user: str) -> str | None:
        """None when the learner may ask now; else the notice, or "" if they just had one."""
        wait = self._limiter.acquire((team, user))
        if not wait:
            return None
        # One notice a minute per learner: a flood must not become a flood of replies.
        return rate_limit_notice(wait) if self._noticed.first((team, user)) else ""

    def _writer(self, target: Target) -> NativeWriter | UpdateWriter:
        if (
            self.options.native_streaming
            and target.thread_ts is not None
            and target.team not in self._no_native
        ):
            return NativeWriter(
                self.client,
                target,
                interval=self.options.stream_interval_s,
                update_interval=self.options.update_interval_s,
                on_unsupported=lambda: self._no_native.add(target.team),
            )
        return UpdateWriter(self.client, target, interval=self.options.update_interval_s)

    async def _with_thread_context(
        self, msg: IncomingMessage, event: Mapping[str, Any]
    ) -> IncomingMessage:
        """When the bot joins a running thread, the question comes with what was said
        there, as context apart from the learner's own words."""
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts") or self.options.thread_context_chars <= 0:
            return msg
        try:
            response = await self.client.conversations_replies(
                channel=msg.channel, ts=thread_ts, latest=event["ts"], inclusive=False, limit=200
            )
        except SLACK_ERRORS as exc:
            log.info("[%s] slack: no thread context (%s)", msg.correlation_id, api_error(exc))
            return msg
        context = thread_context(
            response.get("messages") or [],
            before_ts=event["ts"],
            bot_user_id=self.bot_user_id,
            max_chars=self.options.thread_context_chars,
        )
        return dataclasses.replace(msg, context=context) if context else msg

    async def _tell(self, target: Target, text: str) -> None:
        """A short note to the learner only: ephemeral in channels, a reply in DMs."""
        text = neutralise_mentions(text)
        if target.is_dm:
            await self.client.chat_postMessage(
                channel=target.channel, thread_ts=target.thread_ts, markdown_text=text
            )
        else:
            await self.client.chat_postEphemeral(
                channel=target.channel,
                user=target.user,
                thread_ts=target.thread_ts,
                markdown_text=text,
            )

    async def _fail(
        self, target: Target, writer: NativeWriter | UpdateWriter | None, correlation_id: str
    ) -> None:
        try:
            if writer is not None and writer.message_ts:
                await writer.finish(error_text(correlation_id))  # replaces the partial answer
            else:
                await self._tell(target, error_text(correlation_id))
        except Exception:
            log.exception(
                "[%s] slack: could not tell the learner about the failure", correlation_id
            )

    # --- /tutor ---------------------------------------------------------------------

    async def _command(self, body: dict[str, Any], respond: AsyncRespond) -> None:
        correlation_id = new_correlation_id()
        with correlation_scope(correlation_id):
            await self._run_command(body, respond, correlation_id)

    async def _run_command(
        self, body: dict[str, Any], respond: AsyncRespond, correlation_id: str
    ) -> None:
        assert self._handler is not None and self._commands is not None
        user, channel = body.get("user_id", ""), body.get("channel_id", "")
        team = body.get("team_id")
        try:
            parsed = parse_command(body.get("text") or "")
        except UsageError as usage:
            await self._respond(respond, body, [str(usage)])
            return
        try:
            if parsed.name == "ask":
                notice = self._too_fast(team, user)
                if notice is not None:
                    await self._respond(respond, body, [notice or SLOW_DOWN])
                    return
                msg = IncomingMessage(
                    text=parsed.args["text"],
                    user=user,
                    channel=channel,
                    platform=PLATFORM,
                    workspace=team,
                    is_dm=channel.startswith("D"),
                    correlation_id=correlation_id,
                )
                assert self._semaphore is not None
                async with self._semaphore:  # /tutor ask counts against max_concurrency too
                    reply = await self._handler(msg, None)
                parts = with_footer(
                    markdown_parts(reply.text), footer_markdown(reply.citations, reply.notice)
                )
                await self._respond(respond, body, parts)
                return
            moderator = parsed.name in _PRIVILEGED and await self._is_moderator(team, user)
            result = await self._commands(
                CommandRequest(
                    name=parsed.name,
                    user=user,
                    channel=channel,
                    platform=PLATFORM,
                    workspace=team,
                    args=dict(parsed.args),
                    is_moderator=moderator,
                    correlation_id=correlation_id,
                    is_operator=user in self.options.operators,
                )
            )
            await self._post_outbound(result)
            await self._command_result(respond, body, result)
        except Exception:
            log.exception("[%s] slack: /tutor %s failed", correlation_id, parsed.name)
            with contextlib.suppress(Exception):
                await self._respond(respond, body, [error_text(correlation_id)])

    async def _is_moderator(self, team: str | None, user: str) -> bool:
        _ = self.client  # builds the moderator check with the client
        assert self._moderators is not None
        return await self._moderators.check(team, user)

    async def _command_result(
        self, respond: AsyncRespond, body: dict[str, Any], result: CommandResult
    ) -> None:
        await self._respond(respond, body, [result.text], ephemeral=result.ephemeral)
        if result.attachments:
            channel = body.get("channel_id", "")
            if result.ephemeral:  # files cannot be ephemeral: send them privately instead
                opened = await self.client.conversations_open(users=body.get("user_id", ""))
                channel = opened["channel"]["id"]
            for attachment in result.attachments:
                await self.client.files_upload_v2(
                    channel=channel,
                    filename=attachment.filename,
                    title=attachment.filename,
                    content=attachment.data,
                )

    async def _respond(
        self,
        respond: AsyncRespond,
        body: dict[str, Any],
        parts: list[str],
        *,
        ephemeral: bool = True,
    ) -> None:
        """Answer the caller through the response_url, else with chat.postEphemeral.

        ``parts`` are Markdown; a response_url takes no markdown_text, so each goes in a
        ``markdown`` block with an escaped text fallback.
        """
        parts = [p for part in parts for p in markdown_parts(part)]
        if len(parts) > _RESPONSE_URL_USES:
            parts = [*parts[: _RESPONSE_URL_USES - 1], SHORTENED]
        kind = "ephemeral" if ephemeral else "in_channel"
        for part in parts:
            try:
                response = await respond(
                    text=fallback_text(part), blocks=markdown_blocks(part), response_type=kind
                )
                if response.status_code == 200:
                    continue
                log.info("slack: response_url answered %s", response.status_code)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.info("slack: response_url failed (%s)", type(exc).__name__)
            await self.client.chat_postEphemeral(
                channel=body.get("channel_id", ""), user=body.get("user_id", ""), markdown_text=part
            )
