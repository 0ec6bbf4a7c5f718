import io

from adapters.console import ConsoleAdapter
from bot.events import Citation, Reply


class EchoHandler:
    def __init__(self):
        self.messages = []

    async def __call__(self, msg, sink):
        self.messages.append(msg)
        answer = f"echo {msg.text}"
        for word in answer.split(" "):
            await sink.delta(word + " ")
        return Reply(
            text=answer,
            route="local",
            model="fake",
            citations=(Citation("lessons/01.md", "Intro", 0.9),),
            latency_ms=1200,
        )


async def run_console(text: str):
    out = io.StringIO()
    handler = EchoHandler()
    await ConsoleAdapter(io.StringIO(text), out, user="me").run(handler)
    return out.getvalue(), handler.messages


async def test_streams_answers_and_reset_starts_a_new_conversation():
    output, messages = await run_console("hello\n\n/reset\nagain\n/quit\nnever\n")
    assert "echo hello" in output and "echo again" in output
    assert "Sources:\n  [1] Intro (lessons/01.md)" in output
    assert "(local · fake · 1.2 s)" in output
    assert [m.text for m in messages] == ["hello", "again"]  # blank lines skipped, /quit stops
    assert messages[0].conversation != messages[1].conversation
    assert "Bye!" in output


async def test_eof_ends_cleanly():
    output, messages = await run_console("one question\n")
    assert [m.text for m in messages] == ["one question"]
    assert output.rstrip().endswith("you>")
