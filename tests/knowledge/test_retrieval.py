"""Retrieval over the sample course through the real all-MiniLM-L6-v2 embedder."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.ports import Retriever
from knowledge.calibration import STORE_KEY
from knowledge.index import EmbedderMismatch
from knowledge.navigation import NavigationQuery, parse_navigation
from knowledge.retriever import MAX_SECTIONS
from knowledge.service import CourseKnowledge


@pytest.fixture
async def retriever(course_settings, st_embedder):
    knowledge = CourseKnowledge(course_settings, embedder=st_embedder)
    found = await knowledge.open()
    assert found is not None, knowledge.problem
    yield found
    await knowledge.aclose()


@pytest.mark.parametrize(
    ("question", "lesson"),
    [
        ("How do I get the index while looping?", "05-loops.md"),
        ("IndexError: list index out of range", "04-lists.md"),
        ("KeyError: 'Peru'", "07-dictionaries.md"),
        ("What does if __name__ == '__main__' mean?", "10-modules.md"),
        ("how do I read a file line by line", "09-files.md"),
        ("What's the difference between print and return?", "06-functions.md"),
    ],
)
async def test_the_lesson_that_answers_comes_first(retriever, question, lesson):
    passages = await retriever.search(question)
    assert passages and passages[0].source == lesson, [(p.source, p.score) for p in passages]


async def test_passages_carry_scores_titles_and_relative_sources(retriever):
    assert isinstance(retriever, Retriever)
    passages = await retriever.search("How do I add an item to the end of a list?", k=3)
    assert 1 <= len(passages) <= 3
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert all(p.metadata["dense"] >= retriever.floor for p in passages)
    top = passages[0]
    assert top.source == "04-lists.md" and "append" in top.text
    assert top.title.startswith("Lesson 4: Lists and Tuples")
    assert top.metadata["lesson"] == 4 and top.metadata["module"] == "Collections"


async def test_keyword_evidence_lifts_exact_names_and_errors(retriever):
    question = "ModuleNotFoundError: No module named 'requests'"
    retriever.options = replace(retriever.options, static_weight=0.0)  # dense and keyword only
    hybrid = await retriever.search(question, k=1)
    assert hybrid[0].source == "10-modules.md"
    assert hybrid[0].metadata["keyword_rank"] == 1  # BM25 found the exact error name first
    assert hybrid[0].metadata["fused"] == 1.0  # first in both rankings
    retriever.options = replace(retriever.options, keyword_weight=0.0)
    dense = await retriever.search(question, k=1)
    assert dense[0].metadata["keyword_rank"] is None


async def test_each_source_is_listed_once(retriever):
    # Lesson 4 has many chunks about lists; only its best one is listed.
    passages = await retriever.search("lists tuples append index slicing", k=10)
    sources = [p.source for p in passages]
    assert sources and len(sources) == len(set(sources))
    retriever.options = replace(retriever.options, distinct_sources=False, relative_cut=0.0)
    chunks = await retriever.search("lists tuples append index slicing", k=10)
    assert len({p.source for p in chunks}) < len(chunks)  # what the default avoids


async def test_the_relevance_floor_is_measured_on_the_index(retriever):
    await retriever.search("How do I open a file?")
    calibration = retriever.calibration
    assert calibration is not None and calibration.floor == retriever.floor
    assert calibration.off_topic < calibration.floor < calibration.course
    assert len(calibration.sources) == 10  # one title card per lesson
    # A fixed floor can be asked for instead, in config.
    retriever.options = replace(retriever.options, relevance="fixed", relevance_threshold=0.99)
    assert retriever.floor == 0.99
    assert await retriever.search("How do I open a file?") == []


async def test_a_misspelt_question_finds_its_lesson(retriever):
    question = "how do i get the positon with enumrate in a for lopo"
    await retriever.search(question)
    assert retriever.corrected(question) == "how do i get the position with enumerate in a for loop"
    passages = await retriever.search(question)
    assert passages[0].source == "05-loops.md"
    assert passages[0].metadata["query"] == retriever.corrected(question)  # for the quote
    # Everyday words are not course words misspelt: the off-topic question stays off-topic.
    assert retriever.corrected("how do i get red wine out of a carpet").endswith(
        "wine out of a carpet"
    )


@pytest.mark.parametrize(
    "question",
    ["Give me a recipe for chocolate cake", "How tall is Mount Everest?", "", "   \x00 "],
)
async def test_nothing_relevant_is_an_empty_list(retriever, question):
    assert await retriever.search(question) == []


async def test_search_answers_when_the_calibration_cannot_be_measured(course_settings, st_embedder):
    class BatchesFail:
        """Embeds one question at a time, but the calibration's batch fails."""

        name = st_embedder.name

        async def embed(self, texts):
            if len(texts) > 1:
                raise ConnectionError("embedding server went away")
            return await st_embedder.embed(texts)

    knowledge = CourseKnowledge(course_settings, embedder=BatchesFail())
    retriever = await knowledge.open()
    assert retriever is not None
    retriever.index.store.set_meta(STORE_KEY, "")  # nothing measured yet
    passages = await retriever.search("How do I open a file?")
    assert retriever.calibration is None  # tried again on the next question
    assert retriever.floor == retriever.options.relevance_threshold
    assert passages and passages[0].source == "09-files.md"
    await knowledge.aclose()


