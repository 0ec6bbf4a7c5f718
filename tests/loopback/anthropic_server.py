"""A loopback server speaking Anthropic's Messages API (streaming SSE, prompt caching).

Tokens are words. Prompt caching is modelled as Anthropic documents it: each
``cache_control`` breakpoint names the prefix up to and including its block; the longest
prefix seen before is read from the cache, the rest up to the last breakpoint is written
to it, and what follows is plain input. ``usages`` keeps every usage the server reported.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
MODELS = ("claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5", "claude-haiku-4-5-20251001")
ALIASES = {"claude-haiku-4-5": "claude-haiku-4-5-20251001"}


@dataclass
class AnthropicBehaviour:
    text: str = "Claude explains it step by step."
    # HTTP statuses to answer with, one per request, before answering normally.
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = "0"
    # An ``event: error`` of this type after ``error_after`` words, once.
    error_mid_stream: str | None = None
    error_after: int = 2
    delay_first: float = 0.0
    stop_reason: str = "end_turn"
    # Adaptive thinking: a thinking block streamed before the answer (billed as output).
    thinking: str | None = None


class AnthropicServer:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key  # set: other keys get a 401, as Anthropic answers them
        self.behaviour = AnthropicBehaviour()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.usages: list[dict[str, int]] = []
        self._cache: set[str] = set()
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models/{model}", self._model)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    async def __aenter__(self) -> AnthropicServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    def _refused(self, request: web.Request) -> web.Response | None:
        # The API takes the key as ``x-api-key``; newer SDKs send it as a bearer token.
        sent = request.headers.get("x-api-key") or request.headers.get("Authorization", "")
        if self.api_key is None or sent.removeprefix("Bearer ") == self.api_key:
            return None
        return _error(401, "invalid x-api-key")

    async def _model(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if (refused := self._refused(request)) is not None:
            return refused
        name = request.match_info["model"]
        model = ALIASES.get(name, name)
        if model not in MODELS:
            return _error(404, f"model: {name}")
        created = "2026-10-07T00:00:00Z"
        return web.json_response(
            {"type": "model", "id": model, "display_name": model, "created_at": created}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if (refused := self._refused(request)) is not None:
            return refused
        b = self.behaviour
        if b.statuses:
            status = b.statuses.pop(0)
            headers = {"retry-after": b.retry_after} if status == 429 and b.retry_after else {}
            return _error(status, f"simulated {status}", headers)
        if ALIASES.get(body["model"], body["model"]) not in MODELS:
            return _error(404, f"model: {body['model']}")
        if b.delay_first:
            await asyncio.sleep(b.delay_first)
        words = [w if i == 0 else " " + w for i, w in enumerate(b.text.split(" "))]
        usage = self._usage(body)
        message = {
            "id": "msg_loopback",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage | {"output_tokens": 1},
        }
        if not body.get("stream"):
            usage["output_tokens"] = len(words)
            self.usages.append(usage)
            text = {"type": "text", "text": b.text}
            return web.json_response(
                message | {"content": [text], "stop_reason": b.stop_reason, "usage": usage}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await _event(response, "message_start", {"type": "message_start", "message": message})
        index = 0
        thought = b.thinking.split(" ") if b.thinking else []
        if thought:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            await _event(
                response,
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
            for word in thought:
                delta = {"type": "thinking_delta", "thinking": word + " "}
                await _event(
                    response,
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            delta = {"type": "signature_delta", "signature": "c2lnbmVk"}
            await _event(
                response,
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": delta},
            )
            await _event(response, "content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        block = {"type": "text", "text": ""}
        await _event(
            response,
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
        await _event(response, "ping", {"type": "ping"})
        for i, word in enumerate(words):
            if b.error_mid_stream and i == b.error_after:
                kind, b.error_mid_stream = b.error_mid_stream, None
                error = {"type": "error", "error": {"type": kind, "message": f"simulated {kind}"}}
                await _event(response, "error", error)
                return response
            delta = {"type": "text_delta", "text": word}
            await _event(
                response,
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        await _event(response, "content_block_stop", {"type": "content_block_stop", "index": index})
        usage["output_tokens"] = len(words) + len(thought)
        self.usages.append(usage)
        await _event(
            response,
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": b.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        await _event(response, "message_stop", {"type": "message_stop"})
        return response

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Input tokens split into cache reads, cache writes and the uncached rest."""
        blocks = list(_blocks(body))
        total = sum(_tokens(text) for text, _ in blocks)
        breakpoints = [i for i, (_, marked) in enumerate(blocks) if marked]
        read_to = 0
        for i in breakpoints:
            if _prefix(blocks, i) in self._cache:
                read_to = i + 1
        write_to = max(read_to, breakpoints[-1] + 1) if breakpoints else read_to
        for i in breakpoints:
            self._cache.add(_prefix(blocks, i))
        read = sum(_tokens(text) for text, _ in blocks[:read_to])
        written = sum(_tokens(text) for text, _ in blocks[read_to:write_to])
        return {
            "input_tokens": total - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }


def _blocks(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    """(text, has a cache breakpoint) for every block: system first, then the turns."""
    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for block in system:
        yield block["text"], "cache_control" in block
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for block in content:
            yield f"{message['role']}:{block['text']}", "cache_control" in block


def _prefix(blocks: list[tuple[str, bool]], i: int) -> str:
    return json.dumps([text for text, _ in blocks[: i + 1]])


def _tokens(text: str) -> int:
    return len(text.split())


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers or {})


async def _event(response: web.StreamResponse, name: str, obj: dict[str, Any]) -> None:
    await response.write(f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode())
