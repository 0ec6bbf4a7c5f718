"""A simulated semester: does the local share grow by itself, and what does it save?

Twelve weeks of questions from thousands of learners go through the real BotApp: the
real Tutor, router (its classifier on the shipped examples, all-MiniLM-L6-v2), confidence
gate, ledger (SQLite in a temporary folder) and course memory. The local model is an
instant scripted one that answers easy questions fluently and hedges on hard ones (so
the gate escalates them); the cloud is the loopback OpenAI server (tests/loopback), so
token counts and prices are real. Questions come from a bank of topics with realistic
repetition: popularity follows a Zipf law, and every ask is a fresh paraphrase from
templates. Some learners chose privacy; some messages carry pasted code.

A share of questions (``--wordy``, 0.3) comes with words around it, as learners
outside the team write. After each week the router refits from the outcomes (`tutor
learn`, kept only if it routes the held-back suite and held-back outcomes as well).
Printed per week: the local, memory and cloud shares, cloud spend, wrong reuses (a
memory answer given to a question from another bank entry), and the router's own
figures: its local share before generation (memory answers aside), questions it sent to
the cloud though the local model answers them well (missed) and questions it sent local
though the local model hedges on them, so the gate escalates (wasted). ``--json`` prints
one object instead; ``--compare-learning`` runs the same semester without and with the
weekly refit and prints them side by side.

    python bench/semester.py [--quick] [--json] [--weeks 12] [--learners N] [--per-week N]
    python bench/semester.py --quick --compare-learning

Embeddings of each week's questions are computed in one batch before the week runs (the
same model and vectors the tutor would compute one by one), so the run is dominated by
the pipeline rather than by embedding one text at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import BotApp  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.events import ChatMessage, IncomingMessage, ReasonCode  # noqa: E402
from bot.models.base import StreamingModel  # noqa: E402
from bot.ports import Generation, GenerationParams, StreamEvent, TextDelta  # noqa: E402
from tests.loopback.openai_server import OpenAIServer  # noqa: E402

# --- the question bank -------------------------------------------------------------------

CONCEPTS = [
    "a list", "a tuple", "a set", "a dictionary", "a string", "an integer", "a float",
    "a boolean", "a variable", "a function", "a class", "an object", "a module", "a package",
    "a for loop", "a while loop", "recursion", "a lambda function", "a list comprehension",
    "a generator", "an iterator", "a decorator", "an exception", "a virtual environment",
    "an f-string", "slicing", "a method", "a constructor", "inheritance", "polymorphism",
    "a global variable", "a local variable", "a return value", "a default argument",
    "a keyword argument", "None", "a closure", "a context manager", "a docstring",
    "a type hint", "a KeyError", "an IndexError", "a TypeError", "a ValueError",
    "a unit test", "a git commit", "an API", "JSON", "a CSV file", "big O notation",
    "a binary search", "a linked list", "a stack", "a queue", "a hash table",
    "an abstract class", "a static method", "a class method", "the GIL", "async await",
]  # fmt: skip
DIFFERENCES = [
    ("a list", "a tuple"), ("a list", "a set"), ("a tuple", "a set"),
    ("a list", "a dictionary"), ("a dictionary", "a set"), ("a for loop", "a while loop"),
    ("a function", "a method"), ("a class", "an object"), ("a module", "a package"),
    ("== ", "is"), ("append", "extend"), ("append", "insert"), ("remove", "pop"),
    ("a generator", "an iterator"), ("a generator", "a list comprehension"),
    ("a global variable", "a local variable"), ("an argument", "a parameter"),
    ("a static method", "a class method"), ("a shallow copy", "a deep copy"),
    ("a stack", "a queue"), ("an integer", "a float"), ("a string", "a list"),
    ("break", "continue"), ("a KeyError", "an IndexError"), ("a TypeError", "a ValueError"),
    ("git merge", "git rebase"), ("an abstract class", "an interface"),
    ("a thread", "a process"), ("sort", "sorted"), ("print", "return"),
]  # fmt: skip
HOWTO = [
    "add an element to a list", "remove an element from a list", "sort a list",
    "reverse a list", "remove duplicates from a list", "find the maximum of a list",
    "find the minimum of a list", "count the elements of a list", "read a file line by line",
    "write text to a file", "read a CSV file", "read a JSON file", "convert a string to an integer",
    "convert an integer to a string", "convert a list to a set", "split a string into words",
    "join a list of strings", "reverse a string", "check if a string is empty",
    "check if a key is in a dictionary", "loop over a dictionary", "sort a dictionary by value",
    "merge two dictionaries", "swap two variables", "copy a list", "flatten a nested list",
    "catch an exception", "raise an exception", "define a class", "import a module",
    "install a package with pip", "create a virtual environment", "activate a virtual environment",
    "format a number with two decimals", "get input from the user", "generate a random number",
    "measure how long code takes", "write a unit test", "debug a recursive function",
    "make an HTTP request", "parse command line arguments", "commit changes in git",
    "undo the last git commit", "push changes to GitHub", "read an environment variable",
]  # fmt: skip
# Operations on each container: many near misses of one another ("sort a list" and "sort
# a tuple", "convert a list to a set" and "convert a set to a list").
CONTAINERS = ["a list", "a tuple", "a set", "a dictionary", "a string"]
OPERATIONS = [
    "add an element to {c}", "remove an element from {c}", "sort {c}", "copy {c}",
    "loop over {c}", "check if {c} is empty", "get the length of {c}", "print {c}",
    "compare two of {c}", "find an element in {c}", "clear {c}", "save {c} to a file",
]  # fmt: skip
HOWTO += [op.format(c=c) for op in OPERATIONS for c in CONTAINERS]
HOWTO += [f"convert {a} to {b}" for a in CONTAINERS for b in CONTAINERS if a != b]
HOWTO = list(dict.fromkeys(HOWTO))

ADMIN = [
    "reset my password", "reset my progress", "change my username", "get a certificate",
    "submit the first assignment", "submit the second assignment", "contact the instructor",
    "join the office hours", "find the lecture slides", "find the lecture videos",
    "retake the quiz", "retake the exam", "get a refund", "unenroll from the course",
]  # fmt: skip

WHAT = [
    "What is {x}?", "Can you explain {x}?", "what's {x} in python", "Could you explain {x}?",
    "Explain {x}, please", "What exactly is {x}?", "hey, what is {x}?", "{x} - what is it?",
]  # fmt: skip
DIFF = [
    "What is the difference between {a} and {b}?", "How does {a} differ from {b}?",
    "{a} vs {b}: what's the difference?", "difference between {a} and {b}",
    "What's the difference between {a} and {b} in Python?", "{a} or {b}, what's the difference?",
]  # fmt: skip
HOW = [
    "How do I {v}?", "How can I {v} in Python?", "What's the best way to {v}?", "how to {v}",
    "Is there a way to {v}?", "how do you {v} in python", "Can you show me how to {v}?",
]  # fmt: skip
# Learners outside the team write more around a question than the templates do: the
# shipped router sends a good part of these wordy messages to the cloud (about a quarter,
# against a few percent of the bare questions), though the local model answers the
# question inside just as well. They are what the router can learn to keep local.
WRAPS = [
    "I'm new to Python and stuck on this week's exercise. {q} I read the lesson twice and I "
    "still don't get it.",
    "Sorry if this is a dumb question, but {q}",
    "{q} My teacher mentioned it in class today and I didn't follow.",
    "Quick question before the quiz tomorrow: {q} Thanks a lot!",
    "hi all, {q} i've been trying to figure it out for an hour",
    "{q} The course notes go over it really fast and I got lost.",
]
SNIPPETS = [
    "xs = [1, 2, 3]\nprint(xs[{n}])",
    "d = {{'a': 1}}\nprint(d['b{n}'])",
    "def f(n):\n    return f(n - {n})\nf(3)",
    "total = 0\nfor i in range({n}):\n    total += i\nprint(totl)",
]
HARD_CONCEPTS = {
    "recursion", "a generator", "an iterator", "a decorator", "a closure",
    "a context manager", "big O notation", "a linked list", "a hash table", "the GIL",
    "async await", "an abstract class", "polymorphism", "a class method", "inheritance",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    kind: str  # what | diff | how | admin
    slots: dict[str, str]
    hard: bool

    def ask(self, rng: random.Random, wordy: float = 0.0) -> str:
        templates = {"what": WHAT, "diff": DIFF, "how": HOW, "admin": HOW}[self.kind]
        text = rng.choice(templates).format(**self.slots).replace("  ", " ")
        if rng.random() < 0.3:
            text = text.lower()
        if rng.random() < 0.3:
            text = text.rstrip("?")
        text = text[0].upper() + text[1:] if rng.random() < 0.5 else text
        return rng.choice(WRAPS).format(q=text) if rng.random() < wordy else text


def bank(rng: random.Random) -> list[Topic]:
    topics: list[Topic] = []
    for x in CONCEPTS:
        hard = x in HARD_CONCEPTS or rng.random() < 0.25
        topics.append(Topic(len(topics), "what", {"x": x}, hard))
    for a, b in DIFFERENCES:
        hard = a in HARD_CONCEPTS or b in HARD_CONCEPTS or rng.random() < 0.6
        topics.append(Topic(len(topics), "diff", {"a": a.strip(), "b": b}, hard))
    for v in HOWTO:
        topics.append(Topic(len(topics), "how", {"v": v}, rng.random() < 0.5))
    for v in ADMIN:
        topics.append(Topic(len(topics), "admin", {"v": v}, False))
    return topics


# --- the models --------------------------------------------------------------------------

ANSWER_ID = re.compile(r"\[topic (-?\d+)\]")


@dataclass(slots=True)
class Asked:
    """Which topic each question text belongs to, for the scripted models."""

    topics: dict[str, Topic] = field(default_factory=dict)

    def find(self, messages: Sequence[Any]) -> Topic | None:
        last = messages[-1]
        content = (last["content"] if isinstance(last, dict) else last.content).strip()
        if content in self.topics:
            return self.topics[content]
        for text, topic in self.topics.items():  # the question inside a longer turn
            if text in content:
                return topic
        return None


class ScriptedLocal(StreamingModel):
    """An instant local model: fluent on easy questions, hedging (low log-probs) on hard."""

    provider = "embedded"
    is_local = True

    def __init__(self, asked: Asked) -> None:
        self.name = "local"
        self.asked = asked

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[StreamEvent]:
        topic = self.asked.find(messages)
        tid = topic.id if topic else -1
        if topic is None or topic.hard:
            text = f"I'm not sure, maybe it depends on the case [topic {tid}]."
            logprob = -3.0
        else:
            text = (
                f"Here is how it works, with a short example you can try yourself and a "
                f"note on the usual mistake learners make [topic {tid}]."
            )
            logprob = -0.1
        words = text.split(" ")
        for i, word in enumerate(words):
            yield TextDelta(word if i == 0 else " " + word, (logprob,))
        yield Generation(
            text=text,
            model=self.name,
            input_tokens=sum(len(m.content) for m in messages) // 4,
            output_tokens=len(words),
            finish_reason="stop",
            logprobs=(logprob,) * len(words),
        )


def cloud_answer(asked: Asked) -> Any:
    def answer(messages: list[dict[str, Any]]) -> str:
        topic = asked.find(messages)
        tid = topic.id if topic else -1
        body = " ".join(["A careful explanation with an example and a check of understanding."] * 8)
        return f"[topic {tid}] {body}"  # the tag first: a long answer is cut at its end

    return answer


class BatchEmbedder:
    """The real embedder, with each week's questions embedded ahead in one batch."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._vectors: dict[str, list[float]] = {}

    async def prime(self, texts: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            self._vectors.update(zip(chunk, await self.inner.embed(chunk), strict=True))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.prime(texts)
        return [self._vectors[t] for t in texts]


# --- the semester ------------------------------------------------------------------------

CONFIG = """
[tutor]
data_dir = "{data}"
history_turns = 2
system_prompt = "You are a patient tutor for a programming course."

[models.local]
provider = "embedded"
model = "scripted"

[models.cloud]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{cloud}"
max_retries = 0

[tiers.free]
chain = ["local", "cloud"]

[routing]
default_tier = "free"
examples = "{examples}"

[prices.models]
"gpt-4o-mini" = {{ input = 0.15, output = 0.60 }}

[knowledge]
course_dir = "{course}"

[ledger]
max_wait_ms = 600000

[memory]
enabled = {memory}
learn_suite = "{suite}"
"""


@dataclass(slots=True)
class Week:
    local: int = 0
    memory: int = 0
    cloud: int = 0
    failed: int = 0
    spend: float = 0.0
    wrong_reuse: int = 0
    learned: str = ""
    first_local: int = 0  # the router sent it to the local model first (before generation)
    first_cloud: int = 0  # ... straight to the cloud
    missed_local: int = 0  # sent to the cloud, though the local model answers it well
    wasted_local: int = 0  # sent local, though the local model hedges on it (escalated)
    kept: bool = False  # the week's refit was accepted

    @property
    def answers(self) -> int:
        return self.local + self.memory + self.cloud

    def share(self, n: int) -> float:
        return n / self.answers if self.answers else 0.0

    @property
    def routed_local(self) -> float:
        """The router's local share before generation (memory answers never reach it)."""
        routed = self.first_local + self.first_cloud
        return self.first_local / routed if routed else 0.0


async def semester(args: argparse.Namespace) -> dict[str, Any]:
    from knowledge.embeddings import SentenceTransformerEmbedder

    rng = random.Random(args.seed)
    topics = bank(rng)
    order = list(range(len(topics)))
    rng.shuffle(order)  # popularity rank, independent of kind and difficulty
    weights = [0.0] * len(topics)
    for rank, index in enumerate(order, 1):
        weights[index] = 1 / rank**args.zipf
    asked = Asked()
    embedder = BatchEmbedder(SentenceTransformerEmbedder())
    weeks: list[Week] = []
    wrong: list[tuple[str, str]] = []
    cloud_costs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "course").mkdir()
        async with OpenAIServer() as server:
            server.behaviour.answer = cloud_answer(asked)
            config = folder / "config.toml"
            config.write_text(
                CONFIG.format(
                    data=folder / "data",
                    cloud=server.base_url,
                    examples=ROOT / "eval" / "router_examples.jsonl",
                    course=folder / "course",
                    suite=ROOT / "eval" / "suite.jsonl",
                    memory=str(args.memory).lower(),
                )
            )
            settings = load_config(config, {"OPENAI_API_KEY": "sk-semester"})
            app_models = {"local": ScriptedLocal(asked)}
            async with BotApp(settings, models=app_models, embedder=embedder) as app:
                for number in range(1, args.weeks + 1):
                    week = Week()
                    messages = []
                    for i in range(args.per_week):
                        learner = rng.randrange(args.learners)
                        if rng.random() < args.code_share:
                            snippet = rng.choice(SNIPPETS).format(n=rng.randrange(10_000))
                            text = f"Why does this fail?\n```python\n{snippet}\n```"
                            topic = Topic(-1, "code", {}, True)
                        else:
                            topic = rng.choices(topics, weights)[0]
                            text = topic.ask(rng, args.wordy)
                        asked.topics[text] = topic
                        msg = IncomingMessage(
                            text=text,
                            user=f"learner{learner}",
                            channel="help",
                            platform="discord",
                            workspace="course-guild",
                            conversation=f"w{number}-q{i}",  # a thread per question
                            local_only=learner % 50 == 0,  # 2% chose privacy
                        )
                        messages.append((msg, topic))
                    await embedder.prime([m.text for m, _ in messages])
                    for start in range(0, len(messages), args.concurrency):
                        batch = messages[start : start + args.concurrency]
                        replies = await asyncio.gather(*(app.tutor.handle(m) for m, _ in batch))
                        for (_, topic), reply in zip(batch, replies, strict=True):
                            if reply.outcome == "failed":
                                week.failed += 1
                                continue
                            setattr(week, reply.route, getattr(week, reply.route) + 1)
                            count_routing(week, reply, topic)
                            week.spend += reply.usage.cost_usd or 0.0
                            if reply.route == "cloud" and reply.usage.cost_usd:
                                cloud_costs.append(reply.usage.cost_usd)
                            if reply.route == "memory":
                                found = ANSWER_ID.search(reply.text)
                                if found is None or int(found.group(1)) != topic.id:
                                    week.wrong_reuse += 1
                                    given = int(found.group(1)) if found else -1
                                    about = topics[given].slots if given >= 0 else {}
                                    wrong.append((msg_text(batch, topic), str(about)))
                    weeks.append(week)
                    if args.learn:  # the weekly job: the router refits from the week's outcomes
                        learned = await app.learn()
                        week.learned = learned.summary()
                        week.kept = learned.run.kept
                    if not args.json:
                        print_week(number, week)
                entries = len(app.memory.entries())
    answers = sum(w.answers for w in weeks)
    spend = sum(w.spend for w in weeks)
    per_cloud_answer = sum(cloud_costs) / len(cloud_costs) if cloud_costs else 0.0
    all_cloud = answers * per_cloud_answer
    memory = sum(w.memory for w in weeks)
    return {
        "weeks": args.weeks,
        "questions": sum(w.answers + w.failed for w in weeks),
        "learners": args.learners,
        "topics": len(topics),
        "weekly_local_share": [round(w.share(w.local + w.memory), 4) for w in weeks],
        "weekly_memory_share": [round(w.share(w.memory), 4) for w in weeks],
        "weekly_cloud_share": [round(w.share(w.cloud), 4) for w in weeks],
        "weekly_spend_usd": [round(w.spend, 6) for w in weeks],
        "weekly_routed_local": [round(w.routed_local, 4) for w in weeks],
        "weekly_missed_local": [w.missed_local for w in weeks],
        "weekly_wasted_local": [w.wasted_local for w in weeks],
        "refits_kept": sum(w.kept for w in weeks),
        "refits": [w.kept for w in weeks],
        "spend_usd": round(spend, 6),
        "all_cloud_usd": round(all_cloud, 6),
        "saving_vs_all_cloud": round(1 - spend / all_cloud, 4) if all_cloud else None,
        "memory_answers": memory,
        "wrong_reuse": round(sum(w.wrong_reuse for w in weeks) / memory, 5) if memory else 0.0,
        "wrong_reuses": sum(w.wrong_reuse for w in weeks),
        "memory_entries": entries,
        "failed": sum(w.failed for w in weeks),
        "router_learning": [w.learned for w in weeks if w.learned],
        "wrong_examples": [{"asked": a, "given": g} for a, g in wrong[:10]],
    }


