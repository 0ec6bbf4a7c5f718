"""Imports point inward, as design.md says. This test walks every module's imports."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
PROVIDER_SDKS = {"ollama", "openai", "llama_cpp", "httpx", "anthropic"}
SQL_DRIVERS = {"sqlite3", "aiosqlite", "asyncpg", "psycopg"}
SQL_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\s")


def is_composition_root(path: Path) -> bool:
    name = rel(path)
    return name == "bot/app.py" or name.startswith("bot/cli/")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("name", ["bot/events.py", "bot/ports.py"])
def test_events_and_ports_use_only_the_standard_library(name):
    bad = {i for i in imports_of(ROOT / name) if top(i) not in STDLIB and i not in {"bot.events"}}
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("path", modules("bot"), ids=rel)
def test_core_never_imports_outer_layers(path):
    if is_composition_root(path):
        pytest.skip("the composition root wires everything")
    forbidden = {"adapters", "knowledge", "discord", "slack_bolt", "slack_sdk", "chromadb"}
    bad = {i for i in imports_of(path) if top(i) in forbidden}
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", modules("adapters"), ids=rel)
def test_adapters_import_only_events_and_ports_of_the_project(path):
    bad = {
        i
        for i in imports_of(path)
        if top(i) == "knowledge" or (top(i) == "bot" and i not in {"bot.events", "bot.ports"})
    }
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", modules("knowledge"), ids=rel)
def test_knowledge_never_imports_adapters_or_the_core_internals(path):
    allowed_bot = {"bot.events", "bot.ports", "bot.config"}
    bad = {
        i
        for i in imports_of(path)
        if top(i) == "adapters" or (top(i) == "bot" and i not in allowed_bot)
    }
    assert not bad, f"{rel(path)} imports {bad}"


def _import_time_code(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run on import: module and class bodies, not function bodies."""
    code: list[ast.stmt] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ClassDef):
            pending.extend(node.body)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            code.append(node)
    return code


def test_no_module_reads_the_environment_at_import_time():
    offenders = []
    for package in ("bot", "adapters", "knowledge"):
        for path in modules(package):
            for node in _import_time_code(ast.parse(path.read_text(encoding="utf-8"))):
                reads = [
                    n
                    for n in ast.walk(node)
                    if isinstance(n, ast.Attribute)
                    and n.attr in {"environ", "getenv"}
                    and isinstance(n.value, ast.Name)
                    and n.value.id == "os"
                ]
                if reads:
                    offenders.append(f"{rel(path)}:{node.lineno}")
    assert not offenders


def under(path: Path, package: str) -> bool:
    return rel(path).startswith(package + "/")


@pytest.mark.parametrize("path", modules("bot"), ids=rel)
def test_provider_sdks_are_imported_only_under_models(path):
    if under(path, "bot/models"):
        pytest.skip("the providers' own package")
    bad = {i for i in imports_of(path) if top(i) in PROVIDER_SDKS}
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", modules("bot"), ids=rel)
def test_sql_lives_only_under_the_ledger(path):
    if under(path, "bot/ledger"):
        pytest.skip("the ledger's own package")
    bad = {i for i in imports_of(path) if top(i) in SQL_DRIVERS}
    statements = [
        node.value[:40]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SQL_STATEMENT.match(node.value)
    ]
    assert not bad and not statements, f"{rel(path)}: drivers {bad}, SQL {statements}"


@pytest.mark.parametrize("path", modules("bot/core"), ids=rel)
def test_core_never_imports_the_service_or_the_composition_root(path):
    outer = ("bot.service", "bot.cli", "bot.app", "bot.digests", "bot.doctor")
    bad = {i for i in imports_of(path) if i.startswith(outer)}
    assert not bad, f"{rel(path)} imports {bad}"


def test_few_modules_sit_directly_in_bot():
    flat = sorted(p.name for p in (ROOT / "bot").glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= 6, flat
