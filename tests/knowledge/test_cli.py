"""``tutor ingest`` and ``tutor search``, run in-process exactly as the command line runs them."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.cli.main import main
from tests.knowledge.conftest import knowledge_settings
from tests.loopback.ollama_server import OllamaServer


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path):
    return str(knowledge_settings(tmp_path).config_path)


def test_ingest_prints_a_summary_and_is_incremental(capsys, config, course_copy):
    code, out, _ = run(capsys, "--config", config, "ingest", str(course_copy))
    assert code == 0
    assert out.startswith("Ingested 3 files (3 new or changed, 0 unchanged, 0 removed)")
    assert "0 skipped, 0 failed" in out
    (course_copy / "notes.md").write_bytes(b"\x00binary")
    code, out, _ = run(capsys, "--config", config, "ingest", str(course_copy))
    assert code == 1  # a file failed: the status says so, the summary says which and why
    assert "(0 new or changed, 3 unchanged, 0 removed): 0 chunks embedded" in out
    assert f"FAILED: {course_copy / 'notes.md'}: binary content" in out


def test_search_text_and_json(capsys, config, course_copy):
    run(capsys, "--config", config, "ingest", str(course_copy))
    code, out, _ = run(
        capsys, "--config", config, "search", "how do I define a function", "-k", "1"
    )
    assert code == 0
    assert out.startswith("1. ") and "Lesson 6: Functions" in out and "(06-functions.md)" in out

    code, out, _ = run(capsys, "--config", config, "search", "enumerate", "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"query", "results"} and result["query"] == "enumerate"
    assert result["results"][0]["source"] == "05-loops.md"
    assert all(set(r) == {"source", "title", "score"} for r in result["results"])

    code, out, _ = run(capsys, "--config", config, "search", "chocolate cake recipe")
    assert (code, out.strip()) == (0, "Nothing relevant found in the course.")


def test_search_jsonl_answers_every_line_in_order(capsys, config, course_copy, tmp_path):
    run(capsys, "--config", config, "ingest", str(course_copy))
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes(
        b'{"text": "def greet"}\n'
        b"not json\n"
        b"\n"
        b'["text"]\n'
        b'{"text": "\xff\xfe"}\n'
        b'{"text": 42}\n'
        b'{"text": "   "}\n'
        b'{"text": "IndexError"}\n'
    )
    code, out, _ = run(capsys, "--config", config, "search", "--jsonl", str(queries), "-k", "2")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 8
    assert rows[0]["query"] == "def greet" and rows[0]["results"][0]["source"] == "06-functions.md"
    assert len(rows[0]["results"]) <= 2 and "error" not in rows[0]
    assert [row.get("error", "").split(":")[0] for row in rows[1:7]] == [
        f"line {n}" for n in range(2, 8)
    ]
    assert "not JSON" in rows[1]["error"] and "empty line" in rows[2]["error"]
    assert "not UTF-8" in rows[4]["error"] and '"text" string' in rows[5]["error"]
    assert all(row["results"] == [] for row in rows[1:7])
    assert rows[7]["query"] == "IndexError" and rows[7]["results"][0]["source"] == "04-lists.md"

    missing = str(tmp_path / "missing.jsonl")
    code, out, err = run(capsys, "--config", config, "search", "--jsonl", missing)
    assert (code, out) == (2, "") and f"cannot read {missing}" in err


def test_search_needs_an_index_and_one_kind_of_input(capsys, config):
    code, _, err = run(capsys, "--config", config, "search", "loops")
    assert code == 1 and "run `tutor ingest course`" in err
    code, _, err = run(capsys, "--config", config, "search")
    assert code == 2 and "give TEXT or --jsonl FILE" in err
    code, _, err = run(capsys, "--config", config, "search", "loops", "-k", "0")
    assert code == 2 and "-k must be between 1 and 50" in err


async def test_switching_embedders_is_refused_until_reindexed(
    tmp_path, capsys, monkeypatch, course_copy
):
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "shared"))  # both configs, one index
    st_args = ("--config", str(knowledge_settings(tmp_path).config_path))
    code, _, _ = await asyncio.to_thread(run, capsys, *st_args, "ingest", str(course_copy))
    assert code == 0
    async with OllamaServer() as ollama:
        ollama.behaviour.models.add("nomic-embed-text")
        other = tmp_path / "ollama"
        other.mkdir()
        ollama_config = knowledge_settings(
            other,
            f'embedder = "ollama"\nembedding_model = "nomic-embed-text"\n'
            f'embedding_host = "{ollama.url}"\nrelevance_threshold = 0.1',
        ).config_path
        args = ("--config", str(ollama_config))
        code, _, err = await asyncio.to_thread(run, capsys, *args, "ingest", str(course_copy))
        assert code == 2
        assert "built with sentence-transformers/all-MiniLM-L6-v2" in err
        assert "selects ollama/nomic-embed-text" in err and "--reindex" in err
        assert not ollama.requests  # refused before embedding anything

        code, out, _ = await asyncio.to_thread(
            run, capsys, *args, "ingest", "--reindex", str(course_copy)
        )
        assert code == 0 and "3 new or changed" in out
        code, out, _ = await asyncio.to_thread(run, capsys, *args, "search", "def greet", "--json")
        assert json.loads(out)["results"][0]["source"] == "06-functions.md"

    code, _, err = await asyncio.to_thread(run, capsys, *st_args, "search", "loops")
    assert code == 1 and "built with ollama/nomic-embed-text" in err