def count_routing(week: Week, reply: Any, topic: Topic) -> None:
    """Where the router sent a question before any model ran, and whether that was right."""
    if reply.route == "memory":
        return
    escalated = any(r.code == ReasonCode.LOW_CONFIDENCE for r in reply.reasons)
    if reply.route == "local" or escalated:
        week.first_local += 1
        week.wasted_local += topic.hard
    else:
        week.first_cloud += 1
        week.missed_local += not topic.hard


def msg_text(batch: Sequence[tuple[IncomingMessage, Topic]], topic: Topic) -> str:
    return next(m.text for m, t in batch if t is topic)


def print_week(number: int, week: Week) -> None:
    if number == 1:
        print(
            "week  answers   local  memory   cloud  local+memory  cloud spend  wrong reuses"
            "  routed local  missed  wasted"
        )
    spend = f"${week.spend:.4f}"
    print(
        f"{number:>4} {week.answers:>8} {week.share(week.local):>7.1%}"
        f" {week.share(week.memory):>7.1%} {week.share(week.cloud):>7.1%}"
        f" {week.share(week.local + week.memory):>13.1%} {spend:>12} {week.wrong_reuse:>13}"
        f" {week.routed_local:>13.1%} {week.missed_local:>7} {week.wasted_local:>7}"
    )
    if week.learned:
        print(f"      router: {week.learned}")


