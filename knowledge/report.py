"""Words for an ingest run: the summary ``tutor ingest`` prints and ``/tutor reindex`` posts."""

from __future__ import annotations

from knowledge.ingest import IngestReport

MAX_LISTED = 20


def describe(report: IngestReport, *, markdown: bool = False) -> str:
    """A short summary line, then one line per skipped or failed file."""
    changed = f"{report.indexed} new or changed, {report.unchanged} unchanged"
    lines = [
        f"Ingested {report.files} files ({changed}, {report.removed} removed): "
        f"{report.chunks} chunks embedded, {report.total_chunks} in the index; "
        f"{len(report.skipped)} skipped, {len(report.failed)} failed; {report.seconds:.1f} s."
    ]
    if report.chunks and report.embed_seconds > 0:
        lines.append(f"Embedding: {report.chunks / report.embed_seconds:.1f} chunks/s.")
    if report.unsupported:
        files = "file" if report.unsupported == 1 else "files"
        lines.append(f"{report.unsupported} {files} of other types left out.")
    path = "`{}`" if markdown else "{}"
    for label, problems in (("skipped", report.skipped), ("FAILED", report.failed)):
        for problem in problems[:MAX_LISTED]:
            lines.append(f"  {label}: {path.format(problem.path)}: {problem.reason}")
        if len(problems) > MAX_LISTED:
            lines.append(f"  ... and {len(problems) - MAX_LISTED} more {label.lower()}")
    return "\n".join(lines)
