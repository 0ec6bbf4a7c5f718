"""A loopback server speaking Discord's gateway (v10) and the REST routes the bot uses.

The gateway serves HELLO, takes IDENTIFY (checking the token and intents, and the shard
when the client is sharded: then each connection gets only its shard's events, as Discord
routes them), sends READY and GUILD_CREATE, answers heartbeats and dispatches events with
sequence numbers, compressed as zlib-stream when the client asks for it. ``drop()`` cuts
the connection the way Discord's gateway does now and then; a client that RESUMEs gets the events it
missed replayed, then RESUMED (an unknown session is told to identify afresh).
REST checks the bot token, validates messages the way Discord does (2,000 characters,
not empty), records every call, and can be told to answer the next matching call with
a 429.

Tests drive it with ``post_message`` (a learner writes) and ``interact`` (a learner
uses a slash command), then assert on ``calls``: what the bot sent over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.loopback import PATIENCE_S

API = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
MANAGE_GUILD = 1 << 5
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
EPHEMERAL = 1 << 6


@dataclass
class RestCall:
    """One REST request as the server saw it (the body is the JSON payload)."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    files: list[tuple[str, bytes]]
    status: int = 200
    at: float = 0.0  # time.perf_counter() when it arrived

    def matches(self, method: str, pattern: str) -> bool:
        return self.method == method and re.fullmatch(pattern, self.path) is not None


CALL = web.RequestKey("call", RestCall)


@dataclass
class _Failure:
    method: str
    pattern: str
    status: int
    retry_after: float
    count: int


