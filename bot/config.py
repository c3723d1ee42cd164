"""Configuration: defaults, the environment variables that override them, and validation.

Everything is read once, in :func:`load_config`, called from ``create_app`` (and from the
Alembic environment). Nothing here runs at import time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LINE_API_HOST = "https://api.line.me"
LINE_API_DATA_HOST = "https://api-data.line.me"

#: Placeholder credentials shared by the embedded simulator and a development bot that has no
#: LINE channel. They are refused in production.
DEV_CHANNEL_SECRET = "madoguchi-development-channel-secret"  # noqa: S105 - not a secret
DEV_ACCESS_TOKEN = "madoguchi-development-access-token"  # noqa: S105 - not a secret


class ConfigError(RuntimeError):
    """Raised when the configuration is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default, type, meaning and check.

    The core's settings are :data:`SETTINGS`; a feature registers its own through the seam
    (``seam(app).add_setting``). Every one of them has a row in README.md, Configuration
    (``madoguchi settings`` prints the rows; a test compares).
    """

    name: str
    default: Any
    kind: type
    doc: str
    #: Says what is wrong with a value (a sentence), or ``None`` when it is acceptable.
    check: Callable[[Any], str | None] | None = None

    def read(self, given: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
        """The value from ``given`` (tests, overrides), else the environment, else the default.

        :raises ConfigError: the value has the wrong type or fails the check.
        """
        raw = given.get(self.name, environ.get(self.name, self.default))
        if raw == "" and self.default is None:
            raw = None
        value = _coerce(self, raw)
        problem = self.check(value) if self.check is not None and value is not None else None
        if problem:
            raise ConfigError(f"{self.name} {problem}, got {value!r}")
        return value


def positive(value: float) -> str | None:
    """A setting check: the value must be above zero."""
    return None if value > 0 else "must be greater than 0"


def _rate_problem(rule: str) -> str | None:
    """A setting check: a rate limit in Flask-Limiter's notation (``20 per minute; ...``)."""
    from limits import parse_many  # the throttling library's own parser

    try:
        parse_many(rule)
    except ValueError:
        return "must be rate limits such as '20 per minute; 200 per hour'"
    return None


