"""Escalated questions and their cloud answers, as chat-format JSONL for fine-tuning.

Today's escalations are tomorrow's local answers: a local model fine-tuned on what
the cloud answered learns the questions it could not handle. Personal data is
redacted as it would be before reaching the cloud.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.config import Settings
from bot.core.privacy import Redactor


class _Escalations(Protocol):
    async def escalated_answers(self, since: float = ...) -> Sequence[tuple[str, str]]: ...


async def export_finetune(
    settings: Settings, ledger: _Escalations, out: Path, *, since_days: float | None = None
) -> int:
    """Write one ``{"messages": [system, user, assistant]}`` line per escalation; the count."""
    since = time.time() - since_days * 86_400 if since_days else 0.0
    rows = await ledger.escalated_answers(since)
    redactor = Redactor(settings.privacy)
    system = settings.tutor.system_prompt.strip()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for question, answer in rows:
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": redactor.redact(question)[0]},
                {"role": "assistant", "content": redactor.redact(answer)[0]},
            ]
            f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
    return len(rows)
