from bot.core.history import ConversationHistory


def test_keeps_only_the_last_turns():
    history = ConversationHistory(turns=2, max_conversations=10)
    for i in range(5):
        history.add("k", f"q{i}", f"a{i}")
    assert [m.content for m in history.get("k")] == ["q3", "a3", "q4", "a4"]


def test_least_recently_used_conversations_are_dropped():
    history = ConversationHistory(turns=1, max_conversations=2)
    history.add("a", "q", "a")
    history.add("b", "q", "a")
    history.get("a")  # touch a, so b is the oldest
    history.add("c", "q", "a")
    assert len(history) == 2
    assert history.get("b") == []
    assert history.get("a") and history.get("c")


def test_zero_turns_keeps_nothing_and_forget_clears():
    assert ConversationHistory(turns=0, max_conversations=5).get("x") == []
    history = ConversationHistory(turns=3, max_conversations=5)
    history.add("x", "q", "a")
    history.forget("x")
    assert history.get("x") == []


def test_memory_is_bounded_by_bytes_not_only_by_count():
    """Finding 11: 10,000 conversations of 12 turns of 8,000 characters is about 2 GB."""
    history = ConversationHistory(turns=6, max_conversations=10_000, max_bytes=200_000)
    big = "é" * 8000  # 16,000 bytes in UTF-8
    for conversation in range(50):
        for _ in range(6):
            history.add(conversation, big, big)
        assert history.bytes <= 200_000
    assert history.get(49)  # the newest conversation is kept
    assert history.get(0) == []  # the oldest made room
    history.add("alone", "x" * 300_000, "short answer")  # one turn over the whole bound
    assert history.bytes <= 200_000
