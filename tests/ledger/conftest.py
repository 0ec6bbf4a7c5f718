"""Every ledger test runs on SQLite and on PostgreSQL, except those marked ``sqlite_only``
(they test the SQLite file itself: its migrations from older bots, locks, modes)."""

from __future__ import annotations

import pytest

from bot.config import Settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: tests the SQLite file itself")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            callspec is not None
            and callspec.params.get("settings") == "postgres"
            and item.get_closest_marker("sqlite_only")
        ):
            item.add_marker(pytest.mark.skip(reason="tests the SQLite file itself"))


@pytest.fixture(params=["sqlite", "postgres"])
async def settings(request: pytest.FixtureRequest, config_path) -> Settings:  # type: ignore[no-untyped-def]
    """The test's settings, with the ledger on SQLite or on the throwaway PostgreSQL server."""
    from bot.config import load_config

    base = load_config(config_path, {})
    if request.param == "sqlite" or request.node.get_closest_marker("sqlite_only"):
        return base
    cluster = request.getfixturevalue("postgres_cluster")
    url = await cluster.new_schema_url()
    return base.model_copy(update={"ledger": base.ledger.model_copy(update={"url": url})})
