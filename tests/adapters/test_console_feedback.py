"""``/good``, ``/bad``, ``/detail`` and ``/human`` in the console reach the ledger."""

import io
import json

from adapters.console import ConsoleAdapter
from bot.core.commands import Commands
from bot.core.tutor import Tutor
from bot.ledger import queries
from bot.ledger.store import Ledger
from bot.ledger.teaching import LedgerTeaching
from bot.models.registry import ModelRegistry
from tests.fakes import FakeChatModel, Script


async def test_votes_detail_and_human_from_the_console(settings):
    teaching = settings.teaching.model_copy(update={"staff_channel": {"console": "staff"}})
    settings = settings.model_copy(update={"teaching": teaching})
    fakes = {
        "local": FakeChatModel("local", Script("A loop repeats.")),
        "tiny": FakeChatModel("tiny"),
        "cloud": FakeChatModel("cloud", Script("A loop, in detail."), is_local=False),
    }
    async with Ledger(settings, purge_every_s=None) as ledger:
        records = await LedgerTeaching(ledger).load()
        tutor = Tutor(
            settings, ModelRegistry(settings, models=fakes), ledger=ledger, teaching=records
        )
        commands = Commands(settings, tutor, tutor.registry, tutor.preferences, records=records)
        out = io.StringIO()
        script = "/good\nwhat is a loop?\n/good\n/bad\n/detail\n/human I am still stuck\n/quit\n"
        await ConsoleAdapter(io.StringIO(script), out, user="me").run(tutor.handle, commands)
        output = out.getvalue()
        first = tutor.last_reply("console", None, "terminal", "me")
        rows = await ledger.query(
            "SELECT correlation_id, route, escalations FROM interactions ORDER BY id"
        )
        handoffs = await ledger.query("SELECT user, note FROM handoffs")
        assert first is not None
        votes = await queries.votes(ledger, rows[0][0])
    assert "(there is no answer to rate yet)" in output
    assert "type /detail" in output and "A loop, in detail." in output
    assert [(v.user, v.vote) for v in votes] == [("me", "down")]  # the latest vote wins
    assert [r[1] for r in rows] == ["local", "cloud"]
    assert rows[1][0] == f"{rows[0][0]}-d" and "learner-vote" in json.loads(rows[1][2])
    assert handoffs == [("me", "I am still stuck")]
    assert "[to staff]" in output and "I am still stuck" in output
