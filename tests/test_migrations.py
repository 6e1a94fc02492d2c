"""Alembic is the only source of the schema: it must match the models and run both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command

from agentmail_server.db.migrate import alembic_config

from .conftest import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path, request)


def test_upgrade_check_downgrade_upgrade(empty_database: str):
    cfg = alembic_config(empty_database)
    command.upgrade(cfg, "head")
    command.check(cfg)  # raises when the models and the migrations disagree
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)

