"""When two questions mean the same: embedding similarity, guarded by their key terms.

Cosine similarity alone cannot tell "the difference between a list and a tuple" from
"... a list and a set": the sentences share everything but one word. So a match also
needs the questions' key terms (content words, lightly normalised, plus operators,
negation and direction) to be the same: a term one question has that the other lacks is
a near miss whatever the similarity.
The threshold is calibrated on eval/memory_pairs.jsonl (bench/memory_match.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD = re.compile(r"[a-z0-9_+#]+(?:[.\-][a-z0-9_]+)*|[=!<>+\-*/%&|^~@]+")
SYMBOLS = re.compile(r"^[=!<>+\-*/%&|^~@]+$")
PUNCTUATION = frozenset({"-", "/", "--"})  # dashes and slashes of prose, not operators

# Words that carry no topic: grammar, and the ways of asking a question.
_STOP_TEXT = """
    a an the and or but if of to in on at by for with from into about as is are was were be
    been being am do does did doing done have has had having i me my mine we our us you your
    yours he she it its they them their this that these those there here what which who whom
    whose when where why how can could would should shall will may might must not no nor so
    than too very just also any some all each every both either neither one ones other
    another such own same only again then once more most much many few lot lots get got
    getting gets s t d ll m re ve don doesn didn isn aren wasn weren won wouldn couldn
    shouldn cannot can't i'm it's what's whats hi hello hey please thanks thank anyone
    someone something anything way ways thing things really actually still ok okay"""
STOPWORDS = frozenset(_STOP_TEXT.split())
_FILLER_TEXT = """
    explain explained explaining explanation difference differences differ differs different
    between vs versus mean means meaning meant use used using uses usage work works working
    worked understand understanding tell show example examples know need want trying try tried
    help question questions simple simply basically exactly correct correctly right proper
    properly best good way python course lesson guys someone anybody briefly quick quickly
    compare comparison compared contrast purpose point idea concept describe
    go going happen happens happening supposed wrong confused confusing
    possible able doing done does"""
FILLER = frozenset(_FILLER_TEXT.split())
# Words that turn a question round: "print without a newline" is not "print a newline".
_NEGATION_TEXT = "not no never without except dont doesnt didnt cant cannot isnt"
NEGATIONS = frozenset(_NEGATION_TEXT.split())
NEGATED = "~not"
# Words that ask for advice rather than ability: "what version should I use" is not
# "what version can I use" (Django's FAQ answers the two differently). After "how" they
# ask for a method like "how do I" ("how should I name a variable").
ADVICE = frozenset({"should", "shouldnt", "ought"})
ADVISED = "~should"
# Words after which the next key term is a direction: "a string to an integer".
DIRECTIONS = frozenset({"to", "into", "from"})

# Before these words a Python keyword is a key term: "a for loop" is not "a while loop".
KEYWORD_CONTEXT = frozenset(
    {"loop", "loops", "statement", "statements", "keyword", "clause", "block", "operator"}
)

# Spellings of the same term, so "dict" and "dictionary" agree.
SYNONYMS = {
    "dict": "dictionary",
    "dicts": "dictionary",
    "func": "function",
    "fn": "function",
    "var": "variable",
    "vars": "variable",
    "str": "string",
    "int": "integer",
    "arg": "argument",
    "args": "argument",
    "param": "parameter",
    "params": "parameter",
    "elem": "element",
    "item": "element",
    "items": "element",
    "err": "error",
    "exception": "error",
    "exceptions": "error",
    "pw": "password",
    "passwd": "password",
    "repo": "repository",
    "env": "environment",
    "venv": "virtualenv",
    "loops": "loop",
    "append": "add",
    "insert": "add",
    "delete": "remove",
    "del": "remove",
    "erase": "remove",
    "start": "begin",
    "starting": "begin",
    "make": "create",
    "makes": "create",
    "making": "create",
    "made": "create",
    "creating": "create",
    "iterate": "loop",
    "iterating": "loop",
    "iteration": "loop",
    "sorting": "sort",
    "sorted": "sort",
}


def stem(word: str) -> str:
    """A crude stem: plural and verb endings off, so "lists" and "list" agree."""
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _term(word: str) -> str | None:
    word = SYNONYMS.get(word, word)
    if word in STOPWORDS or word in FILLER or len(word) < 2:
        return None
    word = SYNONYMS.get(stem(word), stem(word))
    return None if word in STOPWORDS or word in FILLER else word


def directions(text: str) -> set[tuple[str, str]]:
    """The key term right after each "to", "into" and "from" (articles skipped), as
    ``(preposition, term)``: every one of them, so words around the question ("new to
    Python, ...") cannot hide the direction asked about ("a set to a dictionary")."""
    words = WORD.findall(text.casefold().replace("'", ""))
    found: set[tuple[str, str]] = set()
    for i, word in enumerate(words):
        # "convert a string to ...", not "how to ...": a direction follows a key term
        if word in DIRECTIONS and i and _term(words[i - 1]) is not None:
            for after in words[i + 1 : i + 4]:
                if (term := _term(after)) is not None:
                    found.add(("to" if word == "into" else word, term))
                    break
    return found


def terms(text: str) -> frozenset[str]:
    """The question's key terms: content words, synonyms merged, lightly stemmed.

    Operators, negation and asking for advice ("should") are terms too, and so is each
    direction ("to:integer").
    """
    found = {f"{prep}:{term}" for prep, term in directions(text)}
    words = WORD.findall(text.casefold().replace("'", ""))
    for i, word in enumerate(words):
        if i + 1 < len(words) and words[i + 1] in KEYWORD_CONTEXT and word.isalpha():
            found.add(word)  # for, while, if, with, is ... as the keyword they are
            continue
        if word in NEGATIONS:
            found.add(NEGATED)
            continue
        if word in ADVICE:
            if "how" not in words[max(0, i - 2) : i]:
                found.add(ADVISED)
            continue
        word = SYNONYMS.get(word, word)
        if SYMBOLS.match(word):  # an operator is a key term: "=" is not "=="
            if word not in PUNCTUATION:
                found.add(word)
            continue
        if word in STOPWORDS or word in FILLER or len(word) < 2:
            continue
        word = stem(word)
        word = SYNONYMS.get(word, word)
        if word not in STOPWORDS and word not in FILLER:
            found.add(word)
    return frozenset(found)


def near_miss(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when the key terms say these are different questions: they are not the same.

    A term either lacks makes a different question: "tuple" for "set", "what is a global
    variable" against "... a global and a local variable", "sort a list" against "... in
    descending order", "=" against "==", "a string to an integer" against the reverse.
    Strict on purpose: a wrong reuse costs far more than a miss.
    """
    return set(a) != set(b)


def same_question(
    similarity: float, a: frozenset[str], b: frozenset[str], threshold: float
) -> bool:
    """Do two questions with this cosine similarity and these key terms mean the same?"""
    return similarity >= threshold and not near_miss(a, b)
