"""Feedback and follow-up actions under answers, as Slack Block Kit, and the staff post.

Pure functions. Every value a button carries (the vote, the answer's correlation id,
its route) travels in the button itself, so buttons on answers posted before a restart
still work after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from adapters.slack.format import escape

FEEDBACK_ACTION = "tutor_feedback"
FOLLOW_ACTIONS = {"detail": "tutor_detail", "human": "tutor_human"}
ACTION_IDS = re.compile(r"^tutor_(feedback|detail|human)$")
LABELS = {"detail": "Ask the detailed model", "human": "Ask a TA"}
ASKED = "Was this answer helpful?"
_ANSWER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VOTE = re.compile(r"(up|down):(local|cloud):([A-Za-z0-9_-]{1,64})")


def feedback_blocks(answer: str, route: str) -> list[dict[str, Any]] | None:
    """Slack's feedback_buttons in a context_actions block, for one answer."""
    if not _ANSWER.fullmatch(answer) or route not in {"local", "cloud"}:
        return None
    return [
        {
            "type": "context_actions",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": FEEDBACK_ACTION,
                    "positive_button": {
                        "text": {"type": "plain_text", "text": "\N{THUMBS UP SIGN}"},
                        "accessibility_label": "This answer helped",
                        "value": f"up:{route}:{answer}",
                    },
                    "negative_button": {
                        "text": {"type": "plain_text", "text": "\N{THUMBS DOWN SIGN}"},
                        "accessibility_label": "This answer did not help",
                        "value": f"down:{route}:{answer}",
                    },
                }
            ],
        }
    ]


def follow_blocks(text: str, actions: Sequence[str], answer: str) -> list[dict[str, Any]]:
    """The core's reply to a vote, with the follow-ups it offered as buttons."""
    blocks: list[dict[str, Any]] = [{"type": "markdown", "text": text}]
    buttons = [
        {
            "type": "button",
            "action_id": FOLLOW_ACTIONS[action],
            "text": {"type": "plain_text", "text": LABELS[action]},
            "value": answer,
        }
        for action in actions
        if action in FOLLOW_ACTIONS and _ANSWER.fullmatch(answer)
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def parse_action(action: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(command name, args) for a pressed button; None for one that is not ours."""
    action_id = str(action.get("action_id", ""))
    value = str(action.get("value", ""))
    if action_id == FEEDBACK_ACTION:
        match = _VOTE.fullmatch(value)
        if match is None:
            return None
        vote, route, answer = match.groups()
        return "feedback", {"vote": vote, "route": route, "answer": answer}
    for name, wanted in FOLLOW_ACTIONS.items():
        if action_id == wanted and _ANSWER.fullmatch(value):
            return name, {"answer": value}
    return None


def staff_text(text: str, user_group: str | None) -> str:
    """The hand-off for the staff channel as mrkdwn: the learner's and the bot's words
    escaped so nothing in them can ping, then the staff user group's mention first."""
    body = re.sub(r"&lt;#([CG][A-Z0-9]+)&gt;", r"<#\1>", escape(text), count=1)  # our link
    body = re.sub(r"(?i)@(?=(channel|here|everyone)\b)", "@\u200b", body)
    if user_group and re.fullmatch(r"S[A-Z0-9]{2,}", user_group):
        return f"<!subteam^{user_group}> {body}"
    return body
