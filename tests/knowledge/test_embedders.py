"""The three embedders: sentence-transformers in-process, and the real ``ollama`` and
``openai`` clients against loopback servers speaking their APIs."""

from __future__ import annotations

import math
import socket

import pytest

from bot.config import ConfigError
from knowledge.embeddings import (
    EmbeddingError,
    OllamaEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    build_embedder,
)
from knowledge.service import CourseKnowledge
from tests.knowledge.conftest import knowledge_settings
from tests.loopback.ollama_server import OllamaServer
from tests.loopback.openai_server import OpenAIServer
from tests.loopback.vectors import bag_of_words


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def ollama():
    async with OllamaServer() as server:
        server.behaviour.models.add("nomic-embed-text")
        yield server


@pytest.fixture
async def openai_server():
    async with OpenAIServer() as server:
        yield server


async def test_sentence_transformers_gives_normalised_vectors_that_rank(st_embedder):
    vectors = await st_embedder.embed(
        ["How do I loop over a list?", "for item in items: print(item)", "chocolate cake"]
    )
    assert [len(v) for v in vectors] == [384] * 3
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-4) for v in vectors)
    question, code, cake = vectors
    assert _dot(question, code) > _dot(question, cake)
    assert st_embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert await st_embedder.embed([]) == []


def test_an_unknown_sentence_transformers_model_is_a_clear_error(tmp_path):
    embedder = SentenceTransformerEmbedder("some-hub-model")
    with pytest.raises(EmbeddingError, match="neither all-MiniLM-L6-v2 nor a local model folder"):
        embedder.load()


async def test_ollama_embed_through_the_official_client(ollama):
    embedder = OllamaEmbedder("nomic-embed-text", host=ollama.url, batch_size=2)
    texts = ["lists keep order", "dicts map keys", "sets drop duplicates"]
    assert await embedder.embed(texts) == [bag_of_words(t) for t in texts]
    assert [r["input"] for r in ollama.requests] == [texts[:2], texts[2:]]  # batched
    assert all(r["model"] == "nomic-embed-text" for r in ollama.requests)
    assert embedder.name == "ollama/nomic-embed-text"
    await embedder.aclose()


async def test_ollama_errors_say_what_to_do(ollama):
    missing = OllamaEmbedder("mxbai-embed-large", host=ollama.url)
    with pytest.raises(EmbeddingError, match="ollama pull mxbai-embed-large"):
        await missing.embed(["x"])
    down = OllamaEmbedder("nomic-embed-text", host=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EmbeddingError, match="cannot reach Ollama"):
        await down.embed(["x"])
    ollama.behaviour.status = 503
    busy = OllamaEmbedder("nomic-embed-text", host=ollama.url)
    with pytest.raises(EmbeddingError, match="simulated 503"):
        await busy.embed(["x"])
    for embedder in (missing, down, busy):
        await embedder.aclose()


async def test_openai_embeddings_come_back_in_input_order(openai_server):
    embedder = OpenAIEmbedder(
        "text-embedding-3-small", api_key="sk-test", base_url=openai_server.base_url
    )
    texts = ["first", "second text", "third one here"]
    vectors = await embedder.embed(texts)
    for got, text in zip(vectors, texts, strict=True):  # float32 on the wire
        assert got == pytest.approx(bag_of_words(text), abs=1e-6)
    sent = openai_server.requests[0]
    assert (sent["model"], sent["input"]) == ("text-embedding-3-small", texts)
    assert openai_server.headers[0]["Authorization"] == "Bearer sk-test"
    await embedder.aclose()


async def test_openai_errors_and_a_missing_key(openai_server):
    no_key = OpenAIEmbedder("text-embedding-3-small", api_key=None)
    with pytest.raises(EmbeddingError, match="OPENAI_API_KEY"):
        await no_key.embed(["x"])
    openai_server.behaviour.statuses = [401]
    denied = OpenAIEmbedder(
        "text-embedding-3-small", api_key="sk-bad", base_url=openai_server.base_url
    )
    with pytest.raises(EmbeddingError, match="HTTP 401"):
        await denied.embed(["x"])
    await denied.aclose()


def test_config_chooses_the_embedder(tmp_path):
    default = build_embedder(knowledge_settings(tmp_path))
    assert isinstance(default, SentenceTransformerEmbedder) and default.threads == 1
    ollama = build_embedder(
        knowledge_settings(
            tmp_path,
            'embedder = "ollama"\nembedding_model = "nomic-embed-text"',
            {"OLLAMA_HOST": "http://127.0.0.1:9"},
        )
    )
    assert isinstance(ollama, OllamaEmbedder) and ollama.host == "http://127.0.0.1:9"
    openai = build_embedder(
        knowledge_settings(
            tmp_path,
            'embedder = "openai"\nembedding_model = "text-embedding-3-small"',
            {"OPENAI_API_KEY": "sk-x"},
        )
    )
    assert isinstance(openai, OpenAIEmbedder) and openai.name == "openai/text-embedding-3-small"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('embedder = "word2vec"', "knowledge.embedder"),
        ('chroma = "cloud"', "knowledge.chroma"),
        ("k = 0", "knowledge.k"),
        ('collection = "x"', "knowledge.collection"),
        ("chunk_size = 500", "knowledge.chunk_size"),
    ],
)
def test_a_wrong_knowledge_setting_names_its_key(tmp_path, line, key):
    with pytest.raises(ConfigError, match=rf"knowledge\.{key.split('.')[1]} \(line \d+\)"):
        knowledge_settings(tmp_path, line)


async def test_a_whole_course_through_the_ollama_embedder(tmp_path, ollama, course_copy):
    settings = knowledge_settings(
        tmp_path,
        f'embedder = "ollama"\nembedding_model = "nomic-embed-text"\n'
        f'embedding_host = "{ollama.url}"\nrelevance_threshold = 0.1',
    )
    knowledge = CourseKnowledge(settings)
    report = await knowledge.ingest([course_copy])
    assert report.ok and report.indexed == 3
    assert knowledge.retriever is not None
    hits = await knowledge.retriever.search("def greet return", k=1)
    assert hits[0].source == "06-functions.md"
    await knowledge.aclose()


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_an_embedder_that_fails_mid_ingest_loses_nothing(tmp_path, ollama, course_copy):
    settings = knowledge_settings(
        tmp_path,
        f'embedder = "ollama"\nembedding_model = "nomic-embed-text"\n'
        f'embedding_host = "{ollama.url}"',
    )
    knowledge = CourseKnowledge(settings)
    ollama.behaviour.status = 500
    report = await knowledge.ingest([course_copy])
    assert (report.indexed, report.total_chunks, len(report.failed)) == (0, 0, 3)
    assert all("embedding failed (ollama/nomic-embed-text)" in p.reason for p in report.failed)
    ollama.behaviour.status = None  # the server is back: the next run picks everything up
    report = await knowledge.ingest([course_copy])
    assert report.ok and report.indexed == 3 and report.total_chunks > 0
    await knowledge.aclose()
