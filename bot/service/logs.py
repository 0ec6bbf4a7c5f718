"""Logging: text or JSON lines, each with its message's correlation id, never a secret.

``tutor run`` logs to stderr, for whatever supervises the service. The other commands
log to a rotating file in the data folder (``logs/tutor.log``), and to stderr only when
asked (``-v``): a chat or a ``--json`` answer never has log lines in it.

The correlation id comes from a context variable (``bot.events.correlation_scope``) that
the adapters and the Tutor set while they handle a message, so every line logged while
handling it carries the id, from whichever library logged it. Secrets are cut from the
formatted line itself, tracebacks included: whatever a library chooses to log at DEBUG,
the token never reaches the output.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, Literal, TextIO

from bot.events import current_correlation_id

LogFormat = Literal["text", "json"]
REDACTED = "[redacted]"
HANDLER_NAME = "tutor"
FILE_HANDLER_NAME = "tutor-file"
LOG_FILE = Path("logs") / "tutor.log"  # in the data folder
LOG_FILE_BYTES = 5 * 1024**2
LOG_FILE_BACKUPS = 3
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"
# Credentials recognisable by their shape, in case one that is not ours turns up in a log.
TOKEN_SHAPES = re.compile(
    r"\b(?:xox[abposr]-[\w-]{6,}|xapp-[\w-]{6,}|sk-[\w-]{16,}"
    r"|[MNO][\w-]{23,27}\.[\w-]{6}\.[\w-]{27,})"
)
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is data.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
)


class CorrelationFilter(logging.Filter):
    """Stamps each record with the correlation id of the message being handled ("-": none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", ""):
            record.correlation_id = current_correlation_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, correlation_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if entry.get("correlation_id") == "-":
            del entry["correlation_id"]
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner``, then replaces every secret (and token-shaped text)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_SHAPES.sub(REDACTED, text)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be replaced)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _LogFile(RotatingFileHandler):
    """A rotating log file whose folder is made on the first record (a command that logs
    nothing leaves nothing behind). If the file cannot be written, says so once on
    stderr and drops records rather than printing a traceback per record."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            maxBytes=LOG_FILE_BYTES,
            backupCount=LOG_FILE_BACKUPS,
            encoding="utf-8",
            delay=True,
        )
        self.broken = False

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        self.broken = True
        error = sys.exc_info()[1]
        print(f"tutor: cannot write the log file {self.baseFilename}: {error}", file=sys.stderr)


def log_file(data_dir: Path) -> Path:
    """Where the commands other than ``tutor run`` log."""
    return data_dir / LOG_FILE


def configure_logging(
    *,
    level: int | str = logging.INFO,
    fmt: LogFormat = "text",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    file: Path | None = None,
    console: bool = True,
) -> list[logging.Handler]:
    """Send every log record to ``stream`` (stderr) unless not ``console``, and to ``file``
    if given, in ``fmt``; returns the handlers.

    Calling it again replaces the handlers it installed before; handlers installed by
    others (a test runner's) are left alone.
    """
    inner = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    secrets = list(secrets)
    handlers: list[logging.Handler] = []
    if console:
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.set_name(HANDLER_NAME)
        handlers.append(handler)
    if file is not None:
        handler = _LogFile(file)
        handler.set_name(FILE_HANDLER_NAME)
        handlers.append(handler)
    root = logging.getLogger()
    remove_logging([h for h in root.handlers if h.get_name() in {HANDLER_NAME, FILE_HANDLER_NAME}])
    for handler in handlers:
        handler.setFormatter(RedactingFormatter(inner, secrets))
        handler.addFilter(CorrelationFilter())
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handlers


def remove_logging(handlers: Sequence[logging.Handler]) -> None:
    """Detach and close handlers ``configure_logging`` installed."""
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
