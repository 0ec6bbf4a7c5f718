"""Recent turns per conversation, bounded in length, in number and in bytes."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.events import ChatMessage

DEFAULT_MAX_BYTES = 64 * 2**20  # 64 MiB of message text across all conversations


class ConversationHistory:
    """Keeps the last ``turns`` exchanges of each conversation, in memory.

    The least recently used conversations are dropped past ``max_conversations`` or once
    their text passes ``max_bytes`` (UTF-8) in all, so memory stays bounded however many
    learners there are and however long their messages. One exchange larger than the
    whole bound is not kept.
    """

    def __init__(
        self, turns: int, max_conversations: int, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self._turns = turns
        self._max_conversations = max_conversations
        self._max_bytes = max_bytes
        self._store: OrderedDict[Hashable, deque[ChatMessage]] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """The UTF-8 size of every message kept."""
        return self._bytes

    def get(self, key: Hashable) -> list[ChatMessage]:
        turns = self._store.get(key)
        if turns is None:
            return []
        self._store.move_to_end(key)
        return list(turns)

    def add(self, key: Hashable, question: str, answer: str) -> None:
        if self._turns == 0:
            return
        turns = self._store.pop(key, None) or deque()
        self._bytes -= self._sizes.pop(key, 0)
        turns.append(ChatMessage("user", question))
        turns.append(ChatMessage("assistant", answer))
        while len(turns) > 2 * self._turns:
            turns.popleft()
        size = sum(_size(m) for m in turns)
        while turns and size > self._max_bytes:  # the oldest exchanges go first
            size -= _size(turns.popleft()) + (_size(turns.popleft()) if turns else 0)
        if not turns:
            return
        self._store[key] = turns
        self._sizes[key] = size
        self._bytes += size
        while len(self._store) > self._max_conversations or self._bytes > self._max_bytes:
            self._drop(next(iter(self._store)))

    def replace(self, key: Hashable, pairs: Sequence[tuple[str, str]]) -> None:
        """Set a conversation's turns (restored from the ledger), within the same bounds."""
        self.forget(key)
        for question, answer in pairs[-self._turns :] if self._turns else ():
            self.add(key, question, answer)

    def __contains__(self, key: object) -> bool:
        return key in self._store

    def forget(self, key: Hashable) -> None:
        if key in self._store:
            self._drop(key)

    def forget_where(self, match: Callable[[Any], bool]) -> int:
        keys = [key for key in self._store if match(key)]
        for key in keys:
            self._drop(key)
        return len(keys)

    def _drop(self, key: Hashable) -> None:
        del self._store[key]
        self._bytes -= self._sizes.pop(key)

    def __len__(self) -> int:
        return len(self._store)


def _size(message: ChatMessage) -> int:
    return len(message.content.encode("utf-8", "surrogatepass"))


# --- restoring conversations from the ledger --------------------------------------------

# Replies that never entered a conversation's history: hints, off-topic redirects, the
# course quoted instead of a weak answer.
_NOT_HISTORY = frozenset({"hint", "off-topic", "course-quote"})
# Replies that never counted towards sticky escalation: "ask the detailed model" answers.
_NOT_STICKY = frozenset({"learner-vote"})


@dataclass(frozen=True, slots=True)
class PastTurn:
    """One recorded reply of a conversation, as the ledger keeps it."""

    tier: str
    route: str  # local | cloud | memory
    model: str  # 'none' when nothing answered
    outcome: str  # answered | fell_back | failed
    codes: tuple[str, ...]  # the reply's reason codes
    question: str | None  # None once purged, forgotten, or never kept
    answer: str | None


@runtime_checkable
class TurnSource(Protocol):
    """Where earlier turns of a conversation are read from (the ledger).

    ``shared`` is true when other instances write to the same place: then a conversation's
    turns are read again on each message, since its latest turn may have been answered
    elsewhere. Otherwise they are read once per conversation, when it is not in memory.
    """

    @property
    def shared(self) -> bool: ...

    async def recent_turns(self, key: tuple[str, str, str, str, str], limit: int) -> list[PastTurn]:
        """The conversation's latest ``limit`` replies, oldest first."""
        ...


def history_pairs(turns: Sequence[PastTurn]) -> list[tuple[str, str]]:
    """(question, answer) of the turns that entered the conversation's history."""
    return [
        (turn.question, turn.answer)
        for turn in turns
        if turn.question
        and turn.answer
        and turn.model != "none"
        and turn.outcome != "failed"
        and not _NOT_HISTORY.intersection(turn.codes)
    ]


def sticky_left(turns: Sequence[PastTurn], sticky_turns: Callable[[str], int]) -> int:
    """The cloud turns the conversation has left after ``turns``, replayed as the tutor
    counts them: a cloud answer sets the tier's ``sticky_turns``, each sticky one uses one."""
    left = 0
    for turn in turns:
        if (
            turn.route not in ("local", "cloud")
            or turn.model in ("none", "course")
            or turn.outcome == "failed"
            or _NOT_STICKY.intersection(turn.codes)
            or _NOT_HISTORY.intersection(turn.codes)
        ):
            continue
        if "sticky" in turn.codes:
            left -= 1
        elif turn.route == "cloud":
            left = sticky_turns(turn.tier)
    return max(left, 0)
