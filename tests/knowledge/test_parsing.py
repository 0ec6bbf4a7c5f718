"""Parsers and chunking, format by format, on real sample files in tests/data/."""

from __future__ import annotations

import pytest

from knowledge.chunking import CODE_LIMIT, chunk_document, lesson_info
from knowledge.document import Block, Document, ParseError
from knowledge.parsers import parser_for
from tests.knowledge.conftest import COURSE, DATA


def parse(name: str) -> Document:
    path = DATA / name
    parser = parser_for(path.suffix)
    assert parser is not None
    return parser(path.read_bytes())


def test_markdown_front_matter_headings_and_whole_code_blocks():
    doc = parse("lesson.md")
    info = lesson_info(doc, "05-loops.md")
    assert (info.title, info.lesson, info.module) == ("Loops", 5, "Control flow")
    assert info.summary == "Repeat work with for and while loops."
    assert info.display_title == "Lesson 5: Loops"
    assert info.sections == ("The for loop", "range()", "The while loop", "Exercises")

    chunks = chunk_document(doc, max_chars=900)
    by_heading = {c.headings: c.text for c in chunks}
    assert by_heading[()] == "Loops repeat a block of code."  # the H1 title is not a heading
    code = '```python\nfor fruit in ["apple", "banana"]:\n    print(fruit)\n```'
    assert code in by_heading[("The for loop",)]
    assert by_heading[("The for loop", "range()")] == "`range(5)` counts from 0 to 4."
    assert ("The while loop",) in by_heading
    assert chunks[1].title(info) == "Lesson 5: Loops > The for loop"


def test_restructuredtext_sections_docinfo_and_literal_blocks():
    doc = parse("guide.rst")
    info = lesson_info(doc, "guide.rst")
    assert (info.title, info.lesson, info.module) == ("Functions, the basics", 6, "Building blocks")
    chunks = chunk_document(doc, max_chars=900)
    defining = next(c for c in chunks if c.headings == ("Defining a function",))
    assert 'def greet(name):\n    return f"Hello, {name}!"' in defining.text
    assert "- Parameters are the names in the parentheses." in defining.text
    text = "\n".join(c.text for c in chunks)
    # `.. include::` and `.. raw::` are disabled: nothing from the machine or raw HTML.
    assert "root:" not in text and "alert" not in text


def test_html_keeps_content_and_drops_scripts_and_page_chrome():
    doc = parse("page.html")
    info = lesson_info(doc, "dicts.html")
    assert (info.title, info.lesson, info.module) == ("Dictionaries in depth", 7, "Collections")
    chunks = chunk_document(doc, max_chars=900)
    text = "\n".join(c.text for c in chunks)
    for unwanted in ("tracking code", "Copyright", "All lessons", "HTML comment", "sans-serif"):
        assert unwanted not in text
    safely = next(c for c in chunks if c.headings == ("Reading values safely",))
    assert "dict.get(key, default)" in safely.text
    assert 'ages = {"ana": 12}\nprint(ages.get("ben", 0))' in safely.text
    looping = next(c for c in chunks if c.headings == ("Looping",))
    assert looping.text.startswith("- Loop over keys")


def test_pdf_text_layer_with_outline_headings():
    doc = parse("handout.pdf")
    assert doc.title == "Loops handout"
    chunks = chunk_document(doc, max_chars=900)
    assert [c.headings for c in chunks] == [("Loops cheat sheet",), ("Common loop mistakes",)]
    assert "stop value is never included" in chunks[0].text
    assert "infinite loop" in chunks[1].text


def test_pdf_without_a_text_layer_is_a_clear_error():
    with pytest.raises(ParseError, match=r"no text layer.*OCR"):
        parse("scanned.pdf")


