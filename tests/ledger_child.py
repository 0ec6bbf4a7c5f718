"""Records interactions as fast as it can, printing each one's id once acknowledged.

Started by test_ledger_crash.py, which kills it with SIGKILL in the middle of writing:
``python tests/ledger_child.py CONFIG DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from bot.config import load_config
from bot.ledger.store import Ledger
from tests.ledger_helpers import cloud, interaction


async def main(config: str, data_dir: str) -> None:
    url = {"TUTOR_LEDGER_URL": os.environ.get("TUTOR_LEDGER_URL", "")}  # PostgreSQL, if set
    settings = load_config(config, {"TUTOR_DATA_DIR": data_dir} | url)
    async with Ledger(settings, purge_every_s=None) as ledger:

        async def learner(n: int) -> None:
            for i in range(10**9):
                cid = f"{n}-{i}"
                make = cloud if i % 4 == 0 else interaction
                await ledger.record(make(time.time(), user=f"u{n}", correlation_id=cid))
                sys.stdout.write(cid + "\n")  # only after record() returned: acknowledged
                sys.stdout.flush()

        await asyncio.gather(*(learner(n) for n in range(16)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