async def test_a_huge_or_hostile_query_is_handled(retriever):
    passages = await retriever.search('" OR * NEAR( ) ^ loops ' + "x" * 50_000)
    assert isinstance(passages, list)


async def test_concurrent_searches_all_answer(retriever):
    questions = ["What is a tuple?", "How do I open a file?", "What is a set?"] * 4
    results = await asyncio.gather(*(retriever.search(q, k=1) for q in questions))
    assert [r[0].source for r in results[:3]] == [
        "04-lists.md",
        "09-files.md",
        "07-dictionaries.md",
    ]
    assert all(r == results[i % 3] for i, r in enumerate(results))


@pytest.mark.parametrize(
    ("question", "source", "says"),
    [
        ("What is lesson 5 about?", "05-loops.md", "Summary: Repeat work with for loops"),
        ("What's next after loops?", "06-functions.md", "comes after Lesson 5: Loops"),
        ("What comes after lesson 3?", "04-lists.md", "comes after Lesson 3"),
        ("What should I learn before functions?", "05-loops.md", "comes before Lesson 6"),
        ("What's next after lesson 10?", "10-modules.md", "last lesson of the course"),
        ("What lessons are there?", ".", "Lesson 10: Modules and Packages (10-modules.md)"),
    ],
)
async def test_navigation_questions_are_answered_from_the_course_structure(
    retriever, question, source, says
):
    passages = await retriever.search(question)
    first = passages[0]
    assert (first.source, first.score, first.metadata["kind"]) == (source, 1.0, "structure")
    assert says in first.text
    assert len(passages) <= retriever.options.k


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what is lesson 5 about?", NavigationQuery("about", lesson=5)),
        ("What's next after loops?", NavigationQuery("next", topic="loops")),
        (
            "what comes before the lesson on dictionaries",
            NavigationQuery("previous", topic="dictionaries"),
        ),
        ("Which lesson comes after lesson 2?", NavigationQuery("next", lesson=2)),
        ("show me the course outline", NavigationQuery("outline")),
        ("what happens after a return statement?", None),
        ("How do I use a for loop?", None),
        ("lesson 4 exercise 2 is hard", None),
    ],
)
def test_navigation_questions_are_recognised(question, expected):
    assert parse_navigation(question) == expected


async def test_an_index_built_by_another_embedder_is_refused(course_settings, st_embedder):
    class OtherEmbedder:
        name = "ollama/nomic-embed-text"

        async def embed(self, texts):
            raise AssertionError("must not be called")

    knowledge = CourseKnowledge(course_settings, embedder=OtherEmbedder())
    assert await knowledge.open() is None
    assert "built with sentence-transformers/all-MiniLM-L6-v2" in (knowledge.problem or "")
    assert "ollama/nomic-embed-text" in (knowledge.problem or "")
    with pytest.raises(EmbedderMismatch, match="tutor ingest --reindex"):
        await knowledge.ingest([course_settings.data_dir])  # never mixes vectors
    await knowledge.aclose()


async def test_a_passage_carries_its_lessons_other_close_sections(retriever):
    [loops] = await retriever.search("How do I skip the rest of a loop iteration?", k=1)
    sections = loops.metadata["sections"]
    assert loops.source == "05-loops.md" and 0 < len(sections) <= MAX_SECTIONS
    assert all(s["text"] != loops.text and s["score"] <= loops.metadata["dense"] for s in sections)


async def test_wordllama_ranks_whole_lessons_beside_dense_and_keyword(retriever):
    assert retriever.options.static_weight > 0  # on by default
    passages = await retriever.search("How do I read a file line by line?", k=3)
    assert passages[0].source == "09-files.md"
    assert passages[0].metadata["static_rank"] is not None
    retriever.options = replace(retriever.options, static_weight=0.0)
    off = await retriever.search("How do I read a file line by line?", k=3)
    assert off[0].source == "09-files.md"
    assert all(p.metadata["static_rank"] is None for p in off)
