"""Settings, read once from AGENTMAIL_* environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTMAIL_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./agentmail.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    default_domain: str = "agentmail.localhost"
    root_api_key: str | None = None
    dns_nameservers: str | None = None
    webhook_allow_private: bool = False
    # A send with base64 attachments is ~6 MB in production; leave headroom for JSON overhead.
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_level: str = "info"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # Accept the URLs people already have (postgres://, postgresql://, sqlite:///) and pick
        # the async driver for them.
        for plain, asyncified in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return asyncified + url[len(plain) :]
        return url

    @field_validator("default_domain")
    @classmethod
    def _lower_domain(cls, domain: str) -> str:
        return domain.strip().lower()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