#: Every setting madoguchi reads, in README order.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MADOGUCHI_ENV",
        "production",
        str,
        "`production` (default) or `development` (simulator, clock jobs in-process).",
    ),
    Setting(
        "SECRET_KEY",
        None,
        str,
        "Flask session signing key. Required in production and with a real LINE channel; "
        "development with the simulator makes a random one per run.",
    ),
    Setting(
        "DATABASE_URL",
        None,
        str,
        "SQLAlchemy URL. Default: SQLite at `instance/madoguchi.db`. `postgres://` and "
        "`postgresql://` are read as psycopg 3.",
    ),
    Setting(
        "LINE_CHANNEL_SECRET",
        None,
        str,
        "Channel secret (webhook signatures). Required in production.",
    ),
    Setting(
        "LINE_CHANNEL_ACCESS_TOKEN",
        None,
        str,
        "Long-lived channel access token. Required in production.",
    ),
    Setting(
        "LINE_API_BASE_URL", LINE_API_HOST, str, "Messaging API host, without a trailing slash."
    ),
    Setting(
        "LINE_API_DATA_BASE_URL",
        None,
        str,
        "Blob host (content, rich menu images). Default: `https://api-data.line.me` when "
        "the API host is LINE's, otherwise the same as `LINE_API_BASE_URL`.",
    ),
    Setting("LINE_API_TIMEOUT", 5.0, float, "Seconds before a LINE API call times out.", positive),
    Setting(
        "LINE_API_MAX_ATTEMPTS",
        4,
        int,
        "Attempts per LINE API call on 429, 5xx and timeouts (with exponential backoff).",
        positive,
    ),
    Setting("LINE_API_RETRY_WAIT", 0.2, float, "First backoff wait in seconds (doubles)."),
    Setting(
        "PUBLIC_BASE_URL",
        "http://127.0.0.1:5000",
        str,
        "Public URL of this service (links in messages, QR codes).",
    ),
    Setting(
        "DIALOG_TIMEOUT_MINUTES",
        30,
        int,
        "Minutes of silence after which an unfinished dialog expires.",
        positive,
    ),
    Setting(
        "MEDIA_MAX_BYTES",
        10 * 1024 * 1024,
        int,
        "Largest image, video, audio or file content fetched from LINE for a feature.",
        positive,
    ),
    Setting(
        "MEDIA_TIMEOUT",
        20.0,
        float,
        "Seconds before fetching a resident's image, video, audio or file from LINE times out.",
        positive,
    ),
    Setting(
        "EVENT_WORKERS",
        2,
        int,
        "Event worker threads in each web process (0: this process only stores events).",
        lambda n: None if 0 <= n <= 64 else "must be 0 to 64",
    ),
    Setting(
        "EVENT_POLL_SECONDS",
        1.0,
        float,
        "Seconds an idle worker waits before looking at the inbox again (a new event wakes "
        "the workers of its own process at once); a busy one sends what is due again at "
        "least this often.",
        positive,
    ),
    Setting(
        "EVENT_LEASE_SECONDS",
        30,
        int,
        "Seconds a worker holds an event; a worker that died lets it go after this.",
        positive,
    ),
    Setting(
        "EVENT_MAX_ATTEMPTS",
        3,
        int,
        "Attempts before a failing event is parked for an admin.",
        positive,
    ),
    Setting(
        "EVENT_RETRY_SECONDS",
        2.0,
        float,
        "Wait after an event's first failure (doubling after each one).",
        lambda seconds: None if seconds >= 0 else "must not be negative",
    ),
    Setting(
        "LATE_REPLIES_AS_PUSH",
        True,
        bool,
        "Send a reply as a push when its token went stale before it could be sent (a backlog, "
        "LINE down); pushes count against the monthly message quota.",
    ),
    Setting(
        "INBOX_BACKLOG_ALERT_SECONDS",
        120,
        int,
        "/healthz answers 503 when an event has waited longer than this.",
        positive,
    ),
    Setting(
        "DATABASE_STATEMENT_TIMEOUT_MS",
        5000,
        int,
        "PostgreSQL: longest statement (and wait for a lock), in milliseconds.",
        positive,
    ),
    Setting(
        "WEBHOOK_EVENT_RETENTION_DAYS",
        7,
        int,
        "Days a webhook event id is kept for de-duplication.",
    ),
    Setting(
        "PUSH_RETRY_HOURS",
        23,
        int,
        "Hours a failed push is retried with its retry key (LINE keeps keys 24 h).",
    ),
    Setting(
        "STAFF_SESSION_IDLE_MINUTES",
        60,
        int,
        "Minutes of inactivity after which a staff session ends.",
    ),
    Setting(
        "STAFF_SESSION_HOURS",
        12,
        int,
        "Hours a staff session lasts from sign-in, however active (1 to 24).",
        lambda hours: None if 1 <= hours <= 24 else "must be 1 to 24",
    ),
    Setting(
        "RESIDENT_SESSION_MINUTES",
        30,
        int,
        "Minutes a resident's web session lasts from sign-in (1 to 720; never extended).",
        # At most the staff session's 12 hours: Flask checks every session cookie against that.
        lambda minutes: None if 1 <= minutes <= 720 else "must be 1 to 720",
    ),
    Setting("SIMULATOR_PORT", 5001, int, "Port of the embedded fake LINE platform in development."),
    Setting(
        "RICHMENU_FONT",
        None,
        str,
        "Japanese font file for the rich-menu image. Default: found with fontconfig.",
    ),
    Setting(
        "METRICS_TOKEN",
        None,
        str,
        "If set, `/metrics` answers only requests with `Authorization: Bearer <token>`.",
    ),
    Setting(
        "TRUSTED_PROXY_COUNT",
        0,
        int,
        "Reverse proxies in front of the app whose `X-Forwarded-For`/`-Proto` are believed "
        "(1 behind Heroku's router or one nginx); the client address of throttling and the "
        "audit log comes from them.",
        lambda n: None if 0 <= n <= 5 else "must be 0 to 5",
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        None,
        str,
        "Where sign-in throttling counts (`redis://...`, `memory://`). Default: `REDIS_URL` "
        "if set, else memory (one process only).",
    ),
    Setting("REDIS_URL", None, str, "Redis for shared throttling counts (Heroku Data sets it)."),
    Setting(
        "SIGN_IN_LIMIT_PER_ADDRESS",
        "20 per minute; 200 per hour",
        str,
        "Sign-in form posts accepted from one client address (then 429).",
        _rate_problem,
    ),
    Setting("LOG_LEVEL", "INFO", str, "Python log level."),
    Setting(
        "LOG_FORMAT",
        None,
        str,
        "`text` (lines for a person) or `json` (one object a line, for log collectors). "
        "Default: `text` in development, `json` in production.",
    ),
)

_REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")
#: Schemes PostgreSQL URLs come with (Heroku's ``postgres://``, SQLAlchemy's driverless
#: ``postgresql://``, which means psycopg2): madoguchi's driver is psycopg 3.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
POSTGRES_SCHEME = "postgresql+psycopg://"


