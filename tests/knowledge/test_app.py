"""The course index inside the bot: grounded answers with citations, and /tutor reindex.

The chat model is the real ``ollama`` client talking to the loopback Ollama server.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bot.app import BotApp
from bot.cli.main import main
from bot.config import load_config
from bot.events import CommandRequest, IncomingMessage
from tests.knowledge.conftest import knowledge_settings
from tests.loopback.ollama_server import OllamaServer


@pytest.fixture
async def ollama():
    async with OllamaServer() as server:
        server.behaviour.text = "Use enumerate() to get the position [1]."
        yield server


def ask(text: str) -> IncomingMessage:
    return IncomingMessage(text=text, user="learner", channel="c1")


async def test_answers_are_grounded_and_carry_citations(course_settings, st_embedder, ollama):
    settings = load_config(course_settings.config_path, {"OLLAMA_HOST": ollama.url})
    async with BotApp(settings, embedder=st_embedder) as app:
        reply = await app.tutor.handle(ask("How do I get the index while looping?"))
    assert reply.text == "Use enumerate() to get the position [1]."
    assert reply.citations and reply.citations[0].source == "05-loops.md"
    assert reply.citations[0].title.startswith("Lesson 5: Loops")
    assert all(0 < c.score <= 1 for c in reply.citations)
    system, turn = ollama.requests[-1]["messages"][0], ollama.requests[-1]["messages"][-1]
    assert system["role"] == "system" and "(05-loops.md)" not in system["content"]
    assert "<course-material>" in turn["content"] and "(05-loops.md)" in turn["content"]
    assert "enumerate(names, start=1)" in turn["content"]


async def test_an_off_topic_question_gets_no_citations(course_settings, st_embedder, ollama):
    settings = load_config(course_settings.config_path, {"OLLAMA_HOST": ollama.url})
    async with BotApp(settings, embedder=st_embedder) as app:
        reply = await app.tutor.handle(ask("Give me a recipe for chocolate cake"))
    assert reply.citations == () and reply.outcome == "answered"
    assert "<course-material>\n" not in ollama.requests[-1]["messages"][-1]["content"]


async def test_cli_ask_json_shows_the_citations(course_settings, ollama, monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.delenv("TUTOR_DATA_DIR", raising=False)
    argv = ["--config", str(course_settings.config_path), "ask", "--json", "What is a tuple?"]
    code = await asyncio.to_thread(main, argv)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["route"] == "local"
    assert out["citations"][0]["source"] == "04-lists.md"
    assert set(out["citations"][0]) == {"source", "title", "score"}


async def test_without_an_index_the_bot_answers_and_says_how_to_build_one(
    tmp_path, st_embedder, ollama, course_copy, caplog
):
    settings = knowledge_settings(
        tmp_path, f'course_dir = "{course_copy}"', {"OLLAMA_HOST": ollama.url}
    )
    caplog.set_level(logging.WARNING)
    async with BotApp(settings, embedder=st_embedder) as app:
        assert app.tutor.retriever is None
        assert f"run `tutor ingest {course_copy}`" in caplog.text
        reply = await app.tutor.handle(ask("How do I define a function?"))
        assert reply.outcome == "answered" and reply.citations == ()

        request = CommandRequest(
            name="reindex", user="op", channel="c1", platform="console", is_operator=True
        )
        refused = await app.commands(
            CommandRequest(
                name="reindex", user="mod", channel="c1", platform="console", is_moderator=True
            )
        )
        assert not refused.ok and "only the bot's operators" in refused.text
        result = await app.commands(request)
        assert result.ok and result.text.startswith("Ingested 3 files (3 new or changed")
        assert app.tutor.retriever is not None  # grounded from now on, no restart

        reply = await app.tutor.handle(ask("How do I define a function?"))
        assert reply.citations[0].source == "06-functions.md"
        again = await app.commands(request)
        assert "(0 new or changed, 3 unchanged, 0 removed)" in again.text


async def test_reindex_reports_a_missing_course_folder(tmp_path, st_embedder):
    settings = knowledge_settings(tmp_path, f'course_dir = "{tmp_path / "gone"}"')
    async with BotApp(settings, embedder=st_embedder) as app:
        result = await app.commands(
            CommandRequest(name="reindex", user="m", channel="c", platform="x", is_operator=True)
        )
    assert not result.ok and "does not exist" in result.text
