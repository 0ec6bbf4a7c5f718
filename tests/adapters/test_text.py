"""Splitting, fence balancing, citations and throttled streaming shared by the adapters."""

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.text import (
    ThrottledStream,
    balance_fences,
    render_citations,
    split_message,
)
from bot.events import Citation


def fences_balanced(part: str) -> bool:
    return sum(1 for line in part.splitlines() if line.lstrip().startswith("```")) % 2 == 0


def test_short_text_is_one_part_and_empty_is_none():
    assert split_message("hello", 2000) == ["hello"]
    assert split_message("", 2000) == []


def test_splits_on_paragraphs_without_breaking_words():
    paragraphs = [("word " * 80).strip() for _ in range(10)]
    parts = split_message("\n\n".join(paragraphs), 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(" ".join(paragraphs).split())
    assert all(not p.endswith("wor") for p in parts)


def test_a_5000_char_answer_with_a_code_block_is_split_and_fences_reopened():
    code = "\n".join(f"    total += {i}  # step {i}" for i in range(150))
    text = "Intro paragraph. " * 30 + "\n\n```python\n" + code + "\n```\n\n" + "Outro. " * 80
    assert len(text) > 5000
    parts = split_message(text, 2000)
    assert len(parts) >= 3
    assert all(len(p) <= 2000 for p in parts)
    assert all(fences_balanced(p) for p in parts)
    reopened = [p for p in parts[1:] if p.startswith("```python")]
    assert reopened, "the code block should be reopened with its language"
    # every code line survives, in order
    joined = "\n".join(parts)
    positions = [joined.index(f"# step {i}\n") for i in range(149)]
    assert positions == sorted(positions)


def test_sentences_are_preferred_over_words():
    text = "This is one sentence. " * 200
    parts = split_message(text, 500)
    assert all(p.rstrip().endswith(".") for p in parts[:-1])


def test_unbreakable_text_is_cut_hard():
    parts = split_message("x" * 4500, 2000)
    assert [len(p) for p in parts] == [1996, 1996, 508]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \n.`py")), max_size=3000), st.integers(40, 600))
def test_parts_always_fit_and_keep_every_word(text, limit):
    parts = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    words = [w for w in text.split() if "`" not in w]
    kept = " ".join(parts).split()
    assert [w for w in kept if "`" not in w] == words


def test_balance_fences_closes_an_open_block():
    assert balance_fences("```py\nx = 1") == "```py\nx = 1\n```"
    assert balance_fences("```\nx\n```") == "```\nx\n```"


def test_citations_are_compact_and_deduplicated():
    c = [
        Citation("a.md", "Lists", 0.9),
        Citation("a.md", "Lists", 0.8),
        Citation("b.md", "Loops", 0.5),
    ]
    assert render_citations(c) == "Sources: [1] Lists (a.md) · [2] Loops (b.md)"
    assert render_citations([]) == ""
    assert (
        render_citations(c[:1], link=lambda x: f"<{x.source}|{x.title}>")
        == "Sources: [1] <a.md|Lists>"
    )


async def test_throttled_stream_coalesces_edits_and_always_sends_the_end():
    now = [0.0]
    pushed = []

    async def push(text):
        pushed.append(text)

    stream = ThrottledStream(push, interval=1.0, clock=lambda: now[0])
    for i in range(10):
        await stream.add(f"{i} ")
        now[0] += 0.25
    await stream.finish()
    assert pushed[0] == "0 "
    assert pushed[-1] == "".join(f"{i} " for i in range(10))
    assert len(pushed) == 4  # at t=0, 1, 2 and the final text
    await stream.finish()
    assert len(pushed) == 4  # nothing new, nothing sent


async def test_whole_words_pushes_stop_at_whitespace_and_do_not_start_the_wait():
    now = [0.0]
    pushed = []

    async def push(text):
        pushed.append(text)

    stream = ThrottledStream(push, interval=1.0, whole_words=True, clock=lambda: now[0])
    await stream.add("Lis")  # no whole word yet: nothing out, and no wait started
    await stream.add("ts keep")
    assert pushed == ["Lists "]
    now[0] += 0.5
    await stream.add(" order")  # within the interval: held back
    now[0] += 0.5
    await stream.add(".")
    assert pushed == ["Lists ", "Lists keep "]
    await stream.finish()
    assert pushed[-1] == "Lists keep order."


async def test_after_a_reset_the_next_push_goes_out_even_if_unchanged():
    pushed = []

    async def push(text):
        pushed.append(text)

    stream = ThrottledStream(push, interval=0)
    await stream.add("draft")
    stream.reset("")
    await stream.finish()  # the void text is replaced, even by nothing
    assert pushed == ["draft", ""]
