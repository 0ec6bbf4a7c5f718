"""The Slack writers' thread status, against a client whose calls the test holds up."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.stream import THINKING, UpdateWriter
from adapters.slack.translate import Target

TARGET = Target(channel="C1", thread_ts="1.0", user="U1", team="T1")


class HeldClient:
    """Records Web API calls; assistant.threads.setStatus waits until ``release`` is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()

    async def assistant_threads_setStatus(self, **args: Any) -> dict[str, Any]:
        self.calls.append(("setStatus", args))
        await self.release.wait()
        return {"ok": True}

    async def chat_postMessage(self, **args: Any) -> dict[str, Any]:
        self.calls.append(("postMessage", args))
        return {"ok": True, "ts": "2.0"}


async def test_progress_does_not_wait_for_slack_but_the_first_post_waits_for_it():
    client = HeldClient()
    writer = UpdateWriter(client, TARGET, interval=0)  # type: ignore[arg-type]
    await writer.progress("Preparing an answer…")  # returns while the call is held
    await writer.progress("Preparing an answer…")  # the same note: not sent again
    answering = asyncio.create_task(writer.finish("Lists keep their order."))
    await asyncio.sleep(0)
    assert [name for name, _ in client.calls] == ["setStatus"]
    assert not answering.done()  # the answer waits for the status to land first
    client.release.set()
    assert await answering == ["2.0"]
    (_, status), (_, post) = client.calls
    assert status == {
        "channel_id": "C1",
        "thread_ts": "1.0",
        "status": THINKING,
        "loading_messages": ["Preparing an answer…"],
    }
    assert post["markdown_text"] == "Lists keep their order."


async def test_a_top_level_dm_has_no_status():
    client = HeldClient()
    dm = Target(channel="D1", thread_ts=None, user="U1", team="T1", is_dm=True)
    writer = UpdateWriter(client, dm, interval=0)  # type: ignore[arg-type]
    await writer.progress("Preparing an answer…")
    await writer.finish("Hello.")
    assert [name for name, _ in client.calls] == ["postMessage"]
