"""All settings in one place, read from the environment.

=========================  =====================================================  ==========================================
variable                   meaning                                                default
=========================  =====================================================  ==========================================
``PAPERBOY_DATA_DIR``      where the default SQLite database lives                 ``$XDG_DATA_HOME/paperboy`` or
                                                                                  ``~/.local/share/paperboy``
``PAPERBOY_DATABASE_URL``  any SQLAlchemy URL (``sqlite:///…``,                    ``sqlite:///<data dir>/paperboy.db``
                           ``postgresql+psycopg://…``)
``PAPERBOY_BASE_URL``      the public URL of the site (links, Secure cookies)      ``http://127.0.0.1:8000``
``PAPERBOY_PAGE_SIZE``     papers per feed page                                    ``50``
``PAPERBOY_PAGE_CACHE_MB`` memory for rendered pages per web process (0: off)      ``256``
=========================  =====================================================  ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "get_settings", "default_data_dir"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "paperboy"


DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_PAGE_SIZE = 50
DEFAULT_PAGE_CACHE_MB = 256


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    base_url: str = DEFAULT_BASE_URL
    page_size: int = DEFAULT_PAGE_SIZE
    page_cache_mb: int = DEFAULT_PAGE_CACHE_MB

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("PAPERBOY_DATA_DIR") or default_data_dir())
        url = env.get("PAPERBOY_DATABASE_URL") or f"sqlite:///{data_dir / 'paperboy.db'}"
        return cls(
            database_url=url,
            base_url=(env.get("PAPERBOY_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            page_size=_positive_int(env.get("PAPERBOY_PAGE_SIZE"), DEFAULT_PAGE_SIZE, "PAPERBOY_PAGE_SIZE"),
            page_cache_mb=_positive_int(
                env.get("PAPERBOY_PAGE_CACHE_MB"), DEFAULT_PAGE_CACHE_MB, "PAPERBOY_PAGE_CACHE_MB", minimum=0
            ),
        )


def _positive_int(value: str | None, default: int, name: str, minimum: int = 1) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return n


def get_settings() -> Settings:
    return Settings.from_env()
