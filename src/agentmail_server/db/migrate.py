"""Applying Alembic migrations (the only source of the schema)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

# Two replicas starting at once must not both migrate: PostgreSQL serialises them on this lock.
ADVISORY_LOCK_ID = 0x616D5F6D6967  # "am_mig"


def _script_location() -> str:
    candidates = [
        os.environ.get("AGENTMAIL_MIGRATIONS_DIR"),
        str(Path(__file__).resolve().parents[3] / "migrations"),
        str(Path.cwd() / "migrations"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").is_file():
            return candidate
    raise RuntimeError("migrations directory not found; set AGENTMAIL_MIGRATIONS_DIR")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", _script_location())
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
