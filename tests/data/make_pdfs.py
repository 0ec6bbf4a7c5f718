"""Regenerate the sample PDFs in this folder (they are committed; run this only to change them).

handout.pdf: two pages of real text (Helvetica), a title in its metadata and an outline
(bookmarks) pointing at each page. scanned.pdf: one page holding only an image, like a
scan, so it has no text layer.

    python tests/data/make_pdfs.py
"""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfWriter
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
)

HERE = Path(__file__).resolve().parent

PAGES = [
    (
        "Loops cheat sheet",
        [
            "A for loop visits every item of a sequence in turn.",
            "Use range(n) to repeat a block n times; the stop value is never included.",
            "",
            "A while loop repeats as long as its condition is true.",
            "Use break to leave a loop early and continue to skip to the next round.",
        ],
    ),
    (
        "Common loop mistakes",
        [
            "An infinite loop happens when the while condition never becomes false.",
            "Changing a list while looping over it skips items: loop over a copy instead.",
        ],
    ),
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_handout(path: Path) -> None:
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for heading, lines in PAGES:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        ops = ["BT", "/F1 18 Tf", "72 720 Td", f"({_escape(heading)}) Tj", "/F1 11 Tf"]
        for line in lines:
            ops += ["0 -22 Td", f"({_escape(line)}) Tj"]
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page.replace_contents(stream)
    for number, (heading, _) in enumerate(PAGES):
        writer.add_outline_item(title=heading, page_number=number)
    writer.add_metadata({"/Title": "Loops handout"})
    with path.open("wb") as out:
        writer.write(out)


def make_scan(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure = plt.figure(figsize=(4, 5))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(np.random.default_rng(7).random((60, 48)), cmap="gray")
    axes.axis("off")
    figure.savefig(path, format="pdf", metadata={"CreationDate": None})
    plt.close(figure)


if __name__ == "__main__":
    make_handout(HERE / "handout.pdf")
    make_scan(HERE / "scanned.pdf")
