"""The evaluation courses build the same way every time, and every question's key fact is
in the lesson it names (so a miss is the bot's, not the question set's)."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

from bench._courses import build
from bench._questions import load_questions, normalize, states
from knowledge.parsers.markdown import parse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def courses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("eval-courses")
    return {
        "sample": ROOT / "course",
        "pyref": build("pyref", folder / "pyref"),
        "stdlib": build("stdlib", folder / "stdlib"),
    }


@pytest.mark.parametrize("course", ["pyref", "stdlib"])
def test_a_build_is_the_same_in_another_process(courses, course, tmp_path):
    script = ROOT / "bench" / "_courses.py"
    subprocess.run([sys.executable, script, course, tmp_path / course], check=True, cwd=ROOT)
    names = sorted(p.name for p in (tmp_path / course).iterdir())
    assert names == sorted(p.name for p in courses[course].iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / course, courses[course], names, False)
    assert mismatch == errors == []


@pytest.mark.parametrize(("course", "lessons"), [("pyref", 78), ("stdlib", 68)])
def test_lessons_carry_front_matter(courses, course, lessons):
    files = sorted(courses[course].glob("*.md"))
    assert len(files) == lessons
    for path in files:
        doc = parse(path.read_bytes())
        assert {"title", "lesson", "module"} <= set(doc.metadata), path.name
        assert doc.title == doc.metadata["title"] or course == "stdlib"


@pytest.mark.parametrize("course", ["sample", "pyref", "stdlib"])
def test_every_key_fact_is_in_its_lesson(courses, course):
    questions = load_questions(course)
    assert len(questions) >= 40
    assert 0.25 <= sum(q.split == "holdout" for q in questions) / len(questions) <= 0.4
    missing = [
        q.id
        for q in questions
        if q.kind == "content"
        and not states((courses[course] / str(q.lesson)).read_text(encoding="utf-8"), q.key)
    ]
    assert missing == []


def test_key_facts_are_matched_at_word_starts():
    assert states("It terminates the loop.", (("terminat",),))
    assert not states("It determinates the loop.", (("terminat",),))
    assert states("use `str.upper()`", (("upper(",),))
    assert states("Both: break, then “continue”", (("break",), ('continue"',)))
    assert normalize("A  `B`\n*c*") == "a b c"
