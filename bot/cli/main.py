"""The ``tutor`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.app import BotApp, doctor_probes
from bot.cli import evaluation as cli_router
from bot.cli import faq as cli_faq
from bot.cli import learn as cli_learn
from bot.config import PERIODS, ConfigError, Settings, load_config
from bot.events import IncomingMessage, Reply
from bot.service.logs import configure_logging, log_file, remove_logging

log = logging.getLogger("tutor")


ASK_MODES = ("guide", "answer")
DEFAULT_MODE = "guide"  # the tutor teaches rather than hands out solutions


def reply_json(reply: Reply, mode: str = DEFAULT_MODE) -> dict[str, Any]:
    """The ``tutor ask --json`` object, exactly as the CLI contract gives it."""
    return {
        "answer": reply.text,
        "route": reply.route,
        "model": reply.model,
        "reasons": list(reply.reason_texts),
        "confidence": reply.confidence,
        "citations": [
            {"source": c.source, "title": c.title, "score": c.score} for c in reply.citations
        ],
        "usage": {
            "input_tokens": reply.usage.input_tokens,
            "output_tokens": reply.usage.output_tokens,
            "cost_usd": reply.usage.cost_usd,
            "estimated": reply.usage.estimated,
        },
        "latency_ms": round(reply.latency_ms, 1),
        "mode": reply.mode or mode,
    }


def ask_message(
    args: argparse.Namespace, text: str, conversation: str | None = None
) -> IncomingMessage:
    return IncomingMessage(
        text=text,
        user=args.user,
        channel="cli",
        platform="cli",
        conversation=conversation,
        tier=args.tier,
        mode=getattr(args, "mode", None) or DEFAULT_MODE,
    )


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    if (args.text is None) == (args.jsonl is None):
        print("tutor ask: give TEXT or --jsonl FILE (one of them)", file=sys.stderr)
        return 2
    mode = args.mode or DEFAULT_MODE
    if args.jsonl is not None:
        try:
            lines = await asyncio.to_thread(read_jsonl, args.jsonl)
        except OSError as exc:
            print(f"tutor ask: cannot read {args.jsonl}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        async with BotApp(settings) as app:
            code = await ask_lines(app, args, lines, mode)
            failed = failure_status(app, settings)
    else:
        async with BotApp(settings) as app:
            reply = await app.tutor.handle(ask_message(args, args.text))
            failed = failure_status(app, settings)
        if args.json:
            print(json.dumps(reply_json(reply, mode), ensure_ascii=False))
        else:
            from adapters.console import render_footer

            print(reply.text)
            print(render_footer(reply))
        code = 0 if reply.outcome != "failed" else 1
    if failed:
        print(f"tutor: {failed}", file=sys.stderr)  # instead of log lines: they are in the file
    return code


def read_jsonl(path: str) -> list[bytes]:
    """The lines of ``path`` ("-": standard input), undecoded: a bad line is reported on
    its own line, not for the whole file."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    lines = data.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline ending the last line
    return lines