@dataclass
class _Session:
    ws: web.WebSocketResponse
    compressor: Any | None
    intents: int = 0
    seq: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    transport: asyncio.BaseTransport | None = None
    session_id: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)  # dispatches, for RESUME
    shard: tuple[int, int] | None = None  # (shard id, shard count) from IDENTIFY, if sharded

    def serves(self, guild_id: object) -> bool:
        """Whether events of this guild (None: DMs) come to this session, as Discord
        routes them: shard ``(guild_id >> 22) % shard count``, DMs on shard 0."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == ((int(str(guild_id)) >> 22) % count if guild_id else 0)


class DiscordServer:
    def __init__(self, token: str = "test-token", *, guild_id: int | None = None) -> None:
        """``guild_id`` sets the one server's id (its shard is ``(guild_id >> 22) % shards``)."""
        self.token = token
        self._ids = itertools.count(1)
        self.bot = self.user("tutor", bot=True)
        self.app_id = self._snowflake()
        generated = self._snowflake()
        self.guild_id = generated if guild_id is None else guild_id
        self.everyone_role = {"id": str(self.guild_id), "name": "@everyone"}
        self.mentor_role = {"id": str(self._snowflake()), "name": "Mentor"}
        self.channels: dict[int, dict[str, Any]] = {}
        self.help = self.text_channel("help")
        self.general = self.text_channel("general")
        self.messages: dict[int, dict[str, Any]] = {}
        self.calls: list[RestCall] = []
        self.heartbeats = 0
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # RESUME payloads that were accepted
        self.app_flags = 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED: the intent is enabled
        # Registered application commands by scope ("global" or a guild id), as Discord
        # returns them; set it to start with commands an earlier run registered.
        self.synced: dict[str, list[dict[str, Any]]] = {}
        self._interactions: dict[str, dict[str, Any]] = {}
        self._failures: list[_Failure] = []
        self._sessions: list[_Session] = []  # connected now
        self._resumable: dict[str, _Session] = {}  # every identified session, by id
        self.accepting = asyncio.Event()  # cleared: new gateway connections wait for HELLO
        self.accepting.set()
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024**2)
        app.router.add_get("/gateway", self._gateway)
        routes = [
            ("GET", "/users/@me", self._me),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/gateway", self._gateway_info),
            ("GET", "/gateway/bot", self._gateway_info),
            ("GET", "/applications/{app}/commands", self._commands),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self._commands),
            ("PUT", "/applications/{app}/commands", self._sync),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._sync),
            ("GET", "/channels/{channel}", self._get_channel),
            ("POST", "/channels/{channel}/messages", self._create_message),
            ("GET", "/channels/{channel}/messages/{message}", self._get_message),
            ("PATCH", "/channels/{channel}/messages/{message}", self._edit_message),
            ("POST", "/channels/{channel}/typing", self._no_content),
            ("POST", "/channels/{channel}/messages/{message}/threads", self._create_thread),
            (
                "PUT",
                "/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
                self._no_content,
            ),
            ("POST", "/interactions/{interaction}/{token}/callback", self._callback),
            ("GET", "/webhooks/{app}/{token}/messages/@original", self._get_original),
            ("PATCH", "/webhooks/{app}/{token}/messages/@original", self._edit_original),
            ("POST", "/webhooks/{app}/{token}", self._followup),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API + path, handler)
        self._server = TestServer(app, host="127.0.0.1")

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._server.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._server.port}/gateway"

    async def __aenter__(self) -> DiscordServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in self._sessions:
            await session.ws.close()
        await self._server.close()

    # --- building payloads -------------------------------------------------------------

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def user(self, name: str, *, bot: bool = False) -> dict[str, Any]:
        user = {
            "id": str(self._snowflake()),
            "username": name,
            "global_name": name.title(),
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
        }
        return user | ({"bot": True} if bot else {})

    def text_channel(self, name: str) -> dict[str, Any]:
        channel = {
            "id": str(self._snowflake()),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }
        self.channels[int(channel["id"])] = channel
        return channel

    def dm_channel(self, user: dict[str, Any]) -> dict[str, Any]:
        channel = {"id": str(self._snowflake()), "type": 1, "recipients": [user]}
        self.channels[int(channel["id"])] = channel
        return channel

    def guild_payload(self) -> dict[str, Any]:
        role = {
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "permissions": "0",
            "position": 0,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        guild_channels = [c for c in self.channels.values() if c.get("type") in (0, 5)]
        return {
            "id": str(self.guild_id),
            "name": "Course",
            "icon": None,
            "owner_id": self.bot["id"],
            "unavailable": False,
            "member_count": 3,
            "large": False,
            "joined_at": _now(),
            "roles": [role | self.everyone_role, role | self.mentor_role | {"position": 1}],
            "channels": guild_channels,
            "threads": [c for c in self.channels.values() if c.get("type") == 11],
            "members": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "features": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "premium_tier": 0,
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "afk_timeout": 300,
        }

    def _message(
        self,
        channel_id: int,
        author: dict[str, Any],
        content: str,
        *,
        mentions: Sequence[dict[str, Any]] = (),
        reply_to: int | None = None,
        attachments: Sequence[dict[str, Any]] = (),
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        channel = self.channels.get(channel_id, {})
        message: dict[str, Any] = {
            "id": str(self._snowflake()),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": list(mentions),
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "pinned": False,
            "type": 19 if reply_to else 0,
            "flags": 0,
            "components": [],
        }
        if "guild_id" in channel:
            message["guild_id"] = channel["guild_id"]
            message["member"] = {"roles": [], "joined_at": _now(), "deaf": False, "mute": False}
        if reply_to is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            } | ({"guild_id": channel["guild_id"]} if "guild_id" in channel else {})
            if reply_to in self.messages:
                message["referenced_message"] = self.messages[reply_to]
        message |= extra or {}
        self.messages[int(message["id"])] = message
        return message

    # --- what tests do -------------------------------------------------------------------

    async def post_message(
        self,
        content: str,
        *,
        author: dict[str, Any],
        channel: dict[str, Any] | None = None,
        mention_bot: bool = False,
        reply_to: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message appears in a channel (MESSAGE_CREATE on the gateway)."""
        channel = channel or self.help
        mentions = [self.bot] if mention_bot else []
        if mention_bot and f"<@{self.bot['id']}>" not in content:
            content = f"<@{self.bot['id']}> {content}"
        message = self._message(
            int(channel["id"]), author, content, mentions=mentions, reply_to=reply_to, extra=extra
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def interact(
        self,
        path: Sequence[str],
        options: dict[str, Any] | None = None,
        *,
        user: dict[str, Any],
        channel: dict[str, Any] | None = None,
        permissions: int = 0,
        roles: Iterable[str] = (),
        autocomplete: str | None = None,
    ) -> str:
        """A learner runs ``/tutor <path...>`` (or types into ``autocomplete``'s option).

        Returns the interaction token, the key to its responses.
        """
        channel = channel or self.help
        leaf: list[dict[str, Any]] = []
        resolved: dict[str, dict[str, Any]] = {}
        for name, value in (options or {}).items():
            option = {"name": name, "type": 3, "value": value}
            if isinstance(value, dict):  # a user option: the id, with the user resolved
                option |= {"type": 6, "value": value["id"]}
                resolved.setdefault("users", {})[value["id"]] = value
            elif isinstance(value, bool):
                option["type"] = 5
            elif isinstance(value, int):
                option["type"] = 4
            if name == autocomplete:
                option["focused"] = True
            leaf.append(option)
        *groups, command = path
        tree: list[dict[str, Any]] = [{"name": command, "type": 1, "options": leaf}]
        for group in reversed(groups):
            tree = [{"name": group, "type": 2, "options": tree}]
        data = {
            "id": str(self.app_id + 1),
            "name": "tutor",
            "type": 1,
            "options": tree,
            "resolved": resolved,
        }
        kind = 4 if autocomplete else 2
        return await self._interact(kind, channel, user, roles, str(permissions), data)

    async def press(
        self,
        message: dict[str, Any] | int,
        custom_id: str,
        *,
        user: dict[str, Any],
        roles: Iterable[str] = (),
    ) -> str:
        """A learner presses the button ``custom_id`` under a message (a component
        interaction). Returns the interaction token, the key to its responses."""
        stored = self.messages[int(message["id"] if isinstance(message, dict) else message)]
        channel = self.channels[int(stored["channel_id"])]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, channel, user, roles, "0", data, message=stored)

    async def _interact(
        self,
        kind: int,
        channel: dict[str, Any],
        user: dict[str, Any],
        roles: Iterable[str],
        permissions: str,
        data: dict[str, Any],
        **extra: Any,
    ) -> str:
        """Dispatch an INTERACTION_CREATE of ``kind`` (2 command, 3 component, 4
        autocomplete) by a server member; returns its token."""
        token = secrets.token_urlsafe(24)
        interaction = {
            "id": str(self._snowflake()),
            "application_id": str(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": channel["id"],
            "channel": channel,
            "member": {
                "user": user,
                "roles": list(roles),
                "permissions": permissions,
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            },
            **extra,
            "data": data,
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024**2,
        }
        self._interactions[token] = {"id": interaction["id"], "channel": channel, "original": None}
        await self.dispatch("INTERACTION_CREATE", interaction)
        return token

    def response_message(self, token: str) -> int:
        """The id of an interaction's response message (where its buttons are)."""
        original = self._interaction(token)["original"]
        assert original is not None, "the interaction has no response message"
        return int(original)

    def buttons(self, message: dict[str, Any] | int) -> list[str]:
        """The custom ids of the buttons under a message, as the bot last sent them."""
        stored = self.messages[int(message["id"] if isinstance(message, dict) else message)]
        return [
            button["custom_id"]
            for row in stored.get("components") or []
            for button in row.get("components", [])
            if "custom_id" in button
        ]

    async def connected(self, *, within: float = PATIENCE_S, sessions: int = 1) -> None:
        """Wait until ``sessions`` connections (a client, or its shards) have identified:
        they get events from then on."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self._sessions) >= sessions)

    async def drop(self, code: int | None = 4000) -> None:
        """Cut every gateway connection: a close frame with ``code`` (4000: "unknown
        error", which clients resume after), or with None a dead TCP connection."""
        for session in list(self._sessions):
            if code is None:
                if session.transport is not None:
                    session.transport.abort()
            else:
                await session.ws.close(code=code, message=b"simulated disconnect")
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: not self._sessions)

    def forget_sessions(self) -> None:
        """Sessions can no longer be resumed (a client must IDENTIFY again)."""
        self._resumable.clear()

    async def resumed(self, count: int = 1, *, within: float = PATIENCE_S) -> None:
        """Wait until ``count`` RESUMEs have been accepted and replayed."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.resumes) >= count)

    def fail_next(
        self,
        method: str,
        pattern: str,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls matching ``method`` and ``pattern`` with ``status``."""
        self._failures.append(_Failure(method, pattern, status, retry_after, count))

    async def wait_for(
        self, predicate: Callable[[RestCall], bool], *, count: int = 1, within: float = PATIENCE_S
    ) -> list[RestCall]:
        """Wait until ``count`` recorded calls satisfy ``predicate``; returns them.

        Raises TimeoutError after ``within`` seconds (a safety net, not a timing check).
        """

        def found() -> list[RestCall]:
            return [c for c in self.calls if predicate(c)]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count)
        return found()

    def sends(self, channel: dict[str, Any] | int | None = None) -> list[RestCall]:
        """Successful message creations, optionally in one channel."""
        wanted = (
            None
            if channel is None
            else str(channel["id"] if isinstance(channel, dict) else channel)
        )
        return [
            c
            for c in self.calls
            if c.matches("POST", r"/channels/\d+/messages")
            and c.status == 200
            and (wanted is None or c.path.split("/")[2] == wanted)
        ]

    def callbacks(self, token: str) -> list[RestCall]:
        return [c for c in self.calls if c.path.startswith("/interactions/") and token in c.path]

    def webhook_calls(self, token: str) -> list[RestCall]:
        return [c for c in self.calls if c.path.startswith("/webhooks/") and token in c.path]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to every identified session that would receive it.

        A session whose connection dropped keeps its events, for when it resumes.
        """
        for session in list(self._resumable.values()):
            await session.ready.wait()
            if not session.serves(data.get("guild_id")):
                continue
            payload = self._filtered(session, event, data)
            if payload is None:
                continue
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": payload}
            session.history.append(frame)
            await self._send(session, frame)

    def _filtered(
        self, session: _Session, event: str, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Apply intents as Discord does: no message events without them, no content
        without the Message Content intent (unless the bot is mentioned, a DM, or the author)."""
        if not event.startswith("MESSAGE_"):
            return data
        is_dm = "guild_id" not in data
        needed = INTENT_DIRECT_MESSAGES if is_dm else INTENT_GUILD_MESSAGES
        if not session.intents & needed:
            return None
        mentioned = any(u["id"] == self.bot["id"] for u in data.get("mentions", []))
        own = data.get("author", {}).get("id") == self.bot["id"]
        if session.intents & INTENT_MESSAGE_CONTENT or is_dm or mentioned or own:
            return data
        return data | {"content": "", "attachments": [], "embeds": []}

    # --- REST -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[..., Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)
        path = request.path[len(API) :]
        body, files = await _read_body(request)
        call = RestCall(
            request.method, path, dict(request.query), body, files, at=time.perf_counter()
        )
        webhook = path.startswith(("/webhooks/", "/interactions/"))
        if not webhook and request.headers.get("Authorization") != f"Bot {self.token}":
            response: web.StreamResponse = _error(401, 0, "401: Unauthorized").response
        elif (failure := self._take_failure(call)) is not None:
            response = (
                _rate_limited(failure)
                if failure.status == 429
                else _error(failure.status, 0, "simulated failure").response
            )
        else:
            request[CALL] = call
            try:
                response = await handler(request)
            except _Reject as exc:
                response = exc.response
        call.status = response.status
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return response

    def _take_failure(self, call: RestCall) -> _Failure | None:
        for failure in self._failures:
            if failure.count > 0 and call.matches(failure.method, failure.pattern):
                failure.count -= 1
                return failure
        return None

    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.bot)

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.app_id),
                "name": "Tutor",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.user("owner"),
                "verify_key": "0" * 64,
                "flags": self.app_flags,
                "team": None,
            }
        )

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _commands(self, request: web.Request) -> web.Response:
        self._application_scope(request)
        return _json(self.synced.get(request.match_info.get("guild", "global"), []))

    async def _sync(self, request: web.Request) -> web.Response:
        """A bulk overwrite: the commands as Discord keeps them, ids and defaults filled in."""
        self._application_scope(request)
        guild = request.match_info.get("guild")
        commands = [
            _registered(command)
            | {
                "id": str(self._snowflake()),
                "application_id": str(self.app_id),
                "version": str(self._snowflake()),
            }
            | ({"guild_id": guild} if guild else {})
            for command in request[CALL].json
        ]
        self.synced[guild or "global"] = commands
        return _json(commands)

    def _application_scope(self, request: web.Request) -> None:
        if request.match_info["app"] != str(self.app_id):
            raise _error(403, 50001, "Missing Access")
        guild = request.match_info.get("guild")
        if guild is not None and guild != str(self.guild_id):
            raise _error(403, 50001, "Missing Access")

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel(request))

    def _channel(self, request: web.Request) -> dict[str, Any]:
        channel = self.channels.get(int(request.match_info["channel"]))
        if channel is None:
            raise _error(404, 10003, "Unknown Channel")
        return channel

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = request[CALL].json or {}
        _validate_message(body, request[CALL].files)
        reference = body.get("message_reference") or {}
        reply_to = int(reference["message_id"]) if reference.get("message_id") else None
        if (
            reply_to is not None
            and reply_to not in self.messages
            and reference.get("fail_if_not_exists", True)
        ):
            raise _error(400, 50035, "Invalid Form Body: Unknown message")
        message = self._message(
            int(channel["id"]),
            self.bot,
            body.get("content", ""),
            reply_to=reply_to if reply_to in self.messages else None,
            attachments=self._attachments(request[CALL].files),
            extra={"components": body.get("components") or []},
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return _json(message)

    async def _get_message(self, request: web.Request) -> web.Response:
        return _json(self._stored(request.match_info["message"]))

    def _stored(self, message_id: str) -> dict[str, Any]:
        message = self.messages.get(int(message_id))
        if message is None:
            raise _error(404, 10008, "Unknown Message")
        return message

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._stored(request.match_info["message"])
        if message["author"]["id"] != self.bot["id"]:
            raise _error(403, 50005, "Cannot edit a message authored by another user")
        message = self._edited(message, request)
        await self.dispatch("MESSAGE_UPDATE", message)
        return _json(message)

    def _edited(self, message: dict[str, Any], request: web.Request) -> dict[str, Any]:
        body = request[CALL].json or {}
        if "content" in body:
            message["content"] = body["content"] or ""
        if "attachments" in body:
            message["attachments"] = self._attachments(request[CALL].files)
        if "components" in body:
            message["components"] = body["components"] or []
        if (
            not message["content"]
            and not message["attachments"]
            and not message.get("flags", 0) & 128
        ):
            raise _error(400, 50006, "Cannot send an empty message")
        _validate_message(message, ())
        message["edited_timestamp"] = _now()
        return message

    def _attachments(self, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        return [
            {
                "id": str(self._snowflake()),
                "filename": name,
                "size": len(data),
                "url": f"http://127.0.0.1:{self._server.port}/attachments/{name}",
                "proxy_url": f"http://127.0.0.1:{self._server.port}/attachments/{name}",
            }
            for name, data in files
        ]

    async def _no_content(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    async def _create_thread(self, request: web.Request) -> web.Response:
        parent = self._channel(request)
        message = self._stored(request.match_info["message"])
        body = request[CALL].json or {}
        name = body.get("name", "")
        if not 1 <= len(name) <= 100:
            raise _error(400, 50035, "Invalid Form Body: name")
        thread = {
            "id": message["id"],  # a thread started from a message shares its id
            "type": 11,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot["id"],
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": _now(),
                "locked": False,
            },
            "member": {
                "id": message["id"],
                "user_id": self.bot["id"],
                "join_timestamp": _now(),
                "flags": 0,
            },
        }
        self.channels[int(thread["id"])] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return _json(thread, status=201)

    # --- interactions ------------------------------------------------------------------------

    def _interaction(self, token: str) -> dict[str, Any]:
        state = self._interactions.get(token)
        if state is None:
            raise _error(404, 10062, "Unknown interaction")
        return state

    async def _callback(self, request: web.Request) -> web.Response:
        state = self._interaction(request.match_info["token"])
        if state.get("answered"):
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        body = request[CALL].json or {}
        kind, data = body.get("type"), body.get("data") or {}
        state["answered"] = True
        resource: dict[str, Any] = {"type": kind}
        ephemeral = bool(data.get("flags", 0) & EPHEMERAL)
        if kind in (4, 5):
            if kind == 4:
                _validate_message(data, request[CALL].files)
            message = self._message(
                int(state["channel"]["id"]),
                self.bot,
                data.get("content", "") if kind == 4 else "",
                attachments=self._attachments(request[CALL].files),
                extra={
                    "webhook_id": str(self.app_id),
                    "application_id": str(self.app_id),
                    "flags": (EPHEMERAL if ephemeral else 0) | (128 if kind == 5 else 0),
                    "components": data.get("components") or [],
                },
            )
            state["original"] = int(message["id"])
            resource["message"] = message
        return _json(
            {
                "interaction": {
                    "id": state["id"],
                    "type": 2,
                    "response_message_id": str(state["original"]) if state["original"] else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": resource,
            }
        )

    async def _get_original(self, request: web.Request) -> web.Response:
        state = self._interaction(request.match_info["token"])
        return _json(self._stored(str(state["original"])))

    async def _edit_original(self, request: web.Request) -> web.Response:
        state = self._interaction(request.match_info["token"])
        if state["original"] is None:
            raise _error(404, 10008, "Unknown Message")
        message = self._edited(self._stored(str(state["original"])), request)
        message["flags"] = message.get("flags", 0) & ~128  # no longer "thinking"
        return _json(message)

    async def _followup(self, request: web.Request) -> web.Response:
        state = self._interaction(request.match_info["token"])
        if not state.get("answered"):
            raise _error(400, 40060, "Interaction has not been acknowledged.")
        body = request[CALL].json or {}
        _validate_message(body, request[CALL].files)
        message = self._message(
            int(state["channel"]["id"]),
            self.bot,
            body.get("content", ""),
            attachments=self._attachments(request[CALL].files),
            extra={
                "webhook_id": str(self.app_id),
                "flags": body.get("flags", 0),
                "components": body.get("components") or [],
            },
        )
        return _json(message)

    # --- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            await ws.close(code=4000, message=b"Unsupported compression")
            return ws
        session = _Session(
            ws, zlib.compressobj() if compress else None, transport=request.transport
        )
        await self.accepting.wait()
        await self._send(
            session, {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
        )
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                session = await self._on_gateway(session, json.loads(frame.data))
        finally:
            async with self._changed:
                if session in self._sessions and session.ws is ws:
                    self._sessions.remove(session)
                self._changed.notify_all()
        return ws

    async def _on_gateway(self, session: _Session, payload: dict[str, Any]) -> _Session:
        """Handle one client frame; returns the session the connection serves from now on."""
        op, data = payload.get("op"), payload.get("d")
        if op == 1:  # heartbeat
            self.heartbeats += 1
            await self._send(session, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:  # identify
            self.identifies.append(data)
            if data.get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return session
            shard = data.get("shard")
            if shard is not None:
                if not (
                    isinstance(shard, list)
                    and len(shard) == 2
                    and all(isinstance(n, int) for n in shard)
                    and 0 <= shard[0] < shard[1]
                ):
                    await session.ws.close(code=4010, message=b"Invalid shard.")
                    return session
                session.shard = (shard[0], shard[1])
            session.intents = int(data.get("intents", 0))
            session.session_id = secrets.token_hex(16)
            session.seq += 1
            ours = session.serves(self.guild_id)
            ready = {
                "v": 10,
                "user": self.bot,
                "guilds": [{"id": str(self.guild_id), "unavailable": True}] if ours else [],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 1 << 19},
                "private_channels": [],
                "relationships": [],
                "shard": list(session.shard or (0, 1)),
            }
            await self._send(session, {"op": 0, "t": "READY", "s": session.seq, "d": ready})
            if ours:
                session.seq += 1
                payload = {"op": 0, "t": "GUILD_CREATE", "s": session.seq}
                await self._send(session, payload | {"d": self.guild_payload()})
            async with self._changed:
                self._sessions.append(session)
                self._resumable[session.session_id] = session
                self._changed.notify_all()
            session.ready.set()
        elif op == 6:  # resume: replay what the session missed, then RESUMED
            return await self._resume(session, data or {})
        return session

    async def _resume(self, connection: _Session, data: dict[str, Any]) -> _Session:
        if data.get("token") != self.token:
            await connection.ws.close(code=4004, message=b"Authentication failed.")
            return connection
        session = self._resumable.get(str(data.get("session_id")))
        if session is None or (data.get("seq") or 0) > session.seq:
            await self._send(connection, {"op": 9, "d": False, "s": None, "t": None})
            return connection
        session.ws, session.compressor = connection.ws, connection.compressor
        session.transport = connection.transport
        for frame in session.history:
            if frame["s"] > (data.get("seq") or 0):
                await self._send(session, frame)
        session.seq += 1
        await self._send(session, {"op": 0, "t": "RESUMED", "s": session.seq, "d": {}})
        async with self._changed:
            self._sessions.append(session)
            self.resumes.append(data)
            self._changed.notify_all()
        return session

    async def _send(self, session: _Session, payload: dict[str, Any]) -> None:
        """Send one frame; on a dead connection it is lost (a RESUME replays dispatches)."""
        text = json.dumps(payload)
        if session.ws.closed:
            return
        try:
            if session.compressor is None:
                await session.ws.send_str(text)
            else:
                data = session.compressor.compress(text.encode()) + session.compressor.flush(
                    zlib.Z_SYNC_FLUSH
                )
                await session.ws.send_bytes(data)
        except ConnectionResetError:
            return


# --- helpers -----------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _registered(command: dict[str, Any]) -> dict[str, Any]:
    """A command or option as Discord returns it: nulls and defaults filled in, a false
    ``required`` or ``autocomplete`` and an empty ``options`` list left out."""
    out = {k: v for k, v in command.items() if v is not None}
    for flag in ("required", "autocomplete"):
        if out.get(flag) is False:
            del out[flag]
    if "options" in out:
        out["options"] = [_registered(option) for option in out["options"]]
        if not out["options"]:
            del out["options"]
    if "description" in out and "type" in out and "dm_permission" in out:  # a command
        out = {
            "default_member_permissions": None,
            "name_localizations": None,
            "description_localizations": None,
            "contexts": None,
            "integration_types": [0],
            "nsfw": False,
        } | out
        if out["default_member_permissions"] is not None:
            out["default_member_permissions"] = str(out["default_member_permissions"])
    return out


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with Discord's exact content type (discord.py checks it verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json"} | (headers or {}),
    )


class _Reject(Exception):
    """Raised by a route to answer with a Discord error instead."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> _Reject:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return _Reject(_json(body, status=status))


def _rate_limited(failure: _Failure) -> web.Response:
    """A per-route 429 the way Discord sends it (discord.py retries only with a Via header)."""
    body = {
        "message": "You are being rate limited.",
        "retry_after": failure.retry_after,
        "global": False,
    }
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(failure.retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": str(failure.retry_after),
        "X-RateLimit-Bucket": "loopback-bucket",
        "X-RateLimit-Scope": "user",
    }
    return _json(body, status=429, headers=headers)


def _validate_message(body: dict[str, Any], files: Sequence[tuple[str, bytes]]) -> None:
    content = body.get("content") or ""
    if len(content) > 2000:
        raise _error(
            400,
            50035,
            "Invalid Form Body",
            {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}},
        )
    if not content.strip() and not files and not body.get("embeds"):
        raise _error(400, 50006, "Cannot send an empty message")


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """The JSON payload of a request and its files (multipart: payload_json + files[n])."""
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "payload_json":
                payload = json.loads(data)
            elif part.filename:
                files.append((part.filename, bytes(data)))
        return payload, files
    text = await request.text()
    return (json.loads(text) if text else None), []
