"""Recent turns per conversation, bounded in length, in number and in bytes."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any

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