def compare_learning(args: argparse.Namespace) -> int:
    """The same semester (same seed, same questions) without and with router learning."""
    runs = {}
    for learn in (False, True):
        args.learn = learn
        started = time.perf_counter()
        runs[learn] = asyncio.run(semester(args))
        runs[learn]["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"no_learn": runs[False], "learn": runs[True]}))
        return 0
    off, on = runs[False], runs[True]
    print("\nrouted local = the router's local share before generation (memory answers aside);")
    print("missed = sent to the cloud though the local model answers well; wasted = sent local")
    print("though it hedges (the gate escalates). Memory on in both runs.\n")
    print("        routed local        local+memory         missed        wasted     refit")
    print("week  no-learn   learn   no-learn   learn   no-learn learn  no-learn learn  kept")
    kept = iter(on["refits"])
    for week in range(args.weeks):
        print(
            f"{week + 1:>4} {off['weekly_routed_local'][week]:>9.1%}"
            f" {on['weekly_routed_local'][week]:>7.1%}"
            f" {off['weekly_local_share'][week]:>10.1%} {on['weekly_local_share'][week]:>7.1%}"
            f" {off['weekly_missed_local'][week]:>10} {on['weekly_missed_local'][week]:>5}"
            f" {off['weekly_wasted_local'][week]:>9} {on['weekly_wasted_local'][week]:>5}"
            f" {'yes' if next(kept) else 'no':>5}"
        )
    for name, run in (("no-learn", off), ("learn", on)):
        print(
            f"{name:>8}: local+memory {sum(run['weekly_local_share']) / args.weeks:.1%} on"
            f" average, {sum(run['weekly_missed_local'])} missed,"
            f" {sum(run['weekly_wasted_local'])} wasted, {run['saving_vs_all_cloud']:.1%} saved,"
            f" {run['wrong_reuses']} wrong reuses, {run['seconds']} s"
        )
    print(f"refits kept: {on['refits_kept']} of {args.weeks}")
    return 0


GOALS = (
    ("week 1 local+memory >= 55%", lambda r: r["weekly_local_share"][0] >= 0.55),
    ("last week local+memory >= 85%", lambda r: r["weekly_local_share"][-1] >= 0.85),
    (">= 80% cheaper than all-cloud", lambda r: (r["saving_vs_all_cloud"] or 0) >= 0.80),
    ("wrong reuse <= 0.5% of memory answers", lambda r: r["wrong_reuse"] <= 0.005),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions: under 2 minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--learners", type=int, default=None, help="(quick 2,000; else 8,000)")
    parser.add_argument("--per-week", type=int, default=None, help="questions a week")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent")
    parser.add_argument("--code-share", type=float, default=0.03, help="pasted-code messages")
    parser.add_argument(
        "--wordy", type=float, default=0.3, help="share of questions asked with words around them"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--no-learn", dest="learn", action="store_false", help="no weekly router refit"
    )
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="course memory off (to compare)"
    )
    parser.add_argument(
        "--compare-learning",
        action="store_true",
        help="run the semester without and with the weekly refit (memory as set) side by side",
    )
    args = parser.parse_args()
    args.learners = args.learners or (2000 if args.quick else 8000)
    args.per_week = args.per_week or (300 if args.quick else 2000)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the SDK's pool closing at exit
    if args.compare_learning:
        return compare_learning(args)
    started = time.perf_counter()
    result = asyncio.run(semester(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"\n{result['questions']:,} questions from {result['learners']:,} learners on "
        f"{result['topics']} topics in {result['seconds']} s; "
        f"{result['memory_entries']} answers in memory at the end"
    )
    print(
        f"cloud spend ${result['spend_usd']:.4f} against ${result['all_cloud_usd']:.4f} "
        f"all-cloud: {result['saving_vs_all_cloud']:.1%} saved"
    )
    print(
        f"wrong reuses: {result['wrong_reuses']} of {result['memory_answers']:,} memory answers "
        f"({result['wrong_reuse']:.2%})"
    )
    for goal, met in GOALS:
        print(f"  [{'x' if met(result) else ' '}] {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