@dataclass(frozen=True)
class LineSettings:
    """What the LINE gateway needs, derived from the flat configuration."""

    channel_secret: str
    access_token: str
    api_base_url: str
    data_base_url: str
    timeout: float
    max_attempts: int
    retry_wait: float


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(setting: Setting, raw: Any) -> Any:
    if raw is None or setting.kind is str or isinstance(raw, setting.kind):
        return raw
    if setting.kind is bool:
        word = str(raw).strip().lower()
        if word in _TRUE + _FALSE:
            return word in _TRUE
        raise ConfigError(f"{setting.name} must be true or false, got {raw!r}")
    try:
        return setting.kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{setting.name} must be a {setting.kind.__name__}, got {raw!r}") from exc


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    instance_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Build and validate the configuration.

    :param overrides: values that win over the environment (``create_app(test_config)``).
    :param environ: the environment to read; ``os.environ`` by default.
    :param instance_path: where the default SQLite database lives (default: ``instance/``
        beside the ``bot`` package, which is also Flask's instance folder).
    :return: a flat dict of settings.
    :raises ConfigError: a value has the wrong type, or production lacks a secret.
    """
    env = os.environ if environ is None else environ
    given = dict(overrides or {})
    config: dict[str, Any] = {setting.name: setting.read(given, env) for setting in SETTINGS}
    # Extra keys from tests (e.g. TESTING) and features' settings pass through untouched;
    # a feature reads its own when it registers them.
    config.update({k: v for k, v in given.items() if k not in config})

    mode = config["MADOGUCHI_ENV"]
    if mode not in ("production", "development"):
        raise ConfigError(f"MADOGUCHI_ENV must be 'production' or 'development', got {mode!r}")
    # A real LINE channel means real residents: development with one is secured like
    # production (its secrets, its cookies); only the simulator's play-world is relaxed.
    config["SECURE_DEPLOYMENT"] = mode == "production" or not uses_simulator(config)
    if config["SECURE_DEPLOYMENT"]:
        missing = [name for name in _REQUIRED_IN_PRODUCTION if not config[name]]
        if missing:
            where = "in production" if mode == "production" else "with a real LINE channel"
            raise ConfigError(
                f"missing required setting(s) {where}: "
                + ", ".join(missing)
                + " (set them in the environment; see README.md, Configuration)"
            )
        if config["LINE_CHANNEL_SECRET"] == DEV_CHANNEL_SECRET:
            raise ConfigError("LINE_CHANNEL_SECRET is the development placeholder")
    elif not config["SECRET_KEY"]:
        # A key nobody else knows, new each run: sessions end when the process does.
        config["SECRET_KEY"] = secrets.token_urlsafe(32)
    if config["LOG_FORMAT"] is None:  # a person reads development logs; machines, production's
        config["LOG_FORMAT"] = "text" if mode == "development" else "json"
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be 'text' or 'json', got {config['LOG_FORMAT']!r}")
    if config["DATABASE_URL"] is None:
        folder = Path(instance_path) if instance_path else Path(__file__).parents[1] / "instance"
        path = folder.resolve() / "madoguchi.db"
        config["DATABASE_URL"] = f"sqlite:///{path}"
    config["DATABASE_URL"] = normalise_database_url(config["DATABASE_URL"])
    for name in ("LINE_API_BASE_URL", "LINE_API_DATA_BASE_URL", "PUBLIC_BASE_URL"):
        if config[name]:
            config[name] = config[name].rstrip("/")
    return config


def normalise_database_url(url: str) -> str:
    """The URL with PostgreSQL's scheme spelled for psycopg 3 (``postgres://``, as Heroku
    gives it, is not a scheme SQLAlchemy knows; ``postgresql://`` would load psycopg2)."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return POSTGRES_SCHEME + url.removeprefix(scheme)
    return url


def uses_simulator(config: Mapping[str, Any]) -> bool:
    """True when a development bot has no LINE channel and talks to the embedded simulator."""
    return config["MADOGUCHI_ENV"] == "development" and not (
        config["LINE_CHANNEL_SECRET"] and config["LINE_CHANNEL_ACCESS_TOKEN"]
    )


def line_settings(config: Mapping[str, Any]) -> LineSettings:
    """Derive the gateway settings (the blob host follows the API host unless set)."""
    base = config["LINE_API_BASE_URL"]
    data = config["LINE_API_DATA_BASE_URL"] or (
        LINE_API_DATA_HOST if base == LINE_API_HOST else base
    )
    return LineSettings(
        channel_secret=config["LINE_CHANNEL_SECRET"] or "",
        access_token=config["LINE_CHANNEL_ACCESS_TOKEN"] or "",
        api_base_url=base,
        data_base_url=data,
        timeout=config["LINE_API_TIMEOUT"],
        max_attempts=config["LINE_API_MAX_ATTEMPTS"],
        retry_wait=config["LINE_API_RETRY_WAIT"],
    )