def test_plain_text_paragraphs_and_indented_code():
    doc = parse("notes.txt")
    kinds = [b.kind for b in doc.blocks]
    assert kinds == ["text", "text", "code", "text"]
    assert lesson_info(doc, "unit-3/notes.txt").module == "unit-3"
    assert lesson_info(doc, "unit-3/notes.txt").lesson == 3  # from the folder name


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        ("caf\u00e9".encode("latin-1"), "not UTF-8"),
        (b"---\ntitle: [unclosed\n---\n# Hi\n", "invalid YAML front matter"),
    ],
)
def test_markdown_that_is_not_markdown_is_a_clear_error(data, reason):
    parser = parser_for(".md")
    assert parser is not None
    with pytest.raises(ParseError, match=reason):
        parser(data)


def test_broken_pdf_is_a_clear_error():
    parser = parser_for(".PDF")  # extensions match case-insensitively
    assert parser is not None
    with pytest.raises(ParseError, match="PDF"):
        parser(b"%PDF-1.7\nthis is not really a pdf")


def test_long_paragraphs_are_split_and_code_stays_whole():
    sentence = "Lists keep their items in order. "
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(60)) + "\n```"
    doc = Document(
        [
            Block("heading", "Section", 2),
            Block("text", sentence * 60),
            Block("code", code),
        ]
    )
    chunks = chunk_document(doc, max_chars=300)
    prose = [c for c in chunks if "```" not in c.text]
    assert len(prose) > 3 and all(len(c.text) <= 300 for c in prose)
    assert all(c.text.endswith("order.") for c in prose)  # split at sentence ends
    assert [c.text for c in chunks if "```" in c.text] == [code]  # longer than 300, kept whole
    assert all(c.headings == ("Section",) for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_only_a_huge_code_block_is_split_at_line_boundaries():
    lines = [f"print({i})" for i in range(1000)]
    doc = Document([Block("code", "\n".join(lines))])
    chunks = chunk_document(doc, max_chars=200)
    assert len(chunks) > 1
    assert all(len(c.text) <= 200 * CODE_LIMIT for c in chunks)
    assert "\n".join(c.text for c in chunks).split("\n") == lines  # nothing lost or cut


def test_a_chunk_never_crosses_a_heading():
    doc = Document(
        [
            Block("heading", "A", 2),
            Block("text", "one"),
            Block("heading", "A.1", 3),
            Block("text", "two"),
            Block("heading", "B", 2),
            Block("text", "three"),
        ]
    )
    chunks = chunk_document(doc, max_chars=900)
    assert [(c.headings, c.text) for c in chunks] == [
        (("A",), "one"),
        (("A", "A.1"), "two"),
        (("B",), "three"),
    ]


def test_every_sample_lesson_has_front_matter_and_exercises():
    for path in sorted(COURSE.glob("*.md")):
        parser = parser_for(path.suffix)
        assert parser is not None
        doc = parser(path.read_bytes())
        info = lesson_info(doc, path.name)
        assert info.lesson == int(path.name[:2]), path
        assert info.module and info.summary, path
        assert "Exercises" in info.sections, path


def _alias_bomb(levels: int) -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"title: *a{levels - 1}")
    return ("---\n" + "\n".join(lines) + "\n---\n# Lesson\n\nText.\n").encode()


def test_a_yaml_alias_bomb_in_front_matter_is_refused():
    """Finding 6: a few hundred bytes must not become gigabytes of title."""
    parser = parser_for(".md")
    assert parser is not None
    with pytest.raises(ParseError, match="aliases"):
        parser(_alias_bomb(6))  # a million strings if expanded; a billion at nine levels


def test_front_matter_keeps_scalars_and_drops_the_rest():
    parser = parser_for(".md")
    assert parser is not None
    doc = parser(b"---\ntitle: Loops\nlesson: 5\ntags: [a, b]\nextra: {x: 1}\n---\n# Hi\n")
    assert doc.metadata == {"title": "Loops", "lesson": 5}
    with pytest.raises(ParseError, match="front matter is too large"):
        parser(b"---\ntitle: " + b"x" * 70_000 + b"\n---\n# Hi\n")
