"""Load ``config.toml`` plus environment overrides into validated, typed settings.

``load_config(path, environ)`` is pure: it reads the file it is given and the mapping it
is given, nothing else. A wrong config raises ConfigError naming the file, the key and,
where it can be found, the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ROLE_ENV = {
    "default": "DEFAULT_MODEL",
    "simple_query": "SIMPLE_QUERY_MODEL",
    "code_gen": "CODE_GEN_MODEL",
    "fallback": "FALLBACK_MODEL",
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ModelBase(_Strict):
    model: str = Field(min_length=1)
    first_token_timeout_s: float = Field(default=3.0, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_tokens: int = Field(default=512, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    # Course material, history and context a prompt may carry, in characters: what the
    # model reads within its first-token timeout (a small model on a CPU reads slowly).
    context_chars: int = Field(default=6000, ge=200)
    # How fast the model reads a prompt (chars/s); the first-token timeout grows by the
    # prompt's reading time when set, so a long prompt is not taken for a dead model.
    prompt_chars_per_s: float | None = Field(default=None, gt=0)
    # Not asked when the course quote answers the question: for a model whose answers
    # the course's own words beat (measured by bench/answer_quality.py), the learner gets
    # the quote at once instead of a long wait for an answer the gate then rejects.
    quote_first: bool = False


class OllamaModel(_ModelBase):
    provider: Literal["ollama"]
    host: str | None = None
    keep_alive: str | int = "30m"
    logprobs: bool = True


class EmbeddedModel(_ModelBase):
    provider: Literal["embedded"]
    path: str | None = None
    n_ctx: int = Field(default=2048, ge=256)
    threads: int = Field(default=0, ge=0)
    logprobs: bool = True


class OpenAIModel(_ModelBase):
    provider: Literal["openai"]
    base_url: str | None = None
    max_retries: int = Field(default=1, ge=0)


class AnthropicModel(_ModelBase):
    """Claude through the Messages API; the key comes from ANTHROPIC_API_KEY only."""

    provider: Literal["anthropic"]
    base_url: str | None = None  # a proxy or gateway speaking the Messages API
    max_retries: int = Field(default=1, ge=0)
    # Mark the system prompt and the course material as a cacheable prefix (prompt caching).
    cache_prefix: bool = True


ModelConfig = Annotated[
    OllamaModel | EmbeddedModel | OpenAIModel | AnthropicModel, Field(discriminator="provider")
]
LOCAL_PROVIDERS = frozenset({"ollama", "embedded"})
PROVIDERS = frozenset({"ollama", "embedded", "openai", "anthropic"})


class TutorSection(_Strict):
    data_dir: str = "data"
    history_turns: int = Field(default=6, ge=0, le=100)
    max_conversations: int = Field(default=10_000, ge=1)
    history_max_mb: float = Field(default=64, gt=0)  # conversation memory, all conversations
    max_input_chars: int = Field(default=8000, ge=100)
    max_reply_chars: int = Field(default=1500, ge=200)  # unless the learner asks for detail
    system_prompt: str = "You are a helpful tutor."


class Roles(_Strict):
    default: str = ""
    simple_query: str = ""
    code_gen: str = ""
    fallback: str = ""


DEFAULT_KEYWORDS = {
    "en": [
        "explain in detail",
        "in detail",
        "step by step",
        "walk me through",
        "analyze",
        "analyse",
        "compare",
        "trade-off",
        "tradeoff",
        "design",
        "architecture",
        "study plan",
        "learning path",
        "review my code",
        "optimize",
        "optimise",
        "prove",
        "time complexity",
        "refactor",
        "best practices",
    ],
}
DEFAULT_CODE_GEN = [
    "write a function",
    "write a program",
    "write code",
    "write a script",
    "implement",
    "generate code",
    "code for",
    "build a",
]
DEFAULT_HEDGES = [
    "i'm not sure",
    "i am not sure",
    "i don't know",
    "i do not know",
    "i cannot",
    "i can't",
    "as an ai",
    "i'm sorry",
    "i am sorry",
    "unable to",
    "not able to",
]


class RouterPolicy(_Strict):
    """How a tier decides between local and cloud. Tiers may override any key."""

    cloud_first: bool = False
    keywords: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_KEYWORDS))
    code_gen_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_CODE_GEN))
    max_local_chars: int = Field(default=600, ge=1)  # longer prose escalates
    max_local_code_lines: int = Field(default=40, ge=1)  # more pasted code escalates
    simple_max_chars: int = Field(default=80, ge=0)  # shorter, rule-free -> SIMPLE_QUERY_MODEL
    classifier: Literal["logistic", "knn", "off"] = "logistic"
    classifier_threshold: float = Field(default=0.7, ge=0, le=1)  # cloud at or above
    keyword_threshold: float = Field(default=0.5, ge=0, le=1)  # the bar when a keyword hit
    classifier_languages: list[str] = Field(default_factory=lambda: ["en"])  # its embedder's
    classifier_k: int = Field(default=7, ge=1)  # knn only
    classifier_c: float = Field(default=3.0, gt=0)  # logistic: inverse regularisation
    confidence_threshold: float = Field(default=0.45, ge=0, le=1)
    min_answer_chars: int = Field(default=12, ge=0)  # shorter, to a real question, is suspect
    # Share of a course answer's content words found in the passages it was given; below
    # it the answer is taken as made up rather than drawn from the course.
    min_grounding: float = Field(default=0.35, ge=0, le=1)
    hedges: list[str] = Field(default_factory=lambda: list(DEFAULT_HEDGES))
    sticky_turns: int = Field(default=2, ge=0)


class Tier(_Strict):
    chain: list[str] = Field(min_length=1)
    router: dict[str, Any] = Field(default_factory=dict)  # overrides of [router]
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    user_monthly_budget_usd: float | None = Field(default=None, ge=0)


class PrivacySection(_Strict):
    local_only_channels: list[str] = Field(default_factory=list)  # never sent to the cloud
    redact_emails: bool = True
    redact_phones: bool = True
    redact_cards: bool = True  # 13-19 digits passing the Luhn check
    phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")  # for numbers without +
    redact_patterns: list[str] = Field(default_factory=list)  # regexes, replaced by [redacted]


class RoutingSection(_Strict):
    default_tier: str = "free"
    breaker_cooldown_s: float = Field(default=30.0, ge=0)
    examples: str = "eval/router_examples.jsonl"  # the classifier's labelled utterances


class Price(_Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    # Prompt-cache reads and writes (Anthropic); unset, they cost what input costs.
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    as_of: str = ""  # when this price was taken, if not [prices] as_of


class PricesSection(_Strict):
    as_of: str = ""
    models: dict[str, Price] = Field(default_factory=dict)


class DiscordSection(_Strict):
    """The Discord adapter's options; a key left out keeps the adapter's own default.

    The token comes from DISCORD_TOKEN only.
    """

    moderator_roles: list[str] | None = None  # ignored (names can be forged): use role ids
    moderator_role_ids: list[int] | None = None  # role ids, besides Manage Server
    guilds: list[int] | None = None  # the servers served; others are ignored (empty: any)
    operator_ids: list[int] | None = None  # users who may run operator-only commands
    thread_channels: list[int] | None = None  # a thread per question in these channels
    messages_per_minute: float | None = Field(default=None, gt=0)  # per learner
    burst: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)  # answers generated at once
    message_content: bool | None = None  # the privileged Message Content intent
    sync_commands: str | None = Field(default=None, pattern=r"^(off|global|[0-9]{15,22})$")
    stream_interval_s: float | None = Field(default=None, ge=0.5)  # Discord: ~1 edit/s
    max_parts: int | None = Field(default=None, ge=1, le=10)  # longer answers become a file
    # Sharding: the bot's total number of shards, and the ones this instance runs (left out:
    # all). TUTOR_DISCORD_SHARDS and TUTOR_DISCORD_SHARD_IDS (e.g. "0,1") override them.
    shards: int | None = Field(default=None, ge=1)
    shard_ids: list[int] | None = None

    @model_validator(mode="after")
    def _shards_in_range(self) -> DiscordSection:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shards is None:
            raise ValueError("shard_ids needs shards, the bot's total number of shards")
        wrong = [i for i in ids if not 0 <= i < self.shards]
        if not ids or wrong or len(set(ids)) != len(ids):
            raise ValueError(
                f"shard_ids {ids} must be distinct shard numbers from 0 to {self.shards - 1}"
                f" (shards = {self.shards})"
            )
        return self


class SlackSection(_Strict):
    """The Slack adapter's options; a key left out keeps the adapter's own default."""

    mode: Literal["auto", "socket", "http"] = "auto"  # auto: Socket Mode when SLACK_APP_TOKEN
    http_host: str | None = None
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_path: str | None = Field(default=None, pattern=r"^/")
    command: str | None = Field(default=None, pattern=r"^/[\w-]+$")
    moderators: list[str] | None = None  # user ids, besides workspace admins and owners
    operators: list[str] | None = None  # user ids who may run operator-only commands
    admin_cache_s: float | None = Field(default=None, ge=0)
    native_streaming: bool | None = None
    stream_interval_s: float | None = Field(default=None, ge=0)
    update_interval_s: float | None = Field(default=None, ge=0)
    rate_per_minute: float | None = Field(default=None, gt=0)
    rate_burst: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)
    http_header_timeout_s: float | None = Field(default=None, gt=0)  # HTTP mode listener
    http_body_timeout_s: float | None = Field(default=None, gt=0)
    http_max_connections: int | None = Field(default=None, ge=1)
    thread_context_chars: int | None = Field(default=None, ge=0)
    greeting: str | None = None
    suggested_prompts: list[str] | None = Field(default=None, max_length=4)


class LedgerSection(_Strict):
    """The usage ledger: one SQLite file under the data folder."""

    file: str = "ledger.sqlite3"
    text_retention_days: int = Field(default=30, ge=0)  # 0: never store message text
    synchronous: Literal["normal", "full"] = "normal"  # "full" also survives power loss
    max_wait_ms: float = Field(default=2000, gt=0)  # longest a reply waits for its row
    # Where the ledger lives: "" (the file above in the data folder), sqlite:///relative/to/data,
    # sqlite:////absolute/path, or postgresql://user:pass@host/db (shared by several instances).
    # TUTOR_LEDGER_URL overrides it. It may hold a password: kept out of reprs and logs.
    url: str = Field(default="", repr=False)

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "the ledger url is sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
            )
        return value


Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)  # the spans a digest or `/tutor cost` covers


class DigestSchedule(_Strict):
    cron: str = Field(min_length=1)  # minute hour day month day_of_week
    period: Period | None = None  # defaults to [digests] period


class DigestTarget(_Strict):
    platform: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    workspace: str | None = None  # set: the digest covers only this workspace or guild
    chart: bool = True


class DigestsSection(_Strict):
    """Cost digests: when they are posted, what they cover and where they go."""

    timezone: str = "UTC"
    period: Period = "week"
    schedules: list[DigestSchedule] = Field(default_factory=list)
    targets: list[DigestTarget] = Field(default_factory=list)
    grace_hours: float = Field(default=12.0, ge=0)  # a missed run is posted this late at most
    retry_minutes: float = Field(default=10.0, gt=0)  # after a failed post
    top_reasons: int = Field(default=3, ge=0)
    command_scope: Literal["workspace", "all"] = "workspace"  # what `/tutor cost` covers

    @model_validator(mode="before")
    @classmethod
    def _cron_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("schedules"), list):
            data = data | {
                "schedules": [{"cron": s} if isinstance(s, str) else s for s in data["schedules"]]
            }
        return data

    @model_validator(mode="after")
    def _valid_zone_and_crons(self) -> DigestsSection:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from apscheduler.triggers.cron import CronTrigger

        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r} (e.g. Europe/Paris)") from None
        for schedule in self.schedules:
            try:
                CronTrigger.from_crontab(schedule.cron, timezone=zone)
            except ValueError as exc:
                raise ValueError(
                    f"bad cron {schedule.cron!r} (minute hour day month day_of_week): {exc}"
                ) from None
        return self


class KnowledgeSection(_Strict):
    """``[knowledge]``: the course index (see knowledge/ and ``tutor ingest``)."""

    course_dir: str = "course"  # relative to the config file's folder
    embedder: Literal["sentence-transformers", "ollama", "openai"] = "sentence-transformers"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_host: str | None = None  # ollama: default OLLAMA_HOST; openai: base_url
    embedding_timeout_s: float = Field(default=60.0, gt=0)
    embedding_threads: int = Field(default=1, ge=0)  # sentence-transformers; 0 = torch's default
    chroma: Literal["local", "http"] = "local"
    chroma_path: str = ""  # local mode; default <data_dir>/chroma
    chroma_host: str = "127.0.0.1"
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    chroma_ssl: bool = False
    collection: str = Field(
        default="course", min_length=3, max_length=512, pattern=r"^[A-Za-z0-9][\w.-]*[A-Za-z0-9]$"
    )
    k: int = Field(default=4, ge=1, le=50)
    relevance_threshold: float = Field(default=0.35, ge=-1, le=1)
    keyword_weight: float = Field(default=0.3, ge=0, le=1)
    chunk_chars: int = Field(default=900, ge=200, le=20_000)
    max_file_mb: float = Field(default=10.0, gt=0)
    relevance: Literal["calibrated", "fixed"] = "calibrated"  # fixed: relevance_threshold
    relative_cut: float = Field(default=0.6, ge=0, le=1)  # share of the best similarity
    rrf_k: int = Field(default=60, ge=1, le=1000)  # reciprocal rank fusion's constant
    card_weight: float = Field(default=0.2, ge=0, le=1)  # lesson title+summary similarity
    wordllama_weight: float = Field(default=0.4, ge=0, le=1)  # whole-lesson ranking; 0 = off


class ServiceSection(_Strict):
    """``tutor run``: shutdown, logs and the local health and metrics endpoint."""

    drain_timeout_s: float = Field(default=20.0, gt=0)  # answers in progress may finish
    log_format: Literal["text", "json"] = "text"  # `--log-format` overrides
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # off unless set; 0: any
    metrics_host: str = "127.0.0.1"  # keep it local: the endpoint has no authentication
    ready_timeout_s: float = Field(default=60.0, gt=0)  # platforms connected by then, or warn


class MemorySection(_Strict):
    """``[memory]``: course memory, answers reused for questions that mean the same."""

    enabled: bool = True
    # Cosine similarity of the questions' embeddings at or above which they mean the same,
    # with no differing key term (see bot/memory/match.py). Calibrated on
    # eval/memory_pairs.jsonl by bench/memory_match.py for the default embedder.
    threshold: float = Field(default=0.77, ge=0, le=1)
    ttl_days: float = Field(default=120, gt=0)  # an entry is not reused after this
    max_entries: int = Field(default=5000, ge=1)  # per course and workspace; least used go
    # The router learns from outcomes (`tutor learn`, and this often while serving; 0: off).
    learn_every_hours: float = Field(default=168, ge=0)
    learn_days: float = Field(default=90, gt=0)  # outcomes this recent
    learn_max_examples: int = Field(default=300, ge=1)  # per label, newest first
    learn_suite: str = "eval/suite.jsonl"  # its "heldout" split guards against a worse model


class TeachingSection(_Strict):
    """``[teaching]``: how the tutor teaches (modes, hints, off-topic, feedback, staff)."""

    mode: Literal["guide", "answer"] = "guide"  # guide: no complete exercise solutions
    max_solution_lines: int = Field(default=4, ge=0)  # code lines an exercise answer may hold
    protected: list[str] = Field(default_factory=list)  # course files (globs) that are exercises
    hint_levels: int = Field(default=3, ge=1, le=3)  # nudge, targeted hint, similar example
    off_topic: bool = True  # redirect messages that are not about the course or programming
    off_topic_text: str = (
        "I'm the course tutor, so I can only help with the course and programming. "
        "What would you like to know about Python?"
    )
    feedback: bool = True  # offer up/down buttons under every answer
    # Per platform: where hand-offs to a person go, and the staff role / user group to ping.
    staff_channel: dict[str, str] = Field(default_factory=dict)
    staff_role: dict[str, str] = Field(default_factory=dict)
    handoffs_per_hour: int = Field(default=3, ge=1)  # per learner


class Secrets(BaseModel):
    """Credentials from the environment; SecretStr keeps them out of reprs and logs."""

    model_config = ConfigDict(frozen=True)

    openai_api_key: SecretStr | None = None
    discord_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None


class Settings(_Strict):
    tutor: TutorSection = TutorSection()
    models: dict[str, ModelConfig]
    roles: Roles = Roles()
    tiers: dict[str, Tier]
    routing: RoutingSection = RoutingSection()
    router: RouterPolicy = RouterPolicy()
    privacy: PrivacySection = PrivacySection()
    prices: PricesSection = PricesSection()
    discord: DiscordSection = DiscordSection()
    slack: SlackSection = SlackSection()
    ledger: LedgerSection = LedgerSection()
    digests: DigestsSection = DigestsSection()
    knowledge: KnowledgeSection = KnowledgeSection()
    service: ServiceSection = ServiceSection()
    memory: MemorySection = MemorySection()
    teaching: TeachingSection = TeachingSection()
    # Filled by load_config, not read from the file.
    config_path: Path = Path("config.toml")
    data_dir: Path = Path("data")
    secrets: Secrets = Secrets()
    environ: dict[str, str] = Field(default_factory=dict, repr=False)

    @model_validator(mode="after")
    def _names_resolve(self) -> Settings:
        if not self.models:
            raise ValueError("at least one model must be configured under [models]")
        clash = set(self.models) & set(ROLE_ENV)
        if clash:
            raise ValueError(f"model names may not be role names: {sorted(clash)}")
        for role in ROLE_ENV:
            target = getattr(self.roles, role)
            if target and target not in self.models:
                raise ValueError(f"roles.{role} names unknown model {target!r}")
        for tier_name, tier in self.tiers.items():
            for entry in tier.chain:
                if entry not in self.models and entry not in ROLE_ENV:
                    raise ValueError(
                        f"tiers.{tier_name}.chain names {entry!r}, which is neither a model "
                        f"({', '.join(sorted(self.models))}) nor a role ({', '.join(ROLE_ENV)})"
                    )
        if self.routing.default_tier not in self.tiers:
            raise ValueError(f"routing.default_tier {self.routing.default_tier!r} is not a tier")
        for tier_name in self.tiers:
            try:
                self.policy(tier_name)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise ValueError(f"tiers.{tier_name}.router: {problems}") from None
        for pattern in self.privacy.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"privacy.redact_patterns: bad regex {pattern!r}: {exc}") from None
        return self

    def policy(self, tier: str) -> RouterPolicy:
        """The [router] policy with the tier's overrides applied."""
        overrides = self.tiers[tier].router
        if not overrides:
            return self.router
        return RouterPolicy.model_validate(self.router.model_dump() | overrides)

    def chain(self, tier: str) -> list[str]:
        """Model names of a tier's chain, roles resolved, unset roles and repeats dropped."""
        names: list[str] = []
        for entry in self.tiers[tier].chain:
            name = getattr(self.roles, entry) if entry in ROLE_ENV else entry
            if name and name not in names:
                names.append(name)
        return names

    def is_local(self, model_name: str) -> bool:
        return self.models[model_name].provider in LOCAL_PROVIDERS


