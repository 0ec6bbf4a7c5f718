"""Real questions no one on the team wrote: the FAQ headings of four Python projects.

No package on the registry ships labelled paraphrase pairs (Quora Question Pairs, PAWS,
MRPC, STS-B and the like are all downloaded from hubs at run time, and the packages that
load them ship only the loading code). What the registry does ship is documentation:
the source distributions of these projects carry their FAQ pages, and every FAQ heading
that ends in "?" is a real question, written by the project's authors for their users:

- django 5.2.19 ``docs/faq/*.txt`` (BSD-3-Clause)
- sqlalchemy 2.1.9 ``doc/build/faq/*.rst`` (MIT)
- celery 5.7.0 ``docs/faq.rst`` (BSD-3-Clause)
- mypy 2.4.1 ``docs/source/faq.rst`` (MIT)

(Only projects whose documentation is under a permissive licence: Pylint's FAQ, for
one, is GPL and is left out.)

Two headings of one FAQ are two different questions with two different answers
("What Python version can I use with Django?" and "What Python version should I use
with Django?" are both in Django's FAQ), so every pair of them is a near miss that
course memory must not answer. This script downloads the four source distributions with
pip (no dependencies, nothing installed), extracts the headings (RST markup taken off)
and writes them, with where each came from, to ``eval/memory_pairs_faq.jsonl``:

    python bench/_faq_questions.py [--out eval/memory_pairs_faq.jsonl]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SOURCES: tuple[tuple[str, str, str, str], ...] = (
    # package, version, FAQ files inside the source distribution (a regex), licence
    ("django", "5.2.19", r"docs/faq/[a-z_]+\.txt", "BSD-3-Clause"),
    ("sqlalchemy", "2.1.9", r"doc/build/faq/[a-z_]+\.rst", "MIT"),
    ("celery", "5.7.0", r"docs/faq\.rst", "BSD-3-Clause"),
    ("mypy", "2.4.1", r"docs/source/faq\.rst", "MIT"),
)
UNDERLINE = re.compile(r"([=\-~^\"+*#])\1{2,}")
ROLE = re.compile(r":[a-z]+:`([^`<]*?)(?:\s*<[^>]*>)?`")  # :envvar:`X` -> X


def clean(heading: str) -> str:
    """A heading as a learner would type it: RST roles, literals and escapes taken off."""
    text = ROLE.sub(r"\1", heading)
    text = text.replace("``", "").replace("`", "").replace("\\*", "*")
    return " ".join(text.split()).replace(" ?", "?")


def questions(text: str) -> list[str]:
    """Headings (a line underlined by a run of one punctuation mark) that end in "?"."""
    lines = text.splitlines()
    found = []
    for line, under in itertools.pairwise(lines):
        if line.strip().endswith("?") and UNDERLINE.fullmatch(under.strip()):
            found.append(clean(line))
    return found


def download(package: str, version: str, folder: Path) -> Path:
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    only_sources = ["--no-binary", ":all:", "--no-build-isolation"]
    subprocess.run([*pip, *only_sources, f"{package}=={version}", "-d", str(folder)], check=True)
    return next(folder.glob(f"{package}-{version}.tar.gz"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "memory_pairs_faq.jsonl")
    args = parser.parse_args()
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, pattern, licence in SOURCES:
            archive = download(package, version, Path(tmp) / package)
            with tarfile.open(archive) as tar:
                for member in sorted(tar.getmembers(), key=lambda m: m.name):
                    inner = member.name.split("/", 1)[-1]
                    if not re.fullmatch(pattern, inner):
                        continue
                    raw = tar.extractfile(member)
                    if raw is None:
                        continue
                    for q in questions(raw.read().decode("utf-8")):
                        if q.casefold() in seen:
                            continue  # the same heading twice is one question
                        seen.add(q.casefold())
                        source = f"{package} {version} {inner}"
                        rows.append({"q": q, "source": source, "license": licence})
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} questions written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