def question_of(raw: bytes, number: int) -> str:
    """The ``text`` of one ``--jsonl`` line; raises ValueError saying why it is not one."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"line {number}: not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
    text = obj.get("text") if isinstance(obj, dict) else None
    if not isinstance(text, str):
        raise ValueError(f'line {number}: expected an object with a "text" string')
    return text


async def ask_lines(
    app: BotApp, args: argparse.Namespace, lines: Sequence[bytes], mode: str
) -> int:
    """Answer each non-empty line's question, in order, printing one object per line.

    Each question is its own conversation (no history from the lines before), as if
    asked with ``tutor ask --json``; the models and the index load once for all.
    A line that is not a question gets ``{"line", "error"}`` in its place.
    """
    status = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            text = question_of(line, number)
        except ValueError as exc:
            print(json.dumps({"line": number, "error": str(exc)}), flush=True)
            status = 1
            continue
        reply = await app.tutor.handle(ask_message(args, text, f"jsonl-{number}"))
        print(json.dumps(reply_json(reply, mode), ensure_ascii=False), flush=True)
        if reply.outcome == "failed":
            status = 1
    return status


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import HELP, ConsoleAdapter

    async with BotApp(settings) as app:
        tier = args.tier or settings.routing.default_tier
        print(f"Loading models for tier {tier}: {' -> '.join(settings.chain(tier))} ...")
        await app.warm(tier)
        if status := failure_status(app, settings):
            print(f"({status})")
        if app.knowledge is not None and app.tutor.retriever is None:
            print(f"(answering without course material: {app.knowledge.problem})")
        console = ConsoleAdapter(user=args.user, tier=args.tier, banner=HELP)
        await app.start_digests([console])
        await console.run(app.tutor.handle, app.commands)
    return 0


async def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.index import EmbedderMismatch
    from knowledge.progress import IngestProgress
    from knowledge.report import describe
    from knowledge.service import CourseKnowledge, course_dir

    paths = [Path(p) for p in args.paths] or [course_dir(settings)]
    knowledge = CourseKnowledge(settings)
    try:
        report = await knowledge.ingest(paths, rebuild=args.reindex, progress=IngestProgress())
    except EmbedderMismatch as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return 2
    finally:
        await knowledge.aclose()
    print(describe(report))
    return 0 if report.ok else 1


async def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.search_cli import print_jsonl_results, print_results
    from knowledge.service import CourseKnowledge

    if (args.text is None) == (args.jsonl is None):
        print("tutor search: give TEXT or --jsonl FILE (one of them)", file=sys.stderr)
        return 2
    if args.k is not None and not 1 <= args.k <= 50:
        print("tutor search: -k must be between 1 and 50", file=sys.stderr)
        return 2
    knowledge = CourseKnowledge(settings)
    try:
        retriever = await knowledge.open()
        if retriever is None:
            print(f"tutor: {knowledge.problem}", file=sys.stderr)
            return 1
        if args.jsonl is not None:
            return await print_jsonl_results(retriever, args.jsonl, args.k, sys.stdout)
        return await print_results(retriever, args.text, args.k, sys.stdout, as_json=args.json)
    finally:
        await knowledge.aclose()


async def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import ConsoleAdapter
    from bot.digests.scheduler import DigestPoster

    async with BotApp(settings) as app:
        digest = await app.digests.on_demand(args.period)
        if args.print or not settings.digests.targets:
            text, attachments = await app.digests.message(digest, chart=bool(args.chart))
            print(text)
            if args.chart and attachments:
                args.chart.write_bytes(attachments[0].data)
                print(f"(chart written to {args.chart})", file=sys.stderr)
            return 0
        poster = DigestPoster(app.digests, [ConsoleAdapter()])  # platform adapters: none yet
        results = await poster.post_now(digest.window, settings.digests.targets)
    for result in results:
        target = f"{result.target.platform}:{result.target.channel}"
        print(f"{target}: {result.status} {result.detail}".rstrip(), file=sys.stderr)
    return 0 if all(r.status in {"sent", "previewed"} for r in results) else 1


async def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from bot.cli.stats import stats_summary, stats_tables

    async with BotApp(settings) as app:
        if args.json:
            print(json.dumps(await stats_summary(app.digests, args.period)))
            return 0
        tables = await stats_tables(app.ledger, app.digests, args.period)
    console = Console()
    for table in tables:
        console.print(table)
    return 0


async def cmd_forget_user(settings: Settings, args: argparse.Namespace) -> int:
    async with BotApp(settings) as app:
        count = await app.ledger.forget_user(args.platform, args.workspace, args.user)
    print(f"Forgot {args.user}: {count} recorded messages and their preferences deleted.")
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ledger.store import STORAGE_ERRORS
    from bot.service.runner import run_service

    started = time.perf_counter()
    if args.metrics_port is not None:
        service = settings.service.model_copy(update={"metrics_port": args.metrics_port})
        settings = settings.model_copy(update={"service": service})
    try:
        async with BotApp(settings) as app:
            adapters = app.platform_adapters()
            if not adapters:
                from adapters.console import HELP, ConsoleAdapter

                log.warning("no platform credentials (DISCORD_TOKEN, SLACK_*): serving the console")
                adapters = [ConsoleAdapter(banner=HELP)]
            return await run_service(app, adapters, started=started)
    except (ConfigError, OSError, *STORAGE_ERRORS) as exc:
        print(f"tutor: cannot start: {exc} (`tutor doctor` checks every part)", file=sys.stderr)
        return 1


async def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from bot.doctor.report import exit_code, print_table, run_probes, to_json

    results = await run_probes(doctor_probes(settings))
    if args.json:
        print(to_json(results))
    else:
        print_table(results)
    return exit_code(results)


COMMANDS = {
    **cli_router.COMMANDS,
    **cli_faq.COMMANDS,
    **cli_learn.COMMANDS,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "ingest": cmd_ingest,
    "search": cmd_search,
    "digest": cmd_digest,
    "stats": cmd_stats,
    "forget-user": cmd_forget_user,
    "run": cmd_run,
    "doctor": cmd_doctor,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutor", description=__doc__)
    parser.add_argument("--config", default="config.toml", help="config file (./config.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="log lines as text or JSON ([service])"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="interactive terminal tutor")
    chat.add_argument("--user", default=os.environ.get("USER", "console-user"))
    chat.add_argument("--tier", default=None)

    ask = sub.add_parser("ask", help="one question through the whole pipeline")
    ask.add_argument("text", nargs="?", help="the question")
    ask.add_argument("--user", default="cli-user")
    ask.add_argument("--tier", default=None)
    ask.add_argument("--mode", choices=ASK_MODES, default=None, help="teaching mode (guide)")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument(
        "--jsonl", metavar="FILE", help='one {"text": ...} per line ("-": stdin); one object each'
    )

    ingest = sub.add_parser("ingest", help="index course material (incremental)")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (course_dir)")
    ingest.add_argument(
        "--reindex", action="store_true", help="drop the index and rebuild it (new embedder)"
    )

    search = sub.add_parser("search", help="search the course index")
    search.add_argument("text", nargs="?", help="what to look for")
    search.add_argument("-k", type=int, default=None, help="how many passages (knowledge.k)")
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.add_argument("--jsonl", metavar="FILE", help='one {"text": ...} per line ("-": stdin)')

    digest = sub.add_parser("digest", help="build a cost digest now and post or print it")
    digest.add_argument("--print", action="store_true", help="print it instead of posting")
    digest.add_argument("--period", choices=PERIODS, default="week", help="span up to now")
    digest.add_argument("--chart", type=Path, metavar="PNG", help="with --print: save the chart")

    stats = sub.add_parser("stats", help="the usage ledger as tables")
    stats.add_argument("--period", choices=PERIODS, default="week")
    stats.add_argument("--json", action="store_true", help="one JSON object (for scripts)")

    cli_router.add_parsers(sub)
    cli_faq.add_parsers(sub)
    cli_learn.add_parsers(sub)
    forget = sub.add_parser("forget-user", help="delete a learner's recorded data")
    forget.add_argument("user")
    forget.add_argument("--platform", required=True, help="e.g. discord, slack, console")
    forget.add_argument("--workspace", default=None, help="guild or workspace id")

    run = sub.add_parser("run", help="serve every platform with credentials, until SIGTERM")
    run.add_argument(
        "--metrics-port", type=int, default=None, help="serve /healthz and /metrics on this port"
    )

    doctor = sub.add_parser("doctor", help="check models, tokens, the ledger and the machine")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "tier", None) and args.tier not in settings.tiers:
        print(
            f"tutor: unknown tier {args.tier!r} (one of {', '.join(settings.tiers)})",
            file=sys.stderr,
        )
        return 2
    level = logging.getLogger().level
    handlers = setup_logging(settings, args)
    from bot.ledger.store import STORAGE_ERRORS

    try:
        return asyncio.run(COMMANDS[args.command](settings, args))
    except STORAGE_ERRORS as exc:  # a ledger that cannot be used: say so, no traceback
        print(f"tutor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nBye!", file=sys.stderr)
        return 0
    finally:  # main() may run inside another program (a test): leave its logging as it was
        remove_logging(handlers)
        logging.getLogger().setLevel(level)


def setup_logging(settings: Settings, args: argparse.Namespace) -> list[logging.Handler]:
    """``tutor run`` logs to stderr at ``[service] log_level`` (or -v/-vv): a service's
    supervisor reads it. Every other command logs warnings (-v: info, -vv: debug) to the
    log file in the data folder, and to stderr only with -v, so that a chat or a
    ``--json`` answer never has log lines in it.
    """
    if args.verbose:
        level: int | str = logging.DEBUG if args.verbose > 1 else logging.INFO
    else:
        level = settings.service.log_level.upper() if args.command == "run" else logging.WARNING
    secrets = [
        value.get_secret_value()
        for value in settings.secrets.model_dump().values()
        if value is not None
    ]
    service = args.command == "run"
    return configure_logging(
        level=level,
        fmt=args.log_format or settings.service.log_format,
        secrets=secrets,
        console=service or bool(args.verbose),
        file=None if service else log_file(settings.data_dir),
    )


def failure_status(app: BotApp, settings: Settings) -> str | None:
    """One line naming each model that is failing, and where the details are logged."""
    failed = [
        error if error.startswith(f"{name}:") else f"{name}: {error}"
        for name, health in app.registry.health().items()
        if not health.healthy and (error := health.last_error or "failed")
    ]
    if not failed:
        return None
    return f"unavailable: {'; '.join(failed)}. Details: {log_file(settings.data_dir)}"


if __name__ == "__main__":
    sys.exit(main())
