"""Structured logs: JSON lines, the correlation id on every line of a message, no secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from bot.core.tutor import Tutor
from bot.events import IncomingMessage, correlation_scope, current_correlation_id
from bot.models.registry import ModelRegistry
from bot.ports import ModelUnavailable
from bot.service.logs import REDACTED, configure_logging, remove_logging
from tests.fakes import FakeChatModel, ListLedger, Script


@pytest.fixture
def captured():
    """Logs as ``tutor run`` configures them, into a buffer; the root logger restored after."""
    root = logging.getLogger()
    level = root.level
    out = io.StringIO()

    def install(fmt="json", secrets=()):
        return configure_logging(level=logging.DEBUG, fmt=fmt, secrets=secrets, stream=out)

    yield install, out
    for handler in [h for h in root.handlers if h.get_name() == "tutor"]:
        root.removeHandler(handler)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_every_line_of_a_message_carries_its_own_correlation_id(settings, captured):
    install, out = captured
    install()
    models = {
        "local": FakeChatModel("local", Script(fail=ModelUnavailable("local", "down"))),
        "tiny": FakeChatModel("tiny", Script("A tiny answer.")),
        "cloud": FakeChatModel("cloud", is_local=False),
    }
    registry = ModelRegistry(settings, models=models)
    registry.cooldown_s = 0  # both messages try the failing model
    tutor = Tutor(settings, registry, ledger=ListLedger())
    first = IncomingMessage("What is a list?", user="u1", channel="c1")
    second = IncomingMessage("What is a dict?", user="u2", channel="c1")
    # Side by side, as two learners' messages are: each task keeps its own id.
    await asyncio.gather(tutor.handle(first), tutor.handle(second))
    logging.getLogger("after").info("not part of any message")

    records = lines(out)
    during = [r for r in records if r["logger"].startswith("bot.")]
    by_id = {
        cid: [r for r in during if r.get("correlation_id") == cid]
        for cid in (first.correlation_id, second.correlation_id)
    }
    assert len(during) == 4 and all(r.get("correlation_id") in by_id for r in during)
    for cid, own in by_id.items():
        assert [r["logger"] for r in own] == ["bot.models.registry", "bot.core.tutor"], cid
        assert own[-1]["event"] == "reply" and own[-1]["model"] == "tiny"
    assert "correlation_id" not in records[-1]  # outside any message: no id
    assert current_correlation_id() == ""


async def test_json_lines_carry_level_logger_extras_and_the_traceback(captured):
    install, out = captured
    install()
    log = logging.getLogger("tutor.test")
    with correlation_scope("abc123"):
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed", extra={"platform": "slack"})
    [record] = lines(out)
    assert record["level"] == "error" and record["logger"] == "tutor.test"
    assert record["message"] == "it failed" and record["platform"] == "slack"
    assert record["correlation_id"] == "abc123"
    assert "ValueError: boom" in record["exc"] and record["ts"].endswith("+00:00")


def test_text_lines_show_the_correlation_id(captured):
    install, out = captured
    install(fmt="text")
    with correlation_scope("abc123"):
        logging.getLogger("tutor.test").warning("slow answer")
    logging.getLogger("tutor.test").warning("idle")
    first, second = out.getvalue().splitlines()
    assert "WARNING [abc123] tutor.test: slow answer" in first
    assert "WARNING [-] tutor.test: idle" in second


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(captured, fmt):
    install, out = captured
    secret = "my-signing-secret-value"
    install(fmt=fmt, secrets=[secret])
    log = logging.getLogger("tutor.test")
    log.info("connecting with %s", secret)
    log.debug("headers: %s", {"Authorization": f"Bearer {secret}"})
    try:
        raise RuntimeError(f"refused {secret}")
    except RuntimeError:
        log.exception("failed")
    # Credentials of other shapes, e.g. echoed back by a misbehaving library:
    log.info("slack said xoxb-12345-67890-abcdefABCDEF and xapp-1-A0-123-abc")
    log.info(
        "key sk-proj-abcdefghijklmnop0123456789 and discord "
        "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
    )
    text = out.getvalue()
    for leaked in (secret, "xoxb-12345", "xapp-1-A0", "sk-proj-abc", "ZnCjm1XVW7vRze4b7"):
        assert leaked not in text
    assert text.count(REDACTED) >= 7


def test_configuring_again_replaces_only_its_own_handler(captured):
    install, _ = captured
    root = logging.getLogger()
    others = [h for h in root.handlers if h.get_name() != "tutor"]
    install()
    install(fmt="text")
    assert [h for h in root.handlers if h.get_name() != "tutor"] == others
    assert len([h for h in root.handlers if h.get_name() == "tutor"]) == 1


def test_the_log_file_is_made_on_the_first_record_and_rotates(tmp_path, monkeypatch):
    root = logging.getLogger()
    level = root.level
    path = tmp_path / "data" / "logs" / "tutor.log"
    monkeypatch.setattr("bot.service.logs.LOG_FILE_BYTES", 2000)
    handlers = configure_logging(level=logging.INFO, file=path, console=False, secrets=["hush"])
    try:
        assert [h.get_name() for h in handlers] == ["tutor-file"]
        assert not path.parent.exists()  # nothing logged yet, nothing made
        log = logging.getLogger("tutor.test")
        with correlation_scope("abc123"):
            log.warning("slow answer with %s", "hush")
        for i in range(100):
            log.info("filler line %d to make the file rotate", i)
    finally:
        remove_logging(handlers)
        root.setLevel(level)
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["tutor.log", "tutor.log.1", "tutor.log.2", "tutor.log.3"]
    assert "filler line 99" in path.read_text(encoding="utf-8")
    everything = "".join(p.read_text(encoding="utf-8") for p in path.parent.iterdir())
    assert "hush" not in everything


def test_an_unwritable_log_file_says_so_once(tmp_path, capsys):
    root = logging.getLogger()
    level = root.level
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    handlers = configure_logging(file=blocker / "logs" / "tutor.log", console=False)
    try:
        logging.getLogger("tutor.test").warning("one")
        logging.getLogger("tutor.test").warning("two")
    finally:
        remove_logging(handlers)
        root.setLevel(level)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("tutor: cannot write the log file") and "Traceback" not in line
