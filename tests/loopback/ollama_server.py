"""A loopback server speaking Ollama's documented HTTP API (v0.32).

It streams NDJSON with final-chunk metrics and per-chunk logprobs, answers 404 for
unknown models, and can be told to fail mid-stream, be slow, or return an HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.loopback.vectors import bag_of_words


@dataclass
class OllamaBehaviour:
    text: str = "A list is an ordered collection."
    models: set[str] = field(default_factory=lambda: {"llama3.2:3b"})
    logprobs: bool = True
    delay_first: float = 0.0  # seconds before the first chunk
    hold: asyncio.Event | None = None  # when given, the first chunk waits until it is set
    error_after: int | None = None  # send an {"error"} line after this many chunks
    drop_after: int | None = None  # cut the connection after this many chunks (a crash)
    status: int | None = None  # answer with this HTTP error instead
    done_reason: str = "stop"
    # When given, the answer is computed from the request's messages instead of ``text``.
    answer: Callable[[list[dict[str, Any]]], str] | None = None


class OllamaServer:
    """``async with OllamaServer() as ollama:``; ``port`` fixes the port (down, then up)."""

    def __init__(self, port: int | None = None) -> None:
        self.behaviour = OllamaBehaviour()
        self.requests: list[dict[str, Any]] = []
        self.chatting = asyncio.Event()  # set when a chat request (not a preload) arrives
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/embed", self._embed)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        self._server = TestServer(app, host="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    async def __aenter__(self) -> OllamaServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.behaviour.hold is not None:
            self.behaviour.hold.set()  # a held answer must not keep the server from closing
        await self._server.close()

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.32.0"})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"models": [{"name": m, "model": m} for m in self.behaviour.models]}
        )

    def _refusal(self, model: str) -> web.Response | None:
        """The error Ollama would answer with (a simulated status, an unpulled model)."""
        if self.behaviour.status is not None:
            status = self.behaviour.status
            return web.json_response({"error": f"simulated {status}"}, status=status)
        if model not in self.behaviour.models:
            return web.json_response({"error": f"model '{model}' not found"}, status=404)
        return None

    async def _embed(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        model = body.get("model", "")
        if (refusal := self._refusal(model)) is not None:
            return refusal
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return web.json_response(
            {
                "model": model,
                "embeddings": [bag_of_words(text) for text in texts],
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(text.split()) for text in texts),
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        b = self.behaviour
        model = body.get("model", "")
        if (refusal := self._refusal(model)) is not None:
            return refusal
        if not body.get("messages"):  # preload
            return web.json_response(self._final(model, 0, 0, "load"))
        self.chatting.set()
        stream = body.get("stream", True)
        text = b.answer(body["messages"]) if b.answer else b.text
        words = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        want_logprobs = bool(body.get("logprobs")) and b.logprobs
        if not stream:
            final = self._final(model, prompt_tokens, len(words), b.done_reason)
            final["message"] = {"role": "assistant", "content": text}
            if want_logprobs:
                final["logprobs"] = [self._logprob(w, i) for i, w in enumerate(words)]
            return web.json_response(final)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        if b.delay_first:
            await asyncio.sleep(b.delay_first)
        if b.hold is not None:
            await b.hold.wait()
        for i, word in enumerate(words):
            if b.error_after is not None and i == b.error_after:
                await self._line(response, {"error": "simulated failure mid-stream"})
                return response
            if b.drop_after is not None and i == b.drop_after:
                assert request.transport is not None
                request.transport.abort()  # as if the server process died
                return response
            chunk: dict[str, Any] = {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": word},
                "done": False,
            }
            if want_logprobs:
                chunk["logprobs"] = [self._logprob(word, i)]
            await self._line(response, chunk)
        await self._line(response, self._final(model, prompt_tokens, len(words), b.done_reason))
        return response

    @staticmethod
    def _logprob(token: str, i: int) -> dict[str, Any]:
        value = -0.05 * (i % 4)
        return {"token": token, "logprob": value, "bytes": list(token.encode()), "top_logprobs": []}

    @staticmethod
    def _final(model: str, prompt: int, output: int, reason: str) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reason,
            "total_duration": 12_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 2_000_000,
            "eval_count": output,
            "eval_duration": 8_000_000,
        }

    @staticmethod
    async def _line(response: web.StreamResponse, obj: dict[str, Any]) -> None:
        await response.write((json.dumps(obj) + "\n").encode())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
