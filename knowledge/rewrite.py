"""Query rewriting: give the embedder and keyword search words where a question has symbols.

A learner's shortest questions are often about an operator ("what does // do", "what is
**kwargs"). Keyword search splits text into words, so it never sees ``//``, and a small
embedder reads it as noise. For a very short question (at most SHORT_TERMS meaningful
words), ``rewrite_query`` appends the names of Python's operators and argument forms it
contains (in the language reference's own wording). (Appending "in Python" to every very
short question was tried and dropped: it lifts off-topic questions over the floor too.)
"""

from __future__ import annotations

from knowledge.store import query_terms

SHORT_TERMS = 2  # a question with at most this many meaningful words is "very short"

# Longest first, so "**=" is read before "**" and "*".
_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("**kwargs", "keyword arguments dictionary parameter"),
    ("*args", "arbitrary positional arguments tuple parameter"),
    ("**=", "augmented assignment power"),
    ("//=", "augmented assignment floor division"),
    (">>=", "augmented assignment shift"),
    ("<<=", "augmented assignment shift"),
    ("**", "power operator exponent"),
    ("//", "floor division operator integer division"),
    ("->", "function return annotation"),
    (":=", "assignment expression"),
    ("==", "equality comparison operator"),
    ("!=", "not equal comparison operator"),
    ("<=", "comparison operator"),
    (">=", "comparison operator"),
    ("<<", "shifting operator left shift"),
    (">>", "shifting operator right shift"),
    ("+=", "augmented assignment"),
    ("-=", "augmented assignment"),
    ("*=", "augmented assignment"),
    ("/=", "augmented assignment"),
    ("%=", "augmented assignment"),
    ("%", "modulo operator remainder"),
    ("@", "decorator matrix multiplication"),
    ("&", "bitwise and operator"),
    ("|", "bitwise or operator"),
    ("^", "bitwise xor operator"),
    ("~", "bitwise inversion operator"),
    ("*", "multiplication operator unpacking"),
    ("/", "division operator"),
)


def rewrite_query(query: str) -> str:
    """``query`` with the names of the operators it contains, when it is very short."""
    if not query.strip() or len(query_terms(query)) > SHORT_TERMS:
        return query  # longer questions, code and tracebacks are left as they are
    names: list[str] = []
    rest = query
    for symbol, name in _SYMBOLS:
        if symbol in rest:
            names.append(name)
            rest = rest.replace(symbol, " ")
    if names:
        return f"{query} ({'; '.join(dict.fromkeys(names))})"
    return query
