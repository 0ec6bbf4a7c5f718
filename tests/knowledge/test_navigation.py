"""Navigation answered from the course's structure: the sample course, a course built from
the Python language reference (no one here wrote it), and a folder with no structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench._courses import build
from knowledge.chunking import LessonInfo, lesson_info
from knowledge.index import course_order
from knowledge.navigation import (
    NavigationQuery,
    answer_navigation,
    has_structure,
    needs_search,
    parse_navigation,
)
from knowledge.parsers.markdown import parse
from knowledge.service import CourseKnowledge

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "eval" / "courses"


def lessons_in(folder: Path) -> list[LessonInfo]:
    infos = [lesson_info(parse(p.read_bytes()), p.name) for p in folder.glob("*.md")]
    return sorted(infos, key=course_order)


@pytest.fixture(scope="module")
def sample() -> list[LessonInfo]:
    return lessons_in(ROOT / "course")


@pytest.fixture(scope="module")
def pyref(tmp_path_factory: pytest.TempPathFactory) -> list[LessonInfo]:
    return lessons_in(build("pyref", tmp_path_factory.mktemp("courses") / "pyref"))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how many lessons are there", NavigationQuery("count")),
        ("where are the exercises", NavigationQuery("exercises")),
        ("exercises for lesson 4?", NavigationQuery("exercises", lesson=4)),
        ("which lesson covers exceptions", NavigationQuery("covers", topic="exceptions")),
        ("where can i learn about sets", NavigationQuery("covers", topic="sets")),
        ("whats the first lesson", NavigationQuery("first")),
        ("where do I start?", NavigationQuery("first")),
        ("what's the last lesson", NavigationQuery("last")),
        ("what should i do next", NavigationQuery("next")),
        ("im done with strings whats next", NavigationQuery("next", topic="strings")),
        ("what comes after the first lesson", NavigationQuery("next", lesson=1)),
        (
            "what lessons are in the simple statements part",
            NavigationQuery("outline", topic="simple statements"),
        ),
        (
            "what does the data model part cover",
            NavigationQuery("outline", topic="data model"),
        ),
        ("whats in the expressions chapter?", NavigationQuery("outline", topic="expressions")),
        ("whats the loops lesson about", NavigationQuery("about", topic="loops")),
        ("is there an exercise on loops", NavigationQuery("exercises", topic="loops")),
        ("ok whats next?", NavigationQuery("next")),
        # questions about Python, not about the course
        ("what comes after the colon in a for loop?", None),
        ("what comes next in the sequence 1, 2, 4, 8", None),
        ("how do i start the python debugger", None),
        ("lesson 4 exercise 2 is hard", None),
        ("what does the with statement do", None),
        ("what does the random module cover", None),  # a lesson, not a part: searched
    ],
)
def test_navigation_kinds_are_recognised(question, expected):
    assert parse_navigation(question) == expected


@pytest.mark.parametrize("course", ["sample", "pyref", "stdlib"])
def test_the_evaluation_questions_are_told_apart(course):
    rows = [json.loads(line) for line in (QUESTIONS / f"{course}.jsonl").open()]
    wrong = [
        row["question"]
        for row in rows
        if (parse_navigation(row["question"]) is None) == (row["kind"] == "navigation")
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("question", "says", "cites"),
    [
        ("What is lesson 3 about?", "Compare values, combine conditions", "03-conditionals.md"),
        ("what comes after loops?", "After Lesson 5: Loops comes Lesson 6: Functions", None),
        ("what should i study before dictionaries", "comes Lesson 6: Functions", None),
        ("which lesson covers exceptions", "Lesson 8: Errors and Exceptions", "08-errors.md"),
        ("how many lessons are there", "10 lessons", None),
        ("where are the exercises", 'the "Exercises" section at the end of each lesson', None),
        ("exercises for lesson 4?", "Lesson 4: Lists and Tuples (04-lists.md)", "04-lists.md"),
        ("whats the first lesson", "Lesson 1: Variables and Types", "01-variables.md"),
        ("what's the last lesson", "Lesson 10: Modules and Packages", "10-modules.md"),
        ("What's next after lesson 10?", "last lesson of the course", "10-modules.md"),
        ("what should i do next", "begin with Lesson 1: Variables and Types", "01-variables.md"),
        ("list all the lessons", "- Lesson 7: Dictionaries and Sets (07-dictionaries.md)", None),
    ],
)
def test_the_sample_course_answers(sample, question, says, cites):
    answer = answer_navigation(question, sample)
    assert answer is not None
    assert says in answer.text
    assert len(answer.text) < 1500
    if cites:
        assert answer.passages[0].source == cites
    assert all(p.score == 1.0 and p.metadata["kind"] == "structure" for p in answer.passages)


def test_whats_next_continues_from_the_conversation(sample):
    recent = ["what is lesson 3 about?", "Lesson 3: Making Decisions with if (...) is about"]
    answer = answer_navigation("ok what should i do next?", sample, recent=recent)
    assert answer is not None and answer.text.startswith("After Lesson 3")
    assert answer.passages[0].source == "04-lists.md"


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("what is lesson 50 about", 'Lesson 50: The "break" statement'),
        ("what comes after the lesson on the for statement", 'comes Lesson 59: The "try"'),
        ("what should i read before the with statement", 'comes Lesson 59: The "try"'),
        ("which lesson covers lambdas", "Lesson 39: Lambdas (39-lambda.md) covers that"),
        ("how many lessons are there", "78 lessons in 8 parts"),
        ("where are the exercises", "couldn't find exercises"),
        ("what lessons are in the simple statements part", 'Lesson 54: The "nonlocal"'),
        ("show me the course outline", "- Compound statements (lessons 55-63)"),
    ],
)
def test_a_course_no_one_here_wrote_answers(pyref, question, says):
    answer = answer_navigation(question, pyref)
    assert answer is not None and says in answer.text, answer
    assert len(answer.text) < 1500


def test_a_subject_the_titles_do_not_name_asks_for_a_search(pyref):
    query = parse_navigation("which lesson explains how to skip a loop iteration")
    assert query is not None and needs_search(query, pyref) == "how to skip a loop iteration"
    answer = answer_navigation(query, pyref, located="51-continue.md")
    assert answer is not None and answer.passages[0].source == "51-continue.md"
    assert needs_search(parse_navigation("which lesson covers lambdas"), pyref) is None


def test_without_numbered_lessons_the_model_answers(tmp_path):
    plain = lessons_in(build("pyref", tmp_path / "plain", front_matter=False))
    assert len(plain) == 78 and not has_structure(plain)
    assert answer_navigation("what is lesson 3 about?", plain) is None
    assert answer_navigation("how many lessons are there", plain) is None


def test_an_answer_is_the_same_every_time(pyref):
    first = answer_navigation("what comes before the lesson on continue", pyref)
    assert first == answer_navigation("what comes before the lesson on continue", pyref)


async def test_the_retriever_navigates_the_indexed_course(course_settings, st_embedder):
    knowledge = CourseKnowledge(course_settings, embedder=st_embedder)
    retriever = await knowledge.open()
    assert retriever is not None
    answer = await retriever.navigate("What is lesson 3 about?")
    assert answer is not None and answer.passages[0].source == "03-conditionals.md"
    located = await knowledge.navigate("which lesson teaches KeyError")
    assert located is not None and located.passages[0].source == "07-dictionaries.md"
    assert await retriever.navigate("How do I use a for loop?") is None
    # Typos in a question about the course are corrected before it is read.
    typed = await retriever.navigate("whihc lesson coevrs exceptions")
    assert typed is not None and typed.passages[0].source == "08-errors.md"
    typed = await retriever.navigate("what is leson 3 about")
    assert typed is not None and typed.passages[0].source == "03-conditionals.md"
    await knowledge.aclose()
