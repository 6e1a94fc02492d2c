"""Fixtures: the real server on SQLite and on PostgreSQL, the official SDK pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from agentmail import AgentMail, AgentMailEnvironment, AsyncAgentMail

from agentmail_server.db import migrate
from agentmail_server.db.engine import Database

from . import server as server_module
from .dns_server import ZoneServer
from .postgres import DEFAULT_URL, Cluster, answers, drop_database, fresh_database
from .server import Server
from .webhook_receiver import Receiver

BACKENDS = ["sqlite", "postgres"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server: AGENTMAIL_TEST_POSTGRES_URL, the machine's 127.0.0.1:5432, or a throwaway one."""
    url = os.environ.get("AGENTMAIL_TEST_POSTGRES_URL", DEFAULT_URL)
    if answers(url):
        yield url
        return
    try:
        cluster = Cluster.start()
    except Exception as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL is required under CI=true and could not be started: {exc}")
        pytest.skip(f"no PostgreSQL available: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session", autouse=True)
def dns() -> Iterator[ZoneServer]:
    """A local DNS server for every test server: no lookup leaves the machine. Tests set zones on it."""
    zone = ZoneServer.start("")
    server_module.DEFAULT_ENV["AGENTMAIL_DNS_NAMESERVERS"] = zone.nameservers
    try:
        yield zone
    finally:
        server_module.DEFAULT_ENV.pop("AGENTMAIL_DNS_NAMESERVERS", None)
        zone.stop()


def database_url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'agentmail.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    name, url = fresh_database(admin)
    request.addfinalizer(lambda: drop_database(admin, name))
    return url


@contextmanager
def running_server(request: pytest.FixtureRequest, backend: str, tmp: Path,
                   extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server of `backend` on its own new database (files in `tmp`), stopped on exit."""
    srv = Server(backend=backend, database_url=database_url(backend, tmp, request), workdir=tmp,
                 extra_env=extra_env or {}).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running server per backend, shared by the whole session."""
    with running_server(request, request.param, tmp_path_factory.mktemp(f"server-{request.param}")) as srv:
        yield srv


@pytest.fixture
def fresh_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    """A server of the same backend on its own empty database, for tests that restart or count things."""
    with running_server(request, server.backend, tmp_path) as srv:
        yield srv


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A local webhook endpoint shared by a module's tests (they tell their deliveries apart)."""
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


def make_sdk(server: Server, api_key: str | None = None) -> AgentMail:
    return AgentMail(
        api_key=api_key or server.api_key,
        environment=AgentMailEnvironment(http=server.base_url, websockets=server.ws_url),
    )


def make_async_sdk(server: Server, api_key: str | None = None) -> AsyncAgentMail:
    return AsyncAgentMail(
        api_key=api_key or server.api_key,
        environment=AgentMailEnvironment(http=server.base_url, websockets=server.ws_url),
    )


@pytest.fixture
def sdk(server: Server) -> AgentMail:
    return make_sdk(server)


@pytest.fixture
def async_sdk(server: Server) -> AsyncAgentMail:
    return make_async_sdk(server)


def make_http(server: Server, api_key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key or server.api_key}"} if api_key != "" else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """Raw HTTP with the root key, for checking bodies byte for byte against the wire models."""
    with make_http(server) as client:
        yield client


# --- in-process database access, for tests that drive services/hub code without a server -------


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per backend and module; tests keep apart by working in their own organization."""
    url = database_url(request.param, tmp_path_factory.mktemp("inprocess"), request)
    migrate.upgrade(url)
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def pg_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = database_url("postgres", tmp_path_factory.mktemp("inprocess-pg"), request)
    migrate.upgrade(url)
    return url


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    try:
        yield database
    finally:
        await database.dispose()
