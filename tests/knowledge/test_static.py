"""WordLlama's whole-lesson ranking, with the real package's shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from knowledge.static import DIMENSIONS, LessonStatic, embed, embed_words, load_wordllama
from knowledge.store import CourseStore
from tests.knowledge.test_lexical import store_with_lessons


def test_the_model_loads_from_the_wheel_without_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no download expected")

    monkeypatch.setattr(requests.Session, "request", refuse)
    load_wordllama.cache_clear()
    model = load_wordllama()
    assert model.weights.shape[1] == DIMENSIONS and model.weights.dtype == np.float32


def test_vectors_are_wordllamas_own_mean_pooling():
    from wordllama.inference import WordLlamaInference

    model = load_wordllama()
    reference = WordLlamaInference(
        model.weights, model.tokenizer.__class__.from_str(model.tokenizer.to_str())
    )
    texts = ["round a number up", "math.ceil(x) returns the smallest integer >= x. " * 40]
    ours = embed(texts)
    assert np.allclose(ours, reference.embed(texts, norm=True), atol=1e-5)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert embed([]).shape == (0, DIMENSIONS)
    assert not embed([""]).any()  # no tokens: a zero vector, not NaN


def test_long_texts_are_embedded_word_by_word_close_to_whole_text_pooling():
    prose = [
        "The break statement terminates the nearest enclosing loop and skips its else clause.",
        "A file object is read line by line with a for loop over it. " * 20,
        "",
    ]
    words = embed_words(prose)
    whole = embed(prose)
    assert (words[:2] * whole[:2]).sum(axis=1).min() > 0.95  # tokens rarely cross a space
    assert not words[2].any()
    assert embed_words([]).shape == (0, DIMENSIONS)


@pytest.mark.parametrize(
    ("question", "lesson"),
    [
        ("load text from disk", "files.md"),  # no word in common with the lesson
        ("open a document on disk and go through its rows", "files.md"),
        ("skip to the next iteration", "continue.md"),
    ],
)
def test_whole_lessons_are_ranked_by_meaning(tmp_path, question, lesson):
    store = store_with_lessons(tmp_path)
    ranked = LessonStatic.build(store, "v1").top(question, 10)
    assert ranked[0][0] == lesson, ranked
    assert len(ranked) == 3 and ranked[0][1] > ranked[-1][1]
    store.close()


def test_an_empty_course_or_question_gives_nothing(tmp_path):
    empty = CourseStore(tmp_path / "empty.sqlite3")
    assert LessonStatic.build(empty, None).top("loops", 5) == []
    empty.close()
    store = store_with_lessons(tmp_path)
    assert LessonStatic.build(store, "v1").top("   ", 5) == []
    store.close()
