"""Course memory: answers that proved good, given again to questions that mean the same.

Entries live in the ledger (table ``memory_entries``, named queries in bot.ledger.queries)
and, for matching, in memory: one matrix of question embeddings per course and
workspace. A match needs the cosine similarity of the questions to reach
``[memory] threshold`` and their key terms to agree (bot.memory.match). An entry is
given again only while it has proved good (bot.memory.rules.proved_good), its cited
course files are unchanged and it is younger than ``[memory] ttl_days``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.config import Settings
from bot.core.privacy import Redactor
from bot.events import Citation, IncomingMessage, Reply
from bot.ledger import queries
from bot.ledger.queries import MemoryRow
from bot.ledger.store import LedgerError
from bot.memory.match import same_question, terms
from bot.memory.rules import not_reusable, proved_good, refers_back
from bot.memory.sources import SourceHashes
from bot.ports import Embedder, Recalled

log = logging.getLogger(__name__)

EVERYWHERE = ("*", "*")  # the scope of the CLI's entries: every platform and workspace
DAY_S = 86_400
MEMORY_MODEL = "memory"  # the model name of answers given from memory


class MemoryStore(Protocol):
    """What course memory needs of the ledger (bot.ledger.store.Ledger has it)."""

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def write(self, *statements: tuple[str, Sequence[Any]]) -> list[int]: ...

    async def insert(self, sql: str, params: Sequence[Any]) -> int: ...


@dataclass(slots=True)
class Entry:
    """One remembered answer, as matching sees it."""

    id: int
    scope: tuple[str, str]
    question: str
    answer: str
    origin: str  # cloud | local | pinned
    model: str
    citations: tuple[Citation, ...]
    sources: dict[str, str]
    vector: np.ndarray
    terms: frozenset[str]
    cost_usd: float | None
    correlation_id: str
    created_at: float
    votes_up: int = 0
    votes_down: int = 0
    uses: int = 0

    @property
    def reusable(self) -> bool:
        return proved_good(self.origin, self.votes_up, self.votes_down)


@dataclass(slots=True)
class _Scope:
    ids: list[int] = field(default_factory=list)
    matrix: np.ndarray | None = None  # rows in ``ids`` order; None: rebuild


class CourseMemory:
    """Implements the AnswerMemory port, plus curation (``add``, ``entries``, ``forget``)."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embedder: Embedder | None,
        *,
        course_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        keeps_answers: bool = True,
    ) -> None:
        self.settings = settings
        self.config = settings.memory
        self.store = store
        self.embedder = embedder
        self.course = settings.knowledge.collection
        self.sources = SourceHashes(course_dir)
        self.redactor = Redactor(settings.privacy)
        self.recalled = 0  # answers given from memory by this process
        # False until there is a course: then pinned answers are given, none is learned
        # (so a bot without course material never loads the embedder to remember one).
        self.keeps_answers = keeps_answers
        self._clock = clock
        self._entries: dict[int, Entry] = {}
        self._scopes: dict[tuple[str, str], _Scope] = {}
        self._lock = asyncio.Lock()
        self._unavailable = False  # the ledger cannot be read: memory is off this run

    @property
    def enabled(self) -> bool:
        return self.config.enabled and self.embedder is not None and not self._unavailable

    async def open(self) -> CourseMemory:
        """Load the entries in use for this course (and retire the expired ones)."""
        try:
            rows = await queries.memory_entries(self.store, self.course)
        except LedgerError as exc:  # answering goes on without memory (see Ledger.degrade)
            log.warning("course memory is off: %s", exc)
            self._unavailable = True
            return self
        name = self.embedder.name if self.embedder is not None else None
        for row in rows:
            if row.embedder != name:
                continue  # another embedder's vectors cannot be compared with ours
            self._add_entry(_entry(row))
        if self.enabled:
            for entry in list(self._entries.values()):
                if self._expired(entry):
                    await self._retire(entry, "ttl")
        log.info("course memory: %d entries for %s", len(self._entries), self.course)
        return self

    # --- the AnswerMemory port ----------------------------------------------------------

    async def recall(
        self, message: IncomingMessage, question: str, *, follow_up: bool = False
    ) -> Recalled | None:
        """A proved answer to a question that means the same, in this workspace, or None.

        A ``follow_up`` (the conversation has earlier turns) that leans on them ("what
        about tuples?") is not answered from memory: alone it means something else.
        """
        if not self.enabled or not self._entries:
            return None
        if follow_up and refers_back(question):
            return None
        if not_reusable(message, question, self.redactor) or not (asked := terms(question)):
            return None
        vector = await self._embed(question)
        candidates: list[tuple[bool, float, Entry]] = []
        for scope in (_scope_of(message), EVERYWHERE):
            ids, matrix = self._matrix(scope)
            if matrix is None:
                continue
            sims = matrix @ vector
            for i in np.flatnonzero(sims >= self.config.threshold):
                entry = self._entries[ids[i]]
                if entry.reusable and same_question(
                    float(sims[i]), asked, entry.terms, self.config.threshold
                ):
                    candidates.append((entry.origin == "pinned", float(sims[i]), entry))
        candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)  # pinned answers win
        for _, similarity, entry in candidates:
            if self._expired(entry):
                await self._retire(entry, "ttl")
                continue
            changed = await asyncio.to_thread(self.sources.changed, entry.sources)
            if changed is not None:
                await self._retire(entry, f"source-changed:{changed}")
                continue
            entry.uses += 1
            self.recalled += 1
            await queries.memory_used(self.store, entry.id, self._clock())
            return Recalled(
                entry_id=entry.id,
                answer=entry.answer,
                citations=entry.citations,
                similarity=similarity,
                pinned=entry.origin == "pinned",
                saved_usd=entry.cost_usd,
            )
        return None

    async def remember(
        self,
        message: IncomingMessage,
        question: str,
        reply: Reply,
        *,
        private: bool = False,
        follow_up: bool = False,
    ) -> None:
        """Keep an answer to give again, if it may be: see the module docstring."""
        if not self.enabled or not self.keeps_answers or private or follow_up:
            return
        if reply.route not in ("local", "cloud") or reply.outcome != "answered" or reply.notice:
            return
        if reply.model not in self.settings.models:
            return  # made from the course without a model (navigation, a quote): free anyway
        if not_reusable(message, question, self.redactor) or not (asked := terms(question)):
            return
        if self.redactor.redact(reply.text)[1]:
            return
        vector = await self._embed(question)
        origin = reply.route
        if self._known(_scope_of(message), vector, asked, origin):
            return
        await self._store(
            scope=_scope_of(message),
            question=question,
            answer=reply.text,
            origin=origin,
            model=reply.model,
            citations=reply.citations,
            vector=vector,
            cost_usd=reply.usage.cost_usd,
            correlation_id=reply.correlation_id or message.correlation_id,
        )

    # --- curation ---------------------------------------------------------------------------

    async def add(
        self,
        question: str,
        answer: str,
        *,
        source: str | None = None,
        scope: tuple[str, str] = EVERYWHERE,
    ) -> int:
        """A moderator's answer, pinned: given to questions that mean the same."""
        if self.embedder is None:
            raise RuntimeError(
                "course memory needs the course embedder: pip install -e '.[knowledge]'"
            )
        question, answer = question.strip(), answer.strip()
        if not question or not answer:
            raise ValueError("both the question and the answer must have text")
        if not terms(question):
            raise ValueError("the question has no words to match others by")
        citations = (Citation(source, Path(source).stem, 1.0),) if source else ()
        return await self._store(
            scope=scope,
            question=question,
            answer=answer,
            origin="pinned",
            model=MEMORY_MODEL,
            citations=citations,
            vector=await self._embed(question),
            cost_usd=None,
            correlation_id="",
        )

    def entries(self, scope: tuple[str, str] | None = None) -> list[Entry]:
        """The entries in use (of one scope and the everywhere scope, or all), by id."""
        found = [
            e for e in self._entries.values() if scope is None or e.scope in (scope, EVERYWHERE)
        ]
        return sorted(found, key=lambda e: e.id)

    async def pin(self, entry_id: int) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or not await queries.pin_memory(self.store, entry_id):
            return False
        entry.origin = "pinned"
        return True

    async def forget(self, entry_id: int, why: str = "forgotten") -> bool:
        entry = self._entries.get(entry_id)
        if entry is None:
            return await queries.retire_memory(self.store, entry_id, self._clock(), why)
        await self._retire(entry, why)
        return True

    async def voted(self, correlation_id: str) -> None:
        """Learners voted on an answer: its entry takes the recorded votes (latest wins)."""
        if not correlation_id or self._unavailable:
            return
        counts = await queries.sync_memory_votes(self.store, correlation_id)
        if counts is None:
            return
        for entry in self._entries.values():
            if entry.correlation_id == correlation_id:
                entry.votes_up, entry.votes_down = counts

    # --- internals --------------------------------------------------------------------------

    async def _embed(self, text: str) -> np.ndarray:
        assert self.embedder is not None
        (vector,) = await self.embedder.embed([text])
        array = np.asarray(vector, dtype=np.float32)
        return array / max(float(np.linalg.norm(array)), 1e-12)

    def _known(
        self, scope: tuple[str, str], vector: np.ndarray, asked: frozenset[str], origin: str
    ) -> bool:
        """Is an entry that means the same already kept (reusable, or of this origin)?"""
        for where in (scope, EVERYWHERE):
            ids, matrix = self._matrix(where)
            if matrix is None:
                continue
            sims = matrix @ vector
            for i in np.flatnonzero(sims >= self.config.threshold):
                entry = self._entries[ids[i]]
                if (entry.reusable or entry.origin == origin) and same_question(
                    float(sims[i]), asked, entry.terms, self.config.threshold
                ):
                    return True
        return False

    async def _store(
        self,
        *,
        scope: tuple[str, str],
        question: str,
        answer: str,
        origin: str,
        model: str,
        citations: Sequence[Citation],
        vector: np.ndarray,
        cost_usd: float | None,
        correlation_id: str,
    ) -> int:
        assert self.embedder is not None
        sources = await asyncio.to_thread(
            lambda: {c.source: self.sources.hash(c.source) for c in citations}
        )
        now = self._clock()
        row = MemoryRow(
            id=0,
            platform=scope[0],
            workspace=scope[1],
            course=self.course,
            question=question,
            answer=answer,
            origin=origin,
            model=model,
            citations=json.dumps(
                [{"source": c.source, "title": c.title, "score": c.score} for c in citations]
            ),
            sources=json.dumps(sources),
            embedder=self.embedder.name,
            embedding=vector.astype(np.float32).tobytes(),
            cost_usd=cost_usd,
            correlation_id=correlation_id,
            votes_up=0,
            votes_down=0,
            uses=0,
            created_at=now,
            last_used_at=None,
        )
        async with self._lock:
            entry_id = await queries.add_memory(self.store, row)
            self._add_entry(_entry(row._replace(id=entry_id)))
            await self._evict(scope)
        return entry_id

    async def _evict(self, scope: tuple[str, str]) -> None:
        """Past ``max_entries`` in a scope, the least used (then oldest) unpinned entries go."""
        ids = self._scopes[scope].ids
        excess = len(ids) - self.config.max_entries
        if excess <= 0:
            return
        unpinned = [self._entries[i] for i in ids if self._entries[i].origin != "pinned"]
        unpinned.sort(key=lambda e: (e.uses, e.created_at))
        for entry in unpinned[:excess]:
            await self._retire(entry, "evicted")

    def _add_entry(self, entry: Entry) -> None:
        self._entries[entry.id] = entry
        scope = self._scopes.setdefault(entry.scope, _Scope())
        scope.ids.append(entry.id)
        scope.matrix = None

    async def _retire(self, entry: Entry, why: str) -> None:
        log.info("course memory: entry %d retired (%s)", entry.id, why)
        await queries.retire_memory(self.store, entry.id, self._clock(), why)
        self._entries.pop(entry.id, None)
        scope = self._scopes.get(entry.scope)
        if scope is not None and entry.id in scope.ids:
            scope.ids.remove(entry.id)
            scope.matrix = None

    def _matrix(self, where: tuple[str, str]) -> tuple[list[int], np.ndarray | None]:
        scope = self._scopes.get(where)
        if scope is None or not scope.ids:
            return [], None
        if scope.matrix is None:
            scope.matrix = np.stack([self._entries[i].vector for i in scope.ids])
        return scope.ids, scope.matrix

    def _expired(self, entry: Entry) -> bool:
        return self._clock() - entry.created_at > self.config.ttl_days * DAY_S


def _scope_of(message: IncomingMessage) -> tuple[str, str]:
    return (message.platform, message.workspace or "")


def _entry(row: MemoryRow) -> Entry:
    citations = tuple(
        Citation(str(c["source"]), str(c["title"]), float(c["score"]))
        for c in json.loads(row.citations)
    )
    return Entry(
        id=row.id,
        scope=(row.platform, row.workspace),
        question=row.question,
        answer=row.answer,
        origin=row.origin,
        model=row.model,
        citations=citations,
        sources=dict(json.loads(row.sources)),
        vector=np.frombuffer(row.embedding, dtype=np.float32).copy(),
        terms=terms(row.question),
        cost_usd=row.cost_usd,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        votes_up=row.votes_up,
        votes_down=row.votes_down,
        uses=row.uses,
    )
