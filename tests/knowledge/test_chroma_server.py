"""``chroma = "http"``: the real HttpClient against a real Chroma server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from knowledge.index import store_path
from knowledge.service import CourseKnowledge
from tests.knowledge.conftest import knowledge_settings

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    if not CHROMA.exists():
        pytest.skip("the chroma command (chromadb) is not installed")
    port = free_port()
    server = tmp_path / "server"
    command = [str(CHROMA), "run", "--path", str(server), "--host", "127.0.0.1", "--port"]
    process = subprocess.Popen(
        [*command, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Chroma server did not start")
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_ingest_and_search_through_a_chroma_server(
    tmp_path, chroma_server, embedder, course_copy
):
    settings = knowledge_settings(
        tmp_path, f'chroma = "http"\nchroma_host = "127.0.0.1"\nchroma_port = {chroma_server}'
    )
    knowledge = CourseKnowledge(settings, embedder=embedder)
    assert await knowledge.open() is None and "no course index" in (knowledge.problem or "")
    report = await knowledge.ingest([course_copy])
    assert report.ok and report.indexed == 3
    assert not (tmp_path / "data" / "chroma").exists()  # the vectors live on the server
    await knowledge.aclose()

    # Another machine has no keyword sidecar: it is rebuilt from the server's chunks.
    shutil.rmtree(store_path(settings).parent)
    knowledge = CourseKnowledge(settings, embedder=embedder)
    retriever = await knowledge.open()
    assert retriever is not None
    hits = await retriever.search("IndexError missing position", k=1)
    assert hits[0].source == "04-lists.md" and hits[0].metadata["keyword_rank"] == 1
    await knowledge.aclose()


async def test_a_chroma_server_that_is_down_leaves_answers_ungrounded(tmp_path, embedder):
    settings = knowledge_settings(
        tmp_path, f'chroma = "http"\nchroma_host = "127.0.0.1"\nchroma_port = {free_port()}'
    )
    knowledge = CourseKnowledge(settings, embedder=embedder)
    assert await knowledge.open() is None
    assert "cannot open the course index" in (knowledge.problem or "")
    await knowledge.aclose()
