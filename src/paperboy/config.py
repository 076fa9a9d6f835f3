"""All settings in one place, read from the environment (``PAPERBOY_*``).

Each setting is one field of :class:`Settings`, declared with its variable, default and meaning;
``paperboy config`` prints them all. Only ``PAPERBOY_SECRET_KEY`` matters for a multi-machine
deployment: left unset, a random key is made once and kept in the data folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["Settings", "get_settings", "default_data_dir"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paperboy"


def setting(env: str, default, doc: str, *, minimum: int = 1):
    """A field read from ``env``; ``minimum`` is the smallest whole number it accepts (ints only)."""
    return field(default=default, metadata={"env": env, "doc": doc, "minimum": minimum})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = setting("PAPERBOY_DATABASE_URL", "", "SQLAlchemy URL; default sqlite:///<data dir>/paperboy.db")
    data_dir: str = setting("PAPERBOY_DATA_DIR", "", "where the SQLite file and the generated secret key live")
    base_url: str = setting("PAPERBOY_BASE_URL", "http://127.0.0.1:8000", "public URL of the site (links in mail; https turns on Secure cookies and HSTS)")
    secret_key: str = setting("PAPERBOY_SECRET_KEY", "", "signs sessions, CSRF and e-mailed tokens; set the same on every machine")
    page_size: int = setting("PAPERBOY_PAGE_SIZE", 50, "papers per feed page")
    page_cache_mb: int = setting("PAPERBOY_PAGE_CACHE_MB", 256, "memory for rendered pages per web process (0: off)", minimum=0)
    # Mail (password resets, digests)
    smtp_host: str = setting("PAPERBOY_SMTP_HOST", "localhost", "SMTP server")
    smtp_port: int = setting("PAPERBOY_SMTP_PORT", 25, "SMTP port")
    smtp_username: str = setting("PAPERBOY_SMTP_USERNAME", "", "SMTP login (empty: none)")
    smtp_password: str = setting("PAPERBOY_SMTP_PASSWORD", "", "SMTP password")
    smtp_security: str = setting("PAPERBOY_SMTP_SECURITY", "none", "none, starttls or ssl")
    mail_from: str = setting("PAPERBOY_MAIL_FROM", "Paperboy <paperboy@localhost>", "From: address of mail the site sends")
    # arXiv
    arxiv_api_url: str = setting("PAPERBOY_ARXIV_API_URL", "https://export.arxiv.org/api/query", "arXiv API endpoint")
    arxiv_oai_url: str = setting("PAPERBOY_ARXIV_OAI_URL", "https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH endpoint")
    arxiv_rss_url: str = setting("PAPERBOY_ARXIV_RSS_URL", "https://rss.arxiv.org", "arXiv daily listings (RSS/Atom)")
    hf_base_url: str = setting("PAPERBOY_HF_URL", "https://huggingface.co", "Hugging Face, for its Daily Papers")
    daily_categories: str = setting("PAPERBOY_DAILY_CATEGORIES", "cs.CL,cs.LG,cs.AI,cs.CV", "categories the worker ingests every evening")
    contact_email: str = setting("PAPERBOY_CONTACT_EMAIL", "", "contact put in the User-Agent sent to arXiv")
    # Search
    embedding_model: str = setting("PAPERBOY_EMBEDDING_MODEL", "", "folder of another embedding model (model.onnx + tokenizer.json); default: the packaged one")
    embedding_threads: int = setting("PAPERBOY_EMBEDDING_THREADS", 0, "threads the embedding model runs on (0: one per core)", minimum=0)
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
        if self.smtp_security not in ("none", "starttls", "ssl"):
            raise ValueError("PAPERBOY_SMTP_SECURITY must be none, starttls or ssl")
        return Settings(**{**{f.name: getattr(self, f.name) for f in fields(self)},
                           "data_dir": str(data_dir), "database_url": url, "secret_key": key})  # fmt: skip

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")


def _parse(raw: str, f) -> object:
    if f.type in (int, "int"):
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"{f.metadata['env']} must be a whole number, not {raw!r}") from None
        if n < f.metadata["minimum"]:
            raise ValueError(f"{f.metadata['env']} must be at least {f.metadata['minimum']}")
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


def get_settings() -> Settings:
    return Settings.from_env()
