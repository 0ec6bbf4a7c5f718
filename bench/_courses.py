"""Evaluation courses built from documentation that ships with Python itself.

No one on the team wrote these texts, and nothing is downloaded:

- ``pyref``: the Python language reference topics that ``pydoc`` serves
  (``pydoc_data.topics``; the ``else`` topic, an exact copy of ``if``, is left out), one
  lesson per topic, in the order of the reference manual's chapters.
- ``stdlib``: standard-library modules, one lesson per module: the module's docstring,
  then the docstrings of its main public functions and classes (and a few methods of
  each class), as ``inspect.getdoc`` gives them, in the order of the library reference.
  (``os`` is left out: its ``__all__`` order puts wait-status macros before anything a
  learner looks for.)

Each course is a folder of Markdown lessons named ``NN-topic.md`` with YAML front matter
(``title``, ``lesson``, ``module`` = the chapter, ``summary`` = the first sentence of the
first paragraph). ``front_matter=False`` writes the same text without front matter or
numbers in the file names (``topic.md``), as a folder of loose documents would be.

The build is deterministic for a given Python version (the texts come from its stdlib).

    python bench/_courses.py pyref /tmp/pyref [--no-front-matter]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SUMMARY_CHARS = 240
MAX_MEMBERS = 30  # public functions/classes per stdlib lesson
MAX_METHODS = 5  # methods per class
MAX_LESSON_CHARS = 10_000  # a stdlib lesson stops growing past this

# The reference manual's chapters and, in each, its pydoc topics in reading order.
PYREF_CHAPTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Lexical analysis",
        ("identifiers", "id-classes", "strings", "numbers", "integers", "floating", "imaginary"),
    ),
    (
        "Data model",
        (
            "objects",
            "types",
            "specialnames",
            "customization",
            "attribute-access",
            "callable-types",
            "sequence-types",
            "numeric-types",
            "context-managers",
        ),
    ),
    ("Execution model", ("execmodel", "naming", "dynamic-features", "exceptions")),
    (
        "Expressions",
        (
            "conversions",
            "atom-identifiers",
            "atom-literals",
            "lists",
            "dict",
            "attribute-references",
            "subscriptions",
            "slicings",
            "calls",
            "await",
            "power",
            "unary",
            "binary",
            "shifting",
            "bitwise",
            "comparisons",
            "in",
            "booleans",
            "lambda",
            "exprlists",
            "operator-summary",
        ),
    ),
    (
        "Simple statements",
        (
            "assert",
            "assignment",
            "augassign",
            "pass",
            "del",
            "return",
            "yield",
            "raise",
            "break",
            "continue",
            "import",
            "global",
            "nonlocal",
        ),
    ),
    (
        "Compound statements",
        ("compound", "if", "while", "for", "try", "with", "function", "class", "async"),
    ),
    (
        "Built-in types",
        (
            "truth",
            "typesseq",
            "typesseq-mutable",
            "string-methods",
            "formatstrings",
            "typesmapping",
            "typesmodules",
            "typesfunctions",
            "typesmethods",
            "bltin-code-objects",
            "bltin-type-objects",
            "bltin-null-object",
            "bltin-ellipsis-object",
            "specialattrs",
        ),
    ),
    ("Tools", ("debugger",)),
)
PYREF_SKIPPED = frozenset({"else"})  # the same text as "if"

# The library reference's chapters and, in each, the modules taught.
STDLIB_CHAPTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Text processing", ("string", "re", "difflib", "textwrap")),
    (
        "Data types",
        (
            "datetime",
            "calendar",
            "collections",
            "heapq",
            "bisect",
            "copy",
            "pprint",
            "enum",
        ),
    ),
    ("Numbers and maths", ("math", "decimal", "fractions", "random", "statistics")),
    ("Functional programming", ("itertools", "functools", "operator")),
    (
        "Files and directories",
        ("pathlib", "os.path", "tempfile", "glob", "fnmatch", "shutil"),
    ),
    ("Data persistence", ("pickle", "shelve", "sqlite3")),
    ("Compression and archives", ("zlib", "gzip", "zipfile", "tarfile")),
    ("File formats", ("csv", "configparser")),
    ("Cryptographic services", ("hashlib", "secrets")),
    (
        "Operating system services",
        ("io", "time", "argparse", "logging", "getpass", "platform"),
    ),
    ("Concurrent execution", ("threading", "subprocess", "sched", "queue", "asyncio")),
    ("Internet data", ("json", "base64", "mimetypes")),
    ("Structured markup", ("html", "xml.etree.ElementTree")),
    ("Internet protocols", ("urllib.parse", "urllib.request", "http.server", "uuid")),
    ("Development tools", ("typing", "doctest", "unittest", "timeit")),
    (
        "Python runtime services",
        ("sys", "dataclasses", "contextlib", "abc", "traceback", "warnings", "inspect"),
    ),
)

_UNDERLINE = re.compile(r"^([*=\-~^])\1{2,}\s*$")
_LEVELS = {"*": 1, "=": 2, "-": 3, "~": 4, "^": 4}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(*])")
_COLUMNS = re.compile(r"\S {3,}\S")


@dataclass(frozen=True, slots=True)
class Lesson:
    slug: str
    title: str
    module: str
    body: str  # Markdown, starting with the "# title" heading


def build(name: str, dest: Path, *, front_matter: bool = True) -> Path:
    """Write course ``name`` ("pyref" or "stdlib") into ``dest`` (emptied first)."""
    lessons = list(COURSES[name]())
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    width = len(str(len(lessons)))
    for number, lesson in enumerate(lessons, 1):
        if front_matter:
            meta = {"title": lesson.title, "lesson": number, "module": lesson.module}
            if summary := summarize(lesson.body):
                meta["summary"] = summary
            head = "---\n" + "".join(f"{k}: {_yaml(v)}\n" for k, v in meta.items()) + "---\n\n"
            path = dest / f"{number:0{width}d}-{lesson.slug}.md"
        else:
            head = ""
            path = dest / f"{lesson.slug}.md"
        path.write_text(head + lesson.body.rstrip() + "\n", encoding="utf-8")
    return dest


def pyref_lessons() -> Iterator[Lesson]:
    from pydoc_data.topics import topics

    listed = {key for _, keys in PYREF_CHAPTERS for key in keys}
    missing = set(topics) - listed - PYREF_SKIPPED
    if missing:  # another Python version: say so rather than drop lessons silently
        print(f"note: pydoc topics not in any chapter: {sorted(missing)}", file=sys.stderr)
    for chapter, keys in PYREF_CHAPTERS:
        for key in keys:
            if key not in topics:
                continue
            body = to_markdown(topics[key])
            title = body.splitlines()[0].lstrip("# ").strip()
            yield Lesson(key, title, chapter, body)


def stdlib_lessons() -> Iterator[Lesson]:
    for chapter, modules in STDLIB_CHAPTERS:
        for name in modules:
            body = _module_markdown(name)
            yield Lesson(name.replace(".", "-").lower(), f"The {name} module", chapter, body)


COURSES: dict[str, Callable[[], Iterator[Lesson]]] = {
    "pyref": pyref_lessons,
    "stdlib": stdlib_lessons,
}


# --- text to Markdown -------------------------------------------------------------------


def to_markdown(text: str, shift: int = 0) -> str:
    """Plain reST-rendered text (pydoc topics, docstrings) as Markdown.

    Underlined titles become headings (``shift`` levels deeper); indented runs become
    fenced code when they look like code, examples, grammar or tables, and plain
    paragraphs otherwise.
    """
    lines = text.expandtabs().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        match = _UNDERLINE.match(underline)
        if (
            match
            and line.strip()
            and not line.startswith(" ")
            and len(underline.rstrip()) >= len(line.rstrip()) - 1
        ):
            level = min(6, _LEVELS[match.group(1)] + shift)
            out += ["", "#" * level + " " + line.strip(), ""]
            i += 2
            continue
        if not line.strip():
            out.append("")
            i += 1
            continue
        indented = line.startswith(" ")
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(" ") == indented:
            if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and not indented:
                break
            block.append(lines[i])
            i += 1
        if not block:  # a heading line the loop above stopped at
            block.append(lines[i])
            i += 1
        if indented and _continues(out):
            out += ["  " + line.strip() for line in block]  # a wrapped list item or line
        elif indented:
            out += _indented(block)
        else:
            out += block
    markdown = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


def _continues(out: list[str]) -> bool:
    """The previous line is prose that an indented line without a blank line continues."""
    if not out or not out[-1].strip() or out[-1].startswith(("#", "```")):
        return False
    return not out[-1].rstrip().endswith(":")


def _indented(block: list[str]) -> list[str]:
    margin = min(len(line) - len(line.lstrip()) for line in block)
    dedented = [line[margin:] for line in block]
    if _looks_like_code(dedented):
        return ["", "```", *dedented, "```", ""]
    return ["", *dedented, ""]


def _looks_like_code(lines: list[str]) -> bool:
    stripped = [line.strip() for line in lines]
    if any(s.startswith((">>>", "...", "+-", "+=", "|")) or "::=" in s for s in stripped):
        return True
    if sum(bool(_COLUMNS.search(s)) for s in stripped) * 2 >= len(stripped):
        return True  # column layout: a table of options
    words = sum(len(s.split()) for s in stripped) / len(stripped)
    prose_start = stripped[0][:1].isupper() or stripped[0][:2] in {"* ", "- "}
    return not (prose_start and words >= 5)


def summarize(markdown: str) -> str:
    """The first sentence of the first prose paragraph, at most ``SUMMARY_CHARS``."""
    fenced = False
    paragraph: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("#"):
            if paragraph:
                break
            continue
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    text = " ".join(paragraph)
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    if len(sentence) > SUMMARY_CHARS:
        sentence = sentence[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " ..."
    return sentence


def _yaml(value: object) -> str:
    """A scalar as YAML: JSON strings are valid YAML double-quoted strings."""
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


# --- standard-library lessons ---------------------------------------------------------------


def _module_markdown(name: str) -> str:
    module = importlib.import_module(name)
    parts = [f"# The {name} module\n"]
    doc = inspect.getdoc(module)
    if doc:
        parts.append(to_markdown(doc, shift=1))
    size = sum(map(len, parts))
    for member, obj in _members(module):
        section = _member_markdown(name, member, obj)
        if size + len(section) > MAX_LESSON_CHARS and size > len(parts[0]) + 1000:
            break
        parts.append(section)
        size += len(section)
    return "\n".join(parts)


def _members(module: object) -> Iterator[tuple[str, object]]:
    """Public functions and classes, in ``__all__`` order, else by name; documented only."""
    name = module.__name__  # type: ignore[attr-defined]
    listed = getattr(module, "__all__", None)
    names = list(listed) if listed else sorted(n for n in dir(module) if not n.startswith("_"))
    count = 0
    for member in names:
        obj = getattr(module, member, None)
        if obj is None or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if not listed and not _defined_in(obj, name):
            continue
        if len(inspect.getdoc(obj) or "") < 30:
            continue
        yield member, obj
        count += 1
        if count == MAX_MEMBERS:
            return


def _defined_in(obj: object, module: str) -> bool:
    owner = getattr(obj, "__module__", "") or ""
    leaf = module.rsplit(".", 1)[-1]
    return owner == module or owner.startswith(module + ".") or owner.lstrip("_") == leaf


def _member_markdown(module: str, member: str, obj: object) -> str:
    heading = f"## {module}.{member}{_signature(obj)}"
    lines = [heading, "", to_markdown(inspect.getdoc(obj) or "", shift=2)]
    if inspect.isclass(obj):
        methods = 0
        for attr, value in vars(obj).items():
            if attr.startswith("_") or not (callable(value) or isinstance(value, classmethod)):
                continue
            doc = inspect.getdoc(value) or ""
            if len(doc) < 30:
                continue
            lines += [f"### {member}.{attr}", "", to_markdown(doc, shift=3)]
            methods += 1
            if methods == MAX_METHODS:
                break
    return "\n".join(lines)


def _signature(obj: object) -> str:
    try:
        signature = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    # "<function copy2 at 0x7f...>" differs from process to process: keep the name only.
    signature = re.sub(
        r"<(?:function|built-in function|class) ([\w.]+)(?: at 0x[0-9a-f]+)?>", r"\1", signature
    )
    signature = re.sub(r" at 0x[0-9a-f]+", "", signature)
    return signature if len(signature) <= 80 else "(...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", choices=sorted(COURSES))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--no-front-matter", action="store_true")
    args = parser.parse_args()
    folder = build(args.course, args.dest, front_matter=not args.no_front_matter)
    files = sorted(folder.iterdir())
    chars = sum(len(f.read_text(encoding="utf-8")) for f in files)
    print(f"{args.course}: {len(files)} lessons, {chars:,} characters in {folder}")


if __name__ == "__main__":
    main()