def load_config(path: str | Path, environ: Mapping[str, str]) -> Settings:
    """Read ``path`` and apply overrides from ``environ``. Raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None

    _apply_role_overrides(raw, environ, path)
    data_dir = Path(environ.get("TUTOR_DATA_DIR") or raw.get("tutor", {}).get("data_dir", "data"))
    if not data_dir.is_absolute():
        base = Path.cwd() if environ.get("TUTOR_DATA_DIR") else path.parent
        data_dir = (base / data_dir).expanduser()

    if (environ.get("TUTOR_LEDGER_URL") or "").strip():
        raw.setdefault("ledger", {})["url"] = environ["TUTOR_LEDGER_URL"].strip()
    _apply_shard_overrides(raw, environ)
    raw |= {
        "config_path": path,
        "data_dir": data_dir,
        "secrets": _secrets(environ),
        "environ": {k: v for k, v in environ.items() if k in _ENV_PASSED},
    }
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, text)) from None


# Non-secret variables that providers may consult (kept so load_config stays the only reader).
_ENV_PASSED = frozenset({"OLLAMA_HOST", "DISCORD_API_BASE", "DISCORD_GATEWAY_URL", "SLACK_API_URL"})


def _secrets(environ: Mapping[str, str]) -> dict[str, str | None]:
    names = {
        "openai_api_key": "OPENAI_API_KEY",
        "discord_token": "DISCORD_TOKEN",
        "slack_bot_token": "SLACK_BOT_TOKEN",
        "slack_app_token": "SLACK_APP_TOKEN",
        "slack_signing_secret": "SLACK_SIGNING_SECRET",
        "anthropic_api_key": "ANTHROPIC_API_KEY",
    }
    return {field: (environ.get(var) or "").strip() or None for field, var in names.items()}


def _apply_shard_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """TUTOR_DISCORD_SHARDS (a number) and TUTOR_DISCORD_SHARD_IDS (numbers, comma-separated):
    one config file for several instances, each running its own shards."""
    for var, key in (("TUTOR_DISCORD_SHARDS", "shards"), ("TUTOR_DISCORD_SHARD_IDS", "shard_ids")):
        value = (environ.get(var) or "").strip()
        if not value:
            continue
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isdigit() for part in parts) or (key == "shards" and len(parts) > 1):
            what = "a number" if key == "shards" else "shard numbers separated by commas"
            raise ConfigError(
                f"{var}={value!r}: expected {what}, such as {'4' if key == 'shards' else '0,1'}"
            )
        numbers = [int(part) for part in parts]
        raw.setdefault("discord", {})[key] = numbers[0] if key == "shards" else numbers


def _apply_role_overrides(raw: dict[str, Any], environ: Mapping[str, str], path: Path) -> None:
    """Point roles at models named in the environment.

    A value is a configured model name, or ``provider/model`` (e.g. ``ollama/llama3.1:8b``)
    which adds a model entry copied from the first configured one of that provider.
    """
    models: dict[str, Any] = raw.setdefault("models", {})
    roles: dict[str, Any] = raw.setdefault("roles", {})
    for role, var in ROLE_ENV.items():
        value = (environ.get(var) or "").strip()
        if not value:
            continue
        if value not in models:
            provider, _, model = value.partition("/")
            if not model or provider not in PROVIDERS:
                raise ConfigError(
                    f"{var}={value!r}: not a model in {path} ({', '.join(sorted(models))}) "
                    "and not of the form provider/model (e.g. ollama/llama3.1:8b)"
                )
            template = next(
                (
                    dict(m)
                    for m in models.values()
                    if isinstance(m, dict) and m.get("provider") == provider
                ),
                {"provider": provider},
            )
            models[value] = template | {"model": model}
        roles[role] = value


def _describe(exc: ValidationError, path: Path, text: str) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not _is_tag(p)]
        key = ".".join(loc) or "(top level)"
        line = _line_of(text, loc)
        where = f" (line {line})" if line else ""
        lines.append(f"  {key}{where}: {err['msg']}")
    return "\n".join(lines)


def _is_tag(part: Any) -> bool:
    return part in PROVIDERS or isinstance(part, int)


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line number of a dotted key in TOML text."""
    rows = text.splitlines()
    start = 0
    for n in range(len(loc), 0, -1):
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(_key_re(p) for p in loc[:n]) + r"\s*\]")
        hit = next((i for i, row in enumerate(rows) if header.match(row)), None)
        if hit is not None:
            if n == len(loc):
                return hit + 1
            start, loc = hit + 1, loc[n:]
            break
    key = re.compile(r"^\s*" + _key_re(loc[0]) + r"\s*=") if loc else None
    for i in range(start, len(rows)):
        if i > start and rows[i].lstrip().startswith("["):
            break
        if key and key.match(rows[i]):
            return i + 1
    return None


def _key_re(part: str) -> str:
    return "(?:" + re.escape(part) + '|"' + re.escape(part) + '")'
