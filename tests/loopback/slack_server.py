"""A loopback Slack: the Web API, a Socket Mode WebSocket, response URLs and file uploads.

slack_sdk and slack-bolt talk to it exactly as to slack.com: ``AsyncWebClient(base_url=
server.api_url)`` for the Web API, and ``apps.connections.open`` hands out this server's
WebSocket URL for Socket Mode. It keeps the messages the bot posted (streamed ones too) so
tests can read a thread as a person in Slack would, records every call, can answer a
method with scripted failures (a 429 with Retry-After), and delivers event envelopes over
the WebSocket, timing and checking the acknowledgements.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.loopback import PATIENCE_S

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM = "T0TEST"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
# What the README's app manifest grants; auth.test reports them in X-OAuth-Scopes.
MANIFEST_SCOPES = (
    "app_mentions:read,assistant:write,chat:write,commands,files:write,channels:history,"
    "groups:history,im:history,mpim:history,im:write,users:read"
)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float  # time.perf_counter() on arrival


@dataclass
class Message:
    """A message as a person would see it in the channel."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    user: str | None = BOT_USER
    bot_id: str | None = BOT_ID
    streaming: bool = False
    blocks: list[Any] = field(default_factory=list)


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    latency_s: float


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class SlackServer:
    """``async with SlackServer() as slack:`` then point the bot at ``slack.api_url``."""

    def __init__(self, *, streaming: bool = True) -> None:
        self.streaming = streaming  # False: the workspace has no native streaming methods
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}  # user group id -> member ids
        self.responses: list[dict[str, Any]] = []  # posted to response_url
        self.uploads: dict[str, bytes] = {}
        self.acks: list[Ack] = []
        self.failures: dict[str, list[Failure]] = {}
        self.connections = 0
        self.scopes = MANIFEST_SCOPES  # the bot token's granted scopes
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._socket: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._pending_acks: dict[str, tuple[float, asyncio.Future[Ack]]] = {}
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._websocket)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_post("/upload/{id}", self._upload)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    async def __aenter__(self) -> SlackServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        await self._server.close()

    # --- what tests look at -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """An app holds the Socket Mode connection."""
        return self._connected.is_set()

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str | None) -> list[Message]:
        """The bot's messages in a thread (None: top-level in the channel), oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel and m.thread_ts == thread_ts and m.bot_id
            ),
            key=lambda m: float(m.ts),
        )

    def wire_text(self) -> str:
        """Everything the bot sent, for checks that something never went out."""
        return "\n".join(json.dumps(c.args, ensure_ascii=False) for c in self.calls) + "\n".join(
            json.dumps(r, ensure_ascii=False) for r in self.responses
        )

    async def wait_for(self, predicate: Callable[[], Any], within_s: float = PATIENCE_S) -> Any:
        """Wait until ``predicate()`` is truthy (rechecked after every call the bot makes)."""
        async with asyncio.timeout(within_s), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result

    def fail(self, method: str, *failures: Failure) -> None:
        """Answer the next calls to ``method`` with these failures, then normally."""
        self.failures.setdefault(method, []).extend(failures)

    def add_user(self, user: str, *, admin: bool = False, owner: bool = False) -> None:
        self.users[user] = {"id": user, "team_id": TEAM, "is_admin": admin, "is_owner": owner}

    def add_message(
        self, channel: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> Message:
        """A message a person wrote (for conversations.replies)."""
        message = Message(channel, self._next_ts(), text, thread_ts, user=user, bot_id=None)
        self.messages[message.ts] = message
        return message

    def next_ts(self) -> str:
        return self._next_ts()

    # --- Socket Mode ------------------------------------------------------------------

    async def drop(self) -> None:
        """Close the Socket Mode connection from Slack's side (the app should reconnect)."""
        if self._socket is not None:
            await self._socket.close(code=1001, message=b"going away")
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: not self._connected.is_set())

    async def deliver(
        self,
        payload: Mapping[str, Any],
        *,
        kind: str = "events_api",
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str | None = None,
    ) -> asyncio.Future[Ack]:
        """Send one envelope to the connected app; the future resolves with its ack."""
        await asyncio.wait_for(self._connected.wait(), 10)
        assert self._socket is not None
        envelope_id = envelope_id or uuid.uuid4().hex
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = (time.perf_counter(), future)
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": dict(payload),
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason or ("timeout" if retry_attempt else ""),
        }
        await self._socket.send_str(json.dumps(envelope))
        return future

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if request.query.get("ticket") != "ok":
            await ws.close(code=4001, message=b"bad ticket")
            return ws
        self._socket = ws
        self.connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": "A0TEST"},
                "debug_info": {"host": "loopback", "approximate_connection_time": 18060},
            }
        )
        self._connected.set()
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            pending = self._pending_acks.pop(data.get("envelope_id", ""), None)
            if pending is None:
                continue
            sent_at, future = pending
            ack = Ack(data["envelope_id"], data.get("payload"), time.perf_counter() - sent_at)
            self.acks.append(ack)
            if not future.done():
                future.set_result(ack)
        if self._socket is ws:  # not replaced by a newer connection meanwhile
            self._connected.clear()
        await self._notify()
        return ws

    # --- HTTP endpoints -----------------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json() | {"_id": request.match_info["id"]})
        await self._notify()
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                args |= await request.json()
            else:
                args |= dict(parse_qsl(await request.text()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        self.calls.append(Call(method, args, token, time.perf_counter()))
        try:
            return await self._answer(method, args, token)
        finally:
            await self._notify()

    async def _answer(self, method: str, args: dict[str, Any], token: str | None) -> web.Response:
        queued = self.failures.get(method)
        if queued:
            failure = queued.pop(0)
            body = {"ok": False, "error": failure.error or "ratelimited"}
            return web.json_response(body, status=failure.status, headers=failure.headers)
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return _error("invalid_auth")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None or (
            method.startswith("chat.") and "Stream" in method and not self.streaming
        ):
            return _error("unknown_method")
        return handler(args)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1700000000 + n}.{n:06d}"

    # --- Web API methods ----------------------------------------------------------------

    def _m_auth_test(self, args: dict[str, Any]) -> web.Response:
        response = _ok(
            url="https://loopback.slack.test/",
            team="Loopback",
            user="tutor",
            team_id=TEAM,
            user_id=BOT_USER,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )
        response.headers["X-OAuth-Scopes"] = self.scopes
        return response

    def _m_apps_connections_open(self, args: dict[str, Any]) -> web.Response:
        return _ok(url=f"ws://127.0.0.1:{self._server.port}/link?ticket=ok")

    def _m_chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        if not args.get("channel"):
            return _error("channel_not_found")
        text, error = _message_text(args)
        if error:
            return _error(error)
        message = Message(args["channel"], self._next_ts(), text, args.get("thread_ts") or None)
        message.blocks = list(args.get("blocks") or [])
        self.messages[message.ts] = message
        return _ok(channel=message.channel, ts=message.ts, message={"text": text, "ts": message.ts})

    def _m_chat_update(self, args: dict[str, Any]) -> web.Response:
        message = self.messages.get(args.get("ts", ""))
        if message is None or message.channel != args.get("channel"):
            return _error("message_not_found")
        text, error = _message_text(args)
        if error:
            return _error(error)
        message.text = text
        message.streaming = False
        return _ok(channel=message.channel, ts=message.ts, text=text)

    def _m_chat_delete(self, args: dict[str, Any]) -> web.Response:
        if self.messages.pop(args.get("ts", ""), None) is None:
            return _error("message_not_found")
        return _ok(channel=args.get("channel"), ts=args.get("ts"))

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> web.Response:
        if not args.get("user") or not args.get("channel"):
            return _error("invalid_arguments")
        _, error = _message_text(args)
        if error:
            return _error(error)
        return _ok(message_ts=self._next_ts())

    def _m_chat_startStream(self, args: dict[str, Any]) -> web.Response:
        channel = args.get("channel", "")
        if not args.get("thread_ts"):
            return _error("invalid_arguments")
        if not channel.startswith("D") and not (
            args.get("recipient_user_id") and args.get("recipient_team_id")
        ):
            return _error("missing_recipient_user_id")
        text = _stream_text(args)
        if len(text) > 12000:
            return _error("msg_too_long")
        message = Message(channel, self._next_ts(), text, args["thread_ts"], streaming=True)
        self.messages[message.ts] = message
        return _ok(channel=channel, ts=message.ts)

    def _m_chat_appendStream(self, args: dict[str, Any]) -> web.Response:
        message = self.messages.get(args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        if not message.streaming:
            return _error("message_not_in_streaming_state")
        message.text += _stream_text(args)
        return _ok(channel=message.channel, ts=message.ts)

    def _m_chat_stopStream(self, args: dict[str, Any]) -> web.Response:
        message = self.messages.get(args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        if not message.streaming:
            return _error("message_not_in_streaming_state")
        message.text += _stream_text(args)
        message.streaming = False
        message.blocks = list(args.get("blocks") or [])
        return _ok(channel=message.channel, ts=message.ts)

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> web.Response:
        group = self.usergroups.get(args.get("usergroup", ""))
        return _ok(users=group) if group is not None else _error("no_such_subteam")

    def _m_users_info(self, args: dict[str, Any]) -> web.Response:
        user = self.users.get(args.get("user", ""))
        return _ok(user=user) if user else _error("user_not_found")

    def _m_conversations_replies(self, args: dict[str, Any]) -> web.Response:
        root, latest = args.get("ts", ""), float(args.get("latest") or "inf")
        found = [
            m
            for m in self.messages.values()
            if m.channel == args.get("channel")
            and (m.ts == root or m.thread_ts == root)
            and float(m.ts) <= latest
        ]
        found.sort(key=lambda m: float(m.ts))
        if not found:
            return _error("thread_not_found")
        return _ok(
            messages=[
                {"ts": m.ts, "text": m.text, "user": m.user}
                | ({"bot_id": m.bot_id} if m.bot_id else {})
                | ({"thread_ts": m.thread_ts} if m.thread_ts else {})
                for m in found
            ],
            has_more=False,
        )

    def _m_conversations_open(self, args: dict[str, Any]) -> web.Response:
        return _ok(channel={"id": "D" + args.get("users", "").removeprefix("U")})

    def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> web.Response:
        return _ok()

    def _m_assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> web.Response:
        return _ok()

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> web.Response:
        file_id = "F" + uuid.uuid4().hex[:8].upper()
        return _ok(upload_url=f"{self.base_url}/upload/{file_id}", file_id=file_id)

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> web.Response:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        return _ok(files=[{"id": f["id"], "title": f.get("title")} for f in files])


def _message_text(args: Mapping[str, Any]) -> tuple[str, str | None]:
    """A message's text from ``text`` (mrkdwn) or ``markdown_text``, or Slack's error.

    markdown_text takes up to 12,000 characters and goes with neither text nor blocks.
    """
    markdown, text = args.get("markdown_text"), args.get("text")
    if markdown is not None:
        if text or args.get("blocks"):
            return "", "markdown_text_conflict"
        return markdown, "msg_too_long" if len(markdown) > 12000 else None
    text = text or ""
    if not text and not args.get("blocks"):
        return "", "no_text"
    return text, "msg_too_long" if len(text) > 4000 else None


def _stream_text(args: Mapping[str, Any]) -> str:
    text = args.get("markdown_text") or ""
    for chunk in args.get("chunks") or []:
        if isinstance(chunk, Mapping) and chunk.get("type") == "markdown_text":
            text += chunk.get("text", "")
    return text


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


# --- payloads as Slack sends them ---------------------------------------------------------


def event_callback(event: Mapping[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The Events API body around one event."""
    return {
        "token": "verification-token",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }


def mention(
    text: str, *, ts: str, user: str = "U0LEARNER", channel: str = "C0COURSE", thread_ts=None
) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": TEAM,
    }
    return event | ({"thread_ts": thread_ts} if thread_ts else {})


def direct_message(
    text: str, *, ts: str, user: str = "U0LEARNER", channel: str = "D0LEARNER", thread_ts=None
) -> dict[str, Any]:
    event = {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": TEAM,
    }
    return event | ({"thread_ts": thread_ts} if thread_ts else {})


def slash_command(
    server: SlackServer, text: str, *, user: str = "U0LEARNER", channel: str = "C0COURSE"
) -> dict[str, Any]:
    """A ``/tutor`` invocation's form fields, with a response_url on ``server``."""
    command_id = uuid.uuid4().hex[:8]
    return {
        "token": "verification-token",
        "team_id": TEAM,
        "team_domain": "loopback",
        "channel_id": channel,
        "channel_name": "course",
        "user_id": user,
        "user_name": "learner",
        "command": "/tutor",
        "text": text,
        "api_app_id": "A0TEST",
        "response_url": f"{server.base_url}/respond/{command_id}",
        "trigger_id": f"trigger.{command_id}",
    }
