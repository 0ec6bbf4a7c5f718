"""Recent turns per conversation, bounded in length and in number of conversations."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import LRUCache

from bot.events import ChatMessage


class ConversationHistory:
    """Keeps the last ``turns`` exchanges of each conversation, in memory.

    The least recently used conversations are dropped past ``max_conversations``,
    so memory stays bounded however many learners there are.
    """

    def __init__(self, turns: int, max_conversations: int) -> None:
        self._turns = turns
        self._store: LRUCache[Hashable, deque[ChatMessage]] = LRUCache(max_conversations)

    def get(self, key: Hashable) -> list[ChatMessage]:
        return list(self._store.get(key, ()))

    def add(self, key: Hashable, question: str, answer: str) -> None:
        if self._turns == 0:
            return
        turns = self._store.get(key)
        if turns is None:
            turns = self._store[key] = deque(maxlen=2 * self._turns)
        turns.append(ChatMessage("user", question))
        turns.append(ChatMessage("assistant", answer))

    def forget(self, key: Hashable) -> None:
        self._store.pop(key, None)

    def forget_where(self, match: Callable[[Any], bool]) -> int:
        keys = [key for key in self._store if match(key)]
        for key in keys:
            del self._store[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._store)
