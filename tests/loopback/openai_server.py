"""A loopback server speaking OpenAI's Chat Completions API (streaming SSE with usage)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.loopback.vectors import bag_of_words


@dataclass
class OpenAIBehaviour:
    text: str = "Here is a detailed explanation."
    # HTTP statuses to answer with, one per request, before answering normally.
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = "0"
    delay_first: float = 0.0
    # When given, the answer is computed from the request's messages instead of ``text``.
    answer: Callable[[list[dict[str, Any]]], str] | None = None
    usage: bool = True  # False: like llama.cpp's server, the stream never reports usage


class OpenAIServer:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key  # set: other keys get a 401, as OpenAI answers them
        self.behaviour = OpenAIBehaviour()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v1"

    async def __aenter__(self) -> OpenAIServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    def _refused(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        error = {"message": "Incorrect API key provided.", "type": "invalid_request_error"}
        return web.json_response({"error": error | {"code": "invalid_api_key"}}, status=401)

    async def _models(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        b = self.behaviour
        if b.statuses:
            status = b.statuses.pop(0)
            error = {"error": {"message": f"simulated {status}", "type": "test", "code": None}}
            return web.json_response(error, status=status)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        as_base64 = body.get("encoding_format") == "base64"  # the client's default
        # Answer out of order: the API gives each item its index, clients must sort.
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(text, as_base64)}
            for i, text in reversed(list(enumerate(texts)))
        ]
        tokens = sum(len(text.split()) for text in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if (refused := self._refused(request)) is not None:
            return refused
        b = self.behaviour
        if b.statuses:
            status = b.statuses.pop(0)
            headers = {"retry-after": b.retry_after} if status == 429 and b.retry_after else {}
            error = {"error": {"message": f"simulated {status}", "type": "test", "code": None}}
            return web.json_response(error, status=status, headers=headers)
        if b.delay_first:
            await asyncio.sleep(b.delay_first)
        text = b.answer(body["messages"]) if b.answer else b.text
        words = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response(
                base | {"object": "chat.completion", "choices": [choice], "usage": usage}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = base | {"object": "chat.completion.chunk"}
        for i, word in enumerate(words):
            delta = {"content": word} | ({"role": "assistant"} if i == 0 else {})
            await _event(
                response, chunk | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        await _event(
            response, chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        if b.usage and (body.get("stream_options") or {}).get("include_usage"):
            await _event(response, chunk | {"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response


def _vector(text: str, as_base64: bool) -> list[float] | str:
    vector = bag_of_words(text)
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def _event(response: web.StreamResponse, obj: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(obj)}\n\n".encode())
