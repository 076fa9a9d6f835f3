"""All settings in one place, read from the environment (``PAPERBOY_*``).

Each setting is one field of :class:`Settings`, declared with its variable, default and meaning
(the README's configuration table lists every one; a test keeps the two in step). Nothing else
reads the environment. ``PAPERBOY_SECRET_KEY`` must be the same on every machine of a multi-machine
deployment: left unset, a random key is made once and kept in the data folder.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["Settings", "get_settings", "default_data_dir", "metrics_dir", "set_metrics_dir"]

#: Read by ``prometheus_client`` itself when imported: where each process writes its counts.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paperboy"


def setting(env: str, default, doc: str, *, minimum: float | None = None):
    """One setting: its environment variable, default and meaning. Numbers are at least ``minimum``
    (default: 1 for whole numbers, 0 for fractions)."""
    return field(default=default, metadata={"env": env, "doc": doc, "minimum": minimum})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = setting("PAPERBOY_DATABASE_URL", "", "SQLAlchemy URL; default sqlite:///<data dir>/paperboy.db")
    data_dir: str = setting("PAPERBOY_DATA_DIR", "", "where the SQLite file and the generated secret key live")
    base_url: str = setting("PAPERBOY_BASE_URL", "http://127.0.0.1:8000", "public URL of the site (links in mail; https turns on Secure cookies and HSTS)")
    trusted_proxies: str = setting("PAPERBOY_TRUSTED_PROXIES", "", "addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated; empty: none)")
    secret_key: str = setting("PAPERBOY_SECRET_KEY", "", "signs sessions, CSRF and e-mailed tokens; set the same on every machine")
    page_size: int = setting("PAPERBOY_PAGE_SIZE", 50, "papers per feed page")
    comment_page_size: int = setting("PAPERBOY_COMMENT_PAGE_SIZE", 50, "comments per page under a paper")
    page_cache_mb: int = setting("PAPERBOY_PAGE_CACHE_MB", 64, "memory for rendered pages per web process, compressed (0: off)", minimum=0)
    max_body_bytes: int = setting("PAPERBOY_MAX_BODY_BYTES", 1048576, "largest request body (forms, API JSON) taken; a larger one is refused with 413 before it is read")
    max_header_bytes: int = setting("PAPERBOY_MAX_HEADER_BYTES", 32768, "largest request line plus headers taken; more is refused with 431 while it arrives")
    # Operations
    log_format: str = setting("PAPERBOY_LOG_FORMAT", "text", "text, or json: one JSON object per line (time, level, logger, message; access logs add the request's fields) from serve and worker")
    graceful_shutdown_seconds: int = setting("PAPERBOY_GRACEFUL_SHUTDOWN_SECONDS", 30, "on SIGTERM, how long serve lets requests in flight finish before closing them", minimum=0)
    # Mail (password resets, digests)
    smtp_host: str = setting("PAPERBOY_SMTP_HOST", "localhost", "SMTP server")
    smtp_port: int = setting("PAPERBOY_SMTP_PORT", 25, "SMTP port")
    smtp_username: str = setting("PAPERBOY_SMTP_USERNAME", "", "SMTP login (empty: none)")
    smtp_password: str = setting("PAPERBOY_SMTP_PASSWORD", "", "SMTP password")
    smtp_security: str = setting("PAPERBOY_SMTP_SECURITY", "none", "none, starttls or ssl")
    smtp_utf8: bool = setting("PAPERBOY_SMTP_UTF8", False, "the SMTP server takes SMTPUTF8: addresses with non-ASCII letters before the @ are accepted (off: refused at the form)")
    mail_from: str = setting("PAPERBOY_MAIL_FROM", "Paperboy <paperboy@localhost>", "From: address of mail the site sends")
    smtp_connections: int = setting("PAPERBOY_SMTP_CONNECTIONS", 4, "SMTP connections a delivery run uses in parallel (each reused for many messages)")
    mail_max_attempts: int = setting("PAPERBOY_MAIL_MAX_ATTEMPTS", 5, "tries per message before it is marked failed (temporary 4xx answers, dropped connections)")
    mail_retry_seconds: int = setting("PAPERBOY_MAIL_RETRY_SECONDS", 60, "wait before a temporarily refused message is tried again (doubles with each try)", minimum=0)
    mail_lease_seconds: int = setting("PAPERBOY_MAIL_LEASE_SECONDS", 120, "a deliverer's hold on the messages it claimed; after a crash another takes them this long after")
    mail_bounce_limit: int = setting("PAPERBOY_MAIL_BOUNCE_LIMIT", 3, "permanent (5xx) refusals in a row after which a digest address is disabled")
    dkim_domain: str = setting("PAPERBOY_DKIM_DOMAIN", "", "DKIM signing domain (d=); empty: mail is not signed")
    dkim_selector: str = setting("PAPERBOY_DKIM_SELECTOR", "", "DKIM selector (s=), whose public key is published at SELECTOR._domainkey.DOMAIN")
    dkim_key_file: str = setting("PAPERBOY_DKIM_KEY_FILE", "", "PEM file with the DKIM private key (RSA)")
    # Digests
    digest_at: str = setting("PAPERBOY_DIGEST_AT", "22:00", "when the worker sends the daily digest (HH:MM in PAPERBOY_DAILY_TZ; after the evening ingest)")
    digest_weekday: str = setting("PAPERBOY_DIGEST_WEEKDAY", "friday", "day the weekly digest goes out (after that day's daily digest time)")
    digest_trending: int = setting("PAPERBOY_DIGEST_TRENDING", 10, "trending papers in a digest unless the reader picks another number")
    digest_personal: int = setting("PAPERBOY_DIGEST_PERSONAL", 5, "personal picks in a digest unless the reader picks another number", minimum=0)
    digest_confirm_hours: int = setting("PAPERBOY_DIGEST_CONFIRM_HOURS", 72, "how long a subscription's confirmation link works")
    # arXiv
    arxiv_api_url: str = setting("PAPERBOY_ARXIV_API_URL", "https://export.arxiv.org/api/query", "arXiv API endpoint")
    arxiv_oai_url: str = setting("PAPERBOY_ARXIV_OAI_URL", "https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH endpoint")
    arxiv_rss_url: str = setting("PAPERBOY_ARXIV_RSS_URL", "https://rss.arxiv.org", "arXiv daily listings (RSS/Atom)")
    hf_base_url: str = setting("PAPERBOY_HF_URL", "https://huggingface.co", "Hugging Face, for its Daily Papers")
    daily_categories: str = setting("PAPERBOY_DAILY_CATEGORIES", "cs.CL,cs.LG,cs.AI,cs.CV", "categories the worker ingests every evening")
    ingest: bool = setting("PAPERBOY_INGEST", True, "whether the worker fetches from arXiv and Hugging Face (the daily run, the first run's backfill)")
    backfill_days: int = setting("PAPERBOY_BACKFILL_DAYS", 7, "on an empty database, the worker first fetches this many announcement days (0: start empty)", minimum=0)
    daily_at: str = setting("PAPERBOY_DAILY_AT", "20:30", "when the worker's daily run starts (HH:MM in PAPERBOY_DAILY_TZ; arXiv announces at 20:00 US Eastern)")
    daily_tz: str = setting("PAPERBOY_DAILY_TZ", "America/New_York", "time zone of PAPERBOY_DAILY_AT")
    arxiv_holidays: str = setting("PAPERBOY_ARXIV_HOLIDAYS", "", "comma-separated YYYY-MM-DD evenings without an arXiv announcement")
    arxiv_interval: float = setting("PAPERBOY_ARXIV_INTERVAL", 3.0, "seconds between requests to each arXiv service, for the whole instance (arXiv asks for 3; less only for a loopback test server)")
    hf_interval: float = setting("PAPERBOY_HF_INTERVAL", 1.0, "seconds between requests to Hugging Face")
    worker_poll_seconds: int = setting("PAPERBOY_WORKER_POLL_SECONDS", 60, "how often the worker looks for new papers to embed and mail to send (and for a stop signal)")
    job_retry_seconds: int = setting("PAPERBOY_JOB_RETRY_SECONDS", 1800, "wait before a failed daily run is tried again")
    job_lease_seconds: int = setting("PAPERBOY_JOB_LEASE_SECONDS", 900, "a job's lease: another worker takes over a run whose holder is silent this long")
    contact_email: str = setting("PAPERBOY_CONTACT_EMAIL", "", "contact put in the User-Agent sent to arXiv")
    # Search
    embedding_model: str = setting("PAPERBOY_EMBEDDING_MODEL", "", "folder of another embedding model (model.onnx + tokenizer.json); default: the packaged one")
    embedding_threads: int = setting("PAPERBOY_EMBEDDING_THREADS", 0, "threads the embedding model runs on (0: one per core)", minimum=0)
    search_postings_cache_mb: int = setting("PAPERBOY_SEARCH_POSTINGS_CACHE_MB", 128, "on PostgreSQL, memory per process for the long keyword postings it has read (0: none)", minimum=0)
    # Community rules (admins are exempt)
    submit_max_age_days: int = setting("PAPERBOY_SUBMIT_MAX_AGE_DAYS", 7, "a submitted paper's first version may be at most this old")
    submit_daily_cap: int = setting("PAPERBOY_SUBMIT_DAILY_CAP", 5, "submissions per user per day")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw in (None, ""):
                continue
            values[f.name] = _parse(raw, f)
        values.update(overrides)
        settings = cls(**values)
        return settings.resolved()

    def resolved(self) -> "Settings":
        """Fill in what derives from other settings: data folder, database URL, secret key."""
        data_dir = Path(self.data_dir) if self.data_dir else default_data_dir()
        url = self.database_url or f"sqlite:///{data_dir / 'paperboy.db'}"
        key = self.secret_key or _stored_secret(data_dir)
        if self.log_format not in ("text", "json"):
            raise ValueError("PAPERBOY_LOG_FORMAT must be text or json")
        if self.smtp_security not in ("none", "starttls", "ssl"):
            raise ValueError("PAPERBOY_SMTP_SECURITY must be none, starttls or ssl")
        self.daily_schedule()  # raises for a bad time, zone or holiday
        self.digest_schedule()
        if bool(self.dkim_domain) != bool(self.dkim_selector) or (self.dkim_domain and not self.dkim_key_file):
            raise ValueError("DKIM signing needs PAPERBOY_DKIM_DOMAIN, PAPERBOY_DKIM_SELECTOR and PAPERBOY_DKIM_KEY_FILE together")
        if self.arxiv_interval < 3 and not all(is_loopback_url(u) for u in (self.arxiv_api_url, self.arxiv_oai_url, self.arxiv_rss_url)):
            raise ValueError("PAPERBOY_ARXIV_INTERVAL: arXiv asks for at least 3 seconds between requests (less only for loopback test servers)")
        return Settings(**{**{f.name: getattr(self, f.name) for f in fields(self)},
                           "data_dir": str(data_dir), "database_url": url, "secret_key": key})  # fmt: skip

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def categories(self) -> list[str]:
        """``daily_categories`` as a list."""
        return [c.strip() for c in self.daily_categories.split(",") if c.strip()]

    def daily_schedule(self) -> tuple[dt.time, str, list[dt.date]]:
        """(time of day, time zone, holidays) of the worker's daily run, checked."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            at = dt.time.fromisoformat(self.daily_at)
        except ValueError:
            raise ValueError(f"PAPERBOY_DAILY_AT must be a HH:MM time, not {self.daily_at!r}") from None
        try:
            ZoneInfo(self.daily_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"PAPERBOY_DAILY_TZ: unknown time zone {self.daily_tz!r}") from None
        try:
            holidays = [dt.date.fromisoformat(d.strip()) for d in self.arxiv_holidays.split(",") if d.strip()]
        except ValueError:
            raise ValueError("PAPERBOY_ARXIV_HOLIDAYS must be comma-separated YYYY-MM-DD dates") from None
        return at, self.daily_tz, holidays


    def digest_schedule(self) -> tuple[dt.time, int]:
        """(time of day in ``daily_tz``, weekly weekday with Monday=0) of the digests, checked."""
        try:
            at = dt.time.fromisoformat(self.digest_at)
        except ValueError:
            raise ValueError(f"PAPERBOY_DIGEST_AT must be a HH:MM time, not {self.digest_at!r}") from None
        days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        name = self.digest_weekday.strip().lower()
        matches = [i for i, d in enumerate(days) if len(name) >= 3 and d.startswith(name)]
        if len(matches) != 1:
            raise ValueError(f"PAPERBOY_DIGEST_WEEKDAY must be a day of the week (monday … sunday), not {self.digest_weekday!r}")
        return at, matches[0]


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is on this machine (a test server may be asked faster than arXiv allows)."""
    from urllib.parse import urlsplit

    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def _parse(raw: str, f) -> object:
    name = f.metadata["env"]
    if f.type in (bool, "bool"):
        value = raw.strip().lower()
        if value not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"{name} must be on or off, not {raw!r}")
        return value in ("1", "true", "yes", "on")
    if f.type in (int, "int", float, "float"):
        whole = f.type in (int, "int")
        try:
            n = int(raw) if whole else float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a {'whole ' if whole else ''}number, not {raw!r}") from None
        minimum = f.metadata["minimum"] if f.metadata["minimum"] is not None else (1 if whole else 0)
        if not n >= minimum:  # also refuses NaN
            raise ValueError(f"{name} must be at least {minimum}")
        return n
    return raw.rstrip("/") if f.name == "base_url" else raw


def _stored_secret(data_dir: Path) -> str:
    """A random key made on first use and kept (mode 0600) beside the database."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def metrics_dir() -> str | None:
    """The folder ``paperboy serve`` made for multiprocess metrics, if this process runs under it."""
    return os.environ.get(METRICS_DIR_VARIABLE) or None


def set_metrics_dir(path: str | None) -> None:
    """Name (or, with ``None``, forget) the multiprocess metrics folder for this process and the
    processes it starts; must happen before ``prometheus_client`` is first imported."""
    if path is None:
        os.environ.pop(METRICS_DIR_VARIABLE, None)
    else:
        os.environ[METRICS_DIR_VARIABLE] = path


def get_settings() -> Settings:
    return Settings.from_env()
